// The pool's hygiene: maximum lifetime, idle timeout and leak detection. The rules are tested on
// a clock the test moves, with housekeeping passes the test asks for; the pool's own thread is
// tested on the real clock, by waiting for what it reports.
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <source_location>
#include <string>

#include "repokit/connection_pool.hpp"
#include "repokit/metrics.hpp"
#include "support/capture_sink.hpp"
#include "support/event_waiter.hpp"
#include "support/mock_session.hpp"

namespace {

using namespace std::chrono_literals;
using repokit::connection_lease;
using repokit::connection_pool;
using repokit::result;
using repokit::Session;
using clock_type = connection_pool::clock;

// The test's clock: it moves only when advance() says so.
std::atomic<std::int64_t> fake_elapsed_ms{0};
clock_type::time_point fake_now() {
  return clock_type::time_point{} + 24h + std::chrono::milliseconds(fake_elapsed_ms.load());
}
void advance(std::chrono::milliseconds by) { fake_elapsed_ms += by.count(); }

struct hygiene_fixture {
  explicit hygiene_fixture(connection_pool::settings config,
                           std::shared_ptr<repokit::observer> watcher = nullptr)
      : counters(std::make_shared<repokit::metrics>(std::move(watcher))) {
    config.logger = repokit::testing::capturing_logger(log);
    pool = connection_pool::create(
        [this]() -> result<std::unique_ptr<Session>> {
          ++opened;
          return std::unique_ptr<Session>(
              std::make_unique<repokit::testing::forwarding_session>(mock, alive));
        },
        std::move(config), counters);
  }

  // Passes its caller's place on, as scopes do.
  connection_lease acquire(std::source_location where = std::source_location::current()) {
    auto lease = pool->acquire(where);
    if (!lease) FAIL("acquire failed: " << lease.error().describe());
    return std::move(lease).value();
  }

  repokit::testing::MockSession mock;  // the pool calls no session method here
  std::atomic<int> opened{0};
  std::atomic<int> alive{0};
  std::shared_ptr<repokit::testing::capture_sink> log =
      std::make_shared<repokit::testing::capture_sink>();
  std::shared_ptr<repokit::metrics> counters;
  std::shared_ptr<connection_pool> pool;
};

connection_pool::settings on_fake_clock(std::size_t size) {
  return {.max_size = size, .now = &fake_now};
}

}  // namespace

TEST_CASE("A connection past its maximum lifetime is closed when given back, not kept",
          "[pool][hygiene]") {
  auto config = on_fake_clock(1);
  config.max_lifetime = 1000ms;
  hygiene_fixture fixture(config);
  {
    connection_lease lease = fixture.acquire();
    advance(1000ms);
  }
  CHECK(fixture.alive == 0);
  CHECK(fixture.pool->status().open == 0);
  CHECK(fixture.counters->snapshot().sessions_expired == 1);
  CHECK(fixture.counters->snapshot().sessions_discarded == 0);

  connection_lease again = fixture.acquire();
  CHECK(fixture.opened == 2);
}

TEST_CASE("A connection is reused until its maximum lifetime, less at most 2.5 %, then replaced",
          "[pool][hygiene]") {
  auto config = on_fake_clock(1);
  config.max_lifetime = 1000ms;
  hygiene_fixture fixture(config);
  const Session* first = nullptr;
  {
    connection_lease lease = fixture.acquire();
    first = &lease.session();
  }
  advance(974ms);
  {
    connection_lease lease = fixture.acquire();
    CHECK(&lease.session() == first);
  }
  advance(26ms);
  {
    // Idle and expired: closed at the acquire, which opens another.
    connection_lease lease = fixture.acquire();
    CHECK(fixture.opened == 2);
    CHECK(fixture.alive == 1);
  }
  CHECK(fixture.counters->snapshot().sessions_expired == 1);
}

