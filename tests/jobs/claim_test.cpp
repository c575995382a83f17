// Workers claiming from one queue, as threads of one process and as processes of their own:
// every job is processed exactly once, succeeds on its first attempt, and every connection comes
// back to its pool.
#include <atomic>
#include <latch>
#include <map>
#include <memory>
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

constexpr std::array id_and_worker_columns{column_type::integer, column_type::text};
constexpr statement workers_of_jobs{
    "workers_of_jobs", "SELECT id, COALESCE(worker_id, '') FROM jobs WHERE job_type = :p1",
    statement_kind::read, id_and_worker_columns};

// Every job of `job_type` and the worker recorded on it.
std::map<std::int64_t, std::string> workers_by_job(const Database& db, std::string_view job_type) {
  return lookup(db,
                [&](Repositories& repos) -> result<std::map<std::int64_t, std::string>> {
                  const std::array<param, 1> params{job_type};
                  REPOKIT_TRY(auto rows, repos.unit.query(workers_of_jobs, params));
                  std::map<std::int64_t, std::string> found;
                  for (const row& r : rows) found.emplace(r.integer(0), r.text(1));
                  return found;
                })
      .value();
}

struct thread_record {
  std::vector<std::int64_t> worked;  // ids handed to work()
  std::vector<Job> finished;         // what work_on_next_job answered
  std::vector<std::string> failures;
  int work_inside_a_unit = 0;  // work() called while this thread had a unit open
};

}  // namespace

TEST_CASE("four threads claiming 2000 jobs process each exactly once", "[claim]") {
  constexpr int job_count = 2000;
  constexpr int thread_count = 4;
  constexpr std::string_view job_type = "claim_threads";
  test_database fixture({.pool_size = 8, .retry = patient_retry()});
  const Database& db = fixture.db();
  const std::vector<std::int64_t> seeded = seed_jobs(db, job_type, job_count);
  REQUIRE(seeded.size() == static_cast<std::size_t>(job_count));
  REQUIRE(count_jobs(db, job_type, job_status::pending) == job_count);

  std::vector<thread_record> records(thread_count);
  std::vector<std::thread> threads;
  for (int t = 0; t < thread_count; ++t) {
    threads.emplace_back([&db, &record = records[static_cast<std::size_t>(t)], t, job_type] {
      const std::string worker = "worker-" + std::to_string(t);
      for (;;) {
        auto finished = work_on_next_job(db, job_type, worker, [&record](const Job& job) {
          if (UnitOfWork::open_on_this_thread()) ++record.work_inside_a_unit;
          record.worked.push_back(job.id);
        });
        if (!finished) {
          record.failures.push_back(finished.error().describe());
          return;
        }
        if (!finished.value()) return;  // the queue is empty
        record.finished.push_back(*finished.value());
      }
    });
  }
  for (std::thread& thread : threads) thread.join();

  std::multiset<std::int64_t> worked;
  std::set<std::int64_t> finished_ids;
  std::size_t finished_count = 0;
  for (int t = 0; t < thread_count; ++t) {
    const thread_record& record = records[static_cast<std::size_t>(t)];
    INFO("thread " << t << " worked " << record.worked.size() << " jobs");
    CHECK(record.failures == std::vector<std::string>{});
    CHECK(record.work_inside_a_unit == 0);
    CHECK(record.worked.size() == record.finished.size());
    worked.insert(record.worked.begin(), record.worked.end());
    for (const Job& job : record.finished) {
      finished_ids.insert(job.id);
      ++finished_count;
      if (job.status != job_status::succeeded || job.attempts != 1 ||
          job.worker_id != "worker-" + std::to_string(t)) {
        FAIL_CHECK("job " << job.id << " finished by thread " << t << " as "
                          << to_string(job.status) << ", attempts " << job.attempts << ", worker "
                          << job.worker_id.value_or("(none)"));
      }
    }
  }
  const std::set<std::int64_t> unique_worked(worked.begin(), worked.end());
  CHECK(worked.size() == static_cast<std::size_t>(job_count));  // no job worked twice ...
  CHECK(unique_worked.size() == static_cast<std::size_t>(job_count));
  CHECK(unique_worked == std::set<std::int64_t>(seeded.begin(), seeded.end()));  // ... or missed
  CHECK(finished_count == static_cast<std::size_t>(job_count));
  CHECK(finished_ids == unique_worked);
  CHECK(count_jobs(db, job_type, job_status::succeeded) == job_count);
  const std::array<param, 1> type_param{job_type};
  CHECK(count_with(db, count_finished_once, type_param) == job_count);
  CHECK(db.pool().in_use == 0);
  CHECK(db.metrics().give_ups == 0);
  WARN("claim threads: jobs per thread "
       << records[0].worked.size() << "/" << records[1].worked.size() << "/"
       << records[2].worked.size() << "/" << records[3].worked.size() << ", retries "
       << db.metrics().retries_total());
}

