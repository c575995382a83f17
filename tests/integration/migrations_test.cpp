// Schema migrations on a real database: from nothing to the latest version, idempotent, and
// safe when several processes (here: several Database handles) migrate at once.
#include <catch2/catch.hpp>

#include <spdlog/logger.h>
#include <spdlog/sinks/null_sink.h>

#include <algorithm>
#include <chrono>
#include <latch>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "contract_support.hpp"

using namespace repokit;
using namespace repokit::contract;
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
  CHECK(report.value().applied == std::vector<int>{1, 2});
  CHECK(schema_version(db).value() == latest_schema_version);
  CHECK(rows_in(db, "schema_migrations") == latest_schema_version);

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
  CHECK(rows_in(db, "schema_migrations") == latest_schema_version);
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
    CHECK(applied_by_anyone == std::vector<int>{1, 2});  // each version applied exactly once
    CHECK(rows_in(fixture.db(), "schema_migrations") == latest_schema_version);
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
  CHECK(latest_schema_version == 2);
}
