// Load: 100 client threads run mixed scoped reads, writes, job creation and job claiming on one
// Database for a bounded time (REPOKIT_LOAD_SECONDS, default 5; REPOKIT_LOAD_THREADS, default
// 100). Every operation must succeed, no (type, target) may ever have two active jobs, and every
// connection must be back in the pool at the end. Latencies are printed, never asserted.
#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <latch>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "reliability_support.hpp"

using namespace repokit;
using namespace repokit::reliability;
using repokit::testing::test_database;

namespace {

using steady = std::chrono::steady_clock;

enum op_kind : std::size_t { read_op, create_op, update_op, enqueue_op, claim_op, op_kinds };
constexpr std::array<const char*, op_kinds> op_names{"scoped read", "create video", "update video",
                                                     "enqueue job", "claim+finish job"};

constexpr int known_videos = 50;
constexpr int job_targets = 40;
const std::string job_type = "load";

int environment_number(const char* name, int fallback) {
  const char* text = std::getenv(name);
  if (text == nullptr || *text == '\0') return fallback;
  const int value = std::atoi(text);
  return value > 0 ? value : fallback;
}

std::string known_video(int n) { return "known-" + std::to_string(n); }

struct thread_record {
  std::array<std::vector<double>, op_kinds> latencies_us;  // one entry per operation
  std::array<std::int64_t, op_kinds> done{};
  std::int64_t jobs_created = 0;
  std::int64_t jobs_claimed = 0;
  std::vector<std::string> failures;
};

void client(const Database& db, int t, steady::time_point deadline, thread_record& out) {
  std::minstd_rand rng(static_cast<unsigned>(1000 + t));
  const std::string worker = "worker-" + std::to_string(t);
  // At least one operation each, however late the thread got a core: every client takes part.
  for (int i = 0; i == 0 || steady::now() < deadline; ++i) {
    const int dice = static_cast<int>(rng() % 100);
    const op_kind kind = dice < 50   ? read_op
                         : dice < 65 ? create_op
                         : dice < 75 ? update_op
                         : dice < 90 ? enqueue_op
                                     : claim_op;
    const std::string tag = "t" + std::to_string(t) + "-" + std::to_string(i);
    const auto started = steady::now();
    std::string failed;
    switch (kind) {
      case read_op: {
        const std::string id = known_video(static_cast<int>(rng() % known_videos));
        auto read = video_repository(
            db, [&](VideoRepository& videos) { return videos.get_video_by_id(id); });
        if (!read) {
          failed = describe(read);
        } else if (read.value().title != "title of " + id) {
          failed = "wrong title " + read.value().title;
        }
        break;
      }
      case create_op: {
        auto created = video_repository(db, [&](VideoRepository& videos) {
          return videos.create_video("new-" + tag, "ch-load", "made by " + tag, i);
        });
        if (!created) failed = describe(created);
        break;
      }
      case update_op: {
        const std::string id = known_video(static_cast<int>(rng() % known_videos));
        auto updated = video_repository(db, [&](VideoRepository& videos) {
          return videos.update_video(id, video_changes{.duration_seconds = i});
        });
        if (!updated) failed = describe(updated);
        break;
      }
      case enqueue_op: {
        const std::string target = "target-" + std::to_string(rng() % job_targets);
        auto job = job_repository(db, [&](JobRepository& jobs) {
          return jobs.create_if_not_exists(job_type, target, R"({"n":1})");
        });
        if (!job) {
          failed = describe(job);
        } else if (job.value().created) {
          ++out.jobs_created;
        }
        break;
      }
      case claim_op: {
        auto claimed = job_repository(db, [&](JobRepository& jobs) -> result<bool> {
          REPOKIT_TRY(auto job, jobs.claim_next(job_type, worker));
          if (!job) return false;
          REPOKIT_TRYV(jobs.finish_job(*job, job_status::succeeded));
          return true;
        });
        if (!claimed) {
          failed = describe(claimed);
        } else if (claimed.value()) {
          ++out.jobs_claimed;
        }
        break;
      }
      case op_kinds: break;
    }
    const double micros =
        std::chrono::duration<double, std::micro>(steady::now() - started).count();
    out.latencies_us[kind].push_back(micros);
    if (failed.empty()) {
      ++out.done[kind];
    } else if (out.failures.size() < 20) {
      out.failures.push_back(tag + " " + op_names[kind] + ": " + failed);
    }
  }
}

double percentile(const std::vector<double>& sorted, double p) {
  if (sorted.empty()) return 0;
  const auto index = static_cast<std::size_t>(p * static_cast<double>(sorted.size() - 1) + 0.5);
  return sorted[std::min(index, sorted.size() - 1)];
}

constexpr std::array<column_type, 1> count_column{column_type::integer};
constexpr statement active_duplicates{
    "load_active_duplicates",
    "SELECT COUNT(*) FROM (SELECT job_type, target_id FROM jobs WHERE status IN ('pending', "
    "'running') GROUP BY job_type, target_id HAVING COUNT(*) > 1) AS duplicated",
    statement_kind::read, count_column};
constexpr statement running_jobs{"load_running_jobs",
                                 "SELECT COUNT(*) FROM jobs WHERE status = 'running'",
                                 statement_kind::read, count_column};

std::int64_t count_of(const Database& db, const statement& sql) {
  return run_unit(db,
                  [&](UnitOfWork& unit) -> result<std::int64_t> {
                    REPOKIT_TRY(auto found, unit.query_one(sql));
                    return found.value().integer(0);
                  })
      .value();
}

}  // namespace

