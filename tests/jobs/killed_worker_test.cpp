// A worker process (or a worker runtime) killed (SIGKILL) while it works on a claimed job: its
// heartbeats stop, and once the lease has run out the job is taken over by the next claim, or
// reconcile_stale gives it back (or fails it for good once out of attempts); another worker then
// finishes it, and the dead worker's claim can no longer record an outcome.
#include <condition_variable>
#include <csignal>
#include <mutex>
#include <string>
#include <thread>

#include "job_support.hpp"

using namespace repokit;
using namespace repokit::jobs_test;
using repokit::testing::test_database;

namespace {

constexpr std::string_view job_type = "killable";
// The hung worker's lease: renewed while it lives, run out soon after it is killed.
constexpr std::chrono::milliseconds hung_lease{300};

bool killed_by_sigkill(int status) {
  return status >= 0 && WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
}

// Runs a job_worker `mode` (claim-and-hang or run-and-hang) named `name` until it works on
// `expected`, then kills it: the job is left running under a worker that is gone. Answers the
// job as the dead worker left it, once its lease has run out.
Job kill_while_working(const test_database& fixture, std::int64_t expected, std::string mode,
                       const std::string& name) {
  worker_process hung({std::move(mode), fixture.url(), std::string(job_type), name,
                       std::to_string(hung_lease.count())});
  const std::string line = hung.read_line();
  INFO("claim-and-hang printed '" << line << "'");
  REQUIRE(line == std::to_string(expected));
  hung.kill();
  const int status = hung.wait();
  INFO("exit status " << status);
  REQUIRE(killed_by_sigkill(status));
  // A heartbeat whose COMMIT the server was still finishing may renew the lease once more after
  // the kill: read the job again until the lease it shows has run out.
  for (;;) {
    auto left = read_job(fixture.db(), expected);
    INFO(describe(left));
    REQUIRE(left);
    REQUIRE(left.value().lease_expires_at.has_value());
    const timestamp expiry = *left.value().lease_expires_at;
    if (wall_clock() > expiry) return left.value();
    wait_until_past(expiry);
  }
}

Job claim_and_kill(const test_database& fixture, std::int64_t expected,
                   const std::string& worker_id) {
  return kill_while_working(fixture, expected, "claim-and-hang", worker_id);
}

// Another worker works on the next job, which must be the dead worker's job `id`, on its second
// attempt. Answers the job as it finished.
Job rescue(const Database& db, std::int64_t id) {
  int worked = 0;
  auto finished = work_on_next_job(db, job_type, "rescuer", [&](const Job& job) {
    if (job.id == id) ++worked;
  });
  INFO(describe(finished));
  REQUIRE(finished);
  REQUIRE(finished.value());
  CHECK(worked == 1);
  CHECK(finished.value()->id == id);
  CHECK(finished.value()->status == job_status::succeeded);
  CHECK(finished.value()->attempts == 2);
  CHECK(finished.value()->worker_id == "rescuer");
  return *finished.value();
}

// The dead worker's claim no longer applies: its outcome is refused and changes nothing.
void check_late_outcome_refused(const Database& db, const Job& abandoned, const Job& finished) {
  auto late = run_task(db, [&](Repositories& repos) {
    return repos.jobs.finish_job(abandoned, job_status::failed, "late outcome of a dead worker");
  });
  INFO(describe(late));
  CHECK(kind_of(late) == errc::invalid_state);
  CHECK(read_job(db, abandoned.id).value() == finished);
}

result<reconcile_report> reconcile(const Database& db, std::chrono::milliseconds older_than,
                                   std::int64_t max_attempts = 3) {
  return run_task(db, [&](Repositories& repos) {
    return repos.jobs.reconcile_stale(older_than, max_attempts);
  });
}

}  // namespace

TEST_CASE("a killed worker's job is requeued by reconcile_stale and finished by another worker",
          "[claim]") {
  test_database fixture;
  const Database& db = fixture.db();
  const std::int64_t id = seed_jobs(db, job_type, 1).front();

  const Job abandoned = claim_and_kill(fixture, id, "doomed-worker");
  CHECK(abandoned.status == job_status::running);
  CHECK(abandoned.attempts == 1);
  CHECK(abandoned.worker_id == "doomed-worker");

  auto report = reconcile(db, std::chrono::milliseconds{0});
  INFO(describe(report));
  REQUIRE(report);
  CHECK(report.value().requeued == 1);
  CHECK(report.value().dead == 0);

  const Job requeued = read_job(db, id).value();
  CHECK(requeued.status == job_status::pending);
  CHECK(requeued.attempts == 1);
  CHECK(requeued.worker_id == std::nullopt);
  CHECK(requeued.last_error.value_or("").find("stale") != std::string::npos);

  const Job finished = rescue(db, id);
  CHECK(read_job(db, id).value() == finished);
  check_late_outcome_refused(db, abandoned, finished);
  CHECK(db.pool().in_use == 0);
}

