// The scope rules of a unit of work, against a mocked session: what is sent, in what order,
// and what becomes of the connection.
#include <catch2/catch.hpp>

#include <stdexcept>
#include <thread>

#include "repokit/scope.hpp"
#include "support/capture_sink.hpp"
#include "support/mock_session.hpp"
#include "support/outcome.hpp"
#include "support/unit_fixtures.hpp"

using namespace repokit;
using namespace repokit::testing;
using trompeloeil::_;

namespace {

struct mocked {
  explicit mocked(dialect kind = dialect::sqlite, db_retry retry = db_retry::disabled())
      : sink(std::make_shared<capture_sink>()),
        database(session, {.retry = std::move(retry), .logger = capturing_logger(sink)}, kind) {
    kind_allowed = NAMED_ALLOW_CALL(session, kind()).RETURN(kind);
  }
  const Database& db() const { return database.db; }

  MockSession session;
  std::shared_ptr<capture_sink> sink;
  mocked_database database;
  std::unique_ptr<trompeloeil::expectation> kind_allowed;
};

// One unit writing once, whose COMMIT is lost with its connection after the session learned the
// transaction's id `id`. The expectations last as long as the answer.
std::vector<std::unique_ptr<trompeloeil::expectation>> expect_lost_commit(MockSession& session,
                                                                          std::int64_t id) {
  std::vector<std::unique_ptr<trompeloeil::expectation>> all;
  all.push_back(NAMED_REQUIRE_CALL(session, begin(_)).RETURN(ok()));
  all.push_back(NAMED_REQUIRE_CALL(session, execute(_, _)).RETURN(changed(1)));
  all.push_back(NAMED_REQUIRE_CALL(session, commit())
                    .RETURN(failure(fake_error(errc::in_doubt, retry_class::in_doubt, "COMMIT"))));
  all.push_back(
      NAMED_REQUIRE_CALL(session, lost_transaction()).RETURN(std::optional<std::int64_t>{id}));
  return all;
}

// One unit writing once, run twice: its first COMMIT is lost with its connection, the second
// succeeds.
std::vector<std::unique_ptr<trompeloeil::expectation>> expect_two_runs_first_commit_lost(
    MockSession& session) {
  std::vector<std::unique_ptr<trompeloeil::expectation>> all;
  all.push_back(NAMED_REQUIRE_CALL(session, begin(_)).TIMES(2).RETURN(ok()));
  all.push_back(NAMED_REQUIRE_CALL(session, execute(_, _)).TIMES(2).RETURN(changed(1)));
  auto commits = std::make_shared<int>(0);
  all.push_back(NAMED_REQUIRE_CALL(session, commit())
                    .TIMES(2)
                    .RETURN(++*commits == 1 ? failure(fake_error(errc::in_doubt,
                                                                 retry_class::in_doubt, "COMMIT"))
                                            : ok()));
  return all;
}

}  // namespace

TEST_CASE("a unit whose body succeeds commits once and gives its connection back",
          "[unit-of-work]") {
  mocked m;
  trompeloeil::sequence order;
  REQUIRE_CALL(m.session, begin(begin_mode::immediate)).IN_SEQUENCE(order).RETURN(ok());
  REQUIRE_CALL(m.session, execute(_, _)).IN_SEQUENCE(order).RETURN(changed(1));
  REQUIRE_CALL(m.session, query(_, _)).IN_SEQUENCE(order).RETURN(one_row({std::int64_t{7}}));
  REQUIRE_CALL(m.session, commit()).IN_SEQUENCE(order).RETURN(ok());

  auto outcome = run_unit(m.db(), [](UnitOfWork& unit) -> result<std::int64_t> {
    REPOKIT_TRYV(unit.execute(write_something));
    REPOKIT_TRY(auto found, unit.query_one(read_something));
    return found->integer(0);
  });

  REQUIRE(outcome);
  CHECK(outcome.value() == 7);
  CHECK(m.db().pool().in_use == 0);
  CHECK(m.db().metrics().commits == 1);
  CHECK(m.db().metrics().rollbacks_total() == 0);
}

