// Helpers shared by the reliability tests: snapshots of a database's schema and of every stored
// row (to prove that bad input changed nothing), open file descriptors, scratch directories and
// size-limited or read-only tmpfs mounts (root only).
//
// Catch2 assertions are not thread-safe: worker threads only record what happened, and the main
// thread checks it after joining them.
#pragma once

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <string_view>
#include <vector>

#include "repokit/repokit.hpp"
#include "repokit/repositories/validation.hpp"
#include "support/outcome.hpp"
#include "support/test_database.hpp"

namespace repokit::reliability {

using testing::describe;
using testing::kind_of;

// Whether `text` is UTF-8 without NUL or other control bytes than tab: fit for a log line.
inline bool clean_text(std::string_view text) {
  if (!is_valid_utf8(text)) return false;
  for (const char c : text) {
    const auto b = static_cast<unsigned char>(c);
    if ((b < 0x20 && c != '\t') || b == 0x7F) return false;
  }
  return true;
}

namespace detail {

inline constexpr std::array<column_type, 1> one_text{column_type::text};

// Every stored row of every table, one text per row.
inline constexpr statement dump_channels{
    "reliability_dump_channels",
    "SELECT channel_id || '|' || name || '|' || CAST(created_at AS TEXT) FROM channels "
    "ORDER BY channel_id",
    statement_kind::read, one_text};
inline constexpr statement dump_videos{
    "reliability_dump_videos",
    "SELECT video_id || '|' || channel_id || '|' || title || '|' || "
    "CAST(duration_seconds AS TEXT) || '|' || CAST(created_at AS TEXT) || '|' || "
    "CAST(updated_at AS TEXT) FROM videos ORDER BY video_id",
    statement_kind::read, one_text};
inline constexpr statement dump_jobs{
    "reliability_dump_jobs",
    "SELECT CAST(id AS TEXT) || '|' || job_type || '|' || target_id || '|' || status || '|' || "
    "parameters || '|' || CAST(attempts AS TEXT) || '|' || COALESCE(last_error, '<null>') || '|' "
    "|| COALESCE(worker_id, '<null>') || '|' || CAST(created_at AS TEXT) || '|' || "
    "CAST(updated_at AS TEXT) || '|' || COALESCE(CAST(started_at AS TEXT), '<null>') || '|' || "
    "COALESCE(CAST(finished_at AS TEXT), '<null>') FROM jobs ORDER BY id",
    statement_kind::read, one_text};
inline constexpr statement dump_migrations{
    "reliability_dump_migrations",
    "SELECT CAST(version AS TEXT) || '|' || name || '|' || CAST(applied_at AS TEXT) "
    "FROM repokit_schema_versions ORDER BY migration_set, version",
    statement_kind::read, one_text};

// The schema: every table, column, index and constraint of the test's own database or schema.
inline constexpr statement sqlite_schema{
    "reliability_sqlite_schema",
    "SELECT type || '|' || name || '|' || tbl_name || '|' || COALESCE(sql, '') FROM sqlite_master "
    "ORDER BY type, name",
    statement_kind::read, one_text};
inline constexpr statement postgresql_schema{
    "reliability_postgresql_schema",
    "SELECT 'table|' || table_name || '|' || table_type FROM information_schema.tables "
    "WHERE table_schema = current_schema() "
    "UNION ALL SELECT 'column|' || table_name || '|' || column_name || '|' || data_type || '|' || "
    "is_nullable || '|' || COALESCE(column_default, '') FROM information_schema.columns "
    "WHERE table_schema = current_schema() "
    "UNION ALL SELECT 'index|' || indexname || '|' || indexdef FROM pg_indexes "
    "WHERE schemaname = current_schema() "
    "UNION ALL SELECT 'constraint|' || conname || '|' || pg_get_constraintdef(oid) "
    "FROM pg_constraint WHERE connamespace = current_schema()::regnamespace "
    "UNION ALL SELECT 'function|' || proname FROM pg_proc "
    "WHERE pronamespace = current_schema()::regnamespace "
    "ORDER BY 1",
    statement_kind::read, one_text};

inline result<std::vector<std::string>> read_texts(const Database& db,
                                                   std::initializer_list<const statement*> which) {
  return run_unit(db,
                  scope_options{.propagate = propagation::independent,
                                .access = access_mode::read_only,
                                .name = "reliability snapshot",
                                .on_success = scope_end::roll_back},
                  [&](UnitOfWork& unit) -> result<std::vector<std::string>> {
                    std::vector<std::string> out;
                    for (const statement* sql : which) {
                      out.push_back(std::string("-- ") + std::string(sql->name));
                      REPOKIT_TRY(auto rows, unit.query(*sql));
                      for (const row& r : rows) out.push_back(r.text(0));
                    }
                    return out;
                  });
}

}  // namespace detail

// Every row of every repokit table, as text: equal snapshots mean nothing was written.
inline result<std::vector<std::string>> data_of(const Database& db) {
  return detail::read_texts(db, {&detail::dump_migrations, &detail::dump_channels,
                                 &detail::dump_videos, &detail::dump_jobs});
}

// The database's schema, as text: equal snapshots mean no table, column, index or constraint
// was added, changed or dropped.
inline result<std::vector<std::string>> schema_of(const Database& db) {
  return detail::read_texts(
      db, {db.kind() == dialect::postgresql ? &detail::postgresql_schema : &detail::sqlite_schema});
}

// The number of file descriptors this process has open.
inline std::size_t open_fds() {
  std::size_t n = 0;
  for (const auto& entry : std::filesystem::directory_iterator("/proc/self/fd")) {
    (void)entry;
    ++n;
  }
  return n;
}

inline bool running_as_root() { return ::geteuid() == 0; }

// A case registered only for the backends it can run on (tests/reliability/CMakeLists.txt) fails
// when run on another one by hand, rather than passing with nothing checked.
inline void require_backend(dialect wanted) {
  INFO("this case is registered for " << to_string(wanted) << " only");
  REQUIRE(testing::backend_under_test() == wanted);
}

// A fresh directory under REPOKIT_TEST_TMPDIR (or the system's temp dir), removed at the end.
class scratch_dir {
 public:
  explicit scratch_dir(const std::string& prefix) {
    const char* base = std::getenv("REPOKIT_TEST_TMPDIR");
    const std::filesystem::path root = base != nullptr && *base != '\0'
                                           ? std::filesystem::path(base)
                                           : std::filesystem::temp_directory_path();
    path_ = root / repokit::testing::unique_name(prefix);
    std::filesystem::create_directories(path_);
  }
  ~scratch_dir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  scratch_dir(const scratch_dir&) = delete;
  scratch_dir& operator=(const scratch_dir&) = delete;

