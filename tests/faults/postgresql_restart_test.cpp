// The PostgreSQL server restarts while eight threads insert: every connection dies, new ones are
// refused until the server is back, and patient scopes carry every insert through exactly once.
// Run alone (ctest RUN_SERIAL): it breaks every other test's connections too.
#include <catch2/catch.hpp>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <latch>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "fault_support.hpp"
#include "support/capture_sink.hpp"

using namespace repokit;
using namespace repokit::testing;

namespace {

constexpr int thread_count = 8;
constexpr int inserts_per_thread = 200;
constexpr int inserts_before_restart = 20;
// Threads wait here until the restart has hit one of them (or is over), so it cannot miss them
// all: 160 inserts after the restart was started usually outlast the script's way to the
// shutdown, and when they do not, the parked threads meet the dead pooled connections instead.
constexpr int gate_at_insert = 180;

constexpr std::array integer_column{column_type::integer};
constexpr statement insert_row{"insert_restart_row",
                               "INSERT INTO fault_restart (id, worker) VALUES (:p1, :p2)",
                               statement_kind::write,
                               {}};
constexpr statement find_row{"find_restart_row",
                             "SELECT COUNT(*) FROM fault_restart WHERE id = :p1",
                             statement_kind::read, integer_column};
constexpr statement expected_rows{
    "expected_restart_rows",
    "SELECT COUNT(*) FROM fault_restart WHERE id / 1000 < 8 AND id % 1000 < 200 AND "
    "worker = id / 1000",
    statement_kind::read, integer_column};

db_retry patient_retry() {
  return db_retry{.max_retries = 20, .initial_delay = seconds{0.05}, .max_delay = seconds{1.0}};
}

struct tally {
  std::atomic<int> committed{0};
  std::atomic<int> in_doubt{0};
  std::atomic<int> in_doubt_landed{0};  // the in-doubt commit had in fact committed
  std::atomic<int> in_doubt_lost{0};    // it had not: inserted again by the test
  std::atomic<int> integrity{0};        // a retry met its own earlier commit: a duplicate try
  std::atomic<int> failed{0};           // anything else: a lost insert
  std::atomic<int> retried_attempts{0};
  std::mutex mutex;
  std::vector<std::string> failures;

  void record_failure(const std::string& what) {
    ++failed;
    std::lock_guard lock(mutex);
    failures.push_back(what);
  }
};

}  // namespace

