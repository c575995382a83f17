// JobRepository: processing jobs, inside one unit of work. A job moves
//   pending -> running -> succeeded | failed | dead,   running | failed | dead -> pending
//   (requeue),   pending -> failed (cancel);
// every other move is refused with errc::invalid_state and changes nothing. A claim holds its
// job for a lease, which the claiming worker renews with heartbeats; once the lease has expired
// another worker may claim the job again, and the first claim's outcome is refused.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "repokit/repositories/records.hpp"
#include "repokit/result.hpp"
#include "repokit/retry/backoff.hpp"
#include "repokit/unit_of_work.hpp"

namespace repokit {

// What reconcile_stale did.
struct reconcile_report {
  std::uint64_t requeued = 0;  // back to pending, to be claimed again
  std::uint64_t dead = 0;      // out of attempts: dead, kept until requeued by hand
};

// How long a claim holds its job unless renewed, when the caller does not say.
inline constexpr std::chrono::milliseconds default_lease = std::chrono::minutes{1};
// The last_error of a job a claim took over after the previous claim's lease had expired.
inline constexpr std::string_view lease_expired_note =
    "lease expired: its worker stopped renewing it";
// The start of a cancelled job's last_error.
inline constexpr std::string_view cancelled_note = "cancelled: ";
// On PostgreSQL, the channel on which each new job's creation is notified when it commits, with
// its job_type as the payload: idle workers listening there claim at once instead of at their
// next poll.
inline constexpr std::string_view job_notification_channel = "repokit_jobs";
// The longest lease a claim or heartbeat may ask for.
inline constexpr std::chrono::milliseconds max_lease = std::chrono::hours{24 * 30};

struct claim_options {
  std::chrono::milliseconds lease = default_lease;
  // A job whose lease expired is claimed again only while it has had fewer attempts than this;
  // after that it stays running until reconcile_stale marks it dead.
  std::int64_t max_attempts = 3;
};

// How a job type's failed attempts are retried: back to pending, due after a backoff, while the
// job has had fewer than `max_attempts` attempts; dead after that, kept with its last error
// until requeued by hand.
struct job_retry_policy {
  std::int64_t max_attempts = 3;
  backoff delay{.initial_delay = seconds{1}, .max_delay = seconds{300}};
};

// When a new job may be claimed, and before which others.
struct job_schedule {
  std::optional<timestamp> run_at{};  // not claimable before; now when empty
  std::int32_t priority = 0;          // claims take higher priorities first, then earlier run_at
};

// A job to create: create_if_not_exists's arguments but the statuses checked.
struct new_job {
  std::string_view job_type;
  std::string_view target_id;
  std::string_view parameters = "{}";
  job_schedule schedule{};
};

// The most jobs one create_all_if_not_exists call takes.
inline constexpr std::size_t max_job_batch = 1000;

// A job created every `interval`: its occurrence at t, a whole number of intervals since the
// epoch, is the job of `job_type` whose target_id is "<name>@<t in ms since the epoch>", due at t.
struct periodic_job {
  std::string name;
  std::string job_type;
  std::chrono::milliseconds interval{};
  std::string parameters = "{}";
  std::int32_t priority = 0;
};

// When the occurrence of `schedule` that covers `now` is due: the last whole interval at or
// before it.
timestamp occurrence_at(const periodic_job& schedule, timestamp now) noexcept;

// The statuses during which a (job_type, target_id) pair may have only one job.
inline constexpr std::array<job_status, 2> active_job_statuses{job_status::pending,
                                                               job_status::running};

// How many jobs of one type are in one status.
struct queue_depth {
  std::string job_type;
  job_status status = job_status::pending;
  std::int64_t jobs = 0;
  bool operator==(const queue_depth&) const = default;
};

// The statuses queue_depths counts unless told: all but succeeded, which only grows.
inline constexpr std::array<job_status, 4> queued_job_statuses{
    job_status::pending, job_status::running, job_status::failed, job_status::dead};

// Whether a job may move from `from` to `to`.
bool is_allowed_transition(job_status from, job_status to) noexcept;

class JobRepository {
 public:
  explicit JobRepository(UnitOfWork& unit) noexcept : unit_(&unit) {}

  // A new pending job. errc::integrity if an active job exists for the same type and target.
  result<Job> create_job(std::string_view job_type, std::string_view target_id,
                         std::string_view parameters = "{}", const job_schedule& schedule = {});
  // errc::not_found when there is no such job.
  result<Job> get_job(std::int64_t id);
  // Whether a job of this type and target is in one of `statuses` (1 to 5 of them).
  result<bool> job_exists(std::string_view job_type, std::string_view target_id,
                          std::span<const job_status> statuses = active_job_statuses);
  // Moves a job, guarded: errc::invalid_state (row unchanged) when the job's current status does
  // not allow the move, errc::not_found when there is no such job. `last_error` is kept on
  // failure; moving to running counts an attempt.
  result<Job> update_job_status(std::int64_t id, job_status status,
                                std::optional<std::string_view> last_error = std::nullopt);

