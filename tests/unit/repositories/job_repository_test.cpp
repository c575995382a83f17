// The job repository against a mocked session: the statement each call chooses (by name), the
// values it binds, and what it answers when a guard stops an update. What the mock returns is
// never checked back: the stored outcome of each call is proven against real databases in
// tests/integration/job_repository_contract_test.cpp. SQL text is matched only for what no
// other test can see, and each such match says so.
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
              std::int64_t{2}, std::monostate{}, std::monostate{}, std::monostate{},
              std::int64_t{1}, std::int64_t{0}});
}

using job_mock = statement_mock;

}  // namespace

TEST_CASE("create_job binds type, target and parameters", "[repositories][jobs]") {
  job_mock m;
  REQUIRE_CALL(m.session, query(_, _))
      .WITH(_1.name == "create_job" && param_is(_2, 0, "video_process") && param_is(_2, 1, "V1") &&
            param_is(_2, 2, R"({"q":1})"))
      .RETURN(rows_of({job_row(1, "pending")}));
  auto job = job_repository(m.db(), [](JobRepository& jobs) {
    return jobs.create_job("video_process", "V1", R"({"q":1})");
  });
  REQUIRE(job);
}

TEST_CASE("job_exists binds the statuses asked for, one value each", "[repositories][jobs]") {
  job_mock m;
  REQUIRE_CALL(m.session, query(_, _))
      .WITH(_1.name == "job_exists" && param_is(_2, 0, "video_process") && param_is(_2, 1, "V1") &&
            param_is(_2, 2, "failed") && _2.size() == 3)
      .RETURN(rows_of({row({std::int64_t{1}})}));
  const std::array<job_status, 1> failed_only{job_status::failed};
  auto exists = job_repository(m.db(), [&](JobRepository& jobs) {
    return jobs.job_exists("video_process", "V1", failed_only);
  });
  REQUIRE(exists);
  CHECK(exists.value());
}

// The guard and the attempt count are proven on real databases ("pending -> running ->
// succeeded counts an attempt", "every illegal transition ... leaves the row exactly as it was").
TEST_CASE("a move to running binds the job's id to the running transition",
          "[repositories][jobs]") {
  job_mock m;
  REQUIRE_CALL(m.session, query(_, _))
      .WITH(_1.name == "update_job_status" && sql_has(_1, "status = 'running'") &&
            param_is(_2, 2, std::int64_t{5}) && _2.size() == 3)
      .RETURN(rows_of({job_row(5, "running", 1)}));
  auto job = job_repository(
      m.db(), [](JobRepository& jobs) { return jobs.update_job_status(5, job_status::running); });
  REQUIRE(job);
}

TEST_CASE("a refused move reports the job's current status and is not an error of the unit",
          "[repositories][jobs]") {
  job_mock m;
  trompeloeil::sequence order;
  REQUIRE_CALL(m.session, query(_, _))
      .IN_SEQUENCE(order)
      .WITH(_1.name == "update_job_status" && param_is(_2, 1, std::int64_t{5}))
      .RETURN(rows_of({}));  // the guard matched no row
  REQUIRE_CALL(m.session, query(_, _))
      .IN_SEQUENCE(order)
      .WITH(_1.name == "get_job" && param_is(_2, 0, std::int64_t{5}))
      .RETURN(rows_of({job_row(5, "pending")}));
  auto job = job_repository(
      m.db(), [](JobRepository& jobs) { return jobs.update_job_status(5, job_status::succeeded); });
  REQUIRE_FALSE(job);
  CHECK(job.error().kind == errc::invalid_state);
  CHECK(job.error().message == "job 5 is pending and cannot move to succeeded");
}

