#include "repokit/repositories/worker_runtime.hpp"

#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <stop_token>
#include <thread>
#include <vector>

#include <spdlog/logger.h>

#include "job_checks.hpp"
#include "mapping.hpp"
#include "repokit/notifications.hpp"

namespace repokit {
namespace {

using steady = std::chrono::steady_clock;

// A worker's success waiting for its batch: the claimed job, and the answer once recorded. One
// per worker, living as long as the runtime, with a lock of its own: the recorder wakes each
// worker of its batch alone, and no worker takes the runtime's mutex to read its answer.
struct completion {
  enum class turn { waiting, answered, recording };
  const Job* claimed = nullptr;
  std::mutex mutex;
  std::condition_variable changed;
  turn now = turn::waiting;             // guarded by `mutex`: what the worker is to do next
  std::optional<result<Job>> answer{};  // written by the recorder before `now` is answered

  // Tells the waiting worker what to do next.
  void hand(turn next) {
    {
      const std::lock_guard lock(mutex);
      now = next;
    }
    changed.notify_one();
  }
};

struct registered_type {
  std::string job_type;
  worker_runtime::handler run;
  work_options work;
  int concurrency = 1;
  histogram add_to_start;
  histogram run_time;
  std::vector<completion*> to_complete{};  // guarded by the runtime's mutex, as is
  bool recording = false;                  // whether a worker is recording a batch
};

// Records the time from `since` to its destruction in `into`, however the handler ends.
class timer {
 public:
  explicit timer(histogram& into) noexcept : into_(&into) {}
  ~timer() { into_->record(std::chrono::steady_clock::now() - since_); }
  timer(const timer&) = delete;
  timer& operator=(const timer&) = delete;

 private:
  histogram* into_;
  std::chrono::steady_clock::time_point since_ = std::chrono::steady_clock::now();
};

// From when a just-claimed job fell due to its claim: 0 when the clocks disagree.
std::chrono::milliseconds waited_for_claim(const Job& job) {
  const timestamp due = std::max(job.created_at, job.run_at);
  return std::max(job.started_at.value_or(due) - due, std::chrono::milliseconds{0});
}

// One worker thread's view: the job it runs, if any. Guarded by the runtime's mutex.
struct worker_slot {
  std::string worker_id;
  registered_type* type = nullptr;
  completion success{};  // its job's success, while it waits for a batch
  std::optional<Job> running{};
  bool released = false;  // stop() gave its job back
  bool done = false;      // its loop has ended
};

// A periodic job, and its last occurrence this runtime has seen created.
struct scheduled_job {
  periodic_job schedule;
  std::optional<timestamp> done{};
};

std::string default_name() {
  std::array<char, 256> host{};
  if (::gethostname(host.data(), host.size() - 1) != 0) host[0] = '\0';
  const std::string name(host.data());
  return (name.empty() ? std::string("worker") : name) + ":" + std::to_string(::getpid());
}

}  // namespace

struct worker_runtime::state {
  const Database* db = nullptr;
  runtime_options options;
  std::vector<std::unique_ptr<registered_type>> types;
  std::vector<std::unique_ptr<worker_slot>> slots;
  std::vector<scheduled_job> schedules;

  std::mutex mutex;
  std::condition_variable changed;  // wake-ups, stop requests, slots' loops ending
  std::uint64_t wakes = 0;
  bool started = false;
  bool in_batches = false;  // options.complete_in_batches, decided at start
  bool stopping = false;
  bool scheduling = false;  // the scheduler thread's loop runs
  std::optional<stop_report> stopped{};
  std::stop_source stop_handlers;
  std::optional<notification_listener> listener;  // set while listening for new jobs
  std::vector<std::jthread> threads;

  std::atomic<std::uint64_t> claimed{0}, succeeded{0}, retried{0}, failed{0}, rescued{0}, lost{0},
      released{0}, errors{0}, scheduled{0}, notified{0}, empty_claims{0}, dead{0}, heartbeats{0},
      batches{0};

  void wake_workers() {
    {
      const std::lock_guard lock(mutex);
      ++wakes;
    }
    changed.notify_all();
  }

