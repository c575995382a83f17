// Whole-unit retries at the outermost scope, against a mocked session and a policy that records
// its sleeps instead of sleeping.
#include <catch2/catch.hpp>

#include "repokit/scope.hpp"
#include "support/capture_sink.hpp"
#include "support/mock_session.hpp"
#include "support/unit_fixtures.hpp"

using namespace repokit;
using namespace repokit::testing;
using trompeloeil::_;

namespace {

struct retrying {
  explicit retrying(int max_retries = 3)
      : sink(std::make_shared<capture_sink>()),
        database(session,
                 {.retry = recorder.policy(max_retries), .logger = capturing_logger(sink)}) {
    kind_allowed = NAMED_ALLOW_CALL(session, kind()).RETURN(dialect::sqlite);
  }
  const Database& db() const { return database.db; }

  recorded_retry recorder;
  MockSession session;
  std::shared_ptr<capture_sink> sink;
  mocked_database database;
  std::unique_ptr<trompeloeil::expectation> kind_allowed;
};

result<std::uint64_t> fails_then_succeeds(int& calls, int failures, const error& failure_kind) {
  if (++calls <= failures) return failure(failure_kind);
  return std::uint64_t{1};
}

const error busy = fake_error(errc::transient, retry_class::retry_transaction, "write_something",
                              "database is locked");

}  // namespace

TEST_CASE("after N transient failures the whole unit runs again and commits exactly once",
          "[retry]") {
  retrying r;
  int calls = 0;
  REQUIRE_CALL(r.session, begin(_)).TIMES(3).RETURN(ok());
  REQUIRE_CALL(r.session, execute(_, _)).TIMES(3).LR_RETURN(fails_then_succeeds(calls, 2, busy));
  REQUIRE_CALL(r.session, rollback()).TIMES(2).RETURN(ok());
  REQUIRE_CALL(r.session, commit()).TIMES(1).RETURN(ok());

  int bodies = 0;
  auto outcome = run_unit(r.db(), [&](UnitOfWork& unit) {
    ++bodies;
    return unit.execute(write_something);
  });

  REQUIRE(outcome);
  CHECK(bodies == 3);
  CHECK(r.recorder.slept == std::vector<double>{0.5, 1.0});
  CHECK(r.db().metrics().attempts == 3);
  CHECK(r.db().metrics().commits == 1);
  CHECK(r.db().metrics().retries_by(retry_class::retry_transaction) == 2);
  CHECK(r.db().pool().in_use == 0);
}

TEST_CASE("each retry is logged in the guide's words", "[retry][logging]") {
  retrying r;
  int calls = 0;
  ALLOW_CALL(r.session, begin(_)).RETURN(ok());
  ALLOW_CALL(r.session, execute(_, _)).LR_RETURN(fails_then_succeeds(calls, 2, busy));
  ALLOW_CALL(r.session, rollback()).RETURN(ok());
  ALLOW_CALL(r.session, commit()).RETURN(ok());

  REQUIRE(run_unit(r.db(), [](UnitOfWork& unit) { return unit.execute(write_something); }));

  CHECK(r.sink->count("warning: Transient database error in write_something (attempt 1/4): "
                      "database is locked. Retrying in 0.50s...") == 1);
  CHECK(r.sink->count("warning: Transient database error in write_something (attempt 2/4): "
                      "database is locked. Retrying in 1.00s...") == 1);
  CHECK(r.sink->count("Giving up") == 0);
}

TEST_CASE("a unit that keeps failing gives up after max_retries and says so", "[retry]") {
  retrying r;
  int calls = 0;
  REQUIRE_CALL(r.session, begin(_)).TIMES(4).RETURN(ok());
  REQUIRE_CALL(r.session, execute(_, _)).TIMES(4).LR_RETURN(fails_then_succeeds(calls, 99, busy));
  REQUIRE_CALL(r.session, rollback()).TIMES(4).RETURN(ok());

  auto outcome = run_unit(r.db(), [](UnitOfWork& unit) { return unit.execute(write_something); });

  REQUIRE_FALSE(outcome);
  CHECK(outcome.error().kind == errc::transient);
  CHECK(r.recorder.slept == std::vector<double>{0.5, 1.0, 2.0});
  CHECK(r.db().metrics().give_ups == 1);
  CHECK(r.sink->count("error: Giving up on write_something after 4 attempt(s)") == 1);
}