TEST_CASE("a unit that starts by reading begins a deferred transaction", "[unit-of-work]") {
  mocked m;
  REQUIRE_CALL(m.session, begin(begin_mode::deferred)).RETURN(ok());
  REQUIRE_CALL(m.session, query(_, _)).RETURN(one_row({std::int64_t{1}}));
  REQUIRE_CALL(m.session, commit()).RETURN(ok());
  REQUIRE(run_unit(m.db(), [](UnitOfWork& unit) { return unit.query(read_something); }));
}

TEST_CASE("access_mode::read_write takes the write lock at BEGIN even for a first read",
          "[unit-of-work]") {
  mocked m;
  REQUIRE_CALL(m.session, begin(begin_mode::immediate)).RETURN(ok());
  REQUIRE_CALL(m.session, query(_, _)).RETURN(one_row({std::int64_t{1}}));
  REQUIRE_CALL(m.session, commit()).RETURN(ok());
  REQUIRE(run_unit(m.db(), {.access = access_mode::read_write},
                   [](UnitOfWork& unit) { return unit.query(read_something); }));
}

TEST_CASE("a unit that sends nothing takes no connection and sends no BEGIN or COMMIT",
          "[unit-of-work]") {
  mocked m;  // any call on the session would be an unexpected-call violation
  auto outcome = run_unit(m.db(), [](UnitOfWork&) { return 42; });
  REQUIRE(outcome);
  CHECK(outcome.value() == 42);
  CHECK(m.database.opened.load() == 0);
}

TEST_CASE("an error result from the body rolls the unit back and is returned unchanged",
          "[unit-of-work]") {
  mocked m;
  REQUIRE_CALL(m.session, begin(_)).RETURN(ok());
  REQUIRE_CALL(m.session, execute(_, _)).RETURN(changed(1));
  REQUIRE_CALL(m.session, rollback()).RETURN(ok());

  auto outcome = run_unit(m.db(), [](UnitOfWork& unit) -> result<void> {
    REPOKIT_TRYV(unit.execute(write_something));
    return failure(errc::invalid_state, "the body changed its mind");
  });

  REQUIRE_FALSE(outcome);
  CHECK(outcome.error().kind == errc::invalid_state);
  CHECK(outcome.error().message == "the body changed its mind");
  CHECK(m.db().pool().in_use == 0);
  CHECK(m.db().metrics().rollbacks_by(rollback_cause::body_error) == 1);
  CHECK(m.db().metrics().commits == 0);
}

TEST_CASE("an exception from the body rolls back and passes through unchanged", "[unit-of-work]") {
  mocked m;
  REQUIRE_CALL(m.session, begin(_)).RETURN(ok());
  REQUIRE_CALL(m.session, execute(_, _)).RETURN(changed(1));
  REQUIRE_CALL(m.session, rollback()).RETURN(ok());

  struct custom_failure : std::runtime_error {
    using std::runtime_error::runtime_error;
  };
  CHECK_THROWS_AS(run_unit(m.db(),
                           [](UnitOfWork& unit) {
                             unit.execute(write_something).value();
                             throw custom_failure("from the body");
                           }),
                  custom_failure);
  CHECK(m.db().pool().in_use == 0);
  CHECK(m.db().metrics().rollbacks_by(rollback_cause::exception) == 1);
  CHECK(m.sink->count("Database session error, rolling back") == 1);
  CHECK(m.sink->count("from the body") == 1);
}

TEST_CASE("a failed statement poisons the unit: later statements are not sent and it rolls back",
          "[unit-of-work]") {
  mocked m;
  REQUIRE_CALL(m.session, begin(_)).RETURN(ok());
  REQUIRE_CALL(m.session, execute(_, _))
      .RETURN(failure(
          fake_error(errc::integrity, retry_class::permanent, "create_video", "duplicate key")));
  REQUIRE_CALL(m.session, rollback()).RETURN(ok());

  error second_statement;
  auto outcome = run_unit(m.db(), [&](UnitOfWork& unit) -> result<void> {
    (void)unit.execute(write_something);  // the body ignores the failure...
    auto next = unit.query(read_something);
    REQUIRE_FALSE(next);
    second_statement = next.error();
    return success();  // ...and even claims success
  });

  CHECK(second_statement.kind == errc::session_poisoned);
  CHECK(second_statement.message.find("integrity") != std::string::npos);
  CHECK(second_statement.message.find("duplicate key") != std::string::npos);
  REQUIRE_FALSE(outcome);
  CHECK(outcome.error().kind == errc::session_poisoned);
  CHECK(outcome.error().operation == "COMMIT");
  CHECK(outcome.error().message.find("create_video") != std::string::npos);
  CHECK(m.db().metrics().rollbacks_by(rollback_cause::poisoned) == 1);
}