  bool handles(std::string_view job_type) const {
    return std::any_of(types.begin(), types.end(),
                       [&](const auto& type) { return type->job_type == job_type; });
  }

  // Wakes the workers when a job of their type is created: listens until stopped, connecting
  // again after idle_poll_max when the connection fails.
  void listen_for_jobs() {
    std::unique_lock lock(mutex);
    while (!stopping) {
      lock.unlock();
      auto made = repokit::listen(*db, job_notification_channel);
      lock.lock();
      if (made && !made.value()) return;  // this database has no notifications
      if (!made) {
        ++errors;
        db->logger().warn("Listening for new jobs failed; polling meanwhile: {}",
                          made.error().describe());
        changed.wait_for(lock, options.idle_poll_max, [&] { return stopping; });
        continue;
      }
      if (stopping) break;
      listener = std::move(*made.value());
      lock.unlock();
      wake_workers();  // jobs created while nobody listened
      for (;;) {
        auto got = listener->wait(std::chrono::hours{1});
        if (!got) {
          ++errors;
          db->logger().warn("Listening for new jobs: {}; listening again", got.error().describe());
          break;
        }
        if (std::any_of(got.value().begin(), got.value().end(),
                        [&](const std::string& job_type) { return handles(job_type); })) {
          ++notified;
          wake_workers();
        }
        const std::lock_guard check(mutex);
        if (stopping) break;
      }
      lock.lock();
      listener.reset();
    }
  }

  // Gives a claimed job back to pending, under its claim. Whether it was given back.
  bool give_back(const Job& job) {
    auto given =
        run_task(*db,
                 [&](Repositories& repos) {
                   return repos.jobs.finish_job(job, job_status::pending, runtime_released_note);
                 },
                 {.name = "release job"});
    if (given) return true;
    db->logger().warn("Job {}: giving it back failed; its lease will run out: {}", job.id,
                      given.error().describe());
    return false;
  }

  // The next claim of `slot`: the job, nothing when none is due, or an error. A claim whose
  // COMMIT was in doubt is read back: the worker holds at most one running job.
  result<std::optional<Job>> claim(const worker_slot& slot) {
    auto taken = detail::claim_for_work(*db, slot.type->job_type, slot.worker_id, slot.type->work);
    if (taken || taken.error().kind != errc::in_doubt) return taken;
    auto resolved = lookup(*db, [&](Repositories& repos) {
      return repos.jobs.find_claim(slot.type->job_type, slot.worker_id);
    });
    if (resolved) return resolved;
    return taken;
  }

  // One unit of work for the batch: each job's answer, the refusals (its claim was lost) among
  // them; an error when the unit itself failed. Idempotent: a retried unit whose COMMIT landed
  // unseen finds its own outcomes recorded.
  result<std::vector<result<Job>>> record_batch(const registered_type& type,
                                                const std::vector<completion*>& batch) {
    const task_options& task = type.work.task;
    auto recorded =
        unit_of_work(*db,
                     scope_options{.propagate = propagation::independent,
                                   .retry = task.retry,
                                   .idempotent = true,
                                   .name = "complete jobs",
                                   .statement_timeout = task.statement_timeout},
                     [&](Repositories& repos) -> result<std::vector<result<Job>>> {
                       std::vector<result<Job>> answers;
                       for (const completion* done : batch) {
                         const Job& claimed = *done->claimed;
                         auto finished = repos.jobs.finish_job(claimed, job_status::succeeded);
                         if (!finished && finished.error().kind == errc::invalid_state) {
                           REPOKIT_TRY(auto current, repos.jobs.get_job(claimed.id));
                           if (detail::recorded_by_claim(current, claimed, job_status::succeeded)) {
                             finished = std::move(current);
                           }
                         } else if (!finished) {
                           return failure(std::move(finished).error());
                         }
                         answers.push_back(std::move(finished));
                       }
                       return answers;
                     });
    if (recorded) ++batches;
    return recorded;
  }

