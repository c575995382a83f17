// Repositories routed to two databases: one transaction on each, committed in the documented
// order, and a plain report when the work landed on one database only.
#include <catch2/catch.hpp>

#include "repokit/repositories/routing.hpp"
#include "support/mock_session.hpp"
#include "support/outcome.hpp"
#include "support/unit_fixtures.hpp"

using namespace repokit;
using namespace repokit::testing;
using trompeloeil::_;

namespace {

row video_row() {
  return row({std::string("V1"), std::string("CH1"), std::string("t"), std::int64_t{1},
              std::int64_t{1}, std::int64_t{1}});
}
row job_row() {
  return row({std::int64_t{1}, std::string("video_process"), std::string("V1"),
              std::string("pending"), std::string("{}"), std::int64_t{0}, std::monostate{},
              std::monostate{}, std::int64_t{1}, std::int64_t{1}, std::monostate{},
              std::monostate{}, std::monostate{}, std::int64_t{1}, std::int64_t{0}});
}

}  // namespace

TEST_CASE("a routed unit of work commits the routed database first and the primary last",
          "[routing]") {
  MockSession catalogue;
  MockSession jobs;
  ALLOW_CALL(catalogue, kind()).RETURN(dialect::sqlite);
  ALLOW_CALL(jobs, kind()).RETURN(dialect::sqlite);
  ALLOW_CALL(catalogue, begin(_)).RETURN(ok());
  ALLOW_CALL(jobs, begin(_)).RETURN(ok());
  REQUIRE_CALL(catalogue, query(_, _)).RETURN(rows_of({video_row()}));
  REQUIRE_CALL(jobs, query(_, _)).RETURN(rows_of({job_row()}));
  trompeloeil::sequence order;
  REQUIRE_CALL(jobs, commit()).IN_SEQUENCE(order).RETURN(ok());
  REQUIRE_CALL(catalogue, commit()).IN_SEQUENCE(order).RETURN(ok());
  mocked_database primary(catalogue);
  mocked_database jobs_db(jobs);
  database_routes routes(primary.db);
  routes.route<JobRepository>("jobs", jobs_db.db);

  CHECK(&routes.database_for<JobRepository>().state() == &jobs_db.db.state());
  CHECK(&routes.database_for<VideoRepository>().state() == &primary.db.state());
  auto done = unit_of_work(routes, [](Repositories& repos) -> result<void> {
    REPOKIT_TRYV(repos.videos.create_video("V1", "CH1", "t", 1));
    REPOKIT_TRYV(repos.jobs.create_job("video_process", "V1"));
    return success();
  });
  CHECK(done);
}

TEST_CASE("a failure after one database committed is reported as landed in part, not retried",
          "[routing]") {
  MockSession catalogue;
  MockSession jobs;
  ALLOW_CALL(catalogue, kind()).RETURN(dialect::sqlite);
  ALLOW_CALL(jobs, kind()).RETURN(dialect::sqlite);
  ALLOW_CALL(catalogue, begin(_)).RETURN(ok());
  ALLOW_CALL(jobs, begin(_)).RETURN(ok());
  REQUIRE_CALL(catalogue, query(_, _)).RETURN(rows_of({video_row()}));
  REQUIRE_CALL(jobs, query(_, _)).RETURN(rows_of({job_row()}));
  REQUIRE_CALL(jobs, commit()).RETURN(ok());
  REQUIRE_CALL(catalogue, commit())
      .RETURN(failure(fake_error(errc::transient, retry_class::retry_transaction, "COMMIT",
                                 "database is locked")));
  REQUIRE_CALL(catalogue, rollback()).RETURN(ok());
  recorded_retry retry;
  mocked_database primary(catalogue, {.retry = retry.policy()});
  mocked_database jobs_db(jobs);
  database_routes routes(primary.db);
  routes.route<JobRepository>("jobs", jobs_db.db);

  auto done = unit_of_work(routes, [](Repositories& repos) -> result<void> {
    REPOKIT_TRYV(repos.videos.create_video("V1", "CH1", "t", 1));
    REPOKIT_TRYV(repos.jobs.create_job("video_process", "V1"));
    return success();
  });
  REQUIRE_FALSE(done);
  CHECK(done.error().kind == errc::in_doubt);
  CHECK(done.error().message.find("committed on jobs, then failed on primary") !=
        std::string::npos);
  CHECK(done.error().message.find("not atomic across databases") != std::string::npos);
  CHECK(retry.slept.empty());
}

