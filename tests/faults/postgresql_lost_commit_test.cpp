// COMMITs lost with their connection, resolved by asking the server on a new connection. A
// deferred trigger holds each COMMIT of the test table in the server for a while; the test
// waits until it sees it there, then either cuts the client's socket (the server goes on and
// commits) or terminates the backend (the transaction aborts). A unit whose first statement
// writes learns its transaction's id with BEGIN; one that reads first, with its COMMIT: both
// are tried.
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <array>
#include <chrono>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "fault_support.hpp"
#include "support/capture_sink.hpp"

using namespace repokit;
using namespace repokit::testing;

namespace {

constexpr std::array integer_columns{column_type::integer, column_type::integer};
constexpr statement insert_item{
    "insert_item", "INSERT INTO lost_commit_items (id) VALUES (:p1)", statement_kind::write, {}};
constexpr std::array one_integer{column_type::integer};
constexpr statement count_items{"count_items", "SELECT COUNT(*) FROM lost_commit_items",
                                statement_kind::read, one_integer};
// The backend whose COMMIT is held by the trigger's pause, and the client's port it serves.
constexpr statement committing_backend{
    "committing_backend",
    "SELECT pid, client_port FROM pg_stat_activity WHERE datname = current_database() AND "
    "query = 'COMMIT' AND state = 'active' AND wait_event = 'PgSleep'",
    statement_kind::read, integer_columns};
constexpr statement terminate_backend{
    "terminate_backend",
    "SELECT CASE WHEN pg_terminate_backend(CAST(:p1 AS INTEGER), 5000) THEN 1 ELSE 0 END, 0",
    statement_kind::read, integer_columns};

// Every COMMIT of a transaction that inserted into the table pauses for two seconds.
void create_paused_table(const Database& db) {
  execute_sql(db, "CREATE TABLE lost_commit_items (id TEXT PRIMARY KEY)");
  execute_sql(db,
              "CREATE FUNCTION lost_commit_pause() RETURNS trigger LANGUAGE plpgsql AS "
              "$$ BEGIN PERFORM pg_sleep(2); RETURN NULL; END $$");
  execute_sql(db,
              "CREATE CONSTRAINT TRIGGER lost_commit_pause AFTER INSERT ON lost_commit_items "
              "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION lost_commit_pause()");
}

// The (pid, client port) of the backend held in its COMMIT, once it is there; nothing when none
// appears within 30 seconds.
std::optional<std::pair<std::int64_t, std::int64_t>> wait_for_held_commit(const Database& watcher) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds{30};
  while (std::chrono::steady_clock::now() < deadline) {
    auto found = run_unit(watcher, scope_options{.name = "watch"},
                          [](UnitOfWork& unit) { return unit.query_one(committing_backend); });
    REQUIRE(found);
    if (found.value()) return std::pair{found.value()->integer(0), found.value()->integer(1)};
    std::this_thread::sleep_for(std::chrono::milliseconds{20});  // polling the server's view
  }
  return std::nullopt;
}

// Shuts down this process's TCP socket whose local port is `port`: the client's end of one
// connection, cut as a network failure would. Whether it found one.
bool cut_socket_with_local_port(std::int64_t port) {
  struct dir_closer {
    void operator()(DIR* dir) const { closedir(dir); }
  };
  const std::unique_ptr<DIR, dir_closer> fds(opendir("/proc/self/fd"));
  REQUIRE(fds);
  while (const dirent* entry = readdir(fds.get())) {
    const int fd = std::atoi(entry->d_name);
    sockaddr_storage address{};
    socklen_t length = sizeof address;
    if (fd <= 2 || getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) continue;
    int local_port = -1;
    if (address.ss_family == AF_INET) {
      local_port = ntohs(reinterpret_cast<const sockaddr_in*>(&address)->sin_port);
    } else if (address.ss_family == AF_INET6) {
      local_port = ntohs(reinterpret_cast<const sockaddr_in6*>(&address)->sin6_port);
    }
    if (local_port == port) return shutdown(fd, SHUT_RDWR) == 0;
  }
  return false;
}

std::string captured(capture_sink& sink) {
  std::string all;
  for (const auto& line : sink.lines()) all += line + '\n';
  return all;
}

