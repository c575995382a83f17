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
                                          std::string_view worker_id, const task_options& options) {
  return run_task(
      db, [&](Repositories& repos) { return repos.jobs.claim_next(job_type, worker_id); },
      options);
}

result<Job> record_outcome(const Database& db, const Job& claimed, std::optional<std::string> error,
                           const task_options& options) {
  REPOKIT_TRYV(refuse_inherited_unit(options.name));  // the work must not leave a unit open
  return run_task(
      db,
      [&](Repositories& repos) {
        return error ? repos.jobs.finish_job(claimed, job_status::failed, *error)
                     : repos.jobs.finish_job(claimed, job_status::succeeded);
      },
      options);
}

}  // namespace repokit::detail
