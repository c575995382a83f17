// Nine threads, three on each node of the cluster, increment five counters for a fixed time:
// each unit reads a row's value and writes value + 1. Two nodes changing one row are told apart
// only at COMMIT, where Galera's certification fails the later one with 1213; repokit runs that
// whole unit again. At the end each row's value is the number of units that succeeded on it:
// no increment lost, none applied twice. The storm ends with one conflict forced on purpose, so
// that every run asserts a conflict was met and retried, whatever the scheduler did.
#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <latch>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "galera_support.hpp"

using namespace repokit;
using namespace repokit::galera_test;
using repokit::testing::execute_sql;
using repokit::testing::test_database;

namespace {

constexpr int row_count = 5;
constexpr int threads_per_node = 3;
// How long the threads keep writing. Counting stops at the deadline; it is not an assertion.
constexpr std::chrono::seconds storm_length{20};

constexpr std::array integer_column{column_type::integer};
constexpr std::array id_and_value_columns{column_type::integer, column_type::integer};
// A locking read: on one node two units queue on the row lock, so the second reads the first's
// value. (A plain read would read a snapshot, and two units of one node could both write the
// same value + 1.) Across nodes the lock is local: certification decides.
constexpr statement read_counter{"read_counter",
                                 "SELECT value FROM counters WHERE id = :p1 FOR UPDATE",
                                 statement_kind::write, integer_column};
constexpr statement write_counter{
    "write_counter", "UPDATE counters SET value = :p1 WHERE id = :p2", statement_kind::write, {}};
constexpr statement read_all_counters{"read_all_counters",
                                      "SELECT id, value FROM counters ORDER BY id",
                                      statement_kind::read, id_and_value_columns};
constexpr std::array text_column{column_type::text};
constexpr statement node_name{"node_name", "SELECT @@wsrep_node_name", statement_kind::read,
                              text_column};

db_retry storm_retry() {
  return db_retry{.max_retries = 30, .initial_delay = seconds{0.005}, .max_delay = seconds{0.2}};
}

// One unit that adds 1 to counter `id`, calling `hold` after its write and before COMMIT.
template <typename Hold>
result<void> increment(const Database& db, std::int64_t id, Hold&& hold) {
  return run_unit(db, scope_options{.name = "increment"}, [&](UnitOfWork& unit) -> result<void> {
    const std::array<param, 1> key{id};
    REPOKIT_TRY(auto found, unit.query_one(read_counter, key));
    if (!found) return failure(errc::not_found, "counter " + std::to_string(id) + " is missing");
    const std::array<param, 2> next{found->integer(0) + 1, id};
    REPOKIT_TRYV(unit.execute(write_counter, next));
    hold();
    return success();
  });
}

// Counter `id` incremented on node 1 and node 2 in a forced certification conflict (see
// force_conflict): both increments land, the second after a retry.
void check_forced_conflict(const std::vector<Database>& nodes, std::int64_t id) {
  result<void> first = success();
  result<void> second = success();
  const forced_conflict seen =
      force_conflict([&](auto hold) { first = increment(nodes[0], id, hold); },
                     [&](auto hold) { second = increment(nodes[1], id, hold); });
  INFO("first: " << (first ? "committed" : first.error().describe()));
  INFO("second: " << (second ? "committed" : second.error().describe()));
  CHECK(first);
  CHECK(second);
  CHECK(seen.first_writes == 1);
  // Refused by certification, then run again whole (more than once if node 1's write had not
  // reached node 2 yet when the retry read the row).
  CHECK(seen.second_writes >= 2);
}

struct thread_record {
  std::array<std::int64_t, row_count> succeeded{};  // units committed, per row
  std::int64_t attempts = 0;                        // bodies that wrote, retries included
  std::vector<std::string> failures;                // units that did not commit, and why
  std::string node;                                 // where this thread's connections go
  std::chrono::steady_clock::time_point began{};    // the storm as this thread saw it
  std::chrono::steady_clock::time_point ended{};
  std::chrono::steady_clock::duration slowest{};  // the longest unit, retries included
};

}  // namespace

