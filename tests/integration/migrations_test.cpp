// Schema migrations on a real database: from nothing to the latest version, idempotent, and
// safe when several processes (here: several Database handles) migrate at once.
#include <catch2/catch.hpp>

#include <spdlog/logger.h>
#include <spdlog/sinks/null_sink.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <latch>
#include <memory>
#include <mutex>
#include <string_view>
#include <thread>
#include <vector>

#include "contract_support.hpp"

using namespace repokit;
using namespace repokit::contract;

namespace {

constexpr std::array integer_column{column_type::integer};
constexpr statement sqlite_index_named{
    "sqlite_index_named", "SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' AND name = :p1",
    statement_kind::read, integer_column};
constexpr statement postgresql_index_named{
    "postgresql_index_named",
    "SELECT COUNT(*) FROM pg_indexes WHERE schemaname = current_schema() AND indexname = :p1",
    statement_kind::read, integer_column};
constexpr statement mysql_index_named{
    "mysql_index_named",
    "SELECT COUNT(DISTINCT index_name) FROM information_schema.statistics "
    "WHERE table_schema = DATABASE() AND table_name = 'jobs' AND index_name = :p1",
    statement_kind::read, integer_column};

bool has_index(const Database& db, std::string_view name) {
  const statement& sql = db.kind() == dialect::sqlite       ? sqlite_index_named
                         : db.kind() == dialect::postgresql ? postgresql_index_named
                                                            : mysql_index_named;
  return run_unit(db,
                  [&](UnitOfWork& unit) -> result<bool> {
                    const std::array<param, 1> params{name};
                    REPOKIT_TRY(auto found, unit.query_one(sql, params));
                    return found.value().integer(0) == 1;
                  })
      .value();
}

// The shape of create_if_not_exists's look-up of an existing job, for EXPLAIN QUERY PLAN.
constexpr std::array plan_columns{column_type::integer, column_type::integer, column_type::integer,
                                  column_type::text};
constexpr statement plan_of_job_lookup{
    "plan_of_job_lookup",
    "EXPLAIN QUERY PLAN SELECT 1 FROM jobs WHERE job_type = 'transcode' AND target_id = 'v1' "
    "AND status IN ('pending', 'running', 'succeeded', 'failed')",
    statement_kind::read, plan_columns};

}  // namespace
using repokit::testing::test_database;

TEST_CASE("migrations: a fresh database is migrated from 0 to the latest version",
          "[contract][migrations]") {
  test_database fixture({}, /*migrated=*/false);
  const Database& db = fixture.db();

  auto before = schema_version(db);
  INFO(describe(before));
  REQUIRE(before);
  CHECK(before.value() == 0);

  auto report = migrate(db);
  INFO(describe(report));
  REQUIRE(report);
  CHECK(report.value().from_version == 0);
  CHECK(report.value().to_version == latest_schema_version);
  CHECK(report.value().applied == std::vector<int>{1, 2, 3, 4, 5});
  CHECK(schema_version(db).value() == latest_schema_version);
  CHECK(rows_in(db, "repokit_schema_versions") == latest_schema_version);

  // The tables are there and usable.
  CHECK(rows_in(db, "channels") == 0);
  CHECK(rows_in(db, "videos") == 0);
  CHECK(rows_in(db, "jobs") == 0);
  seed_channel(db, "ch-1");
  CHECK(seed_video(db, "vid-1", "ch-1").channel_id == "ch-1");
  // Migration 2's unique index of active jobs is in place.
  REQUIRE(job_repository(db, [](JobRepository& jobs) { return jobs.create_job("t", "x"); }));
  CHECK(kind_of(job_repository(
            db, [](JobRepository& jobs) { return jobs.create_job("t", "x"); })) == errc::integrity);
}

TEST_CASE("migrations: migrating again applies nothing and keeps the data",
          "[contract][migrations]") {
  test_database fixture({}, /*migrated=*/false);
  const Database& db = fixture.db();
  REQUIRE(migrate(db));
  seed_channel(db, "ch-kept");

  auto again = migrate(db);
  INFO(describe(again));
  REQUIRE(again);
  CHECK(again.value().from_version == latest_schema_version);
  CHECK(again.value().to_version == latest_schema_version);
  CHECK(again.value().applied.empty());
  CHECK(rows_in(db, "repokit_schema_versions") == latest_schema_version);
  CHECK(read_channel(db, "ch-kept").value().channel_id == "ch-kept");

  // Another handle on the same data sees the same version and applies nothing either.
  const Database other = fixture.open_another({.pool_size = 1});
  CHECK(schema_version(other).value() == latest_schema_version);
  auto from_other = migrate(other);
  REQUIRE(from_other);
  CHECK(from_other.value().applied.empty());
}