TEST_CASE("a scope nested on the same thread joins the outer unit", "[unit-of-work]") {
  mocked m;
  REQUIRE_CALL(m.session, begin(_)).TIMES(1).RETURN(ok());
  REQUIRE_CALL(m.session, execute(_, _)).TIMES(2).RETURN(changed(1));
  REQUIRE_CALL(m.session, commit()).TIMES(1).RETURN(ok());

  auto outcome = run_unit(m.db(), [&](UnitOfWork& outer) -> result<void> {
    REPOKIT_TRYV(outer.execute(write_something));
    REPOKIT_TRYV(run_unit(m.db(), [&](UnitOfWork& inner) {
      CHECK(&inner == &outer);
      return inner.execute(write_something);
    }));
    return success();
  });

  REQUIRE(outcome);
  CHECK(m.database.opened.load() == 1);
  CHECK(m.db().metrics().commits == 1);
}

TEST_CASE("an error in a joined scope rolls the whole unit back even if the outer body goes on",
          "[unit-of-work]") {
  mocked m;
  REQUIRE_CALL(m.session, begin(_)).RETURN(ok());
  REQUIRE_CALL(m.session, execute(_, _)).RETURN(changed(1));
  REQUIRE_CALL(m.session, rollback()).RETURN(ok());

  auto outcome = run_unit(m.db(), [&](UnitOfWork& outer) -> result<void> {
    REPOKIT_TRYV(outer.execute(write_something));
    auto inner = run_unit(m.db(), [](UnitOfWork&) -> result<void> {
      return failure(errc::not_found, "video 'V9' does not exist");
    });
    CHECK_FALSE(inner);
    return success();  // the outer body shrugs the inner failure off
  });

  REQUIRE_FALSE(outcome);
  CHECK(outcome.error().kind == errc::not_found);
  CHECK(m.db().metrics().commits == 0);
}

TEST_CASE("propagation::independent opens a unit of its own on another connection",
          "[unit-of-work]") {
  mocked m;
  REQUIRE_CALL(m.session, begin(_)).TIMES(2).RETURN(ok());
  REQUIRE_CALL(m.session, execute(_, _)).TIMES(2).RETURN(changed(1));
  REQUIRE_CALL(m.session, commit()).TIMES(2).RETURN(ok());

  REQUIRE(run_unit(m.db(), [&](UnitOfWork& outer) -> result<void> {
    REPOKIT_TRYV(outer.execute(write_something));
    REPOKIT_TRYV(run_unit(m.db(), {.propagate = propagation::independent}, [&](UnitOfWork& inner) {
      CHECK(&inner != &outer);
      return inner.execute(write_something);
    }));
    CHECK(m.db().pool().in_use == 1);  // the independent unit has given its connection back
    return success();
  }));
  CHECK(m.database.opened.load() == 2);
  CHECK(m.db().metrics().commits == 2);
}

TEST_CASE("a unit used from another thread refuses with errc::misuse and sends nothing",
          "[unit-of-work]") {
  mocked m;
  REQUIRE_CALL(m.session, begin(_)).RETURN(ok());
  REQUIRE_CALL(m.session, execute(_, _)).TIMES(1).RETURN(changed(1));
  REQUIRE_CALL(m.session, commit()).RETURN(ok());

  REQUIRE(run_unit(m.db(), [&](UnitOfWork& unit) -> result<void> {
    REPOKIT_TRYV(unit.execute(write_something));
    std::optional<error> refused;
    std::thread([&] {
      auto foreign = unit.execute(write_something);
      if (!foreign) refused = foreign.error();
    }).join();
    REQUIRE(refused);
    CHECK(refused->kind == errc::misuse);
    CHECK(refused->message.find("open a unit of work in each thread") != std::string::npos);
    return success();  // the owner's unit is untouched and still commits
  }));
}

TEST_CASE("a read-only unit refuses writes with errc::misuse", "[unit-of-work]") {
  mocked m;
  auto outcome = run_unit(m.db(), {.access = access_mode::read_only},
                          [](UnitOfWork& unit) { return unit.execute(write_something); });
  REQUIRE_FALSE(outcome);
  CHECK(outcome.error().kind == errc::misuse);
  CHECK(m.database.opened.load() == 0);
}

