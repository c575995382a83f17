// A real deadlock between two units of work on PostgreSQL: the server aborts one of them with
// 40P01, and its root scope runs the whole unit again.
#include <catch2/catch.hpp>

#include <array>
#include <barrier>
#include <optional>
#include <string_view>
#include <thread>

#include "fault_support.hpp"
#include "support/capture_sink.hpp"

using namespace repokit;
using namespace repokit::testing;

namespace {

constexpr statement bump_counter{"bump_counter",
                                 "UPDATE fault_counters SET hits = hits + 1 WHERE name = :p1",
                                 statement_kind::write,
                                 {}};

constexpr std::array hits_column{column_type::integer};
constexpr statement counter_hits{"counter_hits", "SELECT hits FROM fault_counters WHERE name = :p1",
                                 statement_kind::read, hits_column};

std::int64_t hits_of(const Database& db, std::string_view name) {
  return run_unit(db, scope_options{.name = "read counter"},
                  [&](UnitOfWork& unit) -> result<std::int64_t> {
                    const std::array<param, 1> params{name};
                    REPOKIT_TRY(auto found, unit.query_one(counter_hits, params));
                    return found.value().integer(0);
                  })
      .value();
}

}  // namespace

TEST_CASE("a deadlock aborts one unit, which runs again and both land exactly once",
          "[postgresql][deadlock]") {
  require_backend(dialect::postgresql);
  auto sink = std::make_shared<capture_sink>();
  test_database fixture({.logger = capturing_logger(sink)});
  const Database& db = fixture.db();
  execute_sql(db,
              "CREATE TABLE fault_counters (name TEXT PRIMARY KEY, hits BIGINT NOT NULL); "
              "INSERT INTO fault_counters VALUES ('A', 0), ('B', 0)");

  // Both units hold their first row when they go for their second: a lock cycle. Only the
  // first attempts meet here; a retried unit must not wait for a partner that is gone.
  std::barrier both_hold_first_row(2);
  const scope_options options{.retry = fast_retry(), .name = "deadlock unit"};

  auto transfer = [&](std::string_view first, std::string_view second, int& attempts) {
    return run_unit(db, options, [&](UnitOfWork& unit) -> result<void> {
      ++attempts;
      // Detect the cycle after 50 ms instead of the default 1 s. Superuser-only, and the tests
      // connect as postgres; LOCAL keeps it to this transaction.
      auto timeout_set = unit.execute_script("SET LOCAL deadlock_timeout = '50ms'");
      std::optional<result<std::uint64_t>> updated;
      if (timeout_set) {
        const std::array<param, 1> params{first};
        updated.emplace(unit.execute(bump_counter, params));
      }
      if (attempts == 1) both_hold_first_row.arrive_and_wait();  // reached even after a failure
      REPOKIT_TRYV(timeout_set);
      REPOKIT_TRYV(*updated);
      const std::array<param, 1> params{second};
      REPOKIT_TRYV(unit.execute(bump_counter, params));
      return success();
    });
  };

  int attempts_ab = 0;
  int attempts_ba = 0;
  std::optional<result<void>> outcome_ab;
  std::optional<result<void>> outcome_ba;
  {
    std::jthread ab([&] { outcome_ab.emplace(transfer("A", "B", attempts_ab)); });
    std::jthread ba([&] { outcome_ba.emplace(transfer("B", "A", attempts_ba)); });
  }

  REQUIRE(outcome_ab.has_value());
  REQUIRE(outcome_ba.has_value());
  INFO("A then B: " << (*outcome_ab ? "ok" : outcome_ab->error().describe()));
  INFO("B then A: " << (*outcome_ba ? "ok" : outcome_ba->error().describe()));
  CHECK(*outcome_ab);
  CHECK(*outcome_ba);

  // Each unit added exactly one to each row: nothing lost, nothing applied twice.
  CHECK(hits_of(db, "A") == 2);
  CHECK(hits_of(db, "B") == 2);

  // Exactly one of the two was the deadlock victim and ran again.
  CHECK(attempts_ab + attempts_ba == 3);
  const auto counted = db.metrics();
  CHECK(counted.retries_by(retry_class::retry_transaction) >= 1);
  CHECK(counted.give_ups == 0);
  CHECK(db.pool().in_use == 0);

  std::size_t retry_lines = 0;
  for (const auto& line : sink->lines()) {
    if (line.find("Transient database error in ") != std::string::npos &&
        line.find("(attempt 1/4): ") != std::string::npos &&
        line.find("deadlock detected") != std::string::npos &&
        line.find("Retrying in") != std::string::npos) {
      ++retry_lines;
    }
  }
  INFO("captured log:\n"
       << [&] {
            std::string all;
            for (const auto& line : sink->lines()) all += line + '\n';
            return all;
          }());
  CHECK(retry_lines >= 1);
}