TEST_CASE("load: 100 client threads of mixed reads, writes and jobs for a bounded time",
          "[reliability][load]") {
  const int threads = environment_number("REPOKIT_LOAD_THREADS", 100);
  const int seconds = environment_number("REPOKIT_LOAD_SECONDS", 5);
  constexpr std::size_t pool_size = 8;
  test_database fixture({.pool_size = pool_size,
                         .pool_timeout = std::chrono::milliseconds{60'000},
                         .retry = patient_retry()});
  const Database& db = fixture.db();
  unit_of_work(db, [](Repositories& r) -> result<void> {
    REPOKIT_TRYV(r.channels.create_channel("ch-load", "load"));
    for (int n = 0; n < known_videos; ++n) {
      REPOKIT_TRYV(
          r.videos.create_video(known_video(n), "ch-load", "title of " + known_video(n), n));
    }
    return success();
  }).value();
  const metrics_snapshot before = db.metrics();

  std::vector<thread_record> records(static_cast<std::size_t>(threads));
  const auto started = steady::now();
  {
    std::latch ready(threads + 1);
    const auto deadline_after = std::chrono::seconds{seconds};
    std::atomic<std::int64_t> deadline_ticks{0};
    std::vector<std::thread> pool;
    pool.reserve(static_cast<std::size_t>(threads));
    for (int t = 0; t < threads; ++t) {
      pool.emplace_back([&, t] {
        ready.arrive_and_wait();
        const steady::time_point deadline{steady::duration{deadline_ticks.load()}};
        client(db, t, deadline, records[static_cast<std::size_t>(t)]);
      });
    }
    deadline_ticks = (steady::now() + deadline_after).time_since_epoch().count();
    ready.arrive_and_wait();
    for (auto& thread : pool) thread.join();
  }
  const double elapsed = std::chrono::duration<double>(steady::now() - started).count();

  std::array<std::vector<double>, op_kinds> latencies;
  std::vector<double> all;
  std::array<std::int64_t, op_kinds> done{};
  std::int64_t jobs_created = 0;
  std::int64_t jobs_claimed = 0;
  std::vector<std::string> failures;
  for (const thread_record& r : records) {
    for (std::size_t k = 0; k < op_kinds; ++k) {
      latencies[k].insert(latencies[k].end(), r.latencies_us[k].begin(), r.latencies_us[k].end());
      done[k] += r.done[k];
    }
    jobs_created += r.jobs_created;
    jobs_claimed += r.jobs_claimed;
    failures.insert(failures.end(), r.failures.begin(), r.failures.end());
  }
  std::size_t operations = 0;
  for (auto& v : latencies) {
    std::sort(v.begin(), v.end());
    all.insert(all.end(), v.begin(), v.end());
    operations += v.size();
  }
  std::sort(all.begin(), all.end());
  const metrics_snapshot after = db.metrics();
  const std::int64_t duplicates = count_of(db, active_duplicates);
  const std::int64_t stuck_running = count_of(db, running_jobs);
  const pool_status pool = db.pool();

  std::printf("load (%s): %d threads, %.1f s, %zu operations (%.0f/s), %zu failed, retries %llu\n",
              std::string(to_string(db.kind())).c_str(), threads, elapsed, operations,
              static_cast<double>(operations) / elapsed, failures.size(),
              static_cast<unsigned long long>(after.retries_total() - before.retries_total()));
  for (std::size_t k = 0; k < op_kinds; ++k) {
    std::printf("  %-17s %7zu ops  p50 %8.2f ms  p99 %8.2f ms  max %8.2f ms\n", op_names[k],
                latencies[k].size(), percentile(latencies[k], 0.50) / 1000,
                percentile(latencies[k], 0.99) / 1000,
                latencies[k].empty() ? 0.0 : latencies[k].back() / 1000);
  }
  std::printf("  %-17s %7zu ops  p50 %8.2f ms  p99 %8.2f ms  max %8.2f ms\n", "all", all.size(),
              percentile(all, 0.50) / 1000, percentile(all, 0.99) / 1000,
              all.empty() ? 0.0 : all.back() / 1000);
  std::printf(
      "  jobs created %lld, claimed and finished %lld, active duplicates %lld, "
      "pool open %zu in use %zu\n",
      static_cast<long long>(jobs_created), static_cast<long long>(jobs_claimed),
      static_cast<long long>(duplicates), pool.open, pool.in_use);
  std::fflush(stdout);

  {
    std::string first;
    for (std::size_t k = 0; k < failures.size() && k < 10; ++k) first += failures[k] + "\n";
    INFO(failures.size() << " failed operations, the first ones:\n" << first);
    CHECK(failures.empty());
  }
  CHECK(operations >= static_cast<std::size_t>(threads));
  CHECK(duplicates == 0);
  CHECK(stuck_running == 0);  // every claimed job was finished in the same unit
  CHECK(pool.in_use == 0);
  CHECK(pool.open <= pool_size);
  CHECK(after.give_ups == before.give_ups);
  CHECK(after.in_doubt == before.in_doubt);
  CHECK(testing::count_rows(db, "jobs") == jobs_created);
  CHECK(testing::count_rows(db, "videos") == known_videos + done[create_op]);
}
