// Backends killed with pg_terminate_backend. Mid-body: the next statement finds the connection
// gone, the connection is discarded, and the whole unit runs again on a new one. While idle in
// the pool (what a restart or failover leaves behind): the next unit must still get through.
#include <catch2/catch.hpp>

#include <array>
#include <atomic>
#include <latch>
#include <memory>
#include <optional>
#include <thread>
#include <vector>

#include "fault_support.hpp"
#include "support/capture_sink.hpp"

using namespace repokit;
using namespace repokit::testing;

namespace {

constexpr std::array integer_column{column_type::integer};
constexpr statement insert_item{
    "insert_item", "INSERT INTO fault_items (id) VALUES (:p1)", statement_kind::write, {}};
constexpr statement backend_pid{"backend_pid", "SELECT pg_backend_pid()", statement_kind::read,
                                integer_column};
constexpr statement count_item{"count_item", "SELECT COUNT(*) FROM fault_items WHERE id = :p1",
                               statement_kind::read, integer_column};
// Waits up to 5 s until the backend has exited (PostgreSQL 14+), so the unit's next statement
// surely meets a dead connection.
constexpr statement terminate_backend{
    "terminate_backend",
    "SELECT CASE WHEN pg_terminate_backend(CAST(:p1 AS INTEGER), 5000) THEN 1 ELSE 0 END",
    statement_kind::read, integer_column};

}  // namespace

TEST_CASE("a backend terminated mid-unit: the unit runs again on a new connection, once",
          "[postgresql][terminate]") {
  require_backend(dialect::postgresql);
  auto sink = std::make_shared<capture_sink>();
  test_database fixture({.logger = capturing_logger(sink)});
  const Database& db = fixture.db();
  execute_sql(db, "CREATE TABLE fault_items (id TEXT PRIMARY KEY)");
  // The killer has a pool of its own: the unit's connection must be the only one killed.
  const Database killer = fixture.open_another({.pool_size = 1});

  std::atomic<std::int64_t> victim_pid{0};
  std::latch pid_known(1);         // the first attempt is mid-body, holding its connection
  std::latch killed(1);            // the test has terminated that connection
  std::vector<std::int64_t> pids;  // of every attempt; only the unit's thread writes it
  int attempts = 0;
  std::optional<result<std::int64_t>> outcome;

  std::jthread worker([&] {
    outcome.emplace(run_unit(
        db, scope_options{.retry = fast_retry(), .name = "terminated unit"},
        [&](UnitOfWork& unit) -> result<std::int64_t> {
          ++attempts;
          const std::array<param, 1> id{std::string_view("item-1")};
          auto inserted = unit.execute(insert_item, id);
          std::optional<result<std::optional<row>>> pid;
          if (inserted) pid.emplace(unit.query_one(backend_pid));
          if (pid && *pid && pid->value()) pids.push_back(pid->value()->integer(0));
          if (attempts == 1) {
            // Reached even when a statement failed: the test thread must never wait forever.
            if (!pids.empty()) victim_pid = pids.back();
            pid_known.count_down();
            killed.wait();
          }
          REPOKIT_TRYV(inserted);
          REPOKIT_TRYV(*pid);
          REPOKIT_TRY(auto count, unit.query_one(count_item, id));  // the connection is gone
          return count.value().integer(0);
        }));
  });

  pid_known.wait();
  const std::int64_t pid = victim_pid.load();
  std::optional<result<std::int64_t>> terminated;
  if (pid != 0) {
    terminated.emplace(run_unit(killer, scope_options{.name = "terminate backend"},
                                [&](UnitOfWork& unit) -> result<std::int64_t> {
                                  const std::array<param, 1> params{pid};
                                  REPOKIT_TRY(auto found,
                                              unit.query_one(terminate_backend, params));
                                  return found.value().integer(0);
                                }));
  }
  killed.count_down();
  worker.join();

  REQUIRE(pid != 0);
  REQUIRE(terminated.has_value());
  INFO("terminate: " << (*terminated ? "ok" : terminated->error().describe()));
  REQUIRE(*terminated);
  CHECK(terminated->value() == 1);

  REQUIRE(outcome.has_value());
  INFO("unit: " << (*outcome ? "ok" : outcome->error().describe()));
  INFO("captured log:\n"
       << [&] {
            std::string all;
            for (const auto& line : sink->lines()) all += line + '\n';
            return all;
          }());
  REQUIRE(*outcome);
  CHECK(outcome->value() == 1);  // the retried unit saw its own row, once
  CHECK(attempts == 2);
  REQUIRE(pids.size() == 2);
  CHECK(pids[0] == pid);
  CHECK(pids[1] != pid);  // a new connection, not the dead one

  CHECK(count_rows(db, "fault_items") == 1);  // the first attempt's insert died with its backend

  const auto counted = db.metrics();
  CHECK(counted.retries_by(retry_class::reconnect_then_retry) >= 1);
  CHECK(counted.sessions_discarded >= 1);
  CHECK(counted.in_doubt == 0);
  CHECK(counted.give_ups == 0);
  CHECK(db.pool().in_use == 0);
  CHECK(sink->count("Transient database error in count_item (attempt 1/4)") == 1);
}

