// create_if_not_exists: which existing job answers instead of a new one, with the default
// (active) statuses and with finished ones added, and job_exists agreeing with it.
#include <array>
#include <atomic>
#include <chrono>
#include <future>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "job_support.hpp"

using namespace repokit;
using namespace repokit::jobs_test;
using repokit::testing::test_database;

namespace {

constexpr std::array<job_status, 3> active_or_succeeded{job_status::pending, job_status::running,
                                                        job_status::succeeded};
constexpr std::array<job_status, 1> only_succeeded{job_status::succeeded};

result<created_or_existing<Job>> create(
    const Database& db, std::string_view job_type, std::string_view target,
    std::span<const job_status> statuses = active_job_statuses) {
  return job_repository(db, [&](JobRepository& jobs) {
    return jobs.create_if_not_exists(job_type, target, "{\"k\":1}", statuses);
  });
}

bool exists(const Database& db, std::string_view job_type, std::string_view target,
            std::span<const job_status> statuses = active_job_statuses) {
  return lookup(
             db,
             [&](Repositories& repos) { return repos.jobs.job_exists(job_type, target, statuses); })
      .value();
}

// Claims the next job of `job_type` and records `outcome` for it; answers the finished job.
Job run_to(const Database& db, std::string_view job_type, job_status outcome) {
  auto claimed = run_task(
      db, [&](Repositories& repos) { return repos.jobs.claim_next(job_type, "test-worker"); });
  INFO(describe(claimed));
  REQUIRE(claimed);
  REQUIRE(claimed.value());
  auto finished = run_task(db, [&](Repositories& repos) {
    return repos.jobs.finish_job(*claimed.value(), outcome, "finished by the test");
  });
  INFO(describe(finished));
  REQUIRE(finished);
  REQUIRE(finished.value().status == outcome);
  return finished.value();
}

}  // namespace

TEST_CASE("create_if_not_exists with the default statuses: one job while active, a new one after",
          "[create]") {
  test_database fixture;
  const Database& db = fixture.db();
  constexpr std::string_view type = "video_process";

  auto first = create(db, type, "V1");
  INFO(describe(first));
  REQUIRE(first);
  CHECK(first.value().created);
  CHECK(first.value().record.status == job_status::pending);
  CHECK(first.value().record.parameters == "{\"k\":1}");
  CHECK(exists(db, type, "V1"));
  CHECK_FALSE(exists(db, type, "V2"));

  auto second = create(db, type, "V1");
  INFO(describe(second));
  REQUIRE(second);
  CHECK_FALSE(second.value().created);
  CHECK(second.value().record == first.value().record);

  // Running is active too.
  auto claimed =
      run_task(db, [&](Repositories& repos) { return repos.jobs.claim_next(type, "w"); });
  REQUIRE(claimed);
  REQUIRE(claimed.value());
  auto while_running = create(db, type, "V1");
  REQUIRE(while_running);
  CHECK_FALSE(while_running.value().created);
  CHECK(while_running.value().record.id == first.value().record.id);
  CHECK(while_running.value().record.status == job_status::running);
  auto succeeded = run_task(db, [&](Repositories& repos) {
    return repos.jobs.finish_job(*claimed.value(), job_status::succeeded);
  });
  REQUIRE(succeeded);

  // Finished: no longer active, so the next call creates a new job.
  CHECK_FALSE(exists(db, type, "V1"));
  CHECK(exists(db, type, "V1", only_succeeded));
  auto third = create(db, type, "V1");
  INFO(describe(third));
  REQUIRE(third);
  CHECK(third.value().created);
  CHECK(third.value().record.id != first.value().record.id);
  CHECK(third.value().record.status == job_status::pending);
  CHECK(exists(db, type, "V1"));

  auto fourth = create(db, type, "V1");
  REQUIRE(fourth);
  CHECK_FALSE(fourth.value().created);
  CHECK(fourth.value().record.id == third.value().record.id);
  CHECK(count_jobs(db, type) == 2);

  // The same after a failure.
  const Job failed = run_to(db, type, job_status::failed);
  CHECK(failed.id == third.value().record.id);
  auto after_failure = create(db, type, "V1");
  REQUIRE(after_failure);
  CHECK(after_failure.value().created);
  CHECK(count_jobs(db, type) == 3);
  CHECK(count_jobs(db, type, job_status::pending) == 1);
}

TEST_CASE("create_if_not_exists with succeeded among the statuses: a succeeded job answers",
          "[create]") {
  test_database fixture;
  const Database& db = fixture.db();
  constexpr std::string_view type = "render_once";

  auto first = create(db, type, "V1", active_or_succeeded);
  INFO(describe(first));
  REQUIRE(first);
  CHECK(first.value().created);
  auto second = create(db, type, "V1", active_or_succeeded);
  REQUIRE(second);
  CHECK_FALSE(second.value().created);
  CHECK(second.value().record.id == first.value().record.id);

  const Job done = run_to(db, type, job_status::succeeded);
  REQUIRE(done.id == first.value().record.id);

  auto after_success = create(db, type, "V1", active_or_succeeded);
  INFO(describe(after_success));
  REQUIRE(after_success);
  CHECK_FALSE(after_success.value().created);
  CHECK(after_success.value().record == done);
  CHECK(count_jobs(db, type) == 1);
  CHECK(exists(db, type, "V1", active_or_succeeded));
  CHECK_FALSE(exists(db, type, "V1"));  // job_exists with the default statuses: nothing active

  // With the default statuses the same target gets a new job, which then answers both ways.
  auto fresh = create(db, type, "V1");
  REQUIRE(fresh);
  CHECK(fresh.value().created);
  auto answered = create(db, type, "V1", active_or_succeeded);
  REQUIRE(answered);
  CHECK_FALSE(answered.value().created);
  CHECK(answered.value().record.id == fresh.value().record.id);  // the newest job answers
  CHECK(count_jobs(db, type) == 2);
}

