// Helpers shared by the Galera tests: the cluster's environment (written by
// scripts/galera-cluster.sh), a Database per node on the test's own database, the cluster
// script, and waiting for the cluster to have all its nodes again.
//
// Catch2 assertions are not thread-safe: worker threads only record what happened, and the main
// thread checks it after joining them.
#pragma once

#include <catch2/catch.hpp>

#include <spdlog/logger.h>
#include <spdlog/sinks/base_sink.h>
#include <spdlog/sinks/stdout_sinks.h>

#include <sys/wait.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <latch>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "repokit/repokit.hpp"
#include "support/test_database.hpp"

namespace repokit::galera_test {

inline constexpr int node_count = 3;

// An environment variable the harness must set (scripts/test.sh, or the env file written by
// scripts/galera-cluster.sh). Missing means a broken run: fail, never skip.
inline std::string required_environment(const std::string& name) {
  const char* value = std::getenv(name.c_str());
  INFO(name << " is not set: run the Galera tests through scripts/test.sh or source the env "
               "file written by scripts/galera-cluster.sh start DIR");
  REQUIRE(value != nullptr);
  REQUIRE(*value != '\0');
  return value;
}

// These tests are about a cluster: a run against anything else is a harness mistake.
inline void require_galera() {
  const char* backend = std::getenv("REPOKIT_TEST_BACKEND");
  INFO("REPOKIT_TEST_BACKEND selects the backend; ctest sets it to galera for galera.* tests");
  REQUIRE(backend != nullptr);
  REQUIRE(std::string(backend) == "galera");
  required_environment("REPOKIT_TEST_GALERA_URL");
}

// The database a URL names: everything after its last '/'.
inline std::string database_of(const std::string& url) { return url.substr(url.rfind('/') + 1); }

// Node `node` (1-based) alone, on the test's database.
inline std::string node_url(int node, const std::string& database) {
  const std::string base =
      required_environment("REPOKIT_TEST_GALERA_NODE" + std::to_string(node) + "_URL");
  return base.substr(0, base.rfind('/') + 1) + database;
}

// Counts the retries repokit logs by the server's reason, so a test can tell certification
// conflicts and deadlocks (1213) from lock wait timeouts (1205); both are retry_transaction.
// Errors (give-ups, in-doubt commits) still go to stderr; the warnings for every retried
// conflict would bury the test's own output.
class retry_counting_sink final : public spdlog::sinks::base_sink<std::mutex> {
 public:
  std::uint64_t deadlocks() const { return deadlocks_.load(); }
  std::uint64_t lock_wait_timeouts() const { return lock_wait_timeouts_.load(); }

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    const std::string_view text(msg.payload.data(), msg.payload.size());
    // One line per retry; the rollback before it quotes the same error again.
    if (text.starts_with("Transient database error")) {
      if (text.find("Deadlock found") != std::string_view::npos) ++deadlocks_;
      if (text.find("Lock wait timeout") != std::string_view::npos) ++lock_wait_timeouts_;
    }
    if (msg.level >= spdlog::level::err) errors_.log(msg);
  }
  void flush_() override { errors_.flush(); }

 private:
  std::atomic<std::uint64_t> deadlocks_{0};
  std::atomic<std::uint64_t> lock_wait_timeouts_{0};
  spdlog::sinks::stderr_sink_st errors_;  // guarded by base_sink's mutex
};

inline std::shared_ptr<spdlog::logger> quiet_logger(
    std::shared_ptr<retry_counting_sink> sink = std::make_shared<retry_counting_sink>()) {
  auto logger = std::make_shared<spdlog::logger>("repokit-galera-test", std::move(sink));
  logger->set_level(spdlog::level::warn);
  return logger;
}

inline Database open_database(const std::string& url, database_options options) {
  auto opened = Database::open(url, std::move(options));
  INFO((opened ? std::string() : opened.error().describe()));
  REQUIRE(opened);
  return std::move(opened).value();
}

// A Database of one connection whose session waits, at the start of every unit, until its node
// has applied everything the cluster committed before (wsrep_sync_wait = 1 makes START
// TRANSACTION wait). Set per session because the wait happens only at BEGIN: inside a unit's
// transaction, SET STATEMENT wsrep_sync_wait = 1 FOR SELECT ... does not wait.
inline Database causal_database(const std::string& url) {
  Database db = open_database(url, {.pool_size = 1, .logger = quiet_logger()});
  auto waiting = run_unit(db, scope_options{.name = "causal reads"}, [](UnitOfWork& unit) {
    return unit.execute_script("SET SESSION wsrep_sync_wait = 1");
  });
  INFO((waiting ? std::string() : waiting.error().describe()));
  REQUIRE(waiting);
  return db;
}

inline constexpr std::array select_one_columns{column_type::integer};
inline constexpr statement select_one{"select_one", "SELECT 1", statement_kind::read,
                                      select_one_columns};

// Returns once node `node` has applied everything the cluster committed before the call, DDL
// included. A node applies other nodes' writes, CREATE DATABASE too, a moment after they
// commit: connecting to it by the test's database name before then fails with 1049 (unknown
// database), which is not retried. The wait runs on the cluster's own database.
inline void catch_up(int node) {
  const Database db = causal_database(
      required_environment("REPOKIT_TEST_GALERA_NODE" + std::to_string(node) + "_URL"));
  auto caught_up = run_unit(db, scope_options{.name = "catch up"},
                            [](UnitOfWork& unit) { return unit.query_one(select_one); });
  INFO("node " << node << ": " << (caught_up ? "ok" : caught_up.error().describe()));
  REQUIRE(caught_up);
}