namespace {

// Opens `count` connections at once (each unit holds its own until it ends), so the pool keeps
// them idle afterwards; answers their backends' pids.
std::vector<std::int64_t> fill_pool(const Database& db, std::size_t count) {
  std::vector<std::unique_ptr<UnitOfWork>> units;
  std::vector<std::int64_t> pids;
  for (std::size_t i = 0; i < count; ++i) {
    units.push_back(std::make_unique<UnitOfWork>(db));
    auto found = units.back()->query_one(backend_pid);
    REQUIRE(found);
    pids.push_back(found.value().value().integer(0));
  }
  for (auto& unit : units) REQUIRE(unit->commit());
  return pids;
}

// Terminates every backend in `pids` from another pool and waits until they are gone.
void terminate_all(const Database& killer, const std::vector<std::int64_t>& pids) {
  for (const std::int64_t pid : pids) {
    auto terminated = run_unit(killer, scope_options{.name = "terminate backend"},
                               [&](UnitOfWork& unit) -> result<std::int64_t> {
                                 const std::array<param, 1> params{pid};
                                 REPOKIT_TRY(auto found, unit.query_one(terminate_backend, params));
                                 return found.value().integer(0);
                               });
    REQUIRE(terminated);
    REQUIRE(terminated.value() == 1);
  }
}

}  // namespace

// What a server restart or failover does to an idle pool: every pooled connection is dead, and
// nothing notices until one is used. docs/retry.md: "reconnect_then_retry discards the
// connection ... and the next attempt takes a new one"; check_on_checkout is "off by default:
// the retry already recovers".
TEST_CASE("after every idle pooled connection died, the next unit recovers within its retries",
          "[postgresql][terminate][stale-pool]") {
  require_backend(dialect::postgresql);
  const bool check_on_checkout = GENERATE(false, true);
  CAPTURE(check_on_checkout);
  auto sink = std::make_shared<capture_sink>();
  test_database fixture(
      {.pool_size = 8, .check_on_checkout = check_on_checkout, .logger = capturing_logger(sink)});
  const Database& db = fixture.db();
  const Database killer = fixture.open_another({.pool_size = 1});

  const std::vector<std::int64_t> dead = fill_pool(db, 8);
  REQUIRE(db.pool().open == 8);
  terminate_all(killer, dead);

  int attempts = 0;
  auto outcome = run_unit(db, scope_options{.retry = fast_retry(), .name = "after the outage"},
                          [&](UnitOfWork& unit) -> result<std::int64_t> {
                            ++attempts;
                            REPOKIT_TRY(auto found, unit.query_one(backend_pid));
                            return found.value().integer(0);
                          });

  INFO("captured log:\n"
       << [&] {
            std::string all;
            for (const auto& line : sink->lines()) all += line + '\n';
            return all;
          }());
  INFO("attempts: " << attempts << ", outcome: " << (outcome ? "ok" : outcome.error().describe()));
  CHECK(outcome);
  CHECK(db.metrics().give_ups == 0);
  CHECK(db.pool().in_use == 0);
}
