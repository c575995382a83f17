// Notifications: on PostgreSQL a listener gets what committed transactions notified, and nothing
// of those that rolled back; it can be interrupted, and tells when its connection was killed.
// The other databases have none.
#include <catch2/catch.hpp>

#include <chrono>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "repokit/notifications.hpp"
#include "repokit/repokit.hpp"
#include "support/outcome.hpp"
#include "support/test_database.hpp"

using namespace repokit;
using repokit::testing::describe;
using repokit::testing::kind_of;
using repokit::testing::test_database;
using std::chrono::hours;

namespace {

constexpr query<std::int64_t(std::string_view, std::string_view)> notify{
    "notify", {.postgresql = "SELECT COUNT(*) FROM (SELECT pg_notify(:channel, :payload)) AS n"}};

result<void> send(const Database& db, std::string_view channel, std::string_view payload,
                  bool commit) {
  return run_unit(db, [&](UnitOfWork& unit) -> result<void> {
    REPOKIT_TRYV(unit.one(notify, channel, payload));
    if (!commit) return failure(errc::invalid_state, "rolled back by the test");
    return success();
  });
}

// Waits until `n` payloads have come, for at most an hour (a hang fails the suite's timeout).
std::vector<std::string> receive(notification_listener& listener, std::size_t n) {
  std::vector<std::string> all;
  while (all.size() < n) {
    auto got = listener.wait(hours{1});
    INFO(describe(got));
    REQUIRE(got);
    all.insert(all.end(), got.value().begin(), got.value().end());
  }
  return all;
}

// Whether the test goes on: on PostgreSQL a listener must have been made (REQUIREd), elsewhere
// there must be none, and the test ends there.
bool listening_here(const Database& db, const std::optional<notification_listener>& listener) {
  if (db.kind() != dialect::postgresql) {
    CHECK_FALSE(listener.has_value());
    return false;
  }
  REQUIRE(listener.has_value());
  return true;
}

}  // namespace

TEST_CASE("notifications: only what committed reaches the listener, in commit order",
          "[notifications]") {
  test_database fixture;
  const Database& db = fixture.db();
  auto listening = listen(db, "repokit_test");
  INFO(describe(listening));
  REQUIRE(listening);
  if (!listening_here(db, listening.value())) return;
  notification_listener& listener = *listening.value();

  REQUIRE(send(db, "repokit_test", "rolled back", false).error().kind == errc::invalid_state);
  REQUIRE(send(db, "another_channel", "elsewhere", true));
  REQUIRE(send(db, "repokit_test", "first", true));
  REQUIRE(send(db, "repokit_test", "second", true));
  CHECK(receive(listener, 2) == std::vector<std::string>{"first", "second"});
}

TEST_CASE("notifications: a created job is notified with its type once committed",
          "[notifications]") {
  test_database fixture;
  const Database& db = fixture.db();
  auto listening = listen(db, job_notification_channel);
  REQUIRE(listening);
  if (!listening_here(fixture.db(), listening.value())) return;
  notification_listener& listener = *listening.value();

  auto rolled_back = job_repository(db, [](JobRepository& jobs) -> result<void> {
    REPOKIT_TRYV(jobs.create_job("never_notified", "t1"));
    return failure(errc::invalid_state, "rolled back by the test");
  });
  REQUIRE_FALSE(rolled_back);
  REQUIRE(job_repository(db, [](JobRepository& jobs) { return jobs.create_job("created", "t1"); }));
  REQUIRE(job_repository(db, [](JobRepository& jobs) {
    return jobs.create_if_not_exists("created_if_absent", "t1");
  }));
  const std::vector<new_job> batch{{.job_type = "created_in_batch", .target_id = "t1"},
                                   {.job_type = "created_in_batch", .target_id = "t2"}};
  REQUIRE(job_repository(
      db, [&](JobRepository& jobs) { return jobs.create_all_if_not_exists(batch); }));
  // One notification per type and transaction: PostgreSQL folds identical ones together.
  CHECK(receive(listener, 3) ==
        std::vector<std::string>{"created", "created_if_absent", "created_in_batch"});
}

TEST_CASE("notifications: interrupt() ends a wait at once, from another thread",
          "[notifications]") {
  test_database fixture;
  auto listening = listen(fixture.db(), "repokit_test");
  REQUIRE(listening);
  if (!listening_here(fixture.db(), listening.value())) return;
  notification_listener& listener = *listening.value();

  listener.interrupt();  // before the wait: the next wait returns at once
  auto first = listener.wait(hours{1});
  REQUIRE(first);
  CHECK(first.value().empty());

  std::thread interrupter([&] { listener.interrupt(); });
  auto second = listener.wait(hours{1});
  interrupter.join();
  REQUIRE(second);
  CHECK(second.value().empty());
}

TEST_CASE("notifications: a listener whose connection is killed says so", "[notifications]") {
  test_database fixture;
  const Database& db = fixture.db();
  auto listening = listen(db, "repokit_killed");
  REQUIRE(listening);
  if (!listening_here(fixture.db(), listening.value())) return;
  notification_listener& listener = *listening.value();

  constexpr query<std::int64_t()> kill_listener{
      "kill_listener",
      {.postgresql = "SELECT COUNT(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE "
                     "query = 'LISTEN \"repokit_killed\"'"}};
  auto killed = run_unit(db, [&](UnitOfWork& unit) { return unit.one(kill_listener); });
  INFO(describe(killed));
  REQUIRE(killed);
  REQUIRE(killed.value() == std::optional<std::int64_t>{1});

  result<std::vector<std::string>> got = std::vector<std::string>{};
  while (got && got.value().empty()) got = listener.wait(hours{1});
  CHECK(kind_of(got) == errc::connection_lost);
}