inline void catch_up_all() {
  for (int node = 1; node <= node_count; ++node) catch_up(node);
}

// One Database per node, on the fixture's database, once every node has it.
inline std::vector<Database> open_per_node(const testing::test_database& fixture,
                                           const database_options& options) {
  catch_up_all();
  std::vector<Database> nodes;
  for (int node = 1; node <= node_count; ++node) {
    nodes.push_back(open_database(node_url(node, database_of(fixture.url())), options));
  }
  return nodes;
}

// Certification conflicts (1213 at COMMIT, or a brute-force abort) retried as whole units.
inline std::uint64_t conflicts(const std::vector<Database>& dbs) {
  std::uint64_t total = 0;
  for (const Database& db : dbs) total += db.metrics().retries_by(retry_class::retry_transaction);
  return total;
}

// How often each unit of a forced conflict reached its hold: once per attempt that wrote.
struct forced_conflict {
  int first_writes = 0;
  int second_writes = 0;
};

// A certification conflict made on purpose rather than hoped for: two units write the same row
// on two nodes, both have written before either commits, and the first commits before the second
// tries. Galera orders the first's write set first, so the second fails (1213 at COMMIT, or its
// open transaction is aborted by the first's replicated write) and repokit must run it again.
// `run_first` and `run_second` each run one scope (with its retries) and call `hold()` after
// their writes; only the first attempt of each waits there, so the retried second unit goes
// through. An attempt that fails before its hold cannot block the other unit: whoever never
// arrived is let through when its scope returns.
template <typename RunFirst, typename RunSecond>
forced_conflict force_conflict(RunFirst&& run_first, RunSecond&& run_second) {
  forced_conflict seen;
  std::latch both_written(2);
  std::latch first_committed(1);
  bool first_arrived = false;   // touched by the calling thread only
  bool second_arrived = false;  // touched by the second thread only
  {
    std::jthread second([&] {
      run_second([&] {
        ++seen.second_writes;
        if (second_arrived) return;
        second_arrived = true;
        both_written.arrive_and_wait();
        first_committed.wait();
      });
      if (!second_arrived) both_written.count_down();
    });
    run_first([&] {
      ++seen.first_writes;
      if (first_arrived) return;
      first_arrived = true;
      both_written.arrive_and_wait();
    });
    if (!first_arrived) both_written.count_down();
    first_committed.count_down();
  }
  return seen;
}

// Runs scripts/galera-cluster.sh with `arguments` (trusted, no quoting); its exit status.
inline int cluster_script(const std::string& arguments) {
  const std::string command = required_environment("REPOKIT_TEST_GALERA_SCRIPT") + " " + arguments;
  const int status = std::system(command.c_str());
  return status >= 0 && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

inline constexpr std::array status_columns{column_type::text, column_type::text};
inline constexpr statement show_cluster_size{"wsrep_cluster_size",
                                             "SHOW STATUS LIKE 'wsrep_cluster_size'",
                                             statement_kind::read, status_columns};

// Waits until node `node` sees a cluster of `size` nodes: a read-only unit that fails as a
// transient error while the size differs, retried until the policy's deadline. Answers the last
// size seen, or the error that ended the wait.
inline result<std::int64_t> wait_for_cluster_size(int node, std::int64_t size,
                                                  seconds within = seconds{120}) {
  // The cluster's own database: it outlives every test's.
  const std::string url =
      required_environment("REPOKIT_TEST_GALERA_NODE" + std::to_string(node) + "_URL");
  auto db = Database::open(url, {.pool_size = 1, .logger = quiet_logger()});
  if (!db) return failure(std::move(db).error());
  const db_retry polling{.max_retries = 100'000,
                         .initial_delay = seconds{0.1},
                         .max_delay = seconds{0.5},
                         .jitter = jitter_mode::none,
                         .deadline = within};
  return run_unit(db.value(),
                  scope_options{.propagate = propagation::independent,
                                .access = access_mode::read_only,
                                .retry = polling,
                                .name = "wait for cluster size",
                                .on_success = scope_end::roll_back},
                  [&](UnitOfWork& unit) -> result<std::int64_t> {
                    REPOKIT_TRY(auto found, unit.query_one(show_cluster_size));
                    const std::int64_t seen = found ? std::stoll(found->text(1)) : std::int64_t{-1};
                    if (seen == size) return seen;
                    error waiting = make_error(errc::transient,
                                               "node " + std::to_string(node) + " sees " +
                                                   std::to_string(seen) + " node(s), waiting for " +
                                                   std::to_string(size));
                    waiting.retry = retry_class::retry_transaction;
                    return failure(std::move(waiting));
                  });
}

// Every node answers and sees all three: what each test may expect when it starts, and what a
// test that stopped a node must leave behind.
inline void require_full_cluster() {
  for (int node = 1; node <= node_count; ++node) {
    const auto size = wait_for_cluster_size(node, node_count);
    INFO("node " << node << ": " << (size ? "ok" : size.error().describe()));
    REQUIRE(size);
  }
}

}  // namespace repokit::galera_test