TEST_CASE("four worker processes draining 500 jobs process each exactly once", "[claim]") {
  constexpr int job_count = 500;
  constexpr int process_count = 4;
  constexpr std::string_view job_type = "claim_processes";
  test_database fixture;
  const Database& db = fixture.db();
  const std::vector<std::int64_t> seeded = seed_jobs(db, job_type, job_count);

  std::vector<std::unique_ptr<worker_process>> workers;
  for (int p = 0; p < process_count; ++p) {
    workers.push_back(std::make_unique<worker_process>(std::vector<std::string>{
        "drain", fixture.url(), std::string(job_type), "process-" + std::to_string(p)}));
  }
  // All four have their connections open before any claims: they drain the queue together.
  for (auto& worker : workers) REQUIRE(worker->read_line() == "ready");
  for (auto& worker : workers) worker->go();

  std::map<std::int64_t, std::vector<std::string>>
      printed_by;  // job id -> processes that printed it
  std::string per_process;
  for (int p = 0; p < process_count; ++p) {
    const std::vector<std::string> lines = workers[static_cast<std::size_t>(p)]->read_lines();
    per_process += (p == 0 ? "" : "/") + std::to_string(lines.size());
    const int status = workers[static_cast<std::size_t>(p)]->wait();
    INFO("process " << p << " printed " << lines.size() << " ids, exit status " << status);
    CHECK(exited_cleanly(status));
    for (const std::string& line : lines) {
      if (line.empty() || line.find_first_not_of("0123456789") != std::string::npos) {
        FAIL_CHECK("process " << p << " printed " << line);
        continue;
      }
      printed_by[std::stoll(line)].push_back("process-" + std::to_string(p));
    }
  }

  CHECK(printed_by.size() == static_cast<std::size_t>(job_count));
  std::set<std::int64_t> printed_ids;
  for (const auto& [id, printers] : printed_by) {
    printed_ids.insert(id);
    if (printers.size() != 1)
      FAIL_CHECK("job " << id << " processed " << printers.size() << " times");
  }
  CHECK(printed_ids == std::set<std::int64_t>(seeded.begin(), seeded.end()));
  const std::array<param, 1> type_param{job_type};
  CHECK(count_with(db, count_finished_once, type_param) == job_count);
  // The job rows name the process that printed them.
  const auto recorded = workers_by_job(db, job_type);
  int mismatched = 0;
  for (const auto& [id, printers] : printed_by) {
    const auto found = recorded.find(id);
    if (found == recorded.end() || printers.empty() || found->second != printers.front())
      ++mismatched;
  }
  CHECK(mismatched == 0);
  WARN("claim processes: jobs per process " << per_process);
}

// The behaviour behind the SQL text "FOR UPDATE SKIP LOCKED": while one worker holds the oldest
// pending job in its open unit, a second worker's claim neither waits for that row nor takes it,
// but claims the next job. Registered for PostgreSQL and MariaDB (tests/jobs/CMakeLists.txt); on
// SQLite, BEGIN IMMEDIATE makes the second claim wait by design.
TEST_CASE("a claim skips the job another worker holds instead of waiting for it",
          "[claim][skip-locked]") {
  // Its own application name, to tell its sessions from any other program's on the server.
  test_database fixture(
      {.pool_size = 4, .application_name = repokit::testing::unique_name("repokit_claim_")});
  const Database& db = fixture.db();
  REQUIRE(db.kind() != dialect::sqlite);
  constexpr std::string_view type = "skip_locked";
  auto made = job_repository(db, [&](JobRepository& jobs) -> result<std::array<std::int64_t, 2>> {
    REPOKIT_TRY(auto oldest, jobs.create_job(type, "T1"));
    REPOKIT_TRY(auto next, jobs.create_job(type, "T2"));
    return std::array<std::int64_t, 2>{oldest.id, next.id};
  });
  INFO(describe(made));
  REQUIRE(made);
  const auto [oldest, next] = made.value();

  using claim = result<std::optional<Job>>;
  std::optional<claim> held;
  std::optional<claim> skipped;
  std::latch holding(1);
  std::latch release(1);
  std::thread holder([&] {
    bool counted = false;
    held = job_repository(db, [&](JobRepository& jobs) -> claim {
      auto claimed = jobs.claim_next(type, "holder");
      if (!counted) {
        counted = true;
        holding.count_down();
      }
      release.wait();  // the row stays locked until this unit ends
      return claimed;
    });
    if (!counted) holding.count_down();
  });
  holding.wait();

  std::atomic<bool> skipper_done{false};
  const std::uint64_t retries_before = db.metrics().retries_total();
  std::thread skipper([&] {
    skipped = job_repository(
        db, [&](JobRepository& jobs) -> claim { return jobs.claim_next(type, "skipper"); });
    skipper_done = true;
  });
  // Ends when the second claim has answered, or as soon as it is seen waiting for a lock.
  const bool waited = wait_until_blocked(db, skipper_done, retries_before);
  release.count_down();
  holder.join();
  skipper.join();

  CHECK_FALSE(waited);
  REQUIRE(held.has_value());
  REQUIRE(skipped.has_value());
  INFO("holder: " << describe(*held) << "; skipper: " << describe(*skipped));
  REQUIRE(*held);
  REQUIRE(*skipped);
  REQUIRE(held->value().has_value());
  REQUIRE(skipped->value().has_value());
  CHECK(held->value()->id == oldest);
  CHECK(skipped->value()->id == next);
}
