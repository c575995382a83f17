#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <future>
#include <latch>
#include <memory>
#include <optional>
#include <thread>
#include <vector>

#include "repokit/connection_pool.hpp"
#include "repokit/metrics.hpp"
#include "support/mock_session.hpp"

namespace {

using namespace std::chrono_literals;
using repokit::connection_lease;
using repokit::connection_pool;
using repokit::errc;
using repokit::result;
using repokit::Session;

// Hands the pool forwarding sessions to one MockSession and counts the connections made and
// how many exist at once. The pool calls no session method unless it pings, so the threads of
// the concurrent test never reach trompeloeil, whose reports (like Catch2's assertions) belong on
// the main thread.
struct mock_backend {
  repokit::testing::MockSession mock;
  std::atomic<int> opened{0};
  std::atomic<int> alive{0};
  std::atomic<int> peak_alive{0};

  repokit::session_factory factory() {
    return [this]() -> result<std::unique_ptr<Session>> {
      ++opened;
      auto session = std::make_unique<repokit::testing::forwarding_session>(mock, alive);
      // Sessions only add up when one is made, so the peak is seen here.
      const int now = alive.load();
      int peak = peak_alive.load();
      while (now > peak && !peak_alive.compare_exchange_weak(peak, now)) {
      }
      return std::unique_ptr<Session>(std::move(session));
    };
  }
};

connection_pool::settings pool_of(std::size_t size, std::chrono::milliseconds timeout = 60'000ms) {
  return {.max_size = size, .acquire_timeout = timeout, .check_on_checkout = false};
}

connection_lease acquire_ok(connection_pool& pool) {
  auto lease = pool.acquire();
  if (!lease) FAIL("acquire failed: " << lease.error().describe());
  return std::move(lease).value();
}

// A pool of one connection, leased out: the next acquire waits. Its timeout is far longer than
// any test waits: only a wake-up by the returned lease, not the timeout, ends a wait in time.
struct one_held {
  mock_backend backend;
  std::shared_ptr<connection_pool> pool = connection_pool::create(
      backend.factory(), pool_of(1, 120'000ms), std::make_shared<repokit::metrics>());
  std::optional<connection_lease> held{acquire_ok(*pool)};
};

}  // namespace

TEST_CASE("A returned lease's connection is reused by the next acquire", "[pool]") {
  mock_backend backend;
  auto counters = std::make_shared<repokit::metrics>();
  auto pool = connection_pool::create(backend.factory(), pool_of(2), counters);

  const Session* first = nullptr;
  {
    connection_lease lease = acquire_ok(*pool);
    first = &lease.session();
    CHECK(pool->status().in_use == 1);
    CHECK(pool->status().open == 1);
  }
  CHECK(pool->status().in_use == 0);
  CHECK(pool->status().open == 1);
  {
    connection_lease lease = acquire_ok(*pool);
    CHECK(&lease.session() == first);
  }
  CHECK(backend.opened == 1);
  CHECK(counters->snapshot().sessions_opened == 1);
  CHECK(pool->status().max_size == 2);
  CHECK(pool->status().in_use == 0);
}

TEST_CASE("A moved lease gives its connection back exactly once", "[pool]") {
  mock_backend backend;
  auto pool =
      connection_pool::create(backend.factory(), pool_of(1), std::make_shared<repokit::metrics>());
  {
    std::optional<connection_lease> outer;
    {
      connection_lease inner = acquire_ok(*pool);
      outer.emplace(std::move(inner));
    }
    // The moved-from lease is gone; the connection is still out.
    CHECK(pool->status().in_use == 1);
  }
  CHECK(pool->status().in_use == 0);
  CHECK(pool->status().open == 1);
  CHECK(backend.alive == 1);
}

TEST_CASE("A discarded lease's connection is destroyed and the next acquire opens a new one",
          "[pool]") {
  mock_backend backend;
  auto counters = std::make_shared<repokit::metrics>();
  auto pool = connection_pool::create(backend.factory(), pool_of(1), counters);
  {
    connection_lease lease = acquire_ok(*pool);
    lease.discard();
  }
  CHECK(backend.alive == 0);
  CHECK(pool->status().open == 0);
  CHECK(pool->status().in_use == 0);
  CHECK(counters->snapshot().sessions_discarded == 1);
  {
    connection_lease lease = acquire_ok(*pool);
    CHECK(backend.opened == 2);
    CHECK(backend.alive == 1);
  }
  CHECK(counters->snapshot().sessions_opened == 2);
  CHECK(counters->snapshot().sessions_discarded == 1);
}

TEST_CASE("acquire fails with pool_exhausted when no connection comes free in time", "[pool]") {
  mock_backend backend;
  auto counters = std::make_shared<repokit::metrics>();
  auto pool = connection_pool::create(backend.factory(), pool_of(1, 20ms), counters);
  {
    connection_lease held = acquire_ok(*pool);

    auto second = pool->acquire();
    REQUIRE_FALSE(second);
    CHECK(second.error().kind == errc::pool_exhausted);
    CHECK_THAT(second.error().message,
               Catch::Contains("pool size 1") && Catch::Contains("pool_size"));
    CHECK(counters->snapshot().pool_timeouts == 1);
    CHECK(pool->status().in_use == 1);
    CHECK(pool->status().open == 1);
    CHECK(backend.opened == 1);
  }
  // The timeout left nothing behind: the connection is usable again.
  connection_lease again = acquire_ok(*pool);
  CHECK(backend.opened == 1);
  CHECK(counters->snapshot().pool_timeouts == 1);
}

TEST_CASE("A waiting acquire is woken when another thread gives its lease back", "[pool]") {
  one_held fixture;
  auto& pool = fixture.pool;
  auto& held = fixture.held;
  const Session* held_session = &held->session();

  struct outcome {
    bool ok = false;
    const Session* session = nullptr;
  };
  std::latch waiter_started{1};
  std::future<outcome> waiter = std::async(std::launch::async, [&] {
    waiter_started.count_down();
    auto lease = pool->acquire();
    return lease ? outcome{true, &lease.value().session()} : outcome{};
  });

  // Whether the waiter is already blocked or only about to acquire, it must get the
  // connection given back here; the former is the wake-up this test is about.
  waiter_started.wait();
  held.reset();

  REQUIRE(waiter.wait_for(60s) == std::future_status::ready);
  const outcome got = waiter.get();
  CHECK(got.ok);
  CHECK(got.session == held_session);
  CHECK(fixture.backend.opened == 1);
  CHECK(pool->status().in_use == 0);
}

TEST_CASE("A factory failure is returned and frees the slot it reserved", "[pool]") {
  mock_backend backend;
  auto counters = std::make_shared<repokit::metrics>();
  int calls = 0;
  auto factory = [&, real = backend.factory()]() -> result<std::unique_ptr<Session>> {
    if (++calls == 1) return repokit::failure(errc::connection_lost, "connection refused");
    return real();
  };
  auto pool = connection_pool::create(factory, pool_of(1), counters);

  auto failed = pool->acquire();
  REQUIRE_FALSE(failed);
  CHECK(failed.error().kind == errc::connection_lost);
  CHECK(failed.error().message == "connection refused");
  CHECK(pool->status().open == 0);
  CHECK(pool->status().in_use == 0);
  CHECK(counters->snapshot().sessions_opened == 0);

  // With a pool of one, this succeeds only if the failed attempt gave its slot back.
  connection_lease lease = acquire_ok(*pool);
  CHECK(calls == 2);
  CHECK(pool->status().open == 1);
  CHECK(counters->snapshot().sessions_opened == 1);
}

TEST_CASE("check_on_checkout replaces an idle connection whose ping fails", "[pool]") {
  mock_backend backend;
  auto counters = std::make_shared<repokit::metrics>();
  auto pool = connection_pool::create(
      backend.factory(), {.max_size = 1, .acquire_timeout = 60'000ms, .check_on_checkout = true},
      counters);

  // A connection just opened is not pinged: the mock refuses any call here.
  { connection_lease fresh = acquire_ok(*pool); }
  CHECK(backend.opened == 1);

  {
    REQUIRE_CALL(backend.mock, ping()).RETURN(false);
    connection_lease replaced = acquire_ok(*pool);
    CHECK(backend.opened == 2);
    CHECK(backend.alive == 1);
    CHECK(counters->snapshot().sessions_discarded == 1);
    CHECK(pool->status().open == 1);
  }

  {
    REQUIRE_CALL(backend.mock, ping()).RETURN(true);
    connection_lease reused = acquire_ok(*pool);
    CHECK(backend.opened == 2);
  }
  CHECK(counters->snapshot().sessions_opened == 2);
  CHECK(counters->snapshot().sessions_discarded == 1);
  CHECK(pool->status().in_use == 0);
}

TEST_CASE("After a connection is lost, those idle at that moment are pinged before reuse",
          "[pool]") {
  mock_backend backend;
  auto counters = std::make_shared<repokit::metrics>();
  auto pool = connection_pool::create(backend.factory(), pool_of(3), counters);
  {
    connection_lease a = acquire_ok(*pool);
    connection_lease b = acquire_ok(*pool);
    connection_lease c = acquire_ok(*pool);
    { connection_lease idle_a = std::move(a); }
    { connection_lease idle_b = std::move(b); }
    c.discard(true);  // a restarted server: a and b, idle now, may be dead too
  }
  CHECK(backend.opened == 3);
  CHECK(pool->status().open == 2);

  {
    // One of the suspects answers, the other is dead and replaced by a new connection.
    trompeloeil::sequence order;
    REQUIRE_CALL(backend.mock, ping()).RETURN(true).IN_SEQUENCE(order);
    REQUIRE_CALL(backend.mock, ping()).RETURN(false).IN_SEQUENCE(order);
    connection_lease first = acquire_ok(*pool);
    connection_lease second = acquire_ok(*pool);
    CHECK(backend.opened == 4);
    CHECK(backend.alive == 2);
  }
  CHECK(counters->snapshot().sessions_discarded == 2);

  // Connections given back after the loss are trusted again: the mock refuses any ping here.
  connection_lease third = acquire_ok(*pool);
  connection_lease fourth = acquire_ok(*pool);
  CHECK(backend.opened == 4);
  CHECK(pool->status().in_use == 2);
}

TEST_CASE("A discard that is not a loss leaves the idle connections trusted", "[pool]") {
  mock_backend backend;
  auto pool =
      connection_pool::create(backend.factory(), pool_of(2), std::make_shared<repokit::metrics>());
  {
    connection_lease a = acquire_ok(*pool);
    connection_lease b = acquire_ok(*pool);
    { connection_lease idle_a = std::move(a); }
    b.discard();  // e.g. a failed rollback: only this connection's state is unknown
  }
  // The mock refuses any ping: the idle connection is handed out as it is.
  connection_lease reused = acquire_ok(*pool);
  CHECK(backend.opened == 2);
  CHECK(backend.alive == 1);
}

TEST_CASE("Leases keep the pool alive after the last pointer to it is dropped", "[pool]") {
  mock_backend backend;
  auto pool =
      connection_pool::create(backend.factory(), pool_of(2), std::make_shared<repokit::metrics>());
  std::weak_ptr<connection_pool> watch = pool;
  std::optional<connection_lease> lease;
  lease.emplace(acquire_ok(*pool));

  pool.reset();
  CHECK_FALSE(watch.expired());
  {
    REQUIRE_CALL(backend.mock, ping()).RETURN(true);
    CHECK(lease->session().ping());  // the connection still works
  }

  // Giving the last lease back returns it to the pool, which then goes with its connections.
  lease.reset();
  CHECK(watch.expired());
  CHECK(backend.alive == 0);
}

TEST_CASE("Eight threads sharing a pool of three never have more than three connections",
          "[pool]") {
  constexpr int threads = 8;
  constexpr int rounds = 1000;
  constexpr std::size_t size = 3;
  // Some runs discard now and then, so that connections are also closed and reopened.
  const int discard_every = GENERATE(0, 7);

  mock_backend backend;
  auto counters = std::make_shared<repokit::metrics>();
  auto pool = connection_pool::create(backend.factory(), pool_of(size), counters);

  std::atomic<int> leased{0};
  std::atomic<int> peak_leased{0};
  std::atomic<int> failures{0};
  std::atomic<int> over_size{0};
  std::latch start{threads};
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&] {
      start.arrive_and_wait();
      for (int i = 1; i <= rounds; ++i) {
        auto lease = pool->acquire();
        if (!lease) {
          ++failures;
          continue;
        }
        const int now = ++leased;
        int peak = peak_leased.load();
        while (now > peak && !peak_leased.compare_exchange_weak(peak, now)) {
        }
        if (pool->status().open > size) ++over_size;
        if (discard_every > 0 && i % discard_every == 0) lease.value().discard();
        --leased;
      }
    });
  }
  for (std::thread& worker : workers) worker.join();

