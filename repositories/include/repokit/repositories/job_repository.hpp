// JobRepository: processing jobs, inside one unit of work. A job moves
//   pending -> running -> succeeded | failed,   running | failed -> pending (requeue),
//   pending -> failed (cancel);
// every other move is refused with errc::invalid_state and changes nothing.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

#include "repokit/repositories/records.hpp"
#include "repokit/result.hpp"
#include "repokit/unit_of_work.hpp"

namespace repokit {

// What reconcile_stale did.
struct reconcile_report {
  std::uint64_t requeued = 0;  // back to pending, to be claimed again
  std::uint64_t failed = 0;    // out of attempts: failed for good
};

// The statuses during which a (job_type, target_id) pair may have only one job.
inline constexpr std::array<job_status, 2> active_job_statuses{job_status::pending,
                                                               job_status::running};

// Whether a job may move from `from` to `to`.
bool is_allowed_transition(job_status from, job_status to) noexcept;

class JobRepository {
 public:
  explicit JobRepository(UnitOfWork& unit) noexcept : unit_(&unit) {}

  // A new pending job. errc::integrity if an active job exists for the same type and target.
  result<Job> create_job(std::string_view job_type, std::string_view target_id,
                         std::string_view parameters = "{}");
  // errc::not_found when there is no such job.
  result<Job> get_job(std::int64_t id);
  // Whether a job of this type and target is in one of `statuses` (1 to 4 of them).
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
  result<created_or_existing<Job>> create_if_not_exists(
      std::string_view job_type, std::string_view target_id, std::string_view parameters = "{}",
      std::span<const job_status> check_statuses = active_job_statuses);

  // Atomically takes the oldest pending job of this type and marks it running for `worker_id`,
  // counting an attempt; nothing when none is pending. Concurrent workers never get the same
  // job (FOR UPDATE SKIP LOCKED on PostgreSQL, the write lock on SQLite).
  result<std::optional<Job>> claim_next(std::string_view job_type, std::string_view worker_id);

  // Records the outcome of a job this worker claimed: succeeded (clearing last_error, or setting
  // it to `error` as a note), failed (with `error`) or pending (give it back). Guarded by the
  // claim: if the job was reconciled and claimed again meanwhile, the update is refused with
  // errc::invalid_state and changes nothing.
  result<Job> finish_job(const Job& claimed, job_status outcome,
                         std::optional<std::string_view> error = std::nullopt);

  // Running jobs not updated for `older_than` or longer (their worker died) go back to pending,
  // or to failed once they have had `max_attempts` attempts. For worker start-up.
  result<reconcile_report> reconcile_stale(std::chrono::milliseconds older_than,
                                           std::int64_t max_attempts = 3);

  UnitOfWork& unit() const noexcept { return *unit_; }

 private:
  UnitOfWork* unit_;
};

}  // namespace repokit