TEST_CASE("a conflict storm over three nodes loses and duplicates no increment",
          "[galera][storm]") {
  require_galera();
  test_database fixture({.pool_size = 1, .logger = quiet_logger()}, false);
  execute_sql(fixture.db(),
              "CREATE TABLE counters (id INT PRIMARY KEY, value BIGINT NOT NULL); "
              "INSERT INTO counters (id, value) VALUES (0, 0), (1, 0), (2, 0), (3, 0), (4, 0)");
  auto retries = std::make_shared<retry_counting_sink>();
  const std::vector<Database> nodes = open_per_node(
      fixture, {.pool_size = 4, .retry = storm_retry(), .logger = quiet_logger(retries)});
  // Readers that see everything committed anywhere: one per node.
  std::vector<Database> readers;
  for (int node = 1; node <= node_count; ++node) {
    readers.push_back(causal_database(node_url(node, database_of(fixture.url()))));
  }

  // Each node has the five rows before any thread starts (and so has them for every session).
  auto read_counters = [&](int node) {
    auto values =
        run_unit(readers[static_cast<std::size_t>(node)], scope_options{.name = "read counters"},
                 [&](UnitOfWork& unit) { return unit.query(read_all_counters); });
    INFO("reading node " << node + 1 << ": " << (values ? "ok" : values.error().describe()));
    REQUIRE(values);
    REQUIRE(values.value().size() == static_cast<std::size_t>(row_count));
    return std::move(values).value();
  };
  for (int node = 0; node < node_count; ++node) read_counters(node);

  const int thread_count = node_count * threads_per_node;
  std::vector<thread_record> records(thread_count);
  std::latch ready(thread_count);  // every thread has its connection before any writes
  using clock = std::chrono::steady_clock;

  auto storm = [&](int thread) {
    thread_record& record = records[static_cast<std::size_t>(thread)];
    const Database& db = nodes[static_cast<std::size_t>(thread % node_count)];
    auto seen = run_unit(db, scope_options{.name = "warm up"},
                         [&](UnitOfWork& unit) -> result<std::string> {
                           REPOKIT_TRY(auto name, unit.query_one(node_name));
                           return name.value().text(0);
                         });
    if (seen) {
      record.node = seen.value();
    } else {
      record.failures.push_back("warm up: " + seen.error().describe());
    }
    ready.arrive_and_wait();
    if (!seen) return;
    record.began = clock::now();
    const auto end = record.began + storm_length;
    for (int unit_number = 0; clock::now() < end; ++unit_number) {
      const std::int64_t id = (thread + unit_number) % row_count;
      const auto unit_started = clock::now();
      auto written = increment(db, id, [&record] { ++record.attempts; });
      record.slowest = std::max(record.slowest, clock::now() - unit_started);
      if (written) {
        ++record.succeeded[static_cast<std::size_t>(id)];
      } else {
        record.failures.push_back("row " + std::to_string(id) + ": " + written.error().describe());
      }
    }
    record.ended = clock::now();
  };

  {
    std::vector<std::jthread> threads;
    for (int thread = 0; thread < thread_count; ++thread) threads.emplace_back(storm, thread);
  }

  // A conflict on purpose, so that the checks below never depend on the storm having met one.
  const std::uint64_t conflicts_in_storm = conflicts(nodes);
  const std::uint64_t deadlocks_in_storm = retries->deadlocks();
  check_forced_conflict(nodes, 0);

  std::array<std::int64_t, row_count> expected{};
  expected[0] = 2;  // the forced conflict's two increments
  std::int64_t committed = 0;
  std::int64_t attempts = 0;
  std::vector<std::string> failures;
  std::map<std::string, int> threads_on;
  auto began = clock::time_point::max();
  auto ended = clock::time_point::min();
  clock::duration slowest{};
  for (const thread_record& record : records) {
    if (!record.node.empty()) {  // it took part in the storm
      slowest = std::max(slowest, record.slowest);
      began = std::min(began, record.began);
      ended = std::max(ended, record.ended);
    }
    for (int id = 0; id < row_count; ++id) {
      expected[static_cast<std::size_t>(id)] += record.succeeded[static_cast<std::size_t>(id)];
      committed += record.succeeded[static_cast<std::size_t>(id)];
    }
    attempts += record.attempts;
    failures.insert(failures.end(), record.failures.begin(), record.failures.end());
    ++threads_on[record.node];
  }
  // Every unit either committed or is listed here with its error.
  CHECK(failures == std::vector<std::string>{});
  // One Database per node: three threads on each of the three.
  CHECK(threads_on.size() == static_cast<std::size_t>(node_count));
  for (const auto& [node, count] : threads_on) {
    INFO("node " << node);
    CHECK(count == threads_per_node);
  }

  // Every node holds the same values, and each is the number of increments that committed.
  for (int node = 0; node < node_count; ++node) {
    for (const row& r : read_counters(node)) {
      const std::int64_t id = r.integer(0);
      INFO("node " << node + 1 << ", counter " << id);
      REQUIRE(id >= 0);
      REQUIRE(id < row_count);
      CHECK(r.integer(1) == expected[static_cast<std::size_t>(id)]);
      CHECK(r.integer(1) > 0);
    }
  }

  std::uint64_t in_doubt = 0;
  std::uint64_t give_ups = 0;
  for (const Database& db : nodes) {
    CHECK(db.pool().in_use == 0);
    in_doubt += db.metrics().in_doubt;
    give_ups += db.metrics().give_ups;
  }
  CHECK(in_doubt == 0);  // no node died: every commit has a known outcome
  CHECK(give_ups == 0);  // every conflict was absorbed by a retry
  const std::uint64_t conflicted = conflicts(nodes);
  // The forced conflict was met as error 1213 and retried, on top of what the storm met.
  CHECK(conflicted > conflicts_in_storm);
  CHECK(retries->deadlocks() > deadlocks_in_storm);
  const double elapsed = std::chrono::duration<double>(ended - began).count();
  WARN("galera storm: " << committed << " increments in " << elapsed << " s ("
                        << static_cast<double>(committed) / elapsed << " units/s), "
                        << conflicts_in_storm << " conflicts retried in the storm, " << conflicted
                        << " with the forced one (" << retries->deadlocks() << " error 1213, "
                        << retries->lock_wait_timeouts() << " lock wait timeouts 1205; "
                        << 100.0 * static_cast<double>(conflicted) /
                               static_cast<double>(std::max<std::int64_t>(attempts, 1))
                        << "% of " << attempts << " bodies run), give-ups " << give_ups
                        << ", slowest unit " << std::chrono::duration<double>(slowest).count()
                        << " s, per row " << expected[0] << "/" << expected[1] << "/" << expected[2]
                        << "/" << expected[3] << "/" << expected[4]);
}