  // A handler's success, recorded in a batch (group commit): the first worker to find no batch
  // being recorded records its own success and every one queued by then, while the others queue
  // theirs and wait. When it is done, it answers each of them and hands the recording over to
  // the first worker that queued meanwhile, which records the next batch. Alone, a worker
  // records its own, with no hand-over to another thread. Each worker waits on its own
  // completion: nothing wakes the others, and nobody takes the runtime's mutex to read an answer.
  result<Job> complete_in_batch(worker_slot& slot, const Job& claimed) {
    registered_type& type = *slot.type;
    completion& mine = slot.success;
    bool queued = false;
    {
      const std::lock_guard lock(mutex);
      mine.claimed = &claimed;
      mine.answer.reset();
      queued = type.recording;
      if (queued) type.to_complete.push_back(&mine);
      type.recording = true;
    }
    if (queued) {
      std::unique_lock lock(mine.mutex);
      mine.changed.wait(lock, [&] { return mine.now != completion::turn::waiting; });
      const completion::turn turn = std::exchange(mine.now, completion::turn::waiting);
      if (turn == completion::turn::answered) return std::move(*mine.answer);
    }

    std::vector<completion*> batch{&mine};
    {
      const std::lock_guard lock(mutex);
      batch.insert(batch.end(), type.to_complete.begin(), type.to_complete.end());
      type.to_complete.clear();
    }
    auto recorded = record_batch(type, batch);
    for (std::size_t k = 0; k < batch.size(); ++k) {
      batch[k]->answer =
          recorded ? std::move(recorded.value()[k]) : result<Job>(failure(recorded.error()));
    }
    completion* next = nullptr;
    {
      const std::lock_guard lock(mutex);
      if (type.to_complete.empty()) {
        type.recording = false;
      } else {
        next = type.to_complete.front();
        type.to_complete.erase(type.to_complete.begin());
      }
    }
    for (std::size_t k = 1; k < batch.size(); ++k) batch[k]->hand(completion::turn::answered);
    if (next) next->hand(completion::turn::recording);
    return std::move(*mine.answer);
  }

  void count(const result<Job>& finished, bool was_released) {
    if (!finished) {
      if (was_released) {
        ++released;
      } else if (finished.error().kind == errc::invalid_state) {
        ++lost;
      } else {
        ++errors;
      }
      return;
    }
    switch (finished.value().status) {
      case job_status::succeeded: ++succeeded; break;
      case job_status::pending: ++retried; break;
      case job_status::failed: ++failed; break;
      case job_status::dead: ++dead; break;
      case job_status::running: break;
    }
  }

  // Creates the occurrences that are due, then waits for the next one. Failures are tried again
  // after idle_poll_max.
  void run_schedules() {
    std::unique_lock lock(mutex);
    while (!stopping) {
      lock.unlock();
      const timestamp now = detail::now();
      timestamp next = now + std::chrono::hours{24};
      for (scheduled_job& job : schedules) {
        const timestamp due = occurrence_at(job.schedule, now);
        if (job.done != due) {
          auto made = run_task(
              *db,
              [&](Repositories& repos) { return repos.jobs.create_occurrence(job.schedule, now); },
              {.name = "schedule"});
          if (made) {
            job.done = due;
            if (made.value().created) ++scheduled;
          } else {
            ++errors;
            db->logger().warn("Periodic job {}: {}", job.schedule.name, made.error().describe());
            next = std::min(next, now + options.idle_poll_max);
          }
        }
        next = std::min(next, due + job.schedule.interval);
      }
      lock.lock();
      changed.wait_for(lock, next - detail::now(), [&] { return stopping; });
    }
    scheduling = false;
    changed.notify_all();
  }