// Each version is applied once however the callers interleave: migrate() checks the version again
// under the migration lock. The interleaving that needs it (a second caller read the old version
// before the first applied) is up to the scheduler, so the race is run on several fresh
// databases. On SQLite, waiting callers normally sleep in SQLite's busy handler while the first
// one runs all its units, so they hardly ever interleave; with no busy timeout and a fast retry
// policy they retry every millisecond or so instead, and the units interleave finely.
TEST_CASE("migrations: concurrent migrate() calls on separate handles apply each version once",
          "[contract][migrations]") {
  constexpr int handles = 4;
  const int rounds = repokit::testing::backend_under_test() == dialect::sqlite ? 50 : 3;
  const auto quiet =
      std::make_shared<spdlog::logger>("quiet", std::make_shared<spdlog::sinks::null_sink_mt>());
  for (int round = 0; round < rounds; ++round) {
    INFO("round " << round);
    test_database fixture({}, /*migrated=*/false);
    std::vector<Database> databases;
    for (int k = 0; k < handles; ++k) {
      databases.push_back(
          fixture.open_another({.pool_size = 2,
                                .busy_timeout = std::chrono::milliseconds{0},
                                .retry = {.max_retries = 10'000,
                                          .initial_delay = repokit::seconds{0.0002},
                                          .max_delay = repokit::seconds{0.001}},
                                .logger = quiet}));  // one warning per retry otherwise
    }

    std::vector<result<migration_report>> reports(handles, failure(errc::database, "did not run"));
    {
      std::latch start(handles);
      std::vector<std::thread> threads;
      for (int k = 0; k < handles; ++k) {
        threads.emplace_back([&, k] {
          start.arrive_and_wait();
          reports[k] = migrate(databases[k]);
        });
      }
      for (auto& thread : threads) thread.join();
    }

    std::vector<int> applied_by_anyone;
    for (int k = 0; k < handles; ++k) {
      INFO("handle " << k << ": " << describe(reports[k]));
      REQUIRE(reports[k]);
      CHECK(reports[k].value().to_version == latest_schema_version);
      for (int version : reports[k].value().applied) applied_by_anyone.push_back(version);
    }
    std::sort(applied_by_anyone.begin(), applied_by_anyone.end());
    CHECK(applied_by_anyone == std::vector<int>{1, 2, 3, 4, 5});  // each applied exactly once
    CHECK(rows_in(fixture.db(), "repokit_schema_versions") == latest_schema_version);
    CHECK(schema_version(fixture.db()).value() == latest_schema_version);
    for (const Database& db : databases) CHECK(db.pool().in_use == 0);
  }
}

TEST_CASE("migrations: schema_version reports the latest version on a migrated database",
          "[contract][migrations]") {
  test_database fixture;  // migrated by the fixture
  auto version = schema_version(fixture.db());
  INFO(describe(version));
  REQUIRE(version);
  CHECK(version.value() == latest_schema_version);
  CHECK(latest_schema_version == 5);
}

TEST_CASE(
    "migrations: version 3 indexes jobs by type, target and status in place of type and "
    "target",
    "[contract][migrations]") {
  test_database fixture;
  const Database& db = fixture.db();
  CHECK(has_index(db, "jobs_by_target_status"));
  CHECK_FALSE(has_index(db, "jobs_by_target"));  // its prefix: redundant
  if (db.kind() != dialect::sqlite) return;
  // SQLite used to plan this look-up on jobs_claim_order and walk every active job of the type.
  const auto plan = run_unit(db, [](UnitOfWork& unit) { return unit.query(plan_of_job_lookup); });
  REQUIRE(plan);
  REQUIRE(plan.value().size() == 1);
  CHECK_THAT(plan.value().front().text(3), Catch::Contains("COVERING INDEX jobs_by_target_status"));
}

TEST_CASE("migrations: a database at version 2 moves to the latest and keeps its jobs",
          "[contract][migrations]") {
  test_database fixture;
  const Database& db = fixture.db();
  REQUIRE(job_repository(db, [](JobRepository& jobs) { return jobs.create_job("t", "kept"); }));
  // Back to version 2 as it was shipped: the old index, no record of version 3.
  undo_leases_and_scheduling(db);
  testing::execute_sql(db, db.kind() == dialect::mariadb
                               ? "DROP INDEX jobs_by_target_status ON jobs"
                               : "DROP INDEX jobs_by_target_status");
  testing::execute_sql(db, "CREATE INDEX jobs_by_target ON jobs (job_type, target_id)");
  testing::execute_sql(db, "DELETE FROM repokit_schema_versions WHERE version = 3");
  REQUIRE(schema_version(db).value() == 2);

  auto report = migrate(db);
  INFO(describe(report));
  REQUIRE(report);
  CHECK(report.value().from_version == 2);
  CHECK(report.value().applied == std::vector<int>{3, 4, 5});
  CHECK(has_index(db, "jobs_by_target_status"));
  CHECK_FALSE(has_index(db, "jobs_by_target"));
  CHECK(rows_in(db, "jobs") == 1);
}

