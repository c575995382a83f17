#include "repokit/repositories/tasks.hpp"

#include <string>

#include "repokit/repositories/phased_job.hpp"

namespace repokit::detail {

result<void> refuse_inherited_unit(std::string_view task) {
  if (!UnitOfWork::open_on_this_thread()) return success();
  return failure(errc::misuse,
                 std::string(task) +
                     ": this thread already has a unit of work open; a task must not inherit "
                     "its caller's transaction. End the outer scope first, or call the "
                     "repositories of the outer unit instead");
}

result<std::optional<Job>> claim_for_work(const Database& db, std::string_view job_type,
                                          std::string_view worker_id, const work_options& options) {
  return run_task(
      db,
      [&](Repositories& repos) {
        return repos.jobs.claim_next(job_type, worker_id, options.claim);
      },
      options.task);
}

result<Job> record_outcome(const Database& db, const Job& claimed,
                           const std::optional<std::string>& error, const work_options& options) {
  const task_options& task = options.task;
  REPOKIT_TRYV(refuse_inherited_unit(task.name));  // the work must not leave a unit open
  const bool retried = error && options.retry && claimed.attempts < options.retry->max_attempts;
  const job_status outcome = !error          ? job_status::succeeded
                             : retried       ? job_status::pending
                             : options.retry ? job_status::dead
                                             : job_status::failed;
  // Idempotent: when a connection dies during COMMIT the outcome may have landed. The retry
  // then finds the job already moved under this very claim, which is success, not a refusal.
  return unit_of_work(
      db,
      scope_options{.propagate = propagation::independent,
                    .retry = task.retry,
                    .idempotent = true,
                    .name = task.name,
                    .statement_timeout = task.statement_timeout},
      [&](Repositories& repos) -> result<Job> {
        auto finished = !error          ? repos.jobs.finish_job(claimed, outcome)
                        : options.retry ? repos.jobs.retry_or_fail(claimed, *error, *options.retry)
                                        : repos.jobs.finish_job(claimed, outcome, *error);
        if (finished || finished.error().kind != errc::invalid_state) return finished;
        REPOKIT_TRY(auto current, repos.jobs.get_job(claimed.id));
        if (recorded_by_claim(current, claimed, outcome)) return current;
        return finished;
      });
}

bool recorded_by_claim(const Job& current, const Job& claimed, job_status outcome) noexcept {
  return current.status == outcome && current.attempts == claimed.attempts &&
         current.worker_id == claimed.worker_id;
}

result<Job> record_while_leased(const Database& db, const Job& claimed,
                                const std::optional<std::string>& error,
                                const work_options& options, const lease_renewal& renewal) {
  for (;;) {
    auto finished = record_outcome(db, claimed, error, options);
    if (finished) return finished;
    if (!finished.error().retryable() || renewal.claim_lost() || !renewal.lease_live()) {
      return finished;
    }
  }
}

}  // namespace repokit::detail