TEST_CASE("PostgreSQL's silent rollback at COMMIT is reported, never taken for success",
          "[unit-of-work]") {
  mocked m(dialect::postgresql);
  REQUIRE_CALL(m.session, begin(_)).RETURN(ok());
  REQUIRE_CALL(m.session, execute(_, _)).RETURN(changed(1));
  REQUIRE_CALL(m.session, commit())
      .RETURN(failure(error{errc::session_poisoned, retry_class::permanent, "", "COMMIT",
                            "PostgreSQL rolled the transaction back"}));
  REQUIRE_CALL(m.session, rollback()).RETURN(ok());

  auto outcome = run_unit(m.db(), [](UnitOfWork& unit) { return unit.execute(write_something); });
  REQUIRE_FALSE(outcome);
  CHECK(outcome.error().kind == errc::session_poisoned);
  CHECK(m.db().metrics().commits == 0);
  CHECK(m.db().metrics().rollbacks_by(rollback_cause::commit_failed) == 1);
}

TEST_CASE("a connection lost during COMMIT is reported in doubt, discarded and not retried",
          "[unit-of-work]") {
  recorded_retry retry;
  mocked m(dialect::postgresql, retry.policy());
  REQUIRE_CALL(m.session, begin(_)).RETURN(ok());
  REQUIRE_CALL(m.session, execute(_, _)).RETURN(changed(1));
  REQUIRE_CALL(m.session, commit())
      .RETURN(failure(fake_error(errc::in_doubt, retry_class::in_doubt, "COMMIT")));
  ALLOW_CALL(m.session, lost_transaction()).RETURN(std::nullopt);  // its id was not learned

  auto outcome = run_unit(m.db(), [](UnitOfWork& unit) { return unit.execute(write_something); });
  REQUIRE_FALSE(outcome);
  CHECK(outcome.error().kind == errc::in_doubt);
  CHECK(retry.slept.empty());
  CHECK(m.database.alive.load() == 0);  // discarded, not given back to the pool
  CHECK(m.db().metrics().in_doubt == 1);
  CHECK(m.db().metrics().sessions_discarded == 1);
}

TEST_CASE("an idempotent body is retried after an in-doubt commit", "[unit-of-work]") {
  recorded_retry retry;
  mocked m(dialect::postgresql, retry.policy());
  const auto runs = expect_two_runs_first_commit_lost(m.session);
  ALLOW_CALL(m.session, lost_transaction()).RETURN(std::nullopt);  // its id was not learned

  REQUIRE(run_unit(m.db(), {.idempotent = true},
                   [](UnitOfWork& unit) { return unit.execute(write_something); }));
  CHECK(m.database.opened.load() == 2);
  CHECK(m.db().metrics().retries_by(retry_class::in_doubt) == 1);
}

TEST_CASE("a COMMIT lost with its connection is asked about on a new one: committed, it succeeds",
          "[unit-of-work][in-doubt]") {
  recorded_retry retry;
  mocked m(dialect::postgresql, retry.policy());
  const auto lost = expect_lost_commit(m.session, 1234);  // once: the unit is not run again
  REQUIRE_CALL(m.session, transaction_outcome(1234)).RETURN(commit_outcome::committed);

  int runs = 0;
  auto outcome = run_unit(m.db(), [&](UnitOfWork& unit) {
    ++runs;
    return unit.execute(write_something);
  });
  INFO(describe(outcome));
  REQUIRE(outcome);
  CHECK(runs == 1);
  CHECK(retry.slept.empty());
  CHECK(m.database.opened.load() == 2);  // the lost one, then the one that asked
  CHECK(m.db().metrics().in_doubt_committed == 1);
  CHECK(m.db().metrics().in_doubt == 0);
  CHECK(m.db().metrics().commits == 1);
  CHECK(m.db().metrics().sessions_discarded == 1);
  CHECK(m.db().pool().in_use == 0);
}

