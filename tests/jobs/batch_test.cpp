// Batches of jobs: create_all_if_not_exists creates each new (type, target) once and answers the
// active ones in the order asked; a bad job refuses the whole batch; concurrent overlapping
// batches create each pair once; enqueue_all resolves a COMMIT in doubt.
#include <algorithm>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "job_support.hpp"
#include "repokit/testing/fault_injecting_session.hpp"

using namespace repokit;
using namespace repokit::jobs_test;
using repokit::testing::fault;
using repokit::testing::test_database;

namespace {

result<std::vector<created_or_existing<Job>>> create_all(const Database& db,
                                                         std::span<const new_job> jobs) {
  return job_repository(db,
                        [&](JobRepository& repo) { return repo.create_all_if_not_exists(jobs); });
}

}  // namespace

TEST_CASE("a batch creates each new pair once and answers the active jobs, in the order asked",
          "[batch]") {
  constexpr std::string_view type = "batch_order";
  test_database fixture;
  const Database& db = fixture.db();
  const auto finished = enqueue(db, {.job_type = type, .target_id = "B"});
  REQUIRE(finished);
  REQUIRE(run_task(db, [&](Repositories& repos) -> result<void> {
    REPOKIT_TRY(auto claimed, repos.jobs.claim_next(type, "w"));
    REPOKIT_TRYV(repos.jobs.finish_job(claimed.value(), job_status::succeeded));
    return success();
  }));
  const auto active = enqueue(db, {.job_type = type, .target_id = "A"});
  REQUIRE(active);
  const timestamp later = wall_clock() + std::chrono::hours{1};

  const std::vector<new_job> batch{
      {.job_type = type, .target_id = "A"},
      {.job_type = type, .target_id = "C", .parameters = R"({"c":1})"},
      {.job_type = type, .target_id = "C", .parameters = R"({"c":2})"},
      {.job_type = type, .target_id = "B"},
      {.job_type = type, .target_id = "D", .schedule = {.run_at = later, .priority = 5}},
  };
  auto made = create_all(db, batch);
  INFO(describe(made));
  REQUIRE(made);
  const auto& jobs = made.value();
  REQUIRE(jobs.size() == 5);
  CHECK_FALSE(jobs[0].created);
  CHECK(jobs[0].record.id == active.value().record.id);
  CHECK(jobs[1].created);
  CHECK(jobs[1].record.parameters == R"({"c":1})");
  CHECK_FALSE(jobs[2].created);  // named twice: the first one's job
  CHECK(jobs[2].record.id == jobs[1].record.id);
  CHECK(jobs[3].created);  // the earlier B finished: no longer active
  CHECK(jobs[3].record.id != finished.value().record.id);
  CHECK(jobs[4].created);
  CHECK(jobs[4].record.run_at == later);
  CHECK(jobs[4].record.priority == 5);
  for (const auto& job : jobs) {
    CHECK(job.record.job_type == type);
    CHECK(job.record.status == job_status::pending);
  }
  CHECK(count_jobs(db, type) == 5);  // A, B finished, B, C, D
}

TEST_CASE("a batch with a bad job is refused whole, naming it; a failed unit leaves nothing",
          "[batch]") {
  constexpr std::string_view type = "batch_refused";
  test_database fixture;
  const Database& db = fixture.db();
  const std::vector<new_job> bad{{.job_type = type, .target_id = "ok"},
                                 {.job_type = type, .target_id = ""}};
  auto refused = create_all(db, bad);
  CHECK(kind_of(refused) == errc::invalid_argument);
  CHECK_THAT(describe(refused), Catch::Contains("job 1 of the batch"));
  CHECK(kind_of(create_all(db, {})) == errc::invalid_argument);
  const std::vector<new_job> too_many(max_job_batch + 1, {.job_type = type, .target_id = "x"});
  CHECK(kind_of(create_all(db, too_many)) == errc::invalid_argument);

  const std::vector<new_job> good{{.job_type = type, .target_id = "a"},
                                  {.job_type = type, .target_id = "b"}};
  auto rolled_back = job_repository(db, [&](JobRepository& repo) -> result<void> {
    REPOKIT_TRYV(repo.create_all_if_not_exists(good));
    return failure(errc::invalid_state, "the rest of the unit failed");
  });
  CHECK(kind_of(rolled_back) == errc::invalid_state);
  CHECK(count_jobs(db, type) == 0);
}

