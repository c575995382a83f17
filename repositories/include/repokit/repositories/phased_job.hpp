// Long work must not hold a session. work_on_next_job runs a job in three phases:
//   1. claim: a unit that takes the next due job and marks it running under a lease, then
//      commits;
//   2. work:  work(job) with no session held (it may open units of its own), while heartbeats
//      renew the lease;
//   3. record: a new unit that stores the outcome, guarded by the claim.
#pragma once

#include <exception>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>

#include "repokit/repositories/lease_renewal.hpp"
#include "repokit/repositories/tasks.hpp"

namespace repokit {

struct work_options {
  // The claim's lease, renewed every third of it while the work runs, and the attempts after
  // which a job whose lease expired is no longer taken over.
  claim_options claim{};
  // When set, work that fails sends the job back to pending after a backoff while it has
  // attempts left (retry_or_fail); when empty, it fails the job for good.
  std::optional<job_retry_policy> retry{};
  task_options task{};  // the units that claim, renew and record
};

namespace detail {
result<std::optional<Job>> claim_for_work(const Database& db, std::string_view job_type,
                                          std::string_view worker_id, const work_options& options);
result<Job> record_outcome(const Database& db, const Job& claimed,
                           const std::optional<std::string>& error, const work_options& options);
}  // namespace detail

// Claims the next due job of `job_type` for `worker_id`, runs work(const Job&) outside any
// unit of work while its lease is renewed, and records succeeded, or, when work returns an
// error or throws, the error's text with failed (or, under options.retry, a retry). An outcome
// that cannot be recorded within its unit's retries is tried again while the lease, still
// renewed, holds: it is given up only when the claim is lost or the lease has run out. Answers the
// finished job, or nothing when no job was due; errc::invalid_state when the claim was lost
// meanwhile (the work ran past an expired lease and another worker took the job over).
template <class Work>
result<std::optional<Job>> work_on_next_job(const Database& db, std::string_view job_type,
                                            std::string_view worker_id, Work&& work,
                                            work_options options = {}) {
  REPOKIT_TRY(auto claimed, detail::claim_for_work(db, job_type, worker_id, options));
  if (!claimed) return std::optional<Job>{};

  const lease_renewal renewal(db, *claimed, options.claim.lease, options.task);
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
  for (;;) {
    auto finished = detail::record_outcome(db, *claimed, error, options);
    if (finished) return std::optional<Job>{std::move(finished).value()};
    if (!finished.error().retryable() || renewal.claim_lost() || !renewal.lease_live()) {
      return failure(std::move(finished).error());
    }
  }
}

}  // namespace repokit
