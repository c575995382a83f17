// Long work must not hold a session. work_on_next_job runs a job in three phases:
//   1. claim: a unit that takes the next pending job and marks it running, then commits;
//   2. work:  work(job) with no session held (it may open units of its own);
//   3. record: a new unit that stores the outcome, guarded by the claim.
#pragma once

#include <exception>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>

#include "repokit/repositories/tasks.hpp"

namespace repokit {

namespace detail {
result<std::optional<Job>> claim_for_work(const Database& db, std::string_view job_type,
                                          std::string_view worker_id, const task_options& options);
result<Job> record_outcome(const Database& db, const Job& claimed, std::optional<std::string> error,
                           const task_options& options);
}  // namespace detail

// Claims the next pending job of `job_type` for `worker_id`, runs work(const Job&) outside any
// unit of work, and records succeeded, or failed with the error's text when work returns an
// error or throws. Answers the finished job, or nothing when no job was pending.
template <class Work>
result<std::optional<Job>> work_on_next_job(const Database& db, std::string_view job_type,
                                            std::string_view worker_id, Work&& work,
                                            task_options options = {}) {
  REPOKIT_TRY(auto claimed, detail::claim_for_work(db, job_type, worker_id, options));
  if (!claimed) return std::optional<Job>{};

  std::optional<std::string> error;
  try {
    if constexpr (std::is_void_v<std::invoke_result_t<Work&, const Job&>>) {
      work(std::as_const(*claimed));
    } else {
      auto outcome = work(std::as_const(*claimed));
      if (!outcome) error = outcome.error().describe();
    }
  } catch (const std::exception& e) {
    error = std::string("exception: ") + e.what();
  } catch (...) {
    error = "unknown exception";
  }
  REPOKIT_TRY(auto finished, detail::record_outcome(db, *claimed, std::move(error), options));
  return std::optional<Job>{std::move(finished)};
}

}  // namespace repokit