TEST_CASE("a lost COMMIT that the server says aborted is run again, like a lost connection",
          "[unit-of-work][in-doubt]") {
  recorded_retry retry;
  mocked m(dialect::postgresql, retry.policy());
  const auto runs = expect_two_runs_first_commit_lost(m.session);
  REQUIRE_CALL(m.session, lost_transaction()).RETURN(std::optional<std::int64_t>{77});
  REQUIRE_CALL(m.session, transaction_outcome(77)).RETURN(commit_outcome::aborted);

  // Not declared idempotent: nothing of the first run landed, so running it again is safe.
  REQUIRE(run_unit(m.db(), [](UnitOfWork& unit) { return unit.execute(write_something); }));
  CHECK(m.db().metrics().in_doubt_aborted == 1);
  CHECK(m.db().metrics().in_doubt == 0);
  CHECK(m.db().metrics().retries_by(retry_class::reconnect_then_retry) == 1);
  CHECK(m.db().metrics().rollbacks_by(rollback_cause::commit_failed) == 1);
  CHECK(m.db().metrics().commits == 1);
}

TEST_CASE(
    "a lost COMMIT still in progress is asked about again, and stays in doubt when the "
    "server cannot tell",
    "[unit-of-work][in-doubt]") {
  recorded_retry retry;
  mocked m(dialect::postgresql, retry.policy());
  const auto lost = expect_lost_commit(m.session, 5);
  int asked = 0;
  REQUIRE_CALL(m.session, transaction_outcome(5))
      .TIMES(2)
      .LR_RETURN(++asked == 1 ? commit_outcome::in_progress : commit_outcome::unknown);

  auto outcome = run_unit(m.db(), [](UnitOfWork& unit) { return unit.execute(write_something); });
  REQUIRE_FALSE(outcome);
  CHECK(outcome.error().kind == errc::in_doubt);
  CHECK(m.db().metrics().in_doubt == 1);
  CHECK(m.db().metrics().in_doubt_committed + m.db().metrics().in_doubt_aborted == 0);
}

TEST_CASE(
    "a lost COMMIT that cannot be asked about within commit_resolution_timeout stays in "
    "doubt",
    "[unit-of-work][in-doubt]") {
  MockSession session;
  ALLOW_CALL(session, kind()).RETURN(dialect::postgresql);
  const auto lost = expect_lost_commit(session, 9);
  // The server is down: every question is lost with its connection.
  int asked = 0;
  REQUIRE_CALL(session, transaction_outcome(9))
      .TIMES(AT_LEAST(2))
      .LR_SIDE_EFFECT(++asked)
      .RETURN(failure(fake_error(errc::connection_lost, retry_class::reconnect_then_retry)));
  mocked_database database(session, {.commit_resolution_timeout = std::chrono::milliseconds{300},
                                     .retry = db_retry::disabled()});

  auto outcome =
      run_unit(database.db, [](UnitOfWork& unit) { return unit.execute(write_something); });
  REQUIRE_FALSE(outcome);
  CHECK(outcome.error().kind == errc::in_doubt);
  CHECK(database.db.metrics().in_doubt == 1);
  CHECK(database.db.metrics().sessions_discarded == static_cast<std::uint64_t>(asked) + 1);
}

TEST_CASE("a lost connection is discarded without a rollback and the unit runs on a new one",
          "[unit-of-work]") {
  recorded_retry retry;
  mocked m(dialect::postgresql, retry.policy());
  REQUIRE_CALL(m.session, begin(_)).TIMES(2).RETURN(ok());
  int statements = 0;
  REQUIRE_CALL(m.session, execute(_, _))
      .TIMES(2)
      .LR_RETURN(++statements == 1 ? result<std::uint64_t>(failure(fake_error(
                                         errc::connection_lost, retry_class::reconnect_then_retry)))
                                   : changed(1));
  REQUIRE_CALL(m.session, commit()).RETURN(ok());
  // No rollback() expectation: sending ROLLBACK down a dead connection would be a violation.

  REQUIRE(run_unit(m.db(), [](UnitOfWork& unit) { return unit.execute(write_something); }));
  CHECK(m.database.opened.load() == 2);
  CHECK(m.db().metrics().sessions_discarded == 1);
  CHECK(m.db().metrics().retries_by(retry_class::reconnect_then_retry) == 1);
}