TEST_CASE("a killed worker's job is taken over by the next claim once its lease runs out",
          "[claim]") {
  test_database fixture;
  const Database& db = fixture.db();
  const std::int64_t id = seed_jobs(db, job_type, 1).front();

  const Job abandoned = claim_and_kill(fixture, id, "doomed-worker");
  REQUIRE(abandoned.attempts == 1);

  // No reconcile_stale: the expired lease is all the next claim needs.
  const Job finished = rescue(db, id);
  CHECK(finished.lease_expires_at == std::nullopt);
  check_late_outcome_refused(db, abandoned, finished);
  CHECK(count_jobs(db, job_type) == 1);
  CHECK(count_jobs(db, job_type, job_status::succeeded) == 1);
  CHECK(db.pool().in_use == 0);
}

TEST_CASE("reconcile_stale makes a killed worker's job dead once it is out of attempts",
          "[claim]") {
  test_database fixture;
  const Database& db = fixture.db();
  const std::int64_t id = seed_jobs(db, job_type, 1).front();

  const Job abandoned = claim_and_kill(fixture, id, "doomed-worker");
  REQUIRE(abandoned.status == job_status::running);
  REQUIRE(abandoned.attempts == 1);

  auto report = reconcile(db, std::chrono::milliseconds{0}, 1);
  INFO(describe(report));
  REQUIRE(report);
  CHECK(report.value().requeued == 0);
  CHECK(report.value().dead == 1);

  const Job dead = read_job(db, id).value();
  CHECK(dead.status == job_status::dead);
  CHECK(dead.attempts == 1);
  CHECK(dead.finished_at.has_value());
  CHECK(dead.last_error.value_or("").find("stale") != std::string::npos);

  // Dead: nothing is left to claim, and reconciling again changes nothing.
  auto next = work_on_next_job(db, job_type, "rescuer", [](const Job&) {});
  INFO(describe(next));
  REQUIRE(next);
  CHECK_FALSE(next.value().has_value());
  auto again = reconcile(db, std::chrono::milliseconds{0}, 1);
  REQUIRE(again);
  CHECK(again.value().requeued == 0);
  CHECK(again.value().dead == 0);
  CHECK(read_job(db, id).value() == dead);
}

TEST_CASE("a superseded claim cannot finish a job that was claimed again", "[claim]") {
  test_database fixture;
  const Database& db = fixture.db();
  const std::int64_t id = seed_jobs(db, job_type, 1).front();

  // The worker restarts under the same id: only the attempt number tells its claims apart.
  const Job first = claim_and_kill(fixture, id, "restarting-worker");
  REQUIRE(first.attempts == 1);
  auto report = reconcile(db, std::chrono::milliseconds{0});
  REQUIRE(report);
  REQUIRE(report.value().requeued == 1);

  auto reclaimed = run_task(db, [&](Repositories& repos) {
    return repos.jobs.claim_next(job_type, "restarting-worker");
  });
  INFO(describe(reclaimed));
  REQUIRE(reclaimed);
  REQUIRE(reclaimed.value());
  const Job second = *reclaimed.value();
  CHECK(second.id == id);
  CHECK(second.attempts == 2);

  for (const job_status outcome :
       {job_status::succeeded, job_status::failed, job_status::pending}) {
    auto refused = run_task(db, [&](Repositories& repos) {
      return repos.jobs.finish_job(first, outcome, "outcome of the superseded claim");
    });
    INFO("finish_job(first claim, " << to_string(outcome) << "): " << describe(refused));
    CHECK(kind_of(refused) == errc::invalid_state);
    CHECK(read_job(db, id).value() == second);
  }

  auto accepted = run_task(db, [&](Repositories& repos) {
    return repos.jobs.finish_job(second, job_status::succeeded);
  });
  INFO(describe(accepted));
  REQUIRE(accepted);
  CHECK(accepted.value().status == job_status::succeeded);
  CHECK(accepted.value().attempts == 2);
  CHECK(db.pool().in_use == 0);
}

TEST_CASE("a killed worker runtime's job is rescued by another runtime and succeeds once",
          "[claim][runtime]") {
  test_database fixture;
  const Database& db = fixture.db();
  const std::int64_t id = seed_jobs(db, job_type, 1).front();

  const Job abandoned = kill_while_working(fixture, id, "run-and-hang", "doomed");
  CHECK(abandoned.status == job_status::running);
  CHECK(abandoned.attempts == 1);
  CHECK(abandoned.worker_id == "doomed/" + std::string(job_type) + "/0");

  std::mutex mutex;
  std::condition_variable ran;
  int runs = 0;
  worker_runtime rescuer(db, {.name = "rescuer"});
  REQUIRE(rescuer.handle(job_type, [&](const Job& job) {
    const std::lock_guard lock(mutex);
    runs += job.id == id ? 1 : 0;
    ran.notify_all();
  }));
  REQUIRE(rescuer.start());
  {
    std::unique_lock lock(mutex);
    ran.wait(lock, [&] { return runs > 0; });
  }
  rescuer.stop(std::chrono::seconds{30});  // waits for the outcome to be recorded

  const Job finished = read_job(db, id).value();
  CHECK(runs == 1);
  CHECK(finished.status == job_status::succeeded);
  CHECK(finished.attempts == 2);
  CHECK(finished.worker_id == "rescuer/" + std::string(job_type) + "/0");
  CHECK(rescuer.counters().rescued == 1);
  check_late_outcome_refused(db, abandoned, finished);
}