  void work(worker_slot& slot) {
    auto idle = options.idle_poll_min;
    for (;;) {
      std::uint64_t seen_wakes = 0;
      {
        const std::lock_guard lock(mutex);
        if (stopping) break;
        seen_wakes = wakes;
      }
      auto taken = claim(slot);
      if (taken && taken.value()) {
        Job job = std::move(*taken.value());
        ++claimed;
        if (job.last_error == lease_expired_note) {
          ++rescued;
        } else {
          slot.type->add_to_start.record(waited_for_claim(job));
        }
        bool run_it = false;
        {
          const std::lock_guard lock(mutex);
          run_it = !stopping;
          if (run_it) slot.running = job;
        }
        if (!run_it) {  // claimed while stopping: not run
          if (give_back(job)) ++released;
          break;
        }
        auto finished = run(slot, job);
        bool was_released = false;
        {
          const std::lock_guard lock(mutex);
          slot.running.reset();
          was_released = std::exchange(slot.released, false);
        }
        count(finished, was_released);
        if (!finished && !was_released) {
          db->logger().warn("Job {}: {}", job.id, finished.error().describe());
        }
        idle = options.idle_poll_min;
        continue;
      }
      if (taken) ++empty_claims;
      if (!taken) {
        ++errors;
        db->logger().warn("Claiming a {} job failed: {}", slot.type->job_type,
                          taken.error().describe());
      }
      std::unique_lock lock(mutex);
      changed.wait_for(lock, idle, [&] { return stopping || wakes != seen_wakes; });
      idle = std::min(idle * 2, options.idle_poll_max);
    }
    {
      const std::lock_guard lock(mutex);
      slot.done = true;
    }
    changed.notify_all();
  }

