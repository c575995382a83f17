// A real serialization failure (40001) between two SERIALIZABLE units of work on PostgreSQL:
// each reads a total and writes a row derived from it; the server lets only one commit, and the
// other runs again and sees the first one's row.
#include <catch2/catch.hpp>

#include <array>
#include <barrier>
#include <optional>
#include <thread>

#include "fault_support.hpp"
#include "support/capture_sink.hpp"

using namespace repokit;
using namespace repokit::testing;

namespace {

constexpr std::array integer_column{column_type::integer};
constexpr statement ledger_total{
    "ledger_total", "SELECT CAST(COALESCE(SUM(amount), 0) AS BIGINT) FROM fault_ledger",
    statement_kind::read, integer_column};
constexpr statement append_entry{
    "append_entry", "INSERT INTO fault_ledger (amount) VALUES (:p1)", statement_kind::write, {}};
constexpr statement ledger_rows{"ledger_rows", "SELECT COUNT(*) FROM fault_ledger",
                                statement_kind::read, integer_column};

std::int64_t single_integer(const Database& db, const statement& sql) {
  return run_unit(db, scope_options{.name = "read ledger"},
                  [&](UnitOfWork& unit) -> result<std::int64_t> {
                    REPOKIT_TRY(auto found, unit.query_one(sql));
                    return found.value().integer(0);
                  })
      .value();
}

}  // namespace

TEST_CASE("a serialization failure aborts one SERIALIZABLE unit, which runs again on fresh data",
          "[postgresql][serialization]") {
  require_backend(dialect::postgresql);
  auto sink = std::make_shared<capture_sink>();
  test_database fixture({.logger = capturing_logger(sink)});
  const Database& db = fixture.db();
  execute_sql(db,
              "CREATE TABLE fault_ledger (id BIGSERIAL PRIMARY KEY, amount BIGINT NOT NULL); "
              "INSERT INTO fault_ledger (amount) VALUES (1)");

  // Both first attempts have read the total before either writes: neither saw the other.
  std::barrier both_have_read(2);
  const scope_options options{.retry = fast_retry(), .name = "ledger unit"};

  auto append_total = [&](int& attempts) {
    return run_unit(db, options, [&](UnitOfWork& unit) -> result<std::int64_t> {
      ++attempts;
      auto isolated = unit.execute_script("SET TRANSACTION ISOLATION LEVEL SERIALIZABLE");
      std::optional<result<std::optional<row>>> total;
      if (isolated) total.emplace(unit.query_one(ledger_total));
      if (attempts == 1) both_have_read.arrive_and_wait();  // reached even after a failure
      REPOKIT_TRYV(isolated);
      REPOKIT_TRY(auto found, std::move(*total));
      const std::int64_t sum = found.value().integer(0);
      const std::array<param, 1> params{sum};
      REPOKIT_TRYV(unit.execute(append_entry, params));
      return sum;
    });
  };

  int attempts_1 = 0;
  int attempts_2 = 0;
  std::optional<result<std::int64_t>> outcome_1;
  std::optional<result<std::int64_t>> outcome_2;
  {
    std::jthread first([&] { outcome_1.emplace(append_total(attempts_1)); });
    std::jthread second([&] { outcome_2.emplace(append_total(attempts_2)); });
  }

  REQUIRE(outcome_1.has_value());
  REQUIRE(outcome_2.has_value());
  INFO("unit 1: " << (*outcome_1 ? "ok" : outcome_1->error().describe()));
  INFO("unit 2: " << (*outcome_2 ? "ok" : outcome_2->error().describe()));
  REQUIRE(*outcome_1);
  REQUIRE(*outcome_2);

  // Exactly two rows were added, and as if one unit ran after the other: 1, then 1 and 2.
  CHECK(single_integer(db, ledger_rows) == 3);
  CHECK(single_integer(db, ledger_total) == 4);
  CHECK(((outcome_1->value() == 1 && outcome_2->value() == 2) ||
         (outcome_1->value() == 2 && outcome_2->value() == 1)));
  CHECK(attempts_1 + attempts_2 == 3);

  const auto counted = db.metrics();
  CHECK(counted.retries_by(retry_class::retry_transaction) >= 1);
  CHECK(counted.give_ups == 0);
  CHECK(db.pool().in_use == 0);
  INFO("captured log:\n"
       << [&] {
            std::string all;
            for (const auto& line : sink->lines()) all += line + '\n';
            return all;
          }());
  CHECK(sink->count("could not serialize access") >= 1);
  CHECK(sink->count("(attempt 1/4)") >= 1);
}