TEST_CASE("create_if_not_exists never makes a second active job, whatever statuses it is asked",
          "[create]") {
  test_database fixture;
  const Database& db = fixture.db();
  constexpr std::string_view type = "transcode";

  auto active = create(db, type, "V1");
  REQUIRE(active);
  REQUIRE(active.value().created);

  // Asked only about succeeded jobs, of which there are none: the active job still answers.
  auto asked_succeeded = create(db, type, "V1", only_succeeded);
  INFO(describe(asked_succeeded));
  REQUIRE(asked_succeeded);
  CHECK_FALSE(asked_succeeded.value().created);
  CHECK(asked_succeeded.value().record.id == active.value().record.id);
  CHECK(count_jobs(db, type) == 1);
  CHECK_FALSE(exists(db, type, "V1", only_succeeded));
}

TEST_CASE("create_if_not_exists with succeeded among the statuses, raced by threads", "[create]") {
  constexpr int thread_count = 8;
  constexpr int targets = 10;
  constexpr int calls_per_target = 10;  // per thread
  test_database fixture({.pool_size = thread_count, .retry = patient_retry()});
  const Database& db = fixture.db();
  constexpr std::string_view type = "render_once";

  // Targets 0..4 already have a succeeded job; 5..9 have none.
  std::map<int, std::int64_t> succeeded_ids;
  for (int target = 0; target < targets / 2; ++target) {
    auto made = create(db, type, "V" + std::to_string(target));
    REQUIRE(made);
    succeeded_ids[target] = run_to(db, type, job_status::succeeded).id;
  }

  std::mutex mutex;
  std::vector<std::string> failures;
  std::map<int, std::set<std::int64_t>> answered;
  int created = 0;
  std::vector<std::thread> threads;
  for (int t = 0; t < thread_count; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < targets * calls_per_target; ++i) {
        const int target = (i + t) % targets;
        auto answer = create(db, type, "V" + std::to_string(target), active_or_succeeded);
        std::lock_guard lock(mutex);
        if (!answer) {
          failures.push_back(answer.error().describe());
          continue;
        }
        if (answer.value().created) ++created;
        answered[target].insert(answer.value().record.id);
      }
    });
  }
  for (std::thread& thread : threads) thread.join();

  CHECK(failures == std::vector<std::string>{});
  CHECK(created == targets / 2);  // one for each target without a succeeded job
  for (int target = 0; target < targets; ++target) {
    INFO("target V" << target);
    CHECK(answered[target].size() == 1);
    if (succeeded_ids.contains(target)) {
      CHECK(answered[target] == std::set<std::int64_t>{succeeded_ids[target]});
    }
  }
  CHECK(count_jobs(db, type) == targets);
  CHECK(db.pool().in_use == 0);
}

// Asked only about succeeded jobs while the active job is finishing: at every moment there is
// either the running job (which answers: a job stays unique while active) or the succeeded one
// (which answers: it is asked for), so no serial order of the two units creates a job.
TEST_CASE("create_if_not_exists never creates while the job it would answer with is succeeding",
          "[create]") {
  // Its own application name, to tell its sessions from any other program's on the server.
  test_database fixture(
      {.pool_size = 4, .application_name = repokit::testing::unique_name("repokit_jobs_")});
  const Database& db = fixture.db();
  constexpr std::string_view type = "publish";

  auto made = create(db, type, "V1");
  REQUIRE(made);
  auto claimed =
      run_task(db, [&](Repositories& repos) { return repos.jobs.claim_next(type, "w"); });
  REQUIRE(claimed);
  REQUIRE(claimed.value());
  const Job running = *claimed.value();

  // The finishing worker: marks the job succeeded and holds its transaction open until released.
  std::promise<void> finished_uncommitted;
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  std::optional<result<Job>> finished;
  std::thread finisher([&] {
    finished = run_task(db, [&](Repositories& repos) -> result<Job> {
      auto outcome = repos.jobs.finish_job(running, job_status::succeeded);
      finished_uncommitted.set_value();
      released.wait();
      return outcome;
    });
  });
  finished_uncommitted.get_future().wait();

  std::optional<result<created_or_existing<Job>>> answer;
  std::atomic<bool> creator_done{false};
  const std::uint64_t retries_before = db.metrics().retries_total();
  std::thread creator([&] {
    answer = create(db, type, "V1", only_succeeded);
    creator_done = true;
  });
  // The creator must meet the finisher's open transaction: on PostgreSQL and MariaDB it waits for
  // the finisher's row, on SQLite for its write lock. Only then is the finisher released.
  const bool saw_blocked = wait_until_blocked(db, creator_done, retries_before);
  release.set_value();
  finisher.join();
  creator.join();

  CHECK(saw_blocked);
  REQUIRE(finished.has_value());
  INFO("finisher: " << describe(*finished));
  CHECK(*finished);
  REQUIRE(answer.has_value());
  INFO(describe(*answer));
  REQUIRE(*answer);
  CHECK_FALSE(answer->value().created);
  CHECK(answer->value().record.id == running.id);
  CHECK(answer->value().record.status == job_status::succeeded);
  CHECK(count_jobs(db, type) == 1);
}