TEST_CASE("concurrent overlapping batches create each pair once", "[batch]") {
  constexpr std::string_view type = "batch_race";
  constexpr int targets = 300;
  constexpr int threads = 4;
  constexpr std::size_t batch_size = 50;
  test_database fixture({.pool_size = threads, .retry = patient_retry()});
  const Database& db = fixture.db();
  std::vector<std::string> names(targets);
  for (int i = 0; i < targets; ++i) names[static_cast<std::size_t>(i)] = "T" + std::to_string(i);

  // Each thread enqueues every target, in its own order, in batches; created flags per thread.
  std::vector<std::vector<created_or_existing<Job>>> answers(threads);
  std::vector<std::string> failures(threads);
  std::vector<std::thread> running;
  for (int t = 0; t < threads; ++t) {
    running.emplace_back([&, t] {
      std::vector<std::string> order = names;
      std::shuffle(order.begin(), order.end(), std::minstd_rand(static_cast<unsigned>(t + 1)));
      for (std::size_t first = 0; first < order.size(); first += batch_size) {
        std::vector<new_job> batch;
        for (std::size_t i = first; i < std::min(order.size(), first + batch_size); ++i) {
          batch.push_back({.job_type = type, .target_id = order[i]});
        }
        auto made = enqueue_all(db, batch);
        if (!made) {
          failures[static_cast<std::size_t>(t)] = describe(made);
          return;
        }
        auto& mine = answers[static_cast<std::size_t>(t)];
        mine.insert(mine.end(), made.value().begin(), made.value().end());
      }
    });
  }
  for (std::thread& thread : running) thread.join();

  for (const std::string& failure : failures) CHECK(failure.empty());
  std::set<std::int64_t> created_ids;
  std::map<std::string, std::set<std::int64_t>> ids_per_target;
  for (const auto& mine : answers) {
    CHECK(mine.size() == static_cast<std::size_t>(targets));
    for (const auto& job : mine) {
      if (job.created) CHECK(created_ids.insert(job.record.id).second);  // created once
      ids_per_target[job.record.target_id].insert(job.record.id);
    }
  }
  CHECK(created_ids.size() == static_cast<std::size_t>(targets));
  CHECK(ids_per_target.size() == static_cast<std::size_t>(targets));
  for (const auto& [target, ids] : ids_per_target) {
    INFO(target);
    CHECK(ids.size() == 1);  // every thread got the same job
  }
  CHECK(count_jobs(db, type) == targets);
}

TEST_CASE("enqueue_all: a batch whose COMMIT landed unseen is read back, else made again",
          "[batch]") {
  const auto faults = std::make_shared<testing::fault_injector>();
  test_database fixture({.pool_size = 2, .wrap_session = testing::inject(faults)});
  const Database& db = fixture.db();
  const fault kind = GENERATE(fault::in_doubt_commit, fault::in_doubt_abort);
  const std::string type = kind == fault::in_doubt_commit ? "batch_landed" : "batch_lost";
  const std::vector<new_job> batch{{.job_type = type, .target_id = "a"},
                                   {.job_type = type, .target_id = "b"}};
  faults->fail_next(kind);

  auto made = enqueue_all(db, batch);
  INFO(describe(made));
  REQUIRE(made);
  REQUIRE(made.value().size() == 2);
  // Made again after a landed COMMIT, the batch would find its jobs: not created.
  CHECK(made.value()[0].created);
  CHECK(made.value()[1].created);
  CHECK(faults->in_doubt() == 1);
  CHECK(count_jobs(db, type) == 2);
}