TEST_CASE("migrations: version 4 adds leases and scheduling; jobs from before stay claimable",
          "[contract][migrations]") {
  test_database fixture;
  const Database& db = fixture.db();
  auto made = job_repository(db, [](JobRepository& jobs) -> result<Job> {
    REPOKIT_TRYV(jobs.create_job("v3", "old-running"));
    REPOKIT_TRY(auto claimed, jobs.claim_next("v3", "old-worker"));
    if (!claimed) return failure(errc::not_found, "nothing claimed");
    REPOKIT_TRYV(jobs.create_job("v3", "old-pending"));
    return *claimed;
  });
  INFO(describe(made));
  REQUIRE(made);
  undo_leases_and_scheduling(db);
  REQUIRE(schema_version(db).value() == 3);

  auto report = migrate(db);
  INFO(describe(report));
  REQUIRE(report);
  CHECK(report.value().applied == std::vector<int>{4, 5});
  CHECK(has_index(db, "jobs_claim_priority"));
  CHECK_FALSE(has_index(db, "jobs_claim_order"));  // replaced: it cannot order by priority

  // The job claimed under version 3 has no lease: no claim takes it over, reconcile_stale's
  // time rule gives it back. The pending one is due (run_at 0).
  const Job running = read_job(db, made.value().id).value();
  CHECK(running.status == job_status::running);
  CHECK(running.lease_expires_at == std::nullopt);
  CHECK(running.run_at == timestamp{});
  CHECK(running.priority == 0);
  auto next = run_task(db, [](Repositories& repos) { return repos.jobs.claim_next("v3", "new"); });
  INFO(describe(next));
  REQUIRE(next);
  REQUIRE(next.value());
  CHECK(next.value()->target_id == "old-pending");
  auto again = run_task(db, [](Repositories& repos) { return repos.jobs.claim_next("v3", "new"); });
  REQUIRE(again);
  CHECK_FALSE(again.value().has_value());

  while (clock_now() <= running.updated_at) std::this_thread::yield();
  auto reconciled = run_task(db, [](Repositories& repos) {
    return repos.jobs.reconcile_stale(std::chrono::milliseconds{0});
  });
  INFO(describe(reconciled));
  REQUIRE(reconciled);
  CHECK(reconciled.value().requeued == 1);  // the old one; "old-pending" holds a live lease now
  CHECK(read_job(db, made.value().id).value().status == job_status::pending);
}

TEST_CASE("migrations: version 5 lets jobs be dead and keeps every job, id and index",
          "[contract][migrations]") {
  test_database fixture;
  const Database& db = fixture.db();
  auto made = job_repository(db, [](JobRepository& jobs) -> result<std::vector<Job>> {
    std::vector<Job> made;
    for (const char* target : {"a", "b", "gone"}) {
      REPOKIT_TRY(auto job, jobs.create_job("v4", target, "{\"n\": 1}"));
      made.push_back(std::move(job));
    }
    REPOKIT_TRY(auto claimed, jobs.claim_next("v4", "old-worker"));
    if (!claimed) return failure(errc::not_found, "nothing claimed");
    made[0] = *claimed;
    return made;
  });
  INFO(describe(made));
  REQUIRE(made);
  // The newest job is deleted: its id must not be handed out again after the rebuild.
  testing::execute_sql(db, "DELETE FROM jobs WHERE id = " + std::to_string(made.value()[2].id));
  undo_dead_jobs(db);
  REQUIRE(schema_version(db).value() == 4);
  const std::string make_dead =
      "UPDATE jobs SET status = 'dead' WHERE id = " + std::to_string(made.value()[0].id);
  CHECK_THROWS(testing::execute_sql(db, make_dead));  // version 4's check refuses it

  auto report = migrate(db);
  INFO(describe(report));
  REQUIRE(report);
  CHECK(report.value().applied == std::vector<int>{5});
  CHECK(read_job(db, made.value()[0].id).value() == made.value()[0]);
  CHECK(read_job(db, made.value()[1].id).value() == made.value()[1]);
  for (const char* index : {"jobs_one_active", "jobs_by_target_status", "jobs_claim_priority"}) {
    INFO(index);
    CHECK(has_index(db, index));
  }
  CHECK(kind_of(job_repository(db, [](JobRepository& jobs) {
          return jobs.create_job("v4", "b");
        })) == errc::integrity);  // the active index still holds

  auto dead = job_repository(db, [&](JobRepository& jobs) {
    return jobs.retry_or_fail(made.value()[0], "out of luck", {.max_attempts = 1});
  });
  INFO(describe(dead));
  REQUIRE(dead);
  CHECK(dead.value().status == job_status::dead);
  auto next = job_repository(db, [](JobRepository& jobs) { return jobs.create_job("v4", "c"); });
  REQUIRE(next);
  CHECK(next.value().id > made.value()[2].id);
}
