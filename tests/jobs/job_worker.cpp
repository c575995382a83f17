// job_worker: the other processes of the multi-process job tests. Every mode opens its own
// Database on URL, so the processes share nothing but the database itself.
//
//   race URL TARGETS CALLS_PER_TARGET THREADS
//     THREADS threads call create_if_not_exists("video_process", "V<i>") for i < TARGETS,
//     CALLS_PER_TARGET times per target, pulling items of a shuffled work list through an atomic
//     index. Writes "ready" once every thread has its connection, waits for a line (or end of
//     file) on stdin, then races. At the end writes "created N" (answers with created == true),
//     "errors N", "consistent N" (targets whose answers in this process all named one job id)
//     and "retries N" (whole-unit retries this process's Database made). Exits 0 only with zero
//     errors.
//   drain URL JOB_TYPE WORKER_ID
//     Writes "ready" once its connection is open, waits for a line (or end of file) on stdin,
//     then calls work_on_next_job until no job is left, writing each processed job's id on a
//     line of its own. Exits 0 unless a call failed.
//   claim-and-hang URL JOB_TYPE WORKER_ID LEASE_MS
//     Works on one job with work_on_next_job under a lease of LEASE_MS, which heartbeats renew
//     while the work runs. The work writes the job's id and flushes, then blocks reading stdin:
//     it is there to be killed mid-job. Writes "none" when no job was due. Exits 0 at end of
//     file, so a test that fails before killing it does not leave it behind.
//   run-and-hang URL JOB_TYPE NAME LEASE_MS
//     Like claim-and-hang, on a worker runtime named NAME with one worker (its id is
//     NAME/JOB_TYPE/0): the handler writes the job's id and flushes, then blocks reading stdin.
//   schedule URL JOB_TYPE NAME INTERVAL_MS OCCURRENCES
//     Writes "ready" once its connection is open, waits for a line (or end of file) on stdin,
//     then runs a worker runtime whose only work is the periodic job NAME of JOB_TYPE, every
//     INTERVAL_MS, for OCCURRENCES intervals. Then writes "created N" (the occurrences this
//     process created) and "errors N". Exits 0 with zero errors.
//
// Errors go to stderr. Retry warnings would be one line per SQLITE_BUSY: only errors are logged.
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <spdlog/logger.h>
#include <spdlog/sinks/stdout_sinks.h>

#include "repokit/repokit.hpp"

namespace {

using repokit::Database;

constexpr std::string_view race_job_type = "video_process";

Database open_or_exit(const std::string& url, std::size_t pool_size) {
  auto logger = std::make_shared<spdlog::logger>("job_worker",
                                                 std::make_shared<spdlog::sinks::stderr_sink_mt>());
  logger->set_level(spdlog::level::err);
  auto opened =
      Database::open(url, {.pool_size = pool_size,
                           .retry = repokit::db_retry{.max_retries = 20,
                                                      .initial_delay = repokit::seconds{0.01},
                                                      .max_delay = repokit::seconds{0.2}},
                           .logger = logger});
  if (!opened) {
    std::cerr << "job_worker: cannot open the database: " << opened.error().describe() << '\n';
    std::exit(1);
  }
  return std::move(opened).value();
}

// Blocks until the parent writes a line or closes our stdin.
void wait_for_go() {
  char c = 0;
  while (::read(STDIN_FILENO, &c, 1) == 1 && c != '\n') {
  }
}

// Opens the calling thread's connection with a read that leaves nothing behind.
bool warm_up(const Database& db) {
  auto read = repokit::lookup(db, [](repokit::Repositories& repos) {
    return repos.jobs.job_exists(race_job_type, "warm-up");
  });
  if (!read) std::cerr << "job_worker: warm-up: " << read.error().describe() << '\n';
  return static_cast<bool>(read);
}

int race(const std::string& url, int targets, int calls_per_target, int threads) {
  const Database db = open_or_exit(url, static_cast<std::size_t>(threads));

  std::vector<int> work;
  work.reserve(static_cast<std::size_t>(targets) * static_cast<std::size_t>(calls_per_target));
  for (int target = 0; target < targets; ++target) {
    for (int call = 0; call < calls_per_target; ++call) work.push_back(target);
  }
  std::mt19937 shuffle_engine(std::random_device{}());
  std::shuffle(work.begin(), work.end(), shuffle_engine);

  std::atomic<std::size_t> next{0};
  std::atomic<int> created{0};
  std::atomic<int> errors{0};
  std::mutex ids_mutex;
  std::map<int, std::set<std::int64_t>> ids_by_target;

  // Every thread opens its connection first; all race together once the parent says go.
  std::mutex gate_mutex;
  std::condition_variable gate;
  int warmed = 0;
  bool go = false;

  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&] {
      if (!warm_up(db)) ++errors;
      {
        std::unique_lock lock(gate_mutex);
        ++warmed;
        gate.notify_all();
        gate.wait(lock, [&] { return go; });
      }
      for (std::size_t item = next++; item < work.size(); item = next++) {
        const int target = work[item];
        const std::string target_id = "V" + std::to_string(target);
        auto answer = repokit::job_repository(db, [&](repokit::JobRepository& jobs) {
          return jobs.create_if_not_exists(race_job_type, target_id);
        });
        if (!answer) {
          if (errors++ < 5) {
            std::cerr << "job_worker: create_if_not_exists(" << target_id
                      << "): " << answer.error().describe() << '\n';
          }
          continue;
        }
        if (answer.value().created) ++created;
        std::lock_guard lock(ids_mutex);
        ids_by_target[target].insert(answer.value().record.id);
      }
    });
  }
  {
    std::unique_lock lock(gate_mutex);
    gate.wait(lock, [&] { return warmed == threads; });
  }
  std::cout << "ready" << std::endl;
  wait_for_go();
  {
    std::lock_guard lock(gate_mutex);
    go = true;
  }
  gate.notify_all();
  for (std::thread& thread : pool) thread.join();

  const auto consistent = std::count_if(ids_by_target.begin(), ids_by_target.end(),
                                        [](const auto& entry) { return entry.second.size() == 1; });
  std::cout << "created " << created.load() << '\n'
            << "errors " << errors.load() << '\n'
            << "consistent " << consistent << '\n'
            << "retries " << db.metrics().retries_total() << std::endl;
  return errors.load() == 0 ? 0 : 1;
}

