// The jobs' metrics against real databases: the queue's depth by type and status, and what a
// worker runtime measured (add-to-start and run times by type, heartbeats, deaths), as metric
// families and in the Prometheus text.
#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <span>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "job_support.hpp"

using namespace repokit;
using namespace repokit::jobs_test;
using repokit::testing::test_database;
using std::chrono::milliseconds;

namespace {

std::vector<queue_depth> depths_of(const Database& db,
                                   std::span<const job_status> statuses = queued_job_statuses) {
  auto counted = queue_depths(db, statuses);
  INFO(describe(counted));
  REQUIRE(counted);
  return counted.value();
}

const metric_family& family_named(const std::vector<metric_family>& families,
                                  std::string_view name) {
  for (const metric_family& family : families) {
    if (family.name == name) return family;
  }
  FAIL("no family " << name);
  throw std::logic_error("unreachable");
}

}  // namespace

TEST_CASE("queue_depths counts the jobs of each type in each status asked", "[metrics]") {
  test_database fixture;
  const Database& db = fixture.db();
  CHECK(depths_of(db).empty());

  seed_jobs(db, "q_mail", 3);
  const std::int64_t doomed = seed_jobs(db, "q_video", 2).front();
  auto running = run_task(db, [](Repositories& repos) {
    return repos.jobs.claim_next("q_mail", "w1");  // one mail job running
  });
  INFO(describe(running));
  REQUIRE(running);
  REQUIRE(running.value());
  auto dead = job_repository(db, [&](JobRepository& jobs) -> result<Job> {
    REPOKIT_TRY(auto claimed, jobs.claim_next("q_video", "w2"));
    if (!claimed || claimed->id != doomed) return failure(errc::not_found, "not the first job");
    return jobs.retry_or_fail(*claimed, "broken input", {.max_attempts = 1});
  });
  INFO(describe(dead));
  REQUIRE(dead);
  REQUIRE(dead.value().status == job_status::dead);

  CHECK(depths_of(db) == std::vector<queue_depth>{{"q_mail", job_status::pending, 2},
                                                  {"q_mail", job_status::running, 1},
                                                  {"q_video", job_status::dead, 1},
                                                  {"q_video", job_status::pending, 1}});
  const std::array only_pending{job_status::pending};
  CHECK(depths_of(db, only_pending) ==
        std::vector<queue_depth>{{"q_mail", job_status::pending, 2},
                                 {"q_video", job_status::pending, 1}});
  auto none = queue_depths(db, std::span<const job_status>{});
  CHECK(kind_of(none) == errc::invalid_argument);
}

TEST_CASE("the runtime measures add-to-start and run times by type, heartbeats and deaths",
          "[metrics][runtime]") {
  test_database fixture({.pool_size = 6});
  const Database& db = fixture.db();
  seed_jobs(db, "m_ok", 5);
  seed_jobs(db, "m_doomed", 1);

  std::mutex mutex;
  std::condition_variable changed;
  int finished = 0;
  const auto done = [&] {
    const std::lock_guard lock(mutex);
    ++finished;
    changed.notify_all();
  };
  worker_runtime runtime(
      db, {.name = "metrics", .idle_poll_min = milliseconds{5}, .idle_poll_max = milliseconds{50}});
  std::atomic<bool> first{true};
  REQUIRE(runtime.handle("m_ok",
                         [&](const Job&) {
                           // The first job waits for a heartbeat on its short lease; the others
                           // return at once.
                           if (first.exchange(false)) {
                             while (runtime.counters().heartbeats == 0) std::this_thread::yield();
                           }
                           done();
                         },
                         {.claim = {.lease = milliseconds{300}}}));
  REQUIRE(runtime.handle("m_doomed",
                         [&](const Job&) -> result<void> {
                           done();
                           return failure(errc::invalid_argument, "never works");
                         },
                         {.retry = job_retry_policy{.max_attempts = 1}}));
  REQUIRE(runtime.start());
  {
    std::unique_lock lock(mutex);
    changed.wait(lock, [&] { return finished == 6; });
  }
  runtime.stop(std::chrono::seconds{30});  // waits for the outcomes to be recorded

  const runtime_metrics measured = runtime.metrics();
  CHECK(measured.counters.claimed == 6);
  CHECK(measured.counters.succeeded == 5);
  CHECK(measured.counters.dead == 1);
  CHECK(measured.counters.heartbeats >= 1);
  REQUIRE(measured.types.size() == 2);
  CHECK(measured.types[0].job_type == "m_ok");
  CHECK(measured.types[0].add_to_start.count == 5);
  CHECK(measured.types[0].run_time.count == 5);
  CHECK(measured.types[0].run_time.sum_seconds > 0);
  CHECK(measured.types[1].job_type == "m_doomed");
  CHECK(measured.types[1].add_to_start.count == 1);
  CHECK(measured.types[1].run_time.count == 1);

  const auto families = job_metric_families(measured, depths_of(db));
  CHECK(family_named(families, "repokit_jobs_dead_total").samples.at(0).value == 1);
  CHECK(family_named(families, "repokit_jobs_heartbeats_total").samples.at(0).value ==
        measured.counters.heartbeats);
  const metric_family& queued = family_named(families, "repokit_jobs_queued");
  REQUIRE(queued.samples.size() == 1);  // nothing pending or running is left
  CHECK(queued.samples[0].value == 1);
  const std::string text = to_prometheus(families);
  CHECK_THAT(text, Catch::Contains("repokit_jobs_dead_total 1\n"));
  CHECK_THAT(text, Catch::Contains("repokit_jobs_run_seconds_count{job_type=\"m_ok\"} 5\n"));
  CHECK_THAT(text,
             Catch::Contains("repokit_jobs_add_to_start_seconds_count{job_type=\"m_doomed\"} 1\n"));
  CHECK_THAT(text,
             Catch::Contains("repokit_jobs_queued{job_type=\"m_doomed\",status=\"dead\"} 1\n"));
}