TEST_CASE("max_retries = 0 runs the unit exactly once", "[retry]") {
  retrying r(0);
  int calls = 0;
  REQUIRE_CALL(r.session, begin(_)).TIMES(1).RETURN(ok());
  REQUIRE_CALL(r.session, execute(_, _)).TIMES(1).LR_RETURN(fails_then_succeeds(calls, 1, busy));
  REQUIRE_CALL(r.session, rollback()).TIMES(1).RETURN(ok());

  CHECK_FALSE(run_unit(r.db(), [](UnitOfWork& unit) { return unit.execute(write_something); }));
  CHECK(r.recorder.slept.empty());
}

TEST_CASE("integrity errors are attempted exactly once", "[retry]") {
  retrying r;
  int calls = 0;
  const error duplicate = fake_error(errc::integrity, retry_class::permanent);
  REQUIRE_CALL(r.session, begin(_)).TIMES(1).RETURN(ok());
  REQUIRE_CALL(r.session, execute(_, _))
      .TIMES(1)
      .LR_RETURN(fails_then_succeeds(calls, 1, duplicate));
  REQUIRE_CALL(r.session, rollback()).TIMES(1).RETURN(ok());

  auto outcome = run_unit(r.db(), [](UnitOfWork& unit) { return unit.execute(write_something); });
  REQUIRE_FALSE(outcome);
  CHECK(outcome.error().kind == errc::integrity);
  CHECK(r.recorder.slept.empty());
  CHECK(r.db().metrics().give_ups == 0);
}

TEST_CASE("the caller's own exceptions are never retried", "[retry]") {
  retrying r;
  int bodies = 0;
  CHECK_THROWS_AS(run_unit(r.db(),
                           [&](UnitOfWork&) -> result<void> {
                             ++bodies;
                             throw std::out_of_range("caller bug");
                           }),
                  std::out_of_range);
  CHECK(bodies == 1);
}

TEST_CASE("a transient error in a joined scope is retried by the root, running the whole body",
          "[retry]") {
  retrying r;
  int calls = 0;
  REQUIRE_CALL(r.session, begin(_)).TIMES(2).RETURN(ok());
  REQUIRE_CALL(r.session, execute(_, _)).TIMES(2).LR_RETURN(fails_then_succeeds(calls, 1, busy));
  REQUIRE_CALL(r.session, rollback()).TIMES(1).RETURN(ok());
  REQUIRE_CALL(r.session, commit()).TIMES(1).RETURN(ok());

  int outer_bodies = 0;
  int inner_bodies = 0;
  REQUIRE(run_unit(r.db(), [&](UnitOfWork&) {
    ++outer_bodies;
    return run_unit(r.db(), [&](UnitOfWork& inner) {
      ++inner_bodies;
      return inner.execute(write_something);
    });
  }));
  CHECK(outer_bodies == 2);
  CHECK(inner_bodies == 2);
  CHECK(r.recorder.slept.size() == 1);
}

TEST_CASE("a per-call policy overrides the Database's default", "[retry]") {
  retrying r;  // default: 3 retries
  int calls = 0;
  REQUIRE_CALL(r.session, begin(_)).TIMES(2).RETURN(ok());
  REQUIRE_CALL(r.session, execute(_, _)).TIMES(2).LR_RETURN(fails_then_succeeds(calls, 99, busy));
  REQUIRE_CALL(r.session, rollback()).TIMES(2).RETURN(ok());

  std::vector<double> slept;
  const db_retry once{.max_retries = 1,
                      .initial_delay = seconds{0.25},
                      .jitter = jitter_mode::none,
                      .sleep = [&](seconds d) { slept.push_back(d.count()); }};
  CHECK_FALSE(run_unit(r.db(), {.retry = once},
                       [](UnitOfWork& unit) { return unit.execute(write_something); }));
  CHECK(slept == std::vector<double>{0.25});
  CHECK(r.recorder.slept.empty());
}

