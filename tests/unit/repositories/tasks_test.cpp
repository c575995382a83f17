// Per-task sessions, look-ups and the phased job helper, against a mocked session.
#include <catch2/catch.hpp>

#include "repokit/repositories/phased_job.hpp"
#include "repokit/repositories/tasks.hpp"
#include "support/mock_session.hpp"
#include "support/unit_fixtures.hpp"

using namespace repokit;
using namespace repokit::testing;
using trompeloeil::_;

namespace {

row running_job(std::int64_t id, std::int64_t attempts) {
  return row({id, std::string("video_process"), std::string("V1"), std::string("running"),
              std::string("{}"), attempts, std::monostate{}, std::string("w1"), std::int64_t{1},
              std::int64_t{2}, std::int64_t{2}, std::monostate{}, std::int64_t{60'002},
              std::int64_t{1}, std::int64_t{0}});
}

row finished_job(std::int64_t id, std::string status, std::optional<std::string> error) {
  value last_error = error ? value{*error} : value{std::monostate{}};
  return row({id, std::string("video_process"), std::string("V1"), std::move(status),
              std::string("{}"), std::int64_t{1}, std::move(last_error), std::string("w1"),
              std::int64_t{1}, std::int64_t{3}, std::int64_t{2}, std::int64_t{3}, std::monostate{},
              std::int64_t{1}, std::int64_t{0}});
}

}  // namespace

TEST_CASE("run_task refuses to inherit an open unit of work", "[tasks]") {
  MockSession session;
  ALLOW_CALL(session, kind()).RETURN(dialect::sqlite);
  mocked_database database(session);
  int task_bodies = 0;
  auto outer = run_unit(database.db, [&](UnitOfWork&) -> result<void> {
    auto task = run_task(database.db, [&](Repositories&) { ++task_bodies; });
    REQUIRE_FALSE(task);
    CHECK(task.error().kind == errc::misuse);
    CHECK(task.error().message.find("must not inherit") != std::string::npos);
    return success();
  });
  CHECK(outer);
  CHECK(task_bodies == 0);
}

TEST_CASE("a task's statement timeout is set after BEGIN and lifted when it ends", "[tasks]") {
  MockSession session;
  ALLOW_CALL(session, kind()).RETURN(dialect::postgresql);
  trompeloeil::sequence order;
  REQUIRE_CALL(session, begin(_)).IN_SEQUENCE(order).RETURN(ok());
  REQUIRE_CALL(session, limit_statements(std::optional<std::chrono::milliseconds>{250}))
      .IN_SEQUENCE(order)
      .RETURN(ok());
  REQUIRE_CALL(session, query(_, _)).IN_SEQUENCE(order).RETURN(one_row({std::int64_t{1}}));
  REQUIRE_CALL(session, commit()).IN_SEQUENCE(order).RETURN(ok());
  REQUIRE_CALL(session, limit_statements(std::optional<std::chrono::milliseconds>{}))
      .IN_SEQUENCE(order)
      .RETURN(ok());
  mocked_database database(session, {}, dialect::postgresql);

  auto task =
      run_task(database.db, [](Repositories& repos) { return repos.unit.query(read_something); },
               {.statement_timeout = std::chrono::milliseconds{250}});
  CHECK(task);
}

TEST_CASE("a look-up always ends with a rollback and refuses writes", "[tasks]") {
  MockSession session;
  ALLOW_CALL(session, kind()).RETURN(dialect::sqlite);
  REQUIRE_CALL(session, begin(begin_mode::deferred)).RETURN(ok());
  REQUIRE_CALL(session, query(_, _)).RETURN(one_row({std::int64_t{9}}));
  REQUIRE_CALL(session, rollback()).RETURN(ok());
  mocked_database database(session);

  auto found = lookup(database.db, [](Repositories& repos) -> result<std::int64_t> {
    REPOKIT_TRY(auto first, repos.unit.query_one(read_something));
    auto write = repos.unit.execute(write_something);
    CHECK(write.error().kind == errc::misuse);
    return first->integer(0);
  });
  REQUIRE(found);
  CHECK(found.value() == 9);
  CHECK(database.db.metrics().rollbacks_by(rollback_cause::lookup) == 1);
  CHECK(database.db.metrics().commits == 0);
}

TEST_CASE("a phased job claims and commits, works with no session held, then records the outcome",
          "[tasks][phased]") {
  MockSession session;
  ALLOW_CALL(session, kind()).RETURN(dialect::sqlite);
  ALLOW_CALL(session, begin(_)).RETURN(ok());
  trompeloeil::sequence order;
  REQUIRE_CALL(session, query(_, _)).IN_SEQUENCE(order).RETURN(rows_of({running_job(3, 1)}));
  REQUIRE_CALL(session, commit()).IN_SEQUENCE(order).RETURN(ok());
  // The outcome: which of finish_job's statements (only its SQL tells failed from succeeded),
  // and the error text, job id, attempt and worker it binds.
  REQUIRE_CALL(session, query(_, _))
      .IN_SEQUENCE(order)
      .WITH(_1.name == "finish_job" &&
            std::string_view(_1.sql).find("status = 'failed'") != std::string_view::npos &&
            param_is(_2, 1, "exception: transcoder crashed") && param_is(_2, 2, std::int64_t{3}) &&
            param_is(_2, 3, std::int64_t{1}) && param_is(_2, 4, "w1"))
      .RETURN(rows_of({finished_job(3, "failed", "exception: transcoder crashed")}));
  REQUIRE_CALL(session, commit()).IN_SEQUENCE(order).RETURN(ok());
  mocked_database database(session);

  bool held_a_session_during_work = true;
  auto finished = work_on_next_job(database.db, "video_process", "w1", [&](const Job& job) {
    CHECK(job.id == 3);
    held_a_session_during_work = UnitOfWork::open_on_this_thread() || database.db.pool().in_use > 0;
    throw std::runtime_error("transcoder crashed");
  });
  REQUIRE(finished);
  REQUIRE(finished.value());
  CHECK_FALSE(held_a_session_during_work);
}

TEST_CASE("no pending job means no work and no outcome", "[tasks][phased]") {
  MockSession session;
  ALLOW_CALL(session, kind()).RETURN(dialect::sqlite);
  ALLOW_CALL(session, begin(_)).RETURN(ok());
  REQUIRE_CALL(session, query(_, _)).RETURN(rows_of({}));
  REQUIRE_CALL(session, commit()).RETURN(ok());
  mocked_database database(session);
  bool worked = false;
  auto finished =
      work_on_next_job(database.db, "video_process", "w1", [&](const Job&) { worked = true; });
  REQUIRE(finished);
  CHECK_FALSE(finished.value());
  CHECK_FALSE(worked);
}

TEST_CASE("an outcome whose COMMIT was in doubt and did land is recognised on the retry",
          "[tasks][phased]") {
  MockSession session;
  ALLOW_CALL(session, kind()).RETURN(dialect::sqlite);
  ALLOW_CALL(session, begin(_)).RETURN(ok());
  trompeloeil::sequence order;
  // Phase 1: the claim.
  REQUIRE_CALL(session, query(_, _)).IN_SEQUENCE(order).RETURN(rows_of({running_job(3, 1)}));
  REQUIRE_CALL(session, commit()).IN_SEQUENCE(order).RETURN(ok());
  // Phase 3, first attempt: recorded, but the connection dies during COMMIT.
  REQUIRE_CALL(session, query(_, _))
      .IN_SEQUENCE(order)
      .RETURN(rows_of({finished_job(3, "succeeded", std::nullopt)}));
  REQUIRE_CALL(session, commit())
      .IN_SEQUENCE(order)
      .RETURN(failure(fake_error(errc::in_doubt, retry_class::in_doubt, "COMMIT")));
  ALLOW_CALL(session, lost_transaction()).RETURN(std::nullopt);  // its id was not learned
  // The retry: the guard finds no running job (it landed); finish_job reads the job to explain
  // its refusal, and the read-back shows this claim's own outcome.
  REQUIRE_CALL(session, query(_, _)).IN_SEQUENCE(order).RETURN(rows_of({}));
  REQUIRE_CALL(session, query(_, _))
      .TIMES(2)
      .IN_SEQUENCE(order)
      .RETURN(rows_of({finished_job(3, "succeeded", std::nullopt)}));
  REQUIRE_CALL(session, commit()).IN_SEQUENCE(order).RETURN(ok());
  recorded_retry retry;
  mocked_database database(session, {.retry = retry.policy()});

  int runs = 0;
  auto finished = work_on_next_job(database.db, "video_process", "w1", [&](const Job&) { ++runs; });
  REQUIRE(finished);
  REQUIRE(finished.value());
  CHECK(finished.value()->status == job_status::succeeded);
  CHECK(runs == 1);
  CHECK(database.db.metrics().in_doubt == 1);
  CHECK(database.db.metrics().retries_by(retry_class::in_doubt) == 1);
}