TEST_CASE("a server restart under eight writing threads loses and duplicates nothing",
          "[postgresql][restart]") {
  require_backend(dialect::postgresql);
  const std::string script = required_environment("REPOKIT_TEST_PG_SCRIPT");
  const std::string pg_dir = required_environment("REPOKIT_TEST_PG_DIR");

  auto sink = std::make_shared<capture_sink>();
  test_database fixture({.pool_size = 8, .logger = capturing_logger(sink)});
  const Database& db = fixture.db();
  execute_sql(db, "CREATE TABLE fault_restart (id BIGINT PRIMARY KEY, worker BIGINT NOT NULL)");

  tally seen;
  std::latch warmed_up(thread_count);  // every thread has done its first inserts
  std::atomic<int> gate{0};            // 1 once the restart hit a unit or has finished
  auto open_gate = [&] {
    if (gate.exchange(1) == 0) gate.notify_all();
  };
  const scope_options options{.retry = patient_retry(), .name = "restart insert"};

  auto insert_all = [&](int worker) {
    for (int i = 0; i < inserts_per_thread; ++i) {
      const std::int64_t id = std::int64_t{worker} * 1000 + i;
      const std::array<param, 2> params{id, std::int64_t{worker}};
      int attempts = 0;
      auto inserted = run_unit(db, options, [&](UnitOfWork& unit) -> result<void> {
        if (++attempts > 1) {
          ++seen.retried_attempts;
          open_gate();
        }
        REPOKIT_TRYV(unit.execute(insert_row, params));
        return success();
      });
      if (inserted) {
        ++seen.committed;
      } else if (inserted.error().kind == errc::in_doubt) {
        // Not idempotent, so not retried: find out what happened and finish the job.
        ++seen.in_doubt;
        open_gate();
        // Finding and inserting only if absent may safely run twice: idempotent, so an in-doubt
        // commit of this scope is retried by repokit itself.
        auto resolved = run_unit(
            db,
            scope_options{
                .retry = patient_retry(), .idempotent = true, .name = "resolve in-doubt insert"},
            [&](UnitOfWork& unit) -> result<bool> {
              const std::array<param, 1> key{id};
              REPOKIT_TRY(auto found, unit.query_one(find_row, key));
              if (found.value().integer(0) == 1) return true;
              REPOKIT_TRYV(unit.execute(insert_row, params));
              return false;
            });
        if (!resolved) {
          seen.record_failure("resolving in-doubt id " + std::to_string(id) + ": " +
                              resolved.error().describe());
        } else if (resolved.value()) {
          ++seen.in_doubt_landed;
        } else {
          ++seen.in_doubt_lost;
        }
      } else if (inserted.error().kind == errc::integrity) {
        ++seen.integrity;
        seen.record_failure("id " + std::to_string(id) +
                            " inserted twice: " + inserted.error().describe());
      } else {
        seen.record_failure("id " + std::to_string(id) + ": " + inserted.error().describe());
      }
      if (i + 1 == inserts_before_restart) warmed_up.count_down();
      if (i + 1 == gate_at_insert) gate.wait(0);
    }
  };

  using clock = std::chrono::steady_clock;
  const auto started = clock::now();
  int restart_status = -1;
  int committed_at_restart = 0;  // how far the threads had got: shows the overlap
  int committed_after_restart = 0;
  int retried_during_restart = 0;
  clock::duration restart_took{};
  {
    std::vector<std::jthread> workers;
    for (int worker = 0; worker < thread_count; ++worker) {
      workers.emplace_back(insert_all, worker);
    }
    warmed_up.wait();
    committed_at_restart = seen.committed.load();
    const auto restart_started = clock::now();
    restart_status = std::system((script + " restart " + pg_dir).c_str());
    restart_took = clock::now() - restart_started;
    committed_after_restart = seen.committed.load();
    retried_during_restart = seen.retried_attempts.load();
    open_gate();
  }
  const auto took = clock::now() - started;

  const auto counted = db.metrics();
  const auto ms = [](clock::duration d) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
  };
  std::printf(
      "restart test: restart took %lld ms, whole run %lld ms; committed when it began %d, when "
      "it ended %d, retried attempts by then %d; committed %d, in-doubt %d "
      "(landed %d, not landed %d), integrity %d, failed %d; retried attempts %d; metrics: "
      "retries retry_transaction %llu reconnect_then_retry %llu in_doubt %llu, give_ups %llu, "
      "in_doubt %llu, sessions opened %llu discarded %llu, rollbacks %llu\n",
      static_cast<long long>(ms(restart_took)), static_cast<long long>(ms(took)),
      committed_at_restart, committed_after_restart, retried_during_restart, seen.committed.load(),
      seen.in_doubt.load(), seen.in_doubt_landed.load(), seen.in_doubt_lost.load(),
      seen.integrity.load(), seen.failed.load(), seen.retried_attempts.load(),
      static_cast<unsigned long long>(counted.retries_by(retry_class::retry_transaction)),
      static_cast<unsigned long long>(counted.retries_by(retry_class::reconnect_then_retry)),
      static_cast<unsigned long long>(counted.retries_by(retry_class::in_doubt)),
      static_cast<unsigned long long>(counted.give_ups),
      static_cast<unsigned long long>(counted.in_doubt),
      static_cast<unsigned long long>(counted.sessions_opened),
      static_cast<unsigned long long>(counted.sessions_discarded),
      static_cast<unsigned long long>(counted.rollbacks_total()));
  std::fflush(stdout);

  REQUIRE(restart_status == 0);
  {
    std::lock_guard lock(seen.mutex);
    for (const auto& failure : seen.failures) UNSCOPED_INFO(failure);
  }
  CHECK(seen.failed.load() == 0);
  CHECK(seen.integrity.load() == 0);
  CHECK(seen.committed.load() + seen.in_doubt.load() == thread_count * inserts_per_thread);
  CHECK(seen.in_doubt_landed.load() + seen.in_doubt_lost.load() == seen.in_doubt.load());
  // More in metrics only if a resolving scope's own commit was in doubt (and retried).
  CHECK(counted.in_doubt >= static_cast<std::uint64_t>(seen.in_doubt.load()));

  // Every id exactly once: the primary key forbids twins, and all 1600 expected ids are there.
  CHECK(count_rows(db, "fault_restart") == thread_count * inserts_per_thread);
  const auto expected = run_unit(db, scope_options{.name = "count expected"},
                                 [&](UnitOfWork& unit) -> result<std::int64_t> {
                                   REPOKIT_TRY(auto found, unit.query_one(expected_rows));
                                   return found.value().integer(0);
                                 });
  REQUIRE(expected);
  CHECK(expected.value() == thread_count * inserts_per_thread);

  // The restart was felt, and every connection went back to the pool or was discarded. (An
  // in-doubt unit's resolving scope may meet the dead pooled connections before any insert does.)
  CHECK(seen.retried_attempts.load() + seen.in_doubt.load() >= 1);
  CHECK(counted.retries_by(retry_class::reconnect_then_retry) >= 1);
  CHECK(counted.sessions_discarded >= 1);
  CHECK(counted.give_ups == 0);
  CHECK(db.pool().in_use == 0);
}