TEST_CASE("the deadline stops retrying before the attempts run out", "[retry]") {
  retrying r;
  int calls = 0;
  ALLOW_CALL(r.session, begin(_)).RETURN(ok());
  ALLOW_CALL(r.session, execute(_, _)).LR_RETURN(fails_then_succeeds(calls, 99, busy));
  ALLOW_CALL(r.session, rollback()).RETURN(ok());

  auto now = db_retry::clock_type::time_point{};
  const db_retry bounded{
      .max_retries = 100,
      .jitter = jitter_mode::none,
      .deadline = seconds{2.0},
      .clock = [&] { return now; },
      .sleep =
          [&](seconds d) { now += std::chrono::duration_cast<db_retry::clock_type::duration>(d); }};
  auto outcome = run_unit(r.db(), {.retry = bounded},
                          [](UnitOfWork& unit) { return unit.execute(write_something); });
  REQUIRE_FALSE(outcome);
  // 0.5 + 1.0 slept; the next 2.0 s wait is cut to the 0.5 s left, for a last attempt at the
  // deadline; after it fails no time is left.
  CHECK(calls == 4);
  CHECK(r.sink->count("retry deadline reached") == 1);
  CHECK(r.db().metrics().give_ups == 1);
}

TEST_CASE("a SQLite unit that wrote begins its retry IMMEDIATE, even when it reads first",
          "[retry]") {
  retrying r;
  int calls = 0;
  trompeloeil::sequence order;
  REQUIRE_CALL(r.session, begin(begin_mode::deferred)).IN_SEQUENCE(order).RETURN(ok());
  REQUIRE_CALL(r.session, query(_, _)).IN_SEQUENCE(order).RETURN(one_row({std::int64_t{1}}));
  REQUIRE_CALL(r.session, execute(_, _))
      .IN_SEQUENCE(order)
      .LR_RETURN(fails_then_succeeds(calls, 1, busy));
  REQUIRE_CALL(r.session, rollback()).IN_SEQUENCE(order).RETURN(ok());
  REQUIRE_CALL(r.session, begin(begin_mode::immediate)).IN_SEQUENCE(order).RETURN(ok());
  REQUIRE_CALL(r.session, query(_, _)).IN_SEQUENCE(order).RETURN(one_row({std::int64_t{1}}));
  REQUIRE_CALL(r.session, execute(_, _))
      .IN_SEQUENCE(order)
      .LR_RETURN(fails_then_succeeds(calls, 1, busy));
  REQUIRE_CALL(r.session, commit()).IN_SEQUENCE(order).RETURN(ok());

  REQUIRE(run_unit(r.db(), [](UnitOfWork& unit) -> result<void> {
    REPOKIT_TRYV(unit.query(read_something));
    REPOKIT_TRYV(unit.execute(write_something));
    return success();
  }));
}

TEST_CASE("perform() retries the whole callable and scopes inside it do not retry on their own",
          "[retry][perform]") {
  retrying r;
  int calls = 0;
  REQUIRE_CALL(r.session, begin(_)).TIMES(4).RETURN(ok());
  // Per run of the callable: a first unit that commits, a second that fails once.
  REQUIRE_CALL(r.session, execute(_, _))
      .TIMES(4)
      .LR_RETURN(calls++ == 1 ? result<std::uint64_t>(failure(busy)) : changed(1));
  REQUIRE_CALL(r.session, commit()).TIMES(3).RETURN(ok());
  REQUIRE_CALL(r.session, rollback()).TIMES(1).RETURN(ok());

  int runs = 0;
  auto outcome = perform(r.db(), [&]() -> result<void> {
    ++runs;
    REPOKIT_TRYV(run_unit(r.db(), [](UnitOfWork& unit) { return unit.execute(write_something); }));
    REPOKIT_TRYV(run_unit(r.db(), [](UnitOfWork& unit) { return unit.execute(write_something); }));
    return success();
  });
  REQUIRE(outcome);
  CHECK(runs == 2);
  CHECK(r.recorder.slept == std::vector<double>{0.5});
}
