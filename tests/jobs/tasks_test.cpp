// Per-task sessions: run_task refuses to inherit an open unit, rolls back and rethrows when its
// body throws, enforces its statement timeout, and always gives the connection back; lookup
// refuses writes and never commits.
#include <chrono>
#include <optional>
#include <stdexcept>
#include <string>

#include "job_support.hpp"

using namespace repokit;
using namespace repokit::jobs_test;
using repokit::testing::test_database;
using namespace std::chrono_literals;

namespace {

constexpr std::string_view job_type = "task_jobs";

struct task_exploded : std::runtime_error {
  task_exploded() : std::runtime_error("the task's body threw") {}
};

constexpr std::array one_integer{column_type::integer};

// Statements that run far longer than any limit below: seconds on PostgreSQL, minutes on SQLite.
constexpr statement sleep_postgresql{"sleep_5s", "SELECT 1 FROM (SELECT pg_sleep(5)) AS s",
                                     statement_kind::read, one_integer};
constexpr statement sleep_mysql{"slow_statement", "SELECT SLEEP(5)", statement_kind::read,
                                one_integer};
constexpr statement count_to_a_billion{
    "count_to_a_billion",
    "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 1000000000) "
    "SELECT MAX(x) FROM c",
    statement_kind::read, one_integer};
// Longer than the limit the timed task had, shorter than any test should wait.
constexpr statement sleep_300ms_postgresql{
    "sleep_300ms", "SELECT 1 FROM (SELECT pg_sleep(0.3)) AS s", statement_kind::read, one_integer};

// A write that declares itself a read, so that nothing but the scope's end can keep it out.
constexpr statement insert_declared_as_read{
    "insert_declared_as_read",
    "INSERT INTO jobs (job_type, target_id, status, parameters, attempts, created_at, updated_at) "
    "VALUES ('task_jobs', 'sneaked-in', 'pending', '{}', 0, 0, 0)",
    statement_kind::read,
    {}};

result<std::int64_t> first_integer(UnitOfWork& unit, const statement& sql) {
  REPOKIT_TRY(auto found, unit.query_one(sql));
  if (!found) return failure(errc::not_found, std::string(sql.name) + " returned no row");
  return found->integer(0);
}

result<Job> create_one(const Database& db, const std::string& target) {
  return run_task(db, [&](Repositories& repos) { return repos.jobs.create_job(job_type, target); });
}

}  // namespace

TEST_CASE("run_task inside an open unit is refused with errc::misuse and writes nothing",
          "[tasks]") {
  test_database fixture;
  const Database& db = fixture.db();
  const Database other = fixture.open_another();

  bool task_body_ran = false;
  std::optional<result<Job>> same_db;
  std::optional<result<Job>> other_db;
  auto outer = run_unit(db, scope_options{.name = "outer"}, [&](UnitOfWork& unit) -> result<void> {
    // A task that inherited this unit would commit or lose its work; one on a unit of its own
    // would (on SQLite) wait for the write lock this unit takes below.
    same_db = run_task(db, [&](Repositories& repos) {
      task_body_ran = true;
      return repos.jobs.create_job(job_type, "from-task");
    });
    other_db = run_task(other, [&](Repositories& repos) {
      task_body_ran = true;
      return repos.jobs.create_job(job_type, "from-task-on-another-database");
    });
    JobRepository jobs(unit);
    REPOKIT_TRYV(jobs.create_job(job_type, "from-outer"));
    return success();
  });
  INFO(describe(outer));
  REQUIRE(outer);
  REQUIRE(same_db.has_value());
  REQUIRE(other_db.has_value());
  INFO("same database: " << describe(*same_db) << "; other database: " << describe(*other_db));
  CHECK(kind_of(*same_db) == errc::misuse);
  CHECK(kind_of(*other_db) == errc::misuse);
  CHECK_FALSE(task_body_ran);
  CHECK(count_jobs(db, job_type) == 1);  // the outer unit's own job only
  CHECK(db.pool().in_use == 0);
  CHECK(other.pool().in_use == 0);

  // Once the outer unit has ended, the same task runs.
  auto later = create_one(db, "from-task");
  INFO(describe(later));
  CHECK(later);
  CHECK(count_jobs(db, job_type) == 2);
}