  const std::filesystem::path& path() const noexcept { return path_; }
  std::string file(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

// A tmpfs mounted on `dir` (root only): `size` bounds it, which makes a full disk; it can be
// remounted read-only. Unmounted (lazily, so open files cannot keep it) at the end.
class tmpfs_mount {
 public:
  tmpfs_mount(const std::filesystem::path& dir, const std::string& size) : dir_(dir) {
    const std::string options = "size=" + size + ",mode=0755";
    if (::mount("tmpfs", dir_.c_str(), "tmpfs", MS_NOSUID | MS_NODEV, options.c_str()) == 0) {
      mounted_ = true;
    } else {
      why_ = std::string("mount -t tmpfs failed: ") + std::strerror(errno);
    }
  }
  ~tmpfs_mount() {
    if (mounted_) ::umount2(dir_.c_str(), MNT_DETACH);
  }
  tmpfs_mount(const tmpfs_mount&) = delete;
  tmpfs_mount& operator=(const tmpfs_mount&) = delete;

  bool mounted() const noexcept { return mounted_; }
  const std::string& why_not() const noexcept { return why_; }

  bool set_read_only(bool read_only) {
    unsigned long flags = MS_REMOUNT | MS_NOSUID | MS_NODEV;
    if (read_only) flags |= MS_RDONLY;
    if (::mount("tmpfs", dir_.c_str(), "tmpfs", flags, nullptr) == 0) return true;
    why_ = std::string("remount failed: ") + std::strerror(errno);
    return false;
  }

 private:
  std::filesystem::path dir_;
  bool mounted_ = false;
  std::string why_;
};

// Marks a file immutable (chattr +i, root only): not even root may write it then, unlike a
// mode of 0444. Made mutable again at the end, so that it can be removed.
class immutable_file {
 public:
  explicit immutable_file(const std::string& path) : path_(path) { done_ = set(true); }
  ~immutable_file() {
    if (done_) set(false);
  }
  immutable_file(const immutable_file&) = delete;
  immutable_file& operator=(const immutable_file&) = delete;

  bool done() const noexcept { return done_; }
  const std::string& why_not() const noexcept { return why_; }

 private:
  bool set(bool on) {
    const int fd = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      why_ = std::string("open: ") + std::strerror(errno);
      return false;
    }
    int flags = 0;
    bool ok = ::ioctl(fd, FS_IOC_GETFLAGS, &flags) == 0;
    if (ok) {
      flags = on ? (flags | FS_IMMUTABLE_FL) : (flags & ~FS_IMMUTABLE_FL);
      ok = ::ioctl(fd, FS_IOC_SETFLAGS, &flags) == 0;
    }
    if (!ok) why_ = std::string("chattr: ") + std::strerror(errno);
    ::close(fd);
    return ok;
  }

  std::string path_;
  bool done_ = false;
  std::string why_;
};

inline std::string file_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

inline void write_file(const std::string& path, std::string_view bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// A patient retry policy: SQLite busy and PostgreSQL conflicts under load are absorbed.
inline db_retry patient_retry() {
  return db_retry{.max_retries = 30, .initial_delay = seconds{0.005}, .max_delay = seconds{0.1}};
}

}  // namespace repokit::reliability