  // Runs the handler on a job just claimed while its lease is renewed, then records the outcome:
  // a success in its type's batch when batches are on, and one by one otherwise, or when the
  // batch could not be recorded; the lease is renewed until it is.
  result<Job> run(worker_slot& slot, const Job& job) {
    registered_type& type = *slot.type;
    const auto timed = [&](job_context& context) {
      const timer running(type.run_time);
      return type.run(context);
    };
    lease_renewal renewal(*db, job, type.work.claim.lease, type.work.task, &heartbeats);
    const auto error = detail::run_work(job, timed, renewal, stop_handlers.get_token());
    if (!error && in_batches) {
      auto batched = complete_in_batch(slot, job);
      if (batched || batched.error().kind == errc::invalid_state) return batched;
      db->logger().warn("Job {}: recording its success in a batch failed, recording it alone: {}",
                        job.id, batched.error().describe());
    }
    return detail::record_while_leased(*db, job, error, type.work, renewal);
  }
};

worker_runtime::worker_runtime(const Database& db, runtime_options options)
    : state_(std::make_unique<state>()) {
  state_->db = &db;
  if (options.name.empty()) options.name = default_name();
  state_->options = std::move(options);
}

worker_runtime::~worker_runtime() {
  stop(std::chrono::seconds{30});
  state_->threads.clear();  // joins: a handler that ignored the stop is waited for
}

result<void> worker_runtime::add_handler(std::string_view job_type, handler run,
                                         job_type_options options) {
  const std::lock_guard lock(state_->mutex);
  if (state_->started) {
    return failure(errc::misuse, "handlers are registered before the worker runtime starts");
  }
  if (job_type.empty() || !run) {
    return failure(errc::invalid_argument, "a handler needs a job type and a callable");
  }
  if (options.concurrency < 1) {
    return failure(errc::invalid_argument, "the concurrency of job type " + std::string(job_type) +
                                               " must be at least 1, got " +
                                               std::to_string(options.concurrency));
  }
  for (const auto& type : state_->types) {
    if (type->job_type == job_type) {
      return failure(errc::invalid_argument,
                     "job type " + std::string(job_type) + " already has a handler");
    }
  }
  REPOKIT_TRYV(detail::check_claim_options(options.claim));
  if (options.retry) REPOKIT_TRYV(detail::check_retry_policy(*options.retry));
  auto type = std::make_unique<registered_type>();
  type->job_type = std::string(job_type);
  type->run = std::move(run);
  type->work = work_options{.claim = options.claim, .retry = options.retry, .task = options.task};
  type->concurrency = options.concurrency;
  state_->types.push_back(std::move(type));
  return success();
}

result<void> worker_runtime::schedule(periodic_job schedule) {
  const std::lock_guard lock(state_->mutex);
  if (state_->started) {
    return failure(errc::misuse, "schedules are added before the worker runtime starts");
  }
  REPOKIT_TRYV(detail::check_periodic_job(schedule));
  if (schedule.job_type.empty()) {
    return failure(errc::invalid_argument, "periodic job " + schedule.name + " needs a job type");
  }
  for (const scheduled_job& existing : state_->schedules) {
    if (existing.schedule.name == schedule.name) {
      return failure(errc::invalid_argument,
                     "periodic job " + schedule.name + " is already scheduled");
    }
  }
  state_->schedules.push_back({.schedule = std::move(schedule)});
  return success();
}

result<void> worker_runtime::start() {
  const std::lock_guard lock(state_->mutex);
  if (state_->started) return failure(errc::misuse, "the worker runtime is already started");
  if (state_->types.empty() && state_->schedules.empty()) {
    return failure(errc::misuse, "the worker runtime has no handler and no schedule to run");
  }
  if (state_->options.idle_poll_min <= std::chrono::milliseconds{0} ||
      state_->options.idle_poll_max < state_->options.idle_poll_min) {
    return failure(errc::invalid_argument,
                   "the runtime's polling needs 0 < idle_poll_min <= idle_poll_max");
  }
  state_->started = true;
  state_->in_batches =
      state_->options.complete_in_batches.value_or(state_->db->kind() != dialect::sqlite);
  for (const auto& type : state_->types) {
    for (int n = 0; n < type->concurrency; ++n) {
      auto slot = std::make_unique<worker_slot>();
      slot->worker_id = state_->options.name + "/" + type->job_type + "/" + std::to_string(n);
      slot->type = type.get();
      state_->slots.push_back(std::move(slot));
    }
  }
  for (const auto& slot : state_->slots) {
    state_->threads.emplace_back([state = state_.get(), slot = slot.get()] { state->work(*slot); });
  }
  if (!state_->schedules.empty()) {
    state_->scheduling = true;
    state_->threads.emplace_back([state = state_.get()] { state->run_schedules(); });
  }
  if (state_->options.listen && !state_->types.empty() &&
      state_->db->kind() == dialect::postgresql) {
    state_->threads.emplace_back([state = state_.get()] { state->listen_for_jobs(); });
  }
  return success();
}

void worker_runtime::wake() { state_->wake_workers(); }

stop_report worker_runtime::stop(std::chrono::milliseconds deadline) {
  state& s = *state_;
  std::unique_lock lock(s.mutex);
  if (s.stopped) return *s.stopped;
  s.stopping = true;
  stop_report report;
  for (const auto& slot : s.slots) report.in_flight += slot->running ? 1 : 0;
  if (s.listener) s.listener->interrupt();
  s.changed.notify_all();
  lock.unlock();
  s.stop_handlers.request_stop();
  lock.lock();

  // Every worker's loop has ended, and the scheduler's: an occurrence it was creating is counted.
  const auto all_done = [&] {
    return !s.scheduling &&
           std::all_of(s.slots.begin(), s.slots.end(), [](const auto& slot) { return slot->done; });
  };
  s.changed.wait_until(lock, steady::now() + deadline, all_done);
  // Handlers still running past the deadline: their jobs go back to pending for another worker.
  std::vector<Job> overdue;
  for (const auto& slot : s.slots) {
    if (slot->running && !slot->released) {
      slot->released = true;
      overdue.push_back(*slot->running);
    }
  }
  lock.unlock();
  for (const Job& job : overdue) {
    if (s.give_back(job)) {
      ++report.released;
    } else {
      ++report.left_to_lease;
    }
  }
  lock.lock();
  s.stopped = report;
  return report;
}

runtime_counters worker_runtime::counters() const {
  const state& s = *state_;
  return runtime_counters{.claimed = s.claimed,
                          .succeeded = s.succeeded,
                          .retried = s.retried,
                          .failed = s.failed,
                          .dead = s.dead,
                          .rescued = s.rescued,
                          .lost = s.lost,
                          .released = s.released,
                          .errors = s.errors,
                          .scheduled = s.scheduled,
                          .notified = s.notified,
                          .empty_claims = s.empty_claims,
                          .heartbeats = s.heartbeats,
                          .batches = s.batches};
}

runtime_metrics worker_runtime::metrics() const {
  runtime_metrics out{.counters = counters(), .types = {}};
  const std::lock_guard lock(state_->mutex);  // the types are registered under it
  for (const auto& type : state_->types) {
    out.types.push_back({.job_type = type->job_type,
                         .add_to_start = type->add_to_start.snapshot(),
                         .run_time = type->run_time.snapshot()});
  }
  return out;
}

}  // namespace repokit
