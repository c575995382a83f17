// Helpers shared by the job tests: job_worker processes with pipes to their stdin and stdout,
// counting jobs by status, naming a result's outcome, seeding jobs.
//
// Catch2 assertions are not thread-safe: worker threads only record what happened, and the main
// thread checks it after joining them.
#pragma once

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <spawn.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <csignal>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "repokit/repokit.hpp"
#include "support/outcome.hpp"
#include "support/test_database.hpp"

extern char** environ;

namespace repokit::jobs_test {

using testing::describe;
using testing::kind_of;

// A retry policy patient enough to absorb SQLite busy and PostgreSQL conflicts under load.
inline db_retry patient_retry() {
  return db_retry{.max_retries = 20, .initial_delay = seconds{0.01}, .max_delay = seconds{0.2}};
}

inline constexpr std::array count_column{column_type::integer};
inline constexpr statement count_jobs_in_status{
    "count_jobs_in_status", "SELECT COUNT(*) FROM jobs WHERE job_type = :p1 AND status = :p2",
    statement_kind::read, count_column};
inline constexpr statement count_jobs_of_type{"count_jobs_of_type",
                                              "SELECT COUNT(*) FROM jobs WHERE job_type = :p1",
                                              statement_kind::read, count_column};
inline constexpr statement count_finished_once{
    "count_finished_once",
    "SELECT COUNT(*) FROM jobs WHERE job_type = :p1 AND status = 'succeeded' AND attempts = 1 "
    "AND finished_at IS NOT NULL AND last_error IS NULL",
    statement_kind::read, count_column};

inline std::int64_t count_with(const Database& db, const statement& counting,
                               std::span<const param> params) {
  return lookup(db,
                [&](Repositories& repos) -> result<std::int64_t> {
                  REPOKIT_TRY(auto found, repos.unit.query_one(counting, params));
                  return found.value().integer(0);
                })
      .value();
}

inline std::int64_t count_jobs(const Database& db, std::string_view job_type, job_status status) {
  const std::array<param, 2> params{job_type, to_string(status)};
  return count_with(db, count_jobs_in_status, params);
}

inline std::int64_t count_jobs(const Database& db, std::string_view job_type) {
  const std::array<param, 1> params{job_type};
  return count_with(db, count_jobs_of_type, params);
}

inline result<Job> read_job(const Database& db, std::int64_t id) {
  return lookup(db, [&](Repositories& repos) { return repos.jobs.get_job(id); });
}

// `count` pending jobs of `job_type` with targets T0, T1, ...: `batch` per unit of work.
inline std::vector<std::int64_t> seed_jobs(const Database& db, std::string_view job_type, int count,
                                           int batch = 100) {
  std::vector<std::int64_t> ids;
  for (int first = 0; first < count; first += batch) {
    auto created =
        job_repository(db, [&](JobRepository& jobs) -> result<std::vector<std::int64_t>> {
          std::vector<std::int64_t> made;
          for (int n = first; n < std::min(count, first + batch); ++n) {
            REPOKIT_TRY(auto job, jobs.create_job(job_type, "T" + std::to_string(n)));
            made.push_back(job.id);
          }
          return made;
        });
    INFO(describe(created));
    REQUIRE(created);
    ids.insert(ids.end(), created.value().begin(), created.value().end());
  }
  return ids;
}

// A running job_worker (see job_worker.cpp) with its stdin and stdout connected to us. Waited
// for when destroyed (after its stdin is closed, which ends every mode), so a failed assertion
// never leaves it behind or removes its database under it.
class worker_process {
 public:
  explicit worker_process(std::vector<std::string> args) {
    std::signal(SIGPIPE, SIG_IGN);  // a worker that died early must fail the test, not kill it
    int to_child[2];
    int from_child[2];
    REQUIRE(::pipe2(to_child, O_CLOEXEC) == 0);
    REQUIRE(::pipe2(from_child, O_CLOEXEC) == 0);
    posix_spawn_file_actions_t actions;
    ::posix_spawn_file_actions_init(&actions);
    ::posix_spawn_file_actions_adddup2(&actions, to_child[0], STDIN_FILENO);
    ::posix_spawn_file_actions_adddup2(&actions, from_child[1], STDOUT_FILENO);
    std::string program = REPOKIT_JOB_WORKER;
    std::vector<char*> argv{program.data()};
    for (std::string& arg : args) argv.push_back(arg.data());
    argv.push_back(nullptr);
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
  worker_process(const worker_process&) = delete;
  worker_process& operator=(const worker_process&) = delete;
  ~worker_process() {
    close_stdin();
    wait();
    if (stdout_ >= 0) ::close(stdout_);
  }

  // One line of the worker's stdout, without its newline; empty at end of file.
  std::string read_line() {
    std::string line;
    char c = 0;
    for (;;) {
      const ssize_t got = ::read(stdout_, &c, 1);
      if (got < 0 && errno == EINTR) continue;
      if (got != 1 || c == '\n') break;
      line += c;
    }
    return line;
  }

  // Every line the worker writes until it closes its stdout.
  std::vector<std::string> read_lines() {
    std::vector<std::string> lines;
    for (std::string line = read_line(); !line.empty(); line = read_line()) {
      lines.push_back(line);
    }
    return lines;
  }

  // Lets a worker waiting for a line on stdin go on.
  void go() {
    const char line[] = "go\n";
    (void)!::write(stdin_, line, sizeof line - 1);
    close_stdin();
  }

  void kill() {
    if (pid_ > 0) ::kill(pid_, SIGKILL);
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

inline bool exited_cleanly(int status) {
  return status >= 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

}  // namespace repokit::jobs_test