TEST_CASE("a failed rollback discards the connection instead of reusing it", "[unit-of-work]") {
  mocked m;
  REQUIRE_CALL(m.session, begin(_)).RETURN(ok());
  REQUIRE_CALL(m.session, execute(_, _)).RETURN(changed(1));
  REQUIRE_CALL(m.session, rollback())
      .RETURN(failure(fake_error(errc::database, retry_class::permanent, "ROLLBACK")));

  auto outcome = run_unit(m.db(), [](UnitOfWork& unit) -> result<void> {
    REPOKIT_TRYV(unit.execute(write_something));
    return failure(errc::invalid_state, "no");
  });
  REQUIRE_FALSE(outcome);
  CHECK(m.database.alive.load() == 0);
  CHECK(m.sink->count("Rollback failed, discarding the connection") == 1);
}

TEST_CASE("unit_guard rolls back unless committed and reports commit failures",
          "[unit-of-work][guard]") {
  mocked m;
  SECTION("destroyed without commit") {
    REQUIRE_CALL(m.session, begin(_)).RETURN(ok());
    REQUIRE_CALL(m.session, execute(_, _)).RETURN(changed(1));
    REQUIRE_CALL(m.session, rollback()).RETURN(ok());
    {
      unit_guard guard(m.db());
      REQUIRE(guard.unit().execute(write_something));
    }
    CHECK(m.db().metrics().rollbacks_by(rollback_cause::abandoned) == 1);
    CHECK(m.db().pool().in_use == 0);
  }
  SECTION("commit failure is returned, not swallowed, and the unit has ended") {
    REQUIRE_CALL(m.session, begin(_)).RETURN(ok());
    REQUIRE_CALL(m.session, execute(_, _)).RETURN(changed(1));
    REQUIRE_CALL(m.session, commit())
        .RETURN(failure(fake_error(errc::transient, retry_class::retry_transaction, "COMMIT")));
    REQUIRE_CALL(m.session, rollback()).RETURN(ok());
    unit_guard guard(m.db());
    REQUIRE(guard.unit().execute(write_something));
    auto committed = guard.commit();
    REQUIRE_FALSE(committed);
    CHECK(committed.error().kind == errc::transient);
    auto after = guard.unit().execute(write_something);
    REQUIRE_FALSE(after);
    CHECK(after.error().kind == errc::misuse);
  }
}

TEST_CASE("db_error thrown by .value() inside the body is classified and retried like a result",
          "[unit-of-work]") {
  recorded_retry retry;
  mocked m(dialect::sqlite, retry.policy());
  REQUIRE_CALL(m.session, begin(_)).TIMES(2).RETURN(ok());
  int statements = 0;
  REQUIRE_CALL(m.session, execute(_, _))
      .TIMES(2)
      .LR_RETURN(++statements == 1 ? result<std::uint64_t>(failure(fake_error(
                                         errc::transient, retry_class::retry_transaction)))
                                   : changed(3));
  REQUIRE_CALL(m.session, rollback()).RETURN(ok());
  REQUIRE_CALL(m.session, commit()).RETURN(ok());

  auto outcome = run_unit(m.db(), [](UnitOfWork& unit) {
    return unit.execute(write_something).value();  // throws db_error on the first attempt
  });
  REQUIRE(outcome);
  CHECK(outcome.value() == 3);
  CHECK(retry.slept.size() == 1);
}

TEST_CASE("a statement timeout that is not positive is refused before any connection is taken",
          "[unit-of-work]") {
  mocked m;  // any session call would be an unexpected-call violation
  for (const auto limit : {std::chrono::milliseconds{0}, std::chrono::milliseconds{-5}}) {
    auto outcome = run_unit(m.db(), {.statement_timeout = limit},
                            [](UnitOfWork& unit) { return unit.execute(write_something); });
    REQUIRE_FALSE(outcome);
    CHECK(outcome.error().kind == errc::invalid_argument);
    CHECK(outcome.error().message.find("leave it empty for no limit") != std::string::npos);
  }
  CHECK(m.database.opened.load() == 0);
}

TEST_CASE("a unit's state follows its life: idle, active, then committed",
          "[unit-of-work][state]") {
  mocked m;
  REQUIRE_CALL(m.session, begin(_)).RETURN(ok());
  REQUIRE_CALL(m.session, execute(_, _)).RETURN(changed(1));
  REQUIRE_CALL(m.session, commit()).RETURN(ok());

  UnitOfWork unit(m.db());
  CHECK(unit.state() == unit_state::idle);
  REQUIRE(unit.execute(write_something));
  CHECK(unit.state() == unit_state::active);
  CHECK(unit.in_transaction());
  REQUIRE(unit.commit());
  CHECK(unit.state() == unit_state::committed);
  CHECK(unit.ended());
  CHECK_FALSE(unit.in_transaction());
  auto after = unit.query(read_something);
  REQUIRE_FALSE(after);
  CHECK(after.error().kind == errc::misuse);
  CHECK(to_string(unit.state()) == "committed");
}

