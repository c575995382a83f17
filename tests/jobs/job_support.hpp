// Helpers shared by the job tests: job_worker processes with pipes to their stdin and stdout,
// counting jobs by status, naming a result's outcome, seeding jobs.
//
// Catch2 assertions are not thread-safe: worker threads only record what happened, and the main
// thread checks it after joining them.
#pragma once

#include <catch2/catch.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "repokit/repokit.hpp"
#include "support/child_process.hpp"
#include "support/outcome.hpp"
#include "support/test_database.hpp"

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

// The wall clock, as jobs keep their times.
inline timestamp wall_clock() {
  return std::chrono::time_point_cast<std::chrono::milliseconds>(std::chrono::system_clock::now());
}

// Sleeps until the wall clock has passed `t`. A lease's end or a run_at is a point in time:
// waiting for it is waiting for the event itself.
inline void wait_until_past(timestamp t) {
  while (wall_clock() <= t) std::this_thread::sleep_until(t + std::chrono::milliseconds{1});
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

// A running job_worker (see job_worker.cpp) with its stdin and stdout connected to us.
class worker_process : public testing::child_process {
 public:
  explicit worker_process(std::vector<std::string> args)
      : child_process(REPOKIT_JOB_WORKER, std::move(args)) {}
};

using testing::exited_cleanly;

// PostgreSQL: whether a session of this application waits for a lock in a statement on jobs.
inline constexpr statement jobs_statement_waiting{
    "jobs_statement_waiting",
    "SELECT COUNT(*) FROM pg_stat_activity WHERE application_name = :p1 "
    "AND wait_event_type = 'Lock' AND query LIKE '%jobs%'",
    statement_kind::read, count_column};

// MariaDB: whether a transaction on this test's database waits for a row lock.
inline constexpr statement mariadb_transaction_waiting{
    "jobs_statement_waiting",
    "SELECT COUNT(*) FROM information_schema.innodb_trx t JOIN information_schema.processlist p "
    "ON p.id = t.trx_mysql_thread_id WHERE t.trx_state = 'LOCK WAIT' AND p.db = DATABASE()",
    statement_kind::read, count_column};

// Whether a connection of `db` is seen waiting for the lock the test holds: on PostgreSQL and
// MariaDB in the server's own lock tables; on SQLite, whose busy handler cannot be watched, once
// the write lock has made a unit fail with SQLITE_BUSY and be retried (after the busy timeout).
inline bool seen_blocked(const Database& db, std::uint64_t retries_before) {
  switch (db.kind()) {
    case dialect::postgresql: {
      const std::array<param, 1> application{std::string_view(db.options().application_name)};
      return count_with(db, jobs_statement_waiting, application) > 0;
    }
    case dialect::mariadb: return count_with(db, mariadb_transaction_waiting, {}) > 0;
    case dialect::sqlite: return db.metrics().retries_total() > retries_before;
  }
  return false;
}

// The pause between two looks at the server's lock tables. InnoDB fills INFORMATION_SCHEMA's
// transaction tables from a snapshot that it renews only once no one has read it for 100 ms:
// looks spaced closer than that would read the snapshot taken before the wait began, forever.
inline std::chrono::milliseconds pause_between_looks(dialect kind) {
  return std::chrono::milliseconds{kind == dialect::mariadb ? 150 : 5};
}

// Waits until a connection of `db` is blocked by the test's lock, or `done` says the unit that
// should block has ended without (then false). No time limit: the event itself ends the wait,
// and the pause between looks only keeps the loop from taking a core from the threads it watches
// (and, on MariaDB, lets the server renew what it shows).
inline bool wait_until_blocked(const Database& db, const std::atomic<bool>& done,
                               std::uint64_t retries_before) {
  while (!done.load()) {
    if (seen_blocked(db, retries_before)) return true;
    std::this_thread::sleep_for(pause_between_looks(db.kind()));
  }
  return false;
}

}  // namespace repokit::jobs_test