int drain(const std::string& url, const std::string& job_type, const std::string& worker_id) {
  const Database db = open_or_exit(url, 2);
  if (!warm_up(db)) return 1;
  std::cout << "ready" << std::endl;
  wait_for_go();
  for (;;) {
    auto finished = repokit::work_on_next_job(db, job_type, worker_id, [](const repokit::Job&) {});
    if (!finished) {
      std::cerr << "job_worker: work_on_next_job: " << finished.error().describe() << '\n';
      return 1;
    }
    if (!finished.value()) break;
    std::cout << finished.value()->id << '\n';
  }
  std::cout.flush();
  return 0;
}

int claim_and_hang(const std::string& url, const std::string& job_type,
                   const std::string& worker_id, std::chrono::milliseconds lease) {
  const Database db = open_or_exit(url, 2);  // the claim's connection and the heartbeats'
  auto worked = repokit::work_on_next_job(
      db, job_type, worker_id,
      [](const repokit::Job& job) {
        std::cout << job.id << std::endl;
        wait_for_go();  // until killed, or until the parent closes our stdin
      },
      {.claim = {.lease = lease}});
  if (!worked) {
    std::cerr << "job_worker: work_on_next_job: " << worked.error().describe() << '\n';
    return 1;
  }
  if (!worked.value()) std::cout << "none" << std::endl;
  return 0;
}

int run_and_hang(const std::string& url, const std::string& job_type, const std::string& name,
                 std::chrono::milliseconds lease) {
  const Database db = open_or_exit(url, 2);  // the claim's connection and the heartbeats'
  repokit::worker_runtime runtime(db, {.name = name});
  auto registered =
      runtime.handle(job_type,
                     [](const repokit::Job& job) {
                       std::cout << job.id << std::endl;
                       wait_for_go();  // until killed, or until the parent closes our stdin
                     },
                     {.claim = {.lease = lease}});
  if (!registered || !runtime.start()) {
    std::cerr << "job_worker: cannot start the runtime\n";
    return 1;
  }
  wait_for_go();  // the parent closes our stdin when it is done with us
  runtime.stop(std::chrono::seconds{30});
  return 0;
}

int schedule(const std::string& url, const std::string& job_type, const std::string& name,
             std::chrono::milliseconds interval, int occurrences) {
  const Database db = open_or_exit(url, 2);
  if (!warm_up(db)) return 1;
  std::cout << "ready" << std::endl;
  wait_for_go();
  repokit::worker_runtime runtime(db, {.name = "scheduler-" + std::to_string(::getpid())});
  if (auto added = runtime.schedule({.name = name, .job_type = job_type, .interval = interval});
      !added || !runtime.start()) {
    std::cerr << "job_worker: cannot start the schedule\n";
    return 1;
  }
  // The schedule's run is its work: it lasts this long.
  std::this_thread::sleep_for(interval * occurrences);
  runtime.stop(std::chrono::seconds{30});
  const repokit::runtime_counters counted = runtime.counters();
  std::cout << "created " << counted.scheduled << '\n' << "errors " << counted.errors << std::endl;
  return counted.errors == 0 ? 0 : 1;
}

int usage() {
  std::cerr << "usage: job_worker race URL TARGETS CALLS_PER_TARGET THREADS\n"
               "       job_worker drain URL JOB_TYPE WORKER_ID\n"
               "       job_worker claim-and-hang URL JOB_TYPE WORKER_ID LEASE_MS\n"
               "       job_worker run-and-hang URL JOB_TYPE NAME LEASE_MS\n"
               "       job_worker schedule URL JOB_TYPE NAME INTERVAL_MS OCCURRENCES\n";
  return 2;
}

}  // namespace

int main(int argc, char** argv) try {
  const std::vector<std::string> args(argv + 1, argv + argc);
  if (args.size() == 5 && args[0] == "race") {
    return race(args[1], std::stoi(args[2]), std::stoi(args[3]), std::stoi(args[4]));
  }
  if (args.size() == 4 && args[0] == "drain") return drain(args[1], args[2], args[3]);
  if (args.size() == 5 && args[0] == "claim-and-hang") {
    return claim_and_hang(args[1], args[2], args[3], std::chrono::milliseconds{std::stoi(args[4])});
  }
  if (args.size() == 5 && args[0] == "run-and-hang") {
    return run_and_hang(args[1], args[2], args[3], std::chrono::milliseconds{std::stoi(args[4])});
  }
  if (args.size() == 6 && args[0] == "schedule") {
    return schedule(args[1], args[2], args[3], std::chrono::milliseconds{std::stoi(args[4])},
                    std::stoi(args[5]));
  }
  return usage();
} catch (const std::exception& e) {
  std::cerr << "job_worker: " << e.what() << '\n';
  return 1;
}