// A unit that inserts one row (after a read when `reads_first`), run on a thread of its own on a
// fresh database, its COMMIT held by the trigger; `watcher` is a second pool to look and act.
struct held_unit {
  explicit held_unit(bool reads_first)
      : sink(std::make_shared<capture_sink>()),
        fixture({.logger = capturing_logger(sink)}),
        watcher((create_paused_table(fixture.db()), fixture.open_another({.pool_size = 1}))) {
    worker = std::jthread([this, reads_first] {
      outcome.emplace(run_unit(db(), scope_options{.retry = fast_retry(), .name = "lost commit"},
                               [&](UnitOfWork& unit) -> result<void> {
                                 ++runs;
                                 if (reads_first) REPOKIT_TRYV(unit.query_one(count_items));
                                 const std::array<param, 1> id{std::string_view("item-1")};
                                 REPOKIT_TRYV(unit.execute(insert_item, id));
                                 return success();
                               }));
    });
  }
  const Database& db() const { return fixture.db(); }
  // The (pid, client port) of the unit's backend, once the trigger holds its COMMIT.
  std::pair<std::int64_t, std::int64_t> wait_until_held() const {
    const auto held = wait_for_held_commit(watcher);
    REQUIRE(held);
    return *held;
  }
  // Waits for the unit to end, then answers its outcome (failing the test when it failed).
  void require_success() {
    worker.join();
    REQUIRE(outcome.has_value());
    INFO("unit: " << (*outcome ? "ok" : outcome->error().describe()));
    INFO("captured log:\n" << captured(*sink));
    REQUIRE(*outcome);
  }

  // One row in the table, and the lost COMMIT counted as resolved: committed or aborted.
  void check_one_row_resolved_as(commit_outcome expected) const {
    CHECK(count_rows(db(), "lost_commit_items") == 1);
    const auto counted = db().metrics();
    CHECK(counted.in_doubt_committed == (expected == commit_outcome::committed ? 1U : 0U));
    CHECK(counted.in_doubt_aborted == (expected == commit_outcome::aborted ? 1U : 0U));
    CHECK(counted.in_doubt == 0);
    CHECK(db().pool().in_use == 0);
  }

  std::shared_ptr<capture_sink> sink;
  test_database fixture;
  const Database watcher;
  int runs = 0;  // written by the unit's thread until it is joined
  std::optional<result<void>> outcome;
  std::jthread worker;
};

}  // namespace

TEST_CASE("a COMMIT whose connection is cut but which landed is resolved as committed, run once",
          "[postgresql][lost-commit]") {
  require_backend(dialect::postgresql);
  const bool reads_first = GENERATE(false, true);
  INFO("the unit reads first: " << reads_first);
  held_unit unit(reads_first);
  CHECK(cut_socket_with_local_port(unit.wait_until_held().second));

  unit.require_success();  // not declared idempotent: without the resolution, errc::in_doubt
  CHECK(unit.runs == 1);
  unit.check_one_row_resolved_as(commit_outcome::committed);
  CHECK(unit.db().metrics().sessions_discarded >= 1);
}

TEST_CASE("a COMMIT whose backend is killed is resolved as aborted, and the unit runs again once",
          "[postgresql][lost-commit]") {
  require_backend(dialect::postgresql);
  const bool reads_first = GENERATE(false, true);
  INFO("the unit reads first: " << reads_first);
  held_unit unit(reads_first);
  const std::int64_t held_pid = unit.wait_until_held().first;
  auto terminated = run_unit(unit.watcher, scope_options{.name = "terminate backend"},
                             [&](UnitOfWork& killer) -> result<std::int64_t> {
                               const std::array<param, 1> pid{held_pid};
                               REPOKIT_TRY(auto found, killer.query_one(terminate_backend, pid));
                               return found.value().integer(0);
                             });

  unit.require_success();
  REQUIRE(terminated);
  CHECK(terminated.value() == 1);
  CHECK(unit.runs == 2);  // the first run's row died with its backend
  unit.check_one_row_resolved_as(commit_outcome::aborted);
  CHECK(unit.db().metrics().retries_by(retry_class::reconnect_then_retry) == 1);
}