TEST_CASE("a failed statement makes the unit poisoned, and its end rolled back",
          "[unit-of-work][state]") {
  mocked m;
  REQUIRE_CALL(m.session, begin(_)).RETURN(ok());
  REQUIRE_CALL(m.session, execute(_, _))
      .RETURN(failure(fake_error(errc::integrity, retry_class::permanent, "w", "duplicate key")));
  REQUIRE_CALL(m.session, rollback()).RETURN(ok());

  UnitOfWork unit(m.db());
  REQUIRE_FALSE(unit.execute(write_something));
  CHECK(unit.state() == unit_state::poisoned);
  CHECK(unit.in_transaction());
  unit.mark_rollback_only(make_error(errc::invalid_state, "later"));
  CHECK(unit.state() == unit_state::poisoned);  // the first failure stays the reason
  auto committed = unit.commit();
  REQUIRE_FALSE(committed);
  CHECK(committed.error().kind == errc::session_poisoned);
  CHECK(unit.state() == unit_state::rolled_back);
}

TEST_CASE("a rollback-only unit still runs statements, and ends rolled back with its reason",
          "[unit-of-work][state]") {
  mocked m;
  REQUIRE_CALL(m.session, begin(_)).RETURN(ok());
  REQUIRE_CALL(m.session, query(_, _)).RETURN(one_row({std::int64_t{1}}));
  REQUIRE_CALL(m.session, rollback()).RETURN(ok());

  UnitOfWork unit(m.db());
  unit.mark_rollback_only(make_error(errc::invalid_state, "a joined scope failed"));
  CHECK(unit.state() == unit_state::rollback_only);
  REQUIRE(unit.query(read_something));
  CHECK(unit.state() == unit_state::rollback_only);
  auto committed = unit.commit();
  REQUIRE_FALSE(committed);
  CHECK(committed.error().message == "a joined scope failed");
  CHECK(unit.state() == unit_state::rolled_back);
  CHECK(m.db().metrics().rollbacks_by(rollback_cause::body_error) == 1);
}

TEST_CASE("a connection lost during COMMIT leaves the unit in doubt", "[unit-of-work][state]") {
  mocked m(dialect::postgresql);
  REQUIRE_CALL(m.session, begin(_)).RETURN(ok());
  REQUIRE_CALL(m.session, execute(_, _)).RETURN(changed(1));
  REQUIRE_CALL(m.session, commit())
      .RETURN(failure(fake_error(errc::in_doubt, retry_class::in_doubt, "COMMIT")));
  ALLOW_CALL(m.session, lost_transaction()).RETURN(std::nullopt);  // its id was not learned

  UnitOfWork unit(m.db());
  REQUIRE(unit.execute(write_something));
  REQUIRE_FALSE(unit.commit());
  CHECK(unit.state() == unit_state::in_doubt);
  CHECK(unit.ended());
}

TEST_CASE(
    "a unit's options are checked once: the first statement reports them, later ones the "
    "poisoning",
    "[unit-of-work][state]") {
  mocked m;  // any session call would be an unexpected-call violation
  UnitOfWork unit(m.db(), access_mode::automatic, std::chrono::milliseconds{0});
  CHECK(unit.state() == unit_state::idle);
  auto first = unit.execute(write_something);
  REQUIRE_FALSE(first);
  CHECK(first.error().kind == errc::invalid_argument);
  CHECK(first.error().operation == "write_something");
  CHECK(unit.state() == unit_state::poisoned);
  auto second = unit.query(read_something);
  REQUIRE_FALSE(second);
  CHECK(second.error().kind == errc::session_poisoned);
  CHECK(second.error().message.find("statement_timeout must be positive") != std::string::npos);
  unit.rollback(rollback_cause::body_error);
  CHECK(unit.state() == unit_state::rolled_back);
  CHECK(m.database.opened.load() == 0);
}
