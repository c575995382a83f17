// The old manual API, kept so that code can move to scoped repositories one call site at a
// time. The caller commits and closes by hand; a raw repository destroyed with its transaction
// still open rolls it back and logs a warning naming the line that created it. Prefer
// video_repository(db, ...) and friends: they cannot leak. See docs/migration.md.
#pragma once

#include <optional>
#include <string>

#include <spdlog/logger.h>

#include "repokit/repositories/channel_repository.hpp"
#include "repokit/repositories/job_repository.hpp"
#include "repokit/repositories/video_repository.hpp"
#include "repokit/unit_of_work.hpp"

namespace repokit {

// Where a raw repository was created, for the leak warning. Taken with __builtin_FILE() and
// __builtin_LINE() as default arguments (GCC and clang): std::source_location would serve, but
// libstdc++ 12 defines it only for compilers that have __builtin_source_location, so including
// it would shut clang 14 out of this header.
struct creation_site {
  const char* file;
  unsigned line;
};

template <class Repository>
class raw_repository {
 public:
  raw_repository(Database db, creation_site created_at)
      : db_(std::move(db)), created_at_(created_at) {}
  raw_repository(const raw_repository&) = delete;
  raw_repository& operator=(const raw_repository&) = delete;

  ~raw_repository() {
    if (unit_ && unit_->in_transaction()) {
      db_.logger().warn(
          "Leaked session: a raw repository created at {}:{} was destroyed with its transaction "
          "open; rolling back. Call commit() and close(), or use a scoped repository",
          created_at_.file, created_at_.line);
      unit_->rollback(rollback_cause::abandoned);
    }
  }

  // The repository, on the open transaction; the first call after commit() or rollback()
  // begins a new one.
  Repository* operator->() {
    if (!unit_ || unit_->ended()) {
      repository_.reset();
      unit_.reset();
      unit_.emplace(db_);
      repository_.emplace(*unit_);
    }
    return &*repository_;
  }

  result<void> commit() {
    if (!unit_ || unit_->ended()) return success();
    return unit_->commit();
  }
  void rollback() noexcept {
    if (unit_ && !unit_->ended()) unit_->rollback(rollback_cause::body_error);
  }
  // Rolls back what was not committed and gives the connection back.
  void close() noexcept {
    rollback();
    repository_.reset();
    unit_.reset();
  }

 private:
  Database db_;
  creation_site created_at_;
  std::optional<UnitOfWork> unit_;
  std::optional<Repository> repository_;
};

[[deprecated("use video_repository(db, ...)")]] inline raw_repository<VideoRepository>
get_video_repository(const Database& db, const char* file = __builtin_FILE(),
                     unsigned line = __builtin_LINE()) {
  return raw_repository<VideoRepository>(db, {file, line});
}

[[deprecated("use channel_repository(db, ...)")]] inline raw_repository<ChannelRepository>
get_channel_repository(const Database& db, const char* file = __builtin_FILE(),
                       unsigned line = __builtin_LINE()) {
  return raw_repository<ChannelRepository>(db, {file, line});
}

[[deprecated("use job_repository(db, ...)")]] inline raw_repository<JobRepository>
get_job_repository(const Database& db, const char* file = __builtin_FILE(),
                   unsigned line = __builtin_LINE()) {
  return raw_repository<JobRepository>(db, {file, line});
}

}  // namespace repokit
