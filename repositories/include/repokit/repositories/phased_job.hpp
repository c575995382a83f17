// Long work must not hold a session. work_on_next_job runs a job in three phases:
//   1. claim: a unit that takes the next due job and marks it running under a lease, then
//      commits;
//   2. work:  work(job) with no session held (it may open units of its own), while heartbeats
//      renew the lease;
//   3. record: a new unit that stores the outcome, guarded by the claim.
#pragma once

#include <exception>
#include <optional>
#include <stop_token>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include "repokit/repositories/lease_renewal.hpp"
#include "repokit/repositories/tasks.hpp"

namespace repokit {

struct work_options {
  // The claim's lease, renewed every third of it while the work runs, and the attempts after
  // which a job whose lease expired is no longer taken over.
  claim_options claim{};
  // When set, work that fails sends the job back to pending after a backoff while it has
  // attempts left, then makes it dead (retry_or_fail); when empty, it fails the job.
  std::optional<job_retry_policy> retry{};
  task_options task{};  // the units that claim, renew and record
};

// What a job's work sees while it runs: the job, its claim's fate, and whether its runtime is
// stopping. Long work calls heartbeat() between its phases to learn, at once, that the job was
// cancelled or taken over (the lease is renewed in the background either way).
class job_context {
 public:
  job_context(const Job& job, lease_renewal& renewal, std::stop_token stop) noexcept
      : job_(&job), renewal_(&renewal), stop_(std::move(stop)) {}

  const Job& job() const noexcept { return *job_; }
  // Renews the lease now: errc::invalid_state when the claim is lost (the job was cancelled,
  // finished by someone else or taken over after its lease expired); the work should stop, as
  // its outcome will be refused. Call it with no unit of work open.
  result<void> heartbeat() { return renewal_->renew_now(); }
  // Whether a renewal found the claim lost.
  bool claim_lost() const noexcept { return renewal_->claim_lost(); }
  // Whether the runtime running this work is stopping: finish soon, or return an error so that
  // the job is retried.
  bool stop_requested() const noexcept { return stop_.stop_requested(); }
  const std::stop_token& stop_token() const noexcept { return stop_; }

 private:
  const Job* job_;
  lease_renewal* renewal_;
  std::stop_token stop_;
};

namespace detail {
result<std::optional<Job>> claim_for_work(const Database& db, std::string_view job_type,
                                          std::string_view worker_id, const work_options& options);
result<Job> record_outcome(const Database& db, const Job& claimed,
                           const std::optional<std::string>& error, const work_options& options);

// Whether `current` shows `outcome` recorded under the claim `claimed` (same attempt, same
// worker): a retried unit whose first COMMIT landed unseen finds its own outcome there.
bool recorded_by_claim(const Job& current, const Job& claimed, job_status outcome) noexcept;

// Records the outcome of work on `claimed`, again and again while its lease, still renewed by
// `renewal`, holds: given up only when the claim is lost, the lease has run out or the error is
// not retryable.
result<Job> record_while_leased(const Database& db, const Job& claimed,
                                const std::optional<std::string>& error,
                                const work_options& options, const lease_renewal& renewal);

// Runs work on a job just claimed, outside any unit of work, while `renewal` renews its lease:
// the text of its error, or nothing when it succeeded.
template <class Work>
std::optional<std::string> run_work(const Job& claimed, Work& work, lease_renewal& renewal,
                                    std::stop_token stop = {}) {
  try {
    auto outcome = [&] {
      if constexpr (std::is_invocable_v<Work&, job_context&>) {
        job_context context(claimed, renewal, std::move(stop));
        return work(context);
      } else {
        return work(claimed);
      }
    };
    if constexpr (std::is_void_v<decltype(outcome())>) {
      outcome();
    } else if (auto failed = outcome(); !failed) {
      return failed.error().describe();
    }
  } catch (const std::exception& e) {
    return std::string("exception: ") + e.what();
  } catch (...) {
    return std::string("unknown exception");
  }
  return std::nullopt;
}

// Runs work on a job just claimed, outside any unit of work and while its lease is renewed, then
// records the outcome, again while the lease holds (see work_on_next_job).
template <class Work>
result<Job> run_claimed(const Database& db, const Job& claimed, Work& work,
                        const work_options& options, std::stop_token stop = {}) {
  lease_renewal renewal(db, claimed, options.claim.lease, options.task);
  const std::optional<std::string> error = run_work(claimed, work, renewal, std::move(stop));
  return record_while_leased(db, claimed, error, options, renewal);
}
}  // namespace detail

// Claims the next due job of `job_type` for `worker_id`, runs work(const Job&) (or
// work(job_context&)) outside any unit of work while its lease is renewed, and records
// succeeded, or, when work returns an error or throws, the error's text with failed (or, under
// options.retry, a retry, and dead once out of attempts). An outcome that cannot be recorded within
// its unit's retries is tried again while the lease, still renewed, holds: it is given up only when
// the claim is lost or the lease has run out. Answers the finished job, or nothing when no job was
// due; errc::invalid_state when the claim was lost meanwhile (the job was cancelled, or the work
// ran past an expired lease and another worker took the job over).
template <class Work>
result<std::optional<Job>> work_on_next_job(const Database& db, std::string_view job_type,
                                            std::string_view worker_id, Work&& work,
                                            work_options options = {}) {
  REPOKIT_TRY(auto claimed, detail::claim_for_work(db, job_type, worker_id, options));
  if (!claimed) return std::optional<Job>{};
  REPOKIT_TRY(auto finished, detail::run_claimed(db, *claimed, work, options));
  return std::optional<Job>{std::move(finished)};
}

}  // namespace repokit