TEST_CASE("a failure keeps its error message as a bound value", "[repositories][jobs]") {
  job_mock m;
  REQUIRE_CALL(m.session, query(_, _))
      .WITH(_1.name == "update_job_status" && sql_has(_1, "status = 'failed'") &&
            param_is(_2, 1, "disk full") && param_is(_2, 2, std::int64_t{9}))
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

// Its atomicity under races is proven on real databases (tests/jobs/race_test.cpp, create_test.cpp,
// tests/galera/jobs_race_test.cpp); here, that it is a single statement with the right values.
TEST_CASE("create_if_not_exists is one statement binding the key and the active statuses",
          "[repositories][jobs][create]") {
  job_mock m;
  REQUIRE_CALL(m.session, query(_, _))
      .WITH(_1.name == "create_if_not_exists" && param_is(_2, 0, "video_process") &&
            param_is(_2, 1, "V1") && param_is(_2, 6, "pending") && param_is(_2, 7, "running") &&
            _2.size() == 8)
      .RETURN(rows_of({job_row(1, "pending")}));
  auto job = job_repository(m.db(), [](JobRepository& jobs) {
    return jobs.create_if_not_exists("video_process", "V1", R"({"q":1})");
  });
  REQUIRE(job);
  CHECK(job.value().created);
  CHECK(job.value().record.id == 1);
}

TEST_CASE("the loser of a creation race gets the winner's job, not an error",
          "[repositories][jobs][create]") {
  job_mock m;
  trompeloeil::sequence order;
  REQUIRE_CALL(m.session, query(_, _))
      .IN_SEQUENCE(order)
      .WITH(_1.name == "create_if_not_exists")
      .RETURN(rows_of({}));  // did nothing
  REQUIRE_CALL(m.session, query(_, _))
      .IN_SEQUENCE(order)
      .WITH(_1.name == "create_if_not_exists" && param_is(_2, 0, "video_process") &&
            param_is(_2, 1, "V1") && param_is(_2, 2, "pending") && param_is(_2, 3, "running"))
      .RETURN(rows_of({job_row(7, "running", 1)}));
  auto job = job_repository(
      m.db(), [](JobRepository& jobs) { return jobs.create_if_not_exists("video_process", "V1"); });
  REQUIRE(job);
  CHECK_FALSE(job.value().created);
  CHECK(job.value().record.id == 7);
}

// Structural on purpose: which lock is taken is visible only in the SQL. That it serialises
// creators and waits for a finishing worker is proven on PostgreSQL by tests/jobs/create_test.cpp
// ("... raced by threads", "never creates while the job it would answer with is succeeding").
TEST_CASE("statuses beyond the active index take a transaction-scoped lock on PostgreSQL",
          "[repositories][jobs][create]") {
  MockSession session;
  ALLOW_CALL(session, kind()).RETURN(dialect::postgresql);
  ALLOW_CALL(session, begin(_)).RETURN(ok());
  ALLOW_CALL(session, commit()).RETURN(ok());
  mocked_database database(session, {}, dialect::postgresql);
  trompeloeil::sequence order;
  REQUIRE_CALL(session, query(_, _))
      .IN_SEQUENCE(order)
      .WITH(_1.name == "create_if_not_exists" && sql_has(_1, "pg_advisory_xact_lock") &&
            param_is(_2, 0, std::string_view("video_process\x1fV1", 16)))
      .RETURN(rows_of({row({std::int64_t{1}})}));
  // ...and waits for whoever is moving a job of this key, so the insert sees where it ended.
  REQUIRE_CALL(session, query(_, _))
      .IN_SEQUENCE(order)
      .WITH(_1.name == "create_if_not_exists" && sql_has(_1, "FOR UPDATE") &&
            param_is(_2, 0, "video_process") && param_is(_2, 1, "V1"))
      .RETURN(rows_of({row({std::int64_t{1}})}));
  REQUIRE_CALL(session, query(_, _))
      .IN_SEQUENCE(order)
      .WITH(_1.name == "create_if_not_exists" && param_is(_2, 6, "succeeded"))
      .RETURN(rows_of({}));
  REQUIRE_CALL(session, query(_, _))
      .IN_SEQUENCE(order)
      .WITH(_1.name == "create_if_not_exists" && param_is(_2, 2, "succeeded") &&
            param_is(_2, 3, "pending") && param_is(_2, 4, "running"))
      .RETURN(rows_of({job_row(3, "succeeded", 1)}));

  const std::array<job_status, 1> done{job_status::succeeded};
  auto job = job_repository(database.db, [&](JobRepository& jobs) {
    return jobs.create_if_not_exists("video_process", "V1", "{}", done);
  });
  REQUIRE(job);
  CHECK_FALSE(job.value().created);  // an answering job found after the insert did nothing
}

// Structural on purpose: the SQL is the only place a mock sees SKIP LOCKED. The behaviour (a
// worker does not wait for a row another one holds) is proven on PostgreSQL in
// tests/jobs/claim_test.cpp.
TEST_CASE("claim_next asks PostgreSQL to skip rows other workers hold",
          "[repositories][jobs][claim]") {
  MockSession session;
  ALLOW_CALL(session, kind()).RETURN(dialect::postgresql);
  ALLOW_CALL(session, begin(_)).RETURN(ok());
  ALLOW_CALL(session, commit()).RETURN(ok());
  mocked_database database(session, {}, dialect::postgresql);
  REQUIRE_CALL(session, query(_, _))
      .WITH(_1.name == "claim_next" && sql_has(_1, "FOR UPDATE SKIP LOCKED") &&
            param_is(_2, 0, "worker-1") && param_is(_2, 3, "video_process"))
      .RETURN(rows_of({}));
  auto claimed = job_repository(database.db, [](JobRepository& jobs) {
    return jobs.claim_next("video_process", "worker-1");
  });
  REQUIRE(claimed);
  CHECK_FALSE(claimed.value());
}

TEST_CASE("claim_next on SQLite takes the write lock at BEGIN", "[repositories][jobs][claim]") {
  MockSession session;
  ALLOW_CALL(session, kind()).RETURN(dialect::sqlite);
  REQUIRE_CALL(session, begin(begin_mode::immediate)).RETURN(ok());
  // SQLite has no SKIP LOCKED; BEGIN IMMEDIATE above is what serialises claims there.
  REQUIRE_CALL(session, query(_, _))
      .WITH(_1.name == "claim_next" && !sql_has(_1, "SKIP LOCKED") && param_is(_2, 0, "worker-1") &&
            param_is(_2, 3, "video_process"))
      .RETURN(rows_of({job_row(4, "running", 1)}));
  REQUIRE_CALL(session, commit()).RETURN(ok());
  mocked_database database(session);
  auto claimed = job_repository(database.db, [](JobRepository& jobs) {
    return jobs.claim_next("video_process", "worker-1");
  });
  REQUIRE(claimed);
  CHECK(claimed.value().has_value());
}

// The guard's SQL is matched because a mock cannot run it; what the guard stops (a stale
// worker's outcome after its job was claimed again) is proven on real databases by
// tests/jobs/killed_worker_test.cpp. Here: the claim's values are bound, and the refusal says why.
TEST_CASE("finish_job is guarded by the claim's attempt and worker",
          "[repositories][jobs][claim]") {
  job_mock m;
  Job claimed{.id = 5,
              .job_type = "video_process",
              .target_id = "V1",
              .status = job_status::running,
              .attempts = 1,
              .worker_id = "worker-1"};
  trompeloeil::sequence order;
  REQUIRE_CALL(m.session, query(_, _))
      .IN_SEQUENCE(order)
      .WITH(_1.name == "finish_job" &&
            sql_has(_1, "AND attempts = :attempts AND COALESCE(worker_id, '') = :worker_id") &&
            param_is(_2, 2, std::int64_t{5}) && param_is(_2, 3, std::int64_t{1}) &&
            param_is(_2, 4, "worker-1"))
      .RETURN(rows_of({}));
  REQUIRE_CALL(m.session, query(_, _))
      .IN_SEQUENCE(order)
      .WITH(_1.name == "get_job" && param_is(_2, 0, std::int64_t{5}))
      .RETURN(rows_of({job_row(5, "running", 2)}));
  auto finished = job_repository(
      m.db(), [&](JobRepository& jobs) { return jobs.finish_job(claimed, job_status::succeeded); });
  REQUIRE_FALSE(finished);
  CHECK(finished.error().kind == errc::invalid_state);
  CHECK(finished.error().message.find("claimed again (attempt 2)") != std::string::npos);
}

TEST_CASE("reconcile_stale makes exhausted jobs dead, then requeues the rest",
          "[repositories][jobs][reconcile]") {
  job_mock m;
  trompeloeil::sequence order;
  // The times each statement was given: now and the cutoff, in milliseconds since the epoch.
  std::array<std::int64_t, 2> failing{};
  std::array<std::int64_t, 2> requeueing{};
  REQUIRE_CALL(m.session, execute(_, _))
      .IN_SEQUENCE(order)
      .WITH(_1.name == "reconcile_stale" && sql_has(_1, "status = 'dead'") &&
            param_is(_2, 3, std::int64_t{3}) && _2.size() == 4)
      .LR_SIDE_EFFECT(failing = {std::get<std::int64_t>(_2[0]), std::get<std::int64_t>(_2[2])})
      .RETURN(changed(2));
  REQUIRE_CALL(m.session, execute(_, _))
      .IN_SEQUENCE(order)
      .WITH(_1.name == "reconcile_stale" && sql_has(_1, "status = 'pending'") && _2.size() == 3)
      .LR_SIDE_EFFECT(requeueing = {std::get<std::int64_t>(_2[0]), std::get<std::int64_t>(_2[2])})
      .RETURN(changed(5));
  auto report = job_repository(
      m.db(), [](JobRepository& jobs) { return jobs.reconcile_stale(std::chrono::minutes{5}); });
  REQUIRE(report);
  // Both statements look at the same jobs: running, untouched for the five minutes asked.
  CHECK(failing[0] - failing[1] == 5 * 60 * 1000);
  CHECK(requeueing == failing);
}

TEST_CASE("create_job binds the schedule: run_at, or now when none is given, and the priority",
          "[repositories][jobs][schedule]") {
  job_mock m;
  const timestamp later{std::chrono::milliseconds{4'000'000'000'000}};
  std::int64_t now_bound = 0;
  std::int64_t run_at_bound = 0;
  REQUIRE_CALL(m.session, query(_, _))
      .WITH(_1.name == "create_job" && param_is(_2, 4, std::int64_t{4'000'000'000'000}) &&
            param_is(_2, 5, std::int64_t{7}))
      .RETURN(rows_of({job_row(1, "pending")}));
  REQUIRE_CALL(m.session, query(_, _))
      .WITH(_1.name == "create_job" && param_is(_2, 5, std::int64_t{0}))
      .LR_SIDE_EFFECT(now_bound = std::get<std::int64_t>(_2[3]))
      .LR_SIDE_EFFECT(run_at_bound = std::get<std::int64_t>(_2[4]))
      .RETURN(rows_of({job_row(2, "pending")}));
  auto made = job_repository(m.db(), [&](JobRepository& jobs) -> result<void> {
    REPOKIT_TRYV(jobs.create_job("video_process", "V1", "{}", {.run_at = later, .priority = 7}));
    REPOKIT_TRYV(jobs.create_job("video_process", "V2"));
    return success();
  });
  REQUIRE(made);
  CHECK(now_bound > 0);
  CHECK(run_at_bound == now_bound);
}

TEST_CASE("claim_next binds a lease ending `lease` after the claim, and its attempt limit",
          "[repositories][jobs][lease]") {
  job_mock m;
  std::int64_t now_bound = 0;
  std::int64_t lease_until_bound = 0;
  REQUIRE_CALL(m.session, query(_, _))
      .WITH(_1.name == "claim_next" && param_is(_2, 0, "worker-1") &&
            param_is(_2, 3, "video_process") && param_is(_2, 4, std::int64_t{5}) && _2.size() == 5)
      .LR_SIDE_EFFECT(now_bound = std::get<std::int64_t>(_2[1]))
      .LR_SIDE_EFFECT(lease_until_bound = std::get<std::int64_t>(_2[2]))
      .RETURN(rows_of({}));
  auto claimed = job_repository(m.db(), [](JobRepository& jobs) {
    return jobs.claim_next("video_process", "worker-1",
                           {.lease = std::chrono::seconds{45}, .max_attempts = 5});
  });
  REQUIRE(claimed);
  CHECK(lease_until_bound - now_bound == 45'000);
}

TEST_CASE("a lease or attempt limit out of range is refused before any SQL runs",
          "[repositories][jobs][lease]") {
  job_mock m;  // no query is allowed
  const Job claimed{.id = 5, .status = job_status::running, .attempts = 1, .worker_id = "w"};
  for (const std::chrono::milliseconds bad :
       {std::chrono::milliseconds{0}, std::chrono::milliseconds{-5},
        max_lease + std::chrono::milliseconds{1}, std::chrono::milliseconds::max()}) {
    auto refused = job_repository(m.db(), [&](JobRepository& jobs) -> result<void> {
      auto claim = jobs.claim_next("video_process", "w", {.lease = bad});
      CHECK(claim.error().kind == errc::invalid_argument);
      auto beat = jobs.heartbeat(claimed, bad);
      CHECK(beat.error().kind == errc::invalid_argument);
      return success();
    });
    CHECK(refused);
  }
  auto no_attempts = job_repository(m.db(), [](JobRepository& jobs) {
    return jobs.claim_next("video_process", "w", {.max_attempts = 0});
  });
  REQUIRE_FALSE(no_attempts);
  CHECK(no_attempts.error().kind == errc::invalid_argument);
}

TEST_CASE("heartbeat renews under the claim's guard and says when the claim was lost",
          "[repositories][jobs][lease]") {
  job_mock m;
  const Job claimed{.id = 5,
                    .job_type = "video_process",
                    .target_id = "V1",
                    .status = job_status::running,
                    .attempts = 1,
                    .worker_id = "worker-1"};
  std::int64_t lease_until_bound = 0;
  std::int64_t now_bound = 0;
  trompeloeil::sequence order;
  REQUIRE_CALL(m.session, query(_, _))
      .IN_SEQUENCE(order)
      .WITH(_1.name == "heartbeat" &&
            sql_has(_1, "AND attempts = :attempts AND COALESCE(worker_id, '') = :worker_id") &&
            param_is(_2, 2, std::int64_t{5}) && param_is(_2, 3, std::int64_t{1}) &&
            param_is(_2, 4, "worker-1"))
      .LR_SIDE_EFFECT(lease_until_bound = std::get<std::int64_t>(_2[0]))
      .LR_SIDE_EFFECT(now_bound = std::get<std::int64_t>(_2[1]))
      .RETURN(rows_of({}));
  REQUIRE_CALL(m.session, query(_, _))
      .IN_SEQUENCE(order)
      .WITH(_1.name == "get_job" && param_is(_2, 0, std::int64_t{5}))
      .RETURN(rows_of({job_row(5, "running", 2)}));
  auto renewed = job_repository(m.db(), [&](JobRepository& jobs) {
    return jobs.heartbeat(claimed, std::chrono::seconds{30});
  });
  CHECK(lease_until_bound - now_bound == 30'000);
  REQUIRE_FALSE(renewed);
  CHECK(renewed.error().kind == errc::invalid_state);
  CHECK(renewed.error().message ==
        "job 5 was claimed again (attempt 2) after this claim (attempt 1); its lease is not "
        "renewed");
}

TEST_CASE("retry_or_fail sends a job back with run_at pushed out by the policy's backoff",
          "[repositories][jobs][retry]") {
  job_mock m;
  const Job claimed{.id = 5, .status = job_status::running, .attempts = 2, .worker_id = "w1"};
  std::int64_t run_at_bound = 0;
  std::int64_t now_bound = 0;
  REQUIRE_CALL(m.session, query(_, _))
      .WITH(_1.name == "retry_or_fail" && sql_has(_1, "status = 'pending'") &&
            param_is(_2, 2, "disk full") && param_is(_2, 3, std::int64_t{5}) &&
            param_is(_2, 4, std::int64_t{2}) && param_is(_2, 5, "w1"))
      .LR_SIDE_EFFECT(run_at_bound = std::get<std::int64_t>(_2[0]))
      .LR_SIDE_EFFECT(now_bound = std::get<std::int64_t>(_2[1]))
      .RETURN(rows_of({job_row(5, "pending", 2)}));
  const job_retry_policy policy{
      .max_attempts = 3,
      .delay = {
          .initial_delay = seconds{1}, .max_delay = seconds{60}, .jitter = jitter_mode::none}};
  auto waiting = job_repository(m.db(), [&](JobRepository& jobs) {
    return jobs.retry_or_fail(claimed, "disk full", policy);
  });
  REQUIRE(waiting);
  CHECK(run_at_bound - now_bound == 2'000);  // the second attempt failed: 1 s doubled
}

// On a Galera node that has not applied a claim yet, the guarded update matches nothing and the
// job reads as it was before the claim: that is a lag to wait out, not a lost claim. Elsewhere a
// unit reads its database as it is, and such a Job was never claimed.
TEST_CASE("an outcome that reads an attempt before its claim's is retried on MariaDB",
          "[repositories][jobs][claim]") {
  const dialect kind = GENERATE(dialect::mariadb, dialect::sqlite);
  INFO(to_string(kind));
  MockSession session;
  const mocked_database database(session, {}, kind);
  ALLOW_CALL(session, kind()).RETURN(kind);
  ALLOW_CALL(session, begin(_)).RETURN(result<void>(success()));
  ALLOW_CALL(session, rollback()).RETURN(result<void>(success()));
  const Job claimed{.id = 5, .status = job_status::running, .attempts = 2, .worker_id = "w1"};
  // The guarded update matches nothing (MariaDB runs it, then reads the row back, when matched).
  ALLOW_CALL(session, execute(_, _)).WITH(_1.name == "finish_job").RETURN(changed(0));
  ALLOW_CALL(session, query(_, _)).WITH(_1.name == "finish_job").RETURN(rows_of({}));
  REQUIRE_CALL(session, query(_, _))
      .WITH(_1.name == "get_job")
      .RETURN(rows_of({job_row(5, "pending", 1)}));
  auto finished = job_repository(
      database.db, {.retry = db_retry{.max_retries = 0}},
      [&](JobRepository& jobs) { return jobs.finish_job(claimed, job_status::succeeded); });
  REQUIRE_FALSE(finished);
  if (kind == dialect::mariadb) {
    CHECK(finished.error().kind == errc::transient);
    CHECK(finished.error().retry == retry_class::retry_transaction);
    CHECK_THAT(finished.error().message, Catch::Contains("has not applied the claim yet"));
  } else {
    CHECK(finished.error().kind == errc::invalid_state);
  }
}

TEST_CASE("retry_or_fail makes a job dead once it has had its attempts",
          "[repositories][jobs][retry]") {
  job_mock m;
  const Job claimed{.id = 5, .status = job_status::running, .attempts = 3, .worker_id = "w1"};
  REQUIRE_CALL(m.session, query(_, _))
      .WITH(_1.name == "finish_job" && sql_has(_1, "status = 'dead'") &&
            param_is(_2, 1, "disk full") && param_is(_2, 2, std::int64_t{5}))
      .RETURN(rows_of({job_row(5, "dead", 3)}));
  auto dead = job_repository(
      m.db(), [&](JobRepository& jobs) { return jobs.retry_or_fail(claimed, "disk full"); });
  REQUIRE(dead);
  CHECK(dead.value().status == job_status::dead);
}

TEST_CASE("a job retry policy out of range is refused before any SQL runs",
          "[repositories][jobs][retry]") {
  job_mock m;  // no query is allowed
  const Job claimed{.id = 5, .status = job_status::running, .attempts = 1, .worker_id = "w1"};
  const std::array<job_retry_policy, 4> bad{{
      {.max_attempts = 0},
      {.delay = {.initial_delay = seconds{-1}}},
      {.delay = {.initial_delay = seconds{10}, .max_delay = seconds{1}}},
      {.delay = {.multiplier = 0.5}},
  }};
  for (const job_retry_policy& policy : bad) {
    auto refused = job_repository(
        m.db(), [&](JobRepository& jobs) { return jobs.retry_or_fail(claimed, "e", policy); });
    REQUIRE_FALSE(refused);
    CHECK(refused.error().kind == errc::invalid_argument);
  }
}
