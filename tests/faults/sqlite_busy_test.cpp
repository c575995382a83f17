// Two processes write one SQLite file at once with a 1 ms busy timeout: SQLITE_BUSY happens for
// real, and repokit's whole-unit retries must carry every insert through exactly once.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <spawn.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "fault_support.hpp"

extern char** environ;

using namespace repokit;
using namespace repokit::testing;

namespace {

constexpr int rows_per_writer = 300;

constexpr std::array integer_column{column_type::integer};
constexpr statement rows_of_writer{
    "rows_of_writer", "SELECT COUNT(*) FROM fault_rows WHERE writer = :p1 AND id LIKE :p2",
    statement_kind::read, integer_column};

// A running sqlite_writer with its stdin and stdout connected to us. Waited for when destroyed,
// so a failed assertion never leaves it behind or removes its file under it.
class writer_process {
 public:
  writer_process(const std::string& url, const std::string& prefix, int count) {
    int to_child[2];
    int from_child[2];
    REQUIRE(::pipe2(to_child, O_CLOEXEC) == 0);
    REQUIRE(::pipe2(from_child, O_CLOEXEC) == 0);
    posix_spawn_file_actions_t actions;
    ::posix_spawn_file_actions_init(&actions);
    ::posix_spawn_file_actions_adddup2(&actions, to_child[0], STDIN_FILENO);
    ::posix_spawn_file_actions_adddup2(&actions, from_child[1], STDOUT_FILENO);
    std::string program = REPOKIT_SQLITE_WRITER;
    std::string url_arg = url;
    std::string prefix_arg = prefix;
    std::string count_arg = std::to_string(count);
    std::array<char*, 5> argv{program.data(), url_arg.data(), prefix_arg.data(), count_arg.data(),
                              nullptr};
    const int spawned =
        ::posix_spawn(&pid_, program.c_str(), &actions, nullptr, argv.data(), environ);
    ::posix_spawn_file_actions_destroy(&actions);
    ::close(to_child[0]);
    ::close(from_child[1]);
    stdin_ = to_child[1];
    stdout_ = from_child[0];
    if (spawned != 0) pid_ = -1;
    INFO("posix_spawn " << program << ": error " << spawned);
    REQUIRE(spawned == 0);
  }
  writer_process(const writer_process&) = delete;
  writer_process& operator=(const writer_process&) = delete;
  ~writer_process() {
    close_stdin();
    wait();
    if (stdout_ >= 0) ::close(stdout_);
  }

  // One line of the writer's stdout, without its newline; empty at end of file.
  std::string read_line() {
    std::string line;
    char c = 0;
    while (::read(stdout_, &c, 1) == 1 && c != '\n') line += c;
    return line;
  }

  // Lets the writer start inserting.
  void go() {
    const char line[] = "go\n";
    (void)!::write(stdin_, line, sizeof line - 1);
    close_stdin();
  }

  // The exit status (as waitpid reports it), or -1 when the process could not be waited for.
  int wait() {
    if (pid_ > 0) {
      int status = 0;
      while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
      }
      status_ = status;
      pid_ = -1;
    }
    return status_;
  }

 private:
  void close_stdin() {
    if (stdin_ >= 0) ::close(stdin_);
    stdin_ = -1;
  }

  pid_t pid_ = -1;
  int stdin_ = -1;
  int stdout_ = -1;
  int status_ = -1;
};

// The retry count a writer printed last, or -1 when it printed none.
long long retries_of(const std::string& line) {
  if (line.empty() || line.find_first_not_of("0123456789") != std::string::npos) return -1;
  return std::stoll(line);
}

bool exited_cleanly(int status) {
  return status >= 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

std::int64_t rows_written_by(const Database& db, std::string_view writer) {
  const std::string pattern = std::string(writer) + "-%";
  return run_unit(db, scope_options{.name = "rows of writer"},
                  [&](UnitOfWork& unit) -> result<std::int64_t> {
                    const std::array<param, 2> params{writer, std::string_view(pattern)};
                    REPOKIT_TRY(auto found, unit.query_one(rows_of_writer, params));
                    return found.value().integer(0);
                  })
      .value();
}

}  // namespace

TEST_CASE("two processes writing one SQLite file through SQLITE_BUSY: every row lands once",
          "[sqlite][busy]") {
  require_backend(dialect::sqlite);
  test_database fixture;
  const Database& db = fixture.db();
  execute_sql(db, "CREATE TABLE fault_rows (id TEXT PRIMARY KEY, writer TEXT NOT NULL)");
  // A writer that died early must fail the test, not kill it when we write "go".
  std::signal(SIGPIPE, SIG_IGN);

  // Declared first, destroyed last: a failed assertion releases the lock below before the
  // writers are waited for.
  std::optional<writer_process> first;
  std::optional<writer_process> second;
  // The write lock, held until both writers have met SQLITE_BUSY and retried: without it two
  // fast writers may take turns and never collide.
  std::optional<unit_guard> write_lock;
  write_lock.emplace(db, scope_options{.propagate = propagation::independent,
                                       .access = access_mode::read_write,
                                       .name = "hold write lock"});
  REQUIRE(write_lock->unit().query(
      rows_of_writer, std::array<param, 2>{std::string_view("none"), std::string_view("none")}));

  first.emplace(fixture.url(), "first", rows_per_writer);
  second.emplace(fixture.url(), "second", rows_per_writer);
  REQUIRE(first->read_line() == "ready");
  REQUIRE(second->read_line() == "ready");
  first->go();
  second->go();
  CHECK(first->read_line() == "retrying");
  CHECK(second->read_line() == "retrying");
  CHECK(write_lock->commit());
  write_lock.reset();

  const int first_status = first->wait();
  const int second_status = second->wait();
  const std::string first_retries = first->read_line();
  const std::string second_retries = second->read_line();
  std::printf("sqlite busy test: retries first=%s second=%s\n", first_retries.c_str(),
              second_retries.c_str());
  std::fflush(stdout);

  CHECK(exited_cleanly(first_status));
  CHECK(exited_cleanly(second_status));
  CHECK(rows_written_by(db, "first") == rows_per_writer);
  CHECK(rows_written_by(db, "second") == rows_per_writer);
  CHECK(count_rows(db, "fault_rows") == 2 * rows_per_writer);
  // Each writer retried at least its first insert, which met the held write lock.
  CHECK(retries_of(first_retries) >= 1);
  CHECK(retries_of(second_retries) >= 1);
}
