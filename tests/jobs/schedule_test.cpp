// Periodic jobs against real databases: each occurrence is one job, created once whatever the
// number of schedulers, and never again once it has finished; three scheduler processes racing
// on every occurrence create each exactly once between them.
#include <map>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include "job_support.hpp"

using namespace repokit;
using namespace repokit::jobs_test;
using repokit::testing::test_database;
using std::chrono::milliseconds;

namespace {

result<created_or_existing<Job>> create_occurrence(const Database& db, const periodic_job& schedule,
                                                   timestamp now) {
  return job_repository(db,
                        [&](JobRepository& jobs) { return jobs.create_occurrence(schedule, now); });
}

constexpr query<std::tuple<std::string, std::int64_t>(std::string_view)> occurrences_by_target{
    "occurrences_by_target",
    "SELECT target_id, COUNT(*) FROM jobs WHERE job_type = :job_type GROUP BY target_id"};

// How many jobs each occurrence (target_id) of `job_type` has.
std::map<std::string, std::int64_t> jobs_per_occurrence(const Database& db,
                                                        std::string_view job_type) {
  auto rows = lookup(
      db, [&](Repositories& repos) { return repos.unit.all(occurrences_by_target, job_type); });
  INFO(describe(rows));
  REQUIRE(rows);
  std::map<std::string, std::int64_t> counted;
  for (const auto& [target, jobs] : rows.value()) counted[target] = jobs;
  return counted;
}

}  // namespace

TEST_CASE("a periodic job's occurrence is created once, finished or not; the next one is new",
          "[schedule]") {
  test_database fixture;
  const Database& db = fixture.db();
  const periodic_job nightly{.name = "nightly",
                             .job_type = "sched_once",
                             .interval = std::chrono::hours{24},
                             .priority = 5};
  const timestamp day = occurrence_at(nightly, wall_clock());
  CHECK(day.time_since_epoch() % std::chrono::hours{24} == milliseconds{0});

  auto first = create_occurrence(db, nightly, day + std::chrono::hours{1});
  INFO(describe(first));
  REQUIRE(first);
  CHECK(first.value().created);
  CHECK(first.value().record.target_id ==
        "nightly@" + std::to_string(day.time_since_epoch().count()));
  CHECK(first.value().record.run_at == day);
  CHECK(first.value().record.priority == 5);

  // Later in the same interval, and after the occurrence has finished: the same job.
  auto claimed =
      run_task(db, [](Repositories& repos) { return repos.jobs.claim_next("sched_once", "w1"); });
  REQUIRE(claimed);
  REQUIRE(claimed.value());
  REQUIRE(run_task(db, [&](Repositories& repos) {
    return repos.jobs.finish_job(*claimed.value(), job_status::succeeded);
  }));
  auto again = create_occurrence(db, nightly, day + std::chrono::hours{23});
  REQUIRE(again);
  CHECK_FALSE(again.value().created);
  CHECK(again.value().record.id == first.value().record.id);
  CHECK(again.value().record.status == job_status::succeeded);

  auto next = create_occurrence(db, nightly, day + std::chrono::hours{24});
  REQUIRE(next);
  CHECK(next.value().created);
  CHECK(next.value().record.run_at == day + std::chrono::hours{24});

  CHECK(kind_of(create_occurrence(
            db, {.name = "a@b", .job_type = "sched_once", .interval = std::chrono::hours{1}},
            day)) == errc::invalid_argument);
  CHECK(kind_of(create_occurrence(db, {.name = "zero", .job_type = "sched_once"}, day)) ==
        errc::invalid_argument);
}

TEST_CASE("three scheduler processes create each occurrence of a periodic job exactly once",
          "[schedule][processes]") {
  constexpr std::string_view job_type = "sched_race";
  constexpr milliseconds interval{250};
  constexpr int occurrences = 8;
  test_database fixture;
  std::vector<std::unique_ptr<worker_process>> schedulers;
  for (int n = 0; n < 3; ++n) {
    schedulers.push_back(std::make_unique<worker_process>(
        std::vector<std::string>{"schedule", fixture.url(), std::string(job_type), "tick",
                                 std::to_string(interval.count()), std::to_string(occurrences)}));
    REQUIRE(schedulers.back()->read_line() == "ready");
  }
  for (auto& scheduler : schedulers) scheduler->go();

  std::int64_t created = 0;
  for (auto& scheduler : schedulers) {
    const std::string made = scheduler->read_line();
    const std::string errors = scheduler->read_line();
    INFO(made << ", " << errors);
    REQUIRE(made.starts_with("created "));
    CHECK(errors == "errors 0");
    created += std::stoll(made.substr(8));
    CHECK(exited_cleanly(scheduler->wait()));
  }
  const auto per_occurrence = jobs_per_occurrence(fixture.db(), job_type);
  INFO(per_occurrence.size() << " occurrences");
  CHECK(per_occurrence.size() >= 2);
  for (const auto& [target, jobs] : per_occurrence) {
    INFO(target);
    CHECK(target.starts_with("tick@"));
    CHECK(jobs == 1);
  }
  // Each occurrence was created by one process; the others found it.
  CHECK(created == static_cast<std::int64_t>(per_occurrence.size()));
}