TEST_CASE("a routed unit whose body fails rolls back on every database", "[routing]") {
  MockSession catalogue;
  MockSession jobs;
  ALLOW_CALL(catalogue, kind()).RETURN(dialect::sqlite);
  ALLOW_CALL(jobs, kind()).RETURN(dialect::sqlite);
  ALLOW_CALL(catalogue, begin(_)).RETURN(ok());
  ALLOW_CALL(jobs, begin(_)).RETURN(ok());
  REQUIRE_CALL(catalogue, query(_, _)).RETURN(rows_of({video_row()}));
  REQUIRE_CALL(jobs, query(_, _)).RETURN(rows_of({job_row()}));
  REQUIRE_CALL(jobs, rollback()).RETURN(ok());
  REQUIRE_CALL(catalogue, rollback()).RETURN(ok());
  mocked_database primary(catalogue);
  mocked_database jobs_db(jobs);
  database_routes routes(primary.db);
  routes.route<JobRepository>("jobs", jobs_db.db);

  auto done = unit_of_work(routes, [](Repositories& repos) -> result<void> {
    REPOKIT_TRYV(repos.videos.create_video("V1", "CH1", "t", 1));
    REPOKIT_TRYV(repos.jobs.create_job("video_process", "V1"));
    return failure(errc::invalid_state, "changed my mind");
  });
  REQUIRE_FALSE(done);
  CHECK(done.error().kind == errc::invalid_state);
}

TEST_CASE("a routed attempt that wrote runs its retry with the write lock taken at BEGIN",
          "[routing][retry]") {
  MockSession catalogue;
  MockSession jobs;
  ALLOW_CALL(catalogue, kind()).RETURN(dialect::sqlite);
  ALLOW_CALL(jobs, kind()).RETURN(dialect::sqlite);
  const error busy = fake_error(errc::transient, retry_class::retry_transaction, "write_something",
                                "database is locked");
  trompeloeil::sequence order;
  REQUIRE_CALL(catalogue, begin(begin_mode::deferred)).IN_SEQUENCE(order).RETURN(ok());
  REQUIRE_CALL(catalogue, query(_, _)).IN_SEQUENCE(order).RETURN(one_row({std::int64_t{1}}));
  REQUIRE_CALL(catalogue, execute(_, _)).IN_SEQUENCE(order).RETURN(failure(busy));
  REQUIRE_CALL(catalogue, rollback()).IN_SEQUENCE(order).RETURN(ok());
  REQUIRE_CALL(catalogue, begin(begin_mode::immediate)).IN_SEQUENCE(order).RETURN(ok());
  REQUIRE_CALL(catalogue, query(_, _)).IN_SEQUENCE(order).RETURN(one_row({std::int64_t{1}}));
  REQUIRE_CALL(catalogue, execute(_, _)).IN_SEQUENCE(order).RETURN(changed(1));
  REQUIRE_CALL(catalogue, commit()).IN_SEQUENCE(order).RETURN(ok());
  recorded_retry retry;
  mocked_database primary(catalogue, {.retry = retry.policy()});
  mocked_database jobs_db(jobs);
  database_routes routes(primary.db);
  routes.route<JobRepository>("jobs", jobs_db.db);

  auto done = unit_of_work(routes, [](Repositories& repos) -> result<void> {
    REPOKIT_TRYV(repos.unit.query(read_something));
    REPOKIT_TRYV(repos.unit.execute(write_something));
    return success();
  });
  INFO(describe(done));
  REQUIRE(done);
  CHECK(retry.slept.size() == 1);
}
