// The pool's hygiene on a real server: connections retired at their maximum lifetime and after
// the idle timeout really are closed (a temporary table, which lives as long as its connection,
// is gone), and a unit that holds its connection too long is logged with the line that opened it.
#include <catch2/catch.hpp>

#include <chrono>
#include <memory>
#include <string>

#include "repokit/repokit.hpp"
#include "support/capture_sink.hpp"
#include "support/event_waiter.hpp"
#include "support/test_database.hpp"

using namespace repokit;
using namespace std::chrono_literals;
using repokit::testing::event_waiter;
using repokit::testing::test_database;

namespace {

// Waits until the pool has closed every connection it had, each for `reason`.
void wait_until_all_closed(const Database& db, event_waiter& waiter, event_kind reason) {
  for (std::size_t closed = 1; db.pool().open > 0; ++closed) {
    REQUIRE(waiter.wait_for(reason, 60s, closed));
  }
}

}  // namespace

TEST_CASE("a connection the pool retires is closed, and the next unit has a new one", "[pool]") {
  const bool by_age = GENERATE(true, false);
  CAPTURE(by_age);
  auto waiter = std::make_shared<event_waiter>();
  database_options options{.pool_size = 1, .events = waiter};
  (by_age ? options.max_lifetime : options.idle_timeout) = 200ms;
  const event_kind reason = by_age ? event_kind::session_expired : event_kind::session_idle_closed;
  test_database fixture(options);
  const Database& db = fixture.db();
  testing::execute_sql(db, "CREATE TEMPORARY TABLE pool_probe (id INTEGER)");

  wait_until_all_closed(db, *waiter, reason);
  CHECK_THROWS_AS(testing::count_rows(db, "pool_probe"), db_error);
  const metrics_snapshot counted = db.metrics();
  CHECK((by_age ? counted.sessions_expired : counted.sessions_idle_closed) >= 1);
  CHECK(counted.sessions_discarded == 0);
}

TEST_CASE("a unit holding its connection past the leak threshold is logged with its line",
          "[pool]") {
  auto waiter = std::make_shared<event_waiter>();
  auto log = std::make_shared<testing::capture_sink>();
  test_database fixture({.leak_detection_threshold = 100ms,
                         .events = waiter,
                         .logger = testing::capturing_logger(log)});
  const Database& db = fixture.db();
  const auto probe = query<std::int64_t()>::from_runtime_sql("probe", {.sql = "SELECT 1"}).value();

  const std::string site = "pool_hygiene_test.cpp:" + std::to_string(__LINE__ + 1);
  auto reported = run_unit(db, [&](UnitOfWork& unit) -> result<bool> {
    REPOKIT_TRYV(unit.one(probe));  // the unit takes its connection here
    return waiter->wait_for(event_kind::lease_leaked, 60s);
  });
  REQUIRE(reported.value());
  CHECK(log->count("past the leak detection threshold of 100 ms") == 1);
  CHECK(log->count(site) == 2);  // the report, and the connection coming back
  CHECK(db.metrics().leases_leaked == 1);
}
