// The worker runtime: handlers registered per job type, run by worker threads that claim with
// sessions of their own, renew leases while handlers run, record outcomes idempotently and retry
// failed jobs per their type's policy. It stops gracefully: no new claims, in-flight handlers
// finish within a deadline, and the jobs of those that do not are given back.
//
//   worker_runtime runtime(db);
//   runtime.handle("transcode", [](job_context& job) -> result<void> { ... }, {.concurrency = 4});
//   runtime.start();
//   ...
//   runtime.stop(std::chrono::seconds{30});
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "repokit/metrics.hpp"
#include "repokit/repositories/phased_job.hpp"

namespace repokit {

// The last_error of a job stop() gave back because its handler was still running at the deadline.
inline constexpr std::string_view runtime_released_note =
    "released: its worker runtime stopped before the handler returned";

// How the runtime runs the jobs of one type.
struct job_type_options {
  int concurrency = 1;  // worker threads for this type, each with a session of its own
  // The lease each claim takes, renewed every third of it while the handler runs, and the
  // attempts after which a job whose lease expired is no longer taken over.
  claim_options claim{};
  // A handler's error sends the job back after a backoff while it has attempts left; then the
  // job is dead. Empty: the first error fails it.
  std::optional<job_retry_policy> retry = job_retry_policy{};
  task_options task{.name = "job"};  // the units that claim, renew and record
};

struct runtime_options {
  // The worker ids are "<name>/<job type>/<n>"; the host name and the process id when empty.
  std::string name{};
  // Idle workers poll for due jobs, waiting twice as long after each empty claim, from the first
  // of these up to the second. wake() ends a wait early.
  std::chrono::milliseconds idle_poll_min{10};
  std::chrono::milliseconds idle_poll_max{1000};
  // On PostgreSQL, idle workers also wake as soon as a job of their type is created and
  // committed: the runtime LISTENs on job_notification_channel over a connection of its own.
  // Polling stays as the fallback, and takes over while that connection is down.
  bool listen = true;
  // Successes are recorded in batches (group commit): one unit of work, and one COMMIT, for the
  // jobs of a type whose handlers finished while the last batch was being recorded, by the
  // first of their workers. Each worker waits for its job's batch before it claims again.
  // Failed attempts are recorded one by one, as their retry policy asks; so is a success whose
  // batch could not be recorded. Empty: on for PostgreSQL and MariaDB; off for SQLite, whose
  // one write lock serialises the batch anyway, and whose workers, waiting for it, claim less
  // (docs/benchmarks.md, the jobs burn-down).
  std::optional<bool> complete_in_batches{};
};

// What the runtime did since it was created.
struct runtime_counters {
  std::uint64_t claimed = 0;
  std::uint64_t succeeded = 0;
  std::uint64_t retried = 0;    // back to pending after a failed attempt, due after a backoff
  std::uint64_t failed = 0;     // failed by a handler's error, with no retry policy
  std::uint64_t dead = 0;       // out of attempts under the retry policy
  std::uint64_t rescued = 0;    // claimed after another worker's lease expired
  std::uint64_t lost = 0;       // outcomes refused: the job was cancelled or taken over meanwhile
  std::uint64_t released = 0;   // given back by stop() after its deadline
  std::uint64_t errors = 0;     // claims or outcomes that failed (the lease covers the job),
                                // and listening connections lost or not made
  std::uint64_t scheduled = 0;  // occurrences of periodic jobs this runtime created
  std::uint64_t notified = 0;   // wake-ups by a new job's notification (PostgreSQL)
  std::uint64_t empty_claims = 0;  // claims that found no due job: the worker waited after each
  std::uint64_t heartbeats = 0;    // leases renewed while handlers ran
  std::uint64_t batches = 0;       // units that recorded successes in batches
};

// How long one job type's jobs waited and ran under this runtime, in milliseconds' resolution.
struct job_type_timings {
  std::string job_type;
  // From when a job fell due (its creation, or its run_at when later) to its claim; jobs taken
  // over after an expired lease are not counted (rescued counts them).
  histogram_snapshot add_to_start;
  histogram_snapshot run_time;  // the handler's call, from its start to its return
};

// The runtime's counters, and its timings by job type in registration order.
struct runtime_metrics {
  runtime_counters counters;
  std::vector<job_type_timings> types;
};

// What stop() found.
struct stop_report {
  std::uint64_t in_flight = 0;      // handlers running when stop was asked
  std::uint64_t released = 0;       // of those, still running at the deadline: jobs given back
  std::uint64_t left_to_lease = 0;  // of those, not given back (the database failed): the job
                                    // stays covered by its lease, which runs out on its own
};

class worker_runtime {
 public:
  // A handler takes job_context& (or const Job&) and returns result<void> (or nothing; a thrown
  // exception is its error). Its type's worker threads call it concurrently.
  using handler = std::function<result<void>(job_context&)>;

  explicit worker_runtime(const Database& db, runtime_options options = {});
  // stop() with a deadline of 30 seconds unless it was called, then waits for every handler.
  ~worker_runtime();
  worker_runtime(const worker_runtime&) = delete;
  worker_runtime& operator=(const worker_runtime&) = delete;

  // Registers the handler of `job_type`. errc::misuse once started; errc::invalid_argument for a
  // type registered twice, a concurrency below 1 or invalid claim or retry settings.
  template <class Handler>
  result<void> handle(std::string_view job_type, Handler&& run, job_type_options options = {}) {
    return add_handler(job_type, to_handler(std::forward<Handler>(run)), std::move(options));
  }

  // Creates each occurrence of `schedule` while the runtime runs, from one scheduler thread: at
  // start, the occurrence under way, then each one as it falls due. Runtimes on many machines
  // create each occurrence once between them. Occurrences missed while no runtime ran are not
  // made up. errc::misuse once started; errc::invalid_argument for a bad schedule.
  result<void> schedule(periodic_job schedule);

  // Starts the worker threads. errc::misuse when already started, or with nothing to run.
  result<void> start();

  // Tells idle workers that jobs may be due now (this process just enqueued some).
  void wake();

  // Stops: no new claims; handlers see job_context::stop_requested(); those still running after
  // `deadline` have their jobs given back to pending (their outcomes will be refused). Returns
  // once every job this runtime claimed is finished, given back or covered by its lease, and the
  // occurrence the scheduler was creating is made and counted; a handler that ignores the
  // request keeps running, and the destructor waits for it.
  stop_report stop(std::chrono::milliseconds deadline);

  runtime_counters counters() const;
  runtime_metrics metrics() const;

 private:
  // The handler is shared by its type's worker threads, which call it concurrently: it is called
  // as const.
  template <class Handler>
  static handler to_handler(Handler&& run) {
    using H = std::decay_t<Handler>;
    static_assert(
        std::is_invocable_v<const H&, job_context&> || std::is_invocable_v<const H&, const Job&>,
        "a handler is called as const with job_context& or const Job&");
    return [run = H(std::forward<Handler>(run))](job_context& context) -> result<void> {
      const auto call = [&]() -> decltype(auto) {
        if constexpr (std::is_invocable_v<const H&, job_context&>) {
          return run(context);
        } else {
          return run(context.job());
        }
      };
      if constexpr (std::is_void_v<decltype(call())>) {
        call();
        return success();
      } else {
        return call();
      }
    };
  }

  result<void> add_handler(std::string_view job_type, handler run, job_type_options options);

  struct state;
  std::unique_ptr<state> state_;
};

}  // namespace repokit