  CHECK(failures == 0);
  CHECK(over_size == 0);
  CHECK(peak_leased <= static_cast<int>(size));
  const repokit::pool_status status = pool->status();
  CHECK(status.in_use == 0);
  CHECK(status.open <= size);
  CHECK(static_cast<std::size_t>(backend.alive.load()) == status.open);
  const repokit::metrics_snapshot counted = counters->snapshot();
  CHECK(counted.sessions_opened == static_cast<std::uint64_t>(backend.opened.load()));
  CHECK(counted.sessions_opened - counted.sessions_discarded == status.open);
  if (discard_every == 0) {
    // Without discards, connections are only ever opened into free slots.
    CHECK(backend.peak_alive <= static_cast<int>(size));
    CHECK(counted.sessions_discarded == 0);
  }
}

TEST_CASE("The pool counts the threads waiting for a connection", "[pool]") {
  one_held fixture;
  auto& pool = fixture.pool;
  auto& held = fixture.held;
  CHECK(pool->status().waiting == 0);

  std::future<bool> waiter = std::async(std::launch::async, [&] { return bool(pool->acquire()); });
  // The waiter shows in the status once it blocks; it cannot get past that while the lease is
  // held, so this loop ends, unless the pool fails to count it.
  const auto give_up = std::chrono::steady_clock::now() + 60s;
  while (pool->status().waiting == 0 && std::chrono::steady_clock::now() < give_up) {
    std::this_thread::yield();
  }
  CHECK(pool->status().waiting == 1);
  held.reset();

  REQUIRE(waiter.wait_for(60s) == std::future_status::ready);
  CHECK(waiter.get());
  CHECK(pool->status().waiting == 0);
}