TEST_CASE("Housekeeping closes a connection idle for the idle timeout, not one used since",
          "[pool][hygiene]") {
  auto config = on_fake_clock(2);
  config.idle_timeout = 1000ms;
  hygiene_fixture fixture(config);
  {
    connection_lease a = fixture.acquire();
    connection_lease b = fixture.acquire();
  }
  advance(600ms);
  { connection_lease used_again = fixture.acquire(); }
  advance(500ms);  // one connection has been idle for 1100 ms, the other for 500 ms

  fixture.pool->housekeep();
  CHECK(fixture.alive == 1);
  CHECK(fixture.pool->status().open == 1);
  CHECK(fixture.counters->snapshot().sessions_idle_closed == 1);

  fixture.pool->housekeep();  // nothing more is due
  CHECK(fixture.counters->snapshot().sessions_idle_closed == 1);
  { connection_lease lease = fixture.acquire(); }
  CHECK(fixture.opened == 2);
}

TEST_CASE("Housekeeping never closes a leased connection, which closes once given back",
          "[pool][hygiene]") {
  auto config = on_fake_clock(1);
  config.max_lifetime = 1000ms;
  config.idle_timeout = 100ms;
  hygiene_fixture fixture(config);
  std::optional<connection_lease> held = fixture.acquire();
  advance(5000ms);
  fixture.pool->housekeep();
  CHECK(fixture.alive == 1);
  CHECK(fixture.pool->status().in_use == 1);
  CHECK(fixture.counters->snapshot().sessions_expired == 0);
  CHECK(fixture.counters->snapshot().sessions_idle_closed == 0);

  held.reset();
  CHECK(fixture.alive == 0);
  CHECK(fixture.counters->snapshot().sessions_expired == 1);
}

TEST_CASE("A lease held past the leak threshold is logged once, with the call site that took it",
          "[pool][hygiene]") {
  auto config = on_fake_clock(1);
  config.leak_threshold = 100ms;
  hygiene_fixture fixture(config);
  const std::string site = "connection_pool_hygiene_test.cpp:" + std::to_string(__LINE__ + 1);
  std::optional<connection_lease> held = fixture.acquire();
  advance(99ms);
  fixture.pool->housekeep();
  CHECK(fixture.log->count("leak") == 0);
  CHECK(fixture.counters->snapshot().leases_leaked == 0);

  advance(1ms);
  fixture.pool->housekeep();
  fixture.pool->housekeep();  // reported once per lease
  CHECK(fixture.counters->snapshot().leases_leaked == 1);
  REQUIRE(fixture.log->count("leak detection threshold of 100 ms") == 1);
  CHECK(fixture.log->count(site) == 1);
  CHECK(fixture.log->count("warning: A database connection has been leased for 0.1 s") == 1);

  advance(2000ms);
  held.reset();
  CHECK(fixture.log->count("reported as a possible leak, came back after 2.1 s") == 1);
  CHECK(fixture.log->count(site) == 2);

  // A lease given back in time is never reported.
  { connection_lease quick = fixture.acquire(); }
  advance(500ms);
  fixture.pool->housekeep();
  CHECK(fixture.counters->snapshot().leases_leaked == 1);
}

TEST_CASE("The pool's own thread closes idle connections and reports leaks as they fall due",
          "[pool][hygiene]") {
  auto waiter = std::make_shared<repokit::testing::event_waiter>();
  hygiene_fixture fixture({.max_size = 2, .idle_timeout = 20ms, .leak_threshold = 20ms}, waiter);
  const std::string site = "connection_pool_hygiene_test.cpp:" + std::to_string(__LINE__ + 1);
  connection_lease held = fixture.acquire();
  { connection_lease brief = fixture.acquire(); }

  // Nobody calls housekeep(): only the pool's thread can do these.
  REQUIRE(waiter->wait_for(repokit::event_kind::session_idle_closed, 60s));
  REQUIRE(waiter->wait_for(repokit::event_kind::lease_leaked, 60s));
  CHECK(fixture.alive == 1);
  CHECK(fixture.pool->status().open == 1);
  CHECK(fixture.pool->status().in_use == 1);
  CHECK(fixture.log->count(site) == 1);
}
