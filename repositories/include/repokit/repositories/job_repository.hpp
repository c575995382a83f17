// JobRepository: processing jobs, inside one unit of work. A job moves
//   pending -> running -> succeeded | failed,   running | failed -> pending (requeue),
//   pending -> failed (cancel);
// every other move is refused with errc::invalid_state and changes nothing.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

#include "repokit/repositories/records.hpp"
#include "repokit/result.hpp"
#include "repokit/unit_of_work.hpp"

namespace repokit {

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

  UnitOfWork& unit() const noexcept { return *unit_; }

 private:
  UnitOfWork* unit_;
};

}  // namespace repokit