  // The job of this type and target in one of `check_statuses`, or a new pending one: atomically,
  // so concurrent callers create it exactly once and the losers get the winner's job, never an
  // error. The default statuses are guarded by the unique index of active jobs (an upsert);
  // other sets by a transaction-scoped lock on (job_type, target_id) on PostgreSQL and by the
  // write lock on SQLite. A job stays unique while active whatever the statuses asked for.
  // `schedule` applies to a job this call creates; an existing job keeps its own.
  result<created_or_existing<Job>> create_if_not_exists(
      std::string_view job_type, std::string_view target_id, std::string_view parameters = "{}",
      std::span<const job_status> check_statuses = active_job_statuses,
      const job_schedule& schedule = {});

  // create_if_not_exists with the default (active) statuses for each job of a batch, in one
  // statement for the batch, and one more, when some already existed, to read them: answers,
  // in the order asked, each job created or found. A (job_type, target_id) named twice is
  // created once, and answers the same job both times. errc::invalid_argument, with nothing
  // written, for an empty batch, one above max_job_batch, or a job that create_job refuses
  // (the message names its index).
  result<std::vector<created_or_existing<Job>>> create_all_if_not_exists(
      std::span<const new_job> jobs);

  // Creates the job of `schedule`'s occurrence that covers `now`, unless one exists in any status:
  // schedulers on many machines create each occurrence exactly once (`created` is true for one
  // of them). errc::invalid_argument for a name with '@', or an interval not above zero.
  result<created_or_existing<Job>> create_occurrence(const periodic_job& schedule, timestamp now);

  // Atomically takes a job of this type and marks it running for `worker_id` under a lease of
  // `options.lease`, counting an attempt; nothing when none is due. It takes first a running
  // job whose lease has expired (while it has attempts left), then the due pending job of
  // highest priority, earliest run_at, lowest id. Concurrent workers never get the same job
  // (SKIP LOCKED on PostgreSQL and MariaDB, the write lock on SQLite).
  result<std::optional<Job>> claim_next(std::string_view job_type, std::string_view worker_id,
                                        const claim_options& options = {});

  // The running job of this type that `worker_id` holds under a live lease, if any. A worker
  // holds one job at a time: after a claim whose COMMIT was in doubt, this says whether the
  // claim landed.
  result<std::optional<Job>> find_claim(std::string_view job_type, std::string_view worker_id);

  // Records a failed attempt of a job this worker claimed, with `error` as its last error: back
  // to pending, due after `policy.delay` (for the attempt it just had, with jitter), while it has
  // had fewer than `policy.max_attempts` attempts; dead once it has had them all.
  // Guarded by the claim like finish_job. The job keeps this worker's id while it waits.
  result<Job> retry_or_fail(const Job& claimed, std::string_view error,
                            const job_retry_policy& policy = {});

  // Renews the lease of a job this worker claimed: it now ends `lease` from now. Guarded by the
  // claim like finish_job: errc::invalid_state when the job was claimed again or has finished,
  // which tells the worker its outcome will not be recorded.
  result<Job> heartbeat(const Job& claimed, std::chrono::milliseconds lease = default_lease);

  // Records the outcome of a job this worker claimed: succeeded (clearing last_error, or setting
  // it to `error` as a note), failed or dead (with `error`) or pending (give it back). Guarded by
  // the claim: if the job was reconciled and claimed again meanwhile, the update is refused with
  // errc::invalid_state and changes nothing.
  result<Job> finish_job(const Job& claimed, job_status outcome,
                         std::optional<std::string_view> error = std::nullopt);

  // Cancels a job that has not finished: it becomes failed with last_error "cancelled: " and
  // `reason`. A pending job is never claimed; a running one's worker learns it at its next
  // heartbeat, and its outcome is refused. Requeue it (update_job_status to pending) to run it
  // after all. errc::invalid_state when the job has finished, errc::not_found when there is none.
  result<Job> cancel_job(std::int64_t id, std::string_view reason = "by request");

  // Running jobs whose lease has expired and that were not claimed or renewed for `older_than`
  // or longer (their worker died) go back to pending, or are dead once they have had
  // `max_attempts` attempts. A job under a live lease is never touched. For worker start-up.
  result<reconcile_report> reconcile_stale(std::chrono::milliseconds older_than,
                                           std::int64_t max_attempts = 3);

  // How many jobs of each type are in each of `statuses` (1 to 5 of them), ordered by type, then
  // status name; a type and status with no job is left out. It reads every job in those
  // statuses (through the claim index): meant for a metrics scrape, not for every request.
  result<std::vector<queue_depth>> queue_depths(
      std::span<const job_status> statuses = queued_job_statuses);

  UnitOfWork& unit() const noexcept { return *unit_; }

 private:
  // Why a guarded update under `claimed` matched nothing, as errc::invalid_state.
  error claim_lost(const Job& claimed, std::string_view consequence);

  UnitOfWork* unit_;
};

}  // namespace repokit