TEST_CASE("a task whose body throws rolls back, passes the exception on and frees its connection",
          "[tasks]") {
  test_database fixture;
  const Database& db = fixture.db();
  const auto before = db.metrics();

  int runs = 0;
  CHECK_THROWS_AS(run_task(db,
                           [&](Repositories& repos) -> result<void> {
                             ++runs;
                             repos.jobs.create_job(job_type, "thrown-away").value();
                             throw task_exploded();
                           }),
                  task_exploded);

  const auto after = db.metrics();
  CHECK(runs == 1);  // not retried: only db_error is classified
  CHECK(count_jobs(db, job_type) == 0);
  CHECK(db.pool().in_use == 0);
  CHECK(after.rollbacks_by(rollback_cause::exception) -
            before.rollbacks_by(rollback_cause::exception) ==
        1);
  CHECK(after.commits - before.commits == 0);
}

TEST_CASE("a task past its statement timeout fails with errc::timeout; the next task succeeds",
          "[tasks]") {
  // One connection: the next tasks reuse the one whose statement was cut short.
  test_database fixture({.pool_size = 1});
  const Database& db = fixture.db();
  const dialect backend = repokit::testing::backend_under_test();
  const bool postgresql = backend == dialect::postgresql;
  const statement& slow = postgresql                    ? sleep_postgresql
                          : backend == dialect::mariadb ? sleep_mysql
                                                        : count_to_a_billion;
  const auto before = db.metrics();

  auto timed = run_task(
      db, [&](Repositories& repos) { return first_integer(repos.unit, slow); },
      task_options{.statement_timeout = 200ms, .name = "slow task"});
  INFO(describe(timed));
  CHECK(kind_of(timed) == errc::timeout);
  CHECK(db.pool().in_use == 0);
  CHECK(db.metrics().retries_total() == before.retries_total());  // a timeout is not retried

  auto next = create_one(db, "after-timeout");
  INFO(describe(next));
  CHECK(next);
  CHECK(count_jobs(db, job_type) == 1);
  CHECK(db.pool().in_use == 0);

  if (postgresql) {
    // The limit belonged to the timed task, not to the connection it used.
    auto unlimited = run_task(
        db, [&](Repositories& repos) { return first_integer(repos.unit, sleep_300ms_postgresql); });
    INFO(describe(unlimited));
    CHECK(unlimited);
    CHECK(db.pool().in_use == 0);
  }
}

TEST_CASE("lookup refuses writes and never commits", "[tasks]") {
  test_database fixture;
  const Database& db = fixture.db();
  const std::int64_t id = create_one(db, "existing").value().id;

  auto write = lookup(
      db, [&](Repositories& repos) { return repos.jobs.create_job(job_type, "from-lookup"); });
  INFO(describe(write));
  CHECK(kind_of(write) == errc::misuse);
  CHECK(count_jobs(db, job_type) == 1);

  const auto before_read = db.metrics();
  auto read = lookup(db, [&](Repositories& repos) { return repos.jobs.get_job(id); });
  const auto after_read = db.metrics();
  INFO(describe(read));
  REQUIRE(read);
  CHECK(read.value().id == id);
  CHECK(read.value().target_id == "existing");
  CHECK(after_read.rollbacks_by(rollback_cause::lookup) -
            before_read.rollbacks_by(rollback_cause::lookup) ==
        1);
  CHECK(after_read.commits - before_read.commits == 0);

  // Even a write the read-only check cannot see (it declares itself a read) is rolled back.
  auto sneaked = lookup(db, [&](Repositories& repos) -> result<std::uint64_t> {
    return repos.unit.execute(insert_declared_as_read);
  });
  const auto after_sneak = db.metrics();
  INFO(describe(sneaked));
  if (sneaked) CHECK(sneaked.value() == 1);  // PostgreSQL may refuse it in a read-only transaction
  CHECK(count_jobs(db, job_type) == 1);
  CHECK(after_sneak.commits - after_read.commits == 0);
  CHECK(db.pool().in_use == 0);
}
