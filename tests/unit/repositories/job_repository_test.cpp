// The job repository's SQL: bound values, guarded transitions, and what it says when a guard
// stops an update.
#include <catch2/catch.hpp>

#include "repokit/repositories/scoped.hpp"
#include "support/mock_session.hpp"
#include "support/unit_fixtures.hpp"

using namespace repokit;
using namespace repokit::testing;
using trompeloeil::_;

namespace {

bool sql_has(const statement& sql, std::string_view fragment) {
  return sql.sql.find(fragment) != std::string_view::npos;
}

row job_row(std::int64_t id, std::string status, std::int64_t attempts = 0) {
  return row({id, std::string("video_process"), std::string("V1"), std::move(status),
              std::string("{}"), attempts, std::monostate{}, std::monostate{}, std::int64_t{1},
              std::int64_t{2}, std::monostate{}, std::monostate{}});
}

struct job_mock {
  job_mock() : database(session) {
    kind_allowed = NAMED_ALLOW_CALL(session, kind()).RETURN(dialect::sqlite);
    begin_allowed = NAMED_ALLOW_CALL(session, begin(_)).RETURN(ok());
    commit_allowed = NAMED_ALLOW_CALL(session, commit()).RETURN(ok());
    rollback_allowed = NAMED_ALLOW_CALL(session, rollback()).RETURN(ok());
  }
  const Database& db() const { return database.db; }

  MockSession session;
  mocked_database database;
  std::unique_ptr<trompeloeil::expectation> kind_allowed, begin_allowed, commit_allowed,
      rollback_allowed;
};

}  // namespace

TEST_CASE("create_job inserts a pending job with bound type, target and parameters",
          "[repositories][jobs]") {
  job_mock m;
  REQUIRE_CALL(m.session, query(_, _))
      .WITH(sql_has(_1, "INSERT INTO jobs") && sql_has(_1, "'pending'") &&
            param_is(_2, 0, "video_process") && param_is(_2, 1, "V1") &&
            param_is(_2, 2, R"({"q":1})"))
      .RETURN(rows_of({job_row(1, "pending")}));
  auto job = job_repository(m.db(), [](JobRepository& jobs) {
    return jobs.create_job("video_process", "V1", R"({"q":1})");
  });
  REQUIRE(job);
  CHECK(job.value().status == job_status::pending);
  CHECK_FALSE(job.value().last_error);
}

TEST_CASE("job_exists fills its four status slots from the statuses asked for",
          "[repositories][jobs]") {
  job_mock m;
  REQUIRE_CALL(m.session, query(_, _))
      .WITH(sql_has(_1, "status IN (:p3, :p4, :p5, :p6)") && param_is(_2, 2, "failed") &&
            param_is(_2, 3, "failed") && param_is(_2, 5, "failed"))
      .RETURN(rows_of({row({std::int64_t{1}})}));
  const std::array<job_status, 1> failed_only{job_status::failed};
  auto exists = job_repository(m.db(), [&](JobRepository& jobs) {
    return jobs.job_exists("video_process", "V1", failed_only);
  });
  REQUIRE(exists);
  CHECK(exists.value());
}

TEST_CASE("a move to running is guarded by the pending status and counts an attempt",
          "[repositories][jobs]") {
  job_mock m;
  REQUIRE_CALL(m.session, query(_, _))
      .WITH(sql_has(_1, "attempts = attempts + 1") && sql_has(_1, "AND status = 'pending'") &&
            param_is(_2, 2, std::int64_t{5}))
      .RETURN(rows_of({job_row(5, "running", 1)}));
  auto job = job_repository(m.db(), [](JobRepository& jobs) {
    return jobs.update_job_status(5, job_status::running);
  });
  REQUIRE(job);
  CHECK(job.value().attempts == 1);
}

TEST_CASE("a refused move reports the job's current status and is not an error of the unit",
          "[repositories][jobs]") {
  job_mock m;
  trompeloeil::sequence order;
  REQUIRE_CALL(m.session, query(_, _))
      .IN_SEQUENCE(order)
      .WITH(sql_has(_1, "AND status = 'running'"))
      .RETURN(rows_of({}));  // the guard matched no row
  REQUIRE_CALL(m.session, query(_, _))
      .IN_SEQUENCE(order)
      .WITH(sql_has(_1, "FROM jobs WHERE id = :p1"))
      .RETURN(rows_of({job_row(5, "pending")}));
  auto job = job_repository(m.db(), [](JobRepository& jobs) {
    return jobs.update_job_status(5, job_status::succeeded);
  });
  REQUIRE_FALSE(job);
  CHECK(job.error().kind == errc::invalid_state);
  CHECK(job.error().message == "job 5 is pending and cannot move to succeeded");
}

TEST_CASE("a failure keeps its error message as a bound value", "[repositories][jobs]") {
  job_mock m;
  REQUIRE_CALL(m.session, query(_, _))
      .WITH(sql_has(_1, "status = 'failed'") && param_is(_2, 2, "disk full") &&
            param_is(_2, 3, std::int64_t{9}))
      .RETURN(rows_of({job_row(9, "failed", 1)}));
  REQUIRE(job_repository(m.db(), [](JobRepository& jobs) {
    return jobs.update_job_status(9, job_status::failed, "disk full");
  }));
}

TEST_CASE("a stored status repokit does not know is reported, not guessed",
          "[repositories][jobs]") {
  job_mock m;
  REQUIRE_CALL(m.session, query(_, _)).RETURN(rows_of({job_row(3, "archived")}));
  auto job = job_repository(m.db(), [](JobRepository& jobs) { return jobs.get_job(3); });
  REQUIRE_FALSE(job);
  CHECK(job.error().kind == errc::database);
  CHECK(job.error().message.find("archived") != std::string::npos);
}
