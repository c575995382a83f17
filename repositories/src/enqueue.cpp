#include "repokit/repositories/enqueue.hpp"

#include <optional>

#include <spdlog/logger.h>

namespace repokit {
namespace {

// Whether `found` is the job an attempt created before its COMMIT was in doubt. The id alone is
// not enough: SQLite may give a rolled-back row's id to the next insert.
bool same_job(const Job& found, const Job& created) {
  return found.job_type == created.job_type && found.target_id == created.target_id &&
         found.created_at == created.created_at;
}

}  // namespace

result<created_or_existing<Job>> enqueue(const Database& db, const job_request& request,
                                         task_options options) {
  constexpr int max_in_doubt = 3;
  for (int in_doubt = 1;; ++in_doubt) {
    // What the last attempt's body answered before its COMMIT.
    std::optional<created_or_existing<Job>> answered;
    auto made = run_task(
        db,
        [&](Repositories& repos) -> result<created_or_existing<Job>> {
          answered.reset();
          REPOKIT_TRY(auto job, repos.jobs.create_if_not_exists(
                                    request.job_type, request.target_id, request.parameters,
                                    request.check_statuses, request.schedule));
          answered = job;
          return job;
        },
        options);
    if (made || made.error().kind != errc::in_doubt || !answered) return made;
    // The job that answered existed before this attempt: its COMMIT wrote nothing that matters.
    if (!answered->created) return std::move(*answered);
    auto landed = lookup(db, [&](Repositories& repos) -> result<std::optional<Job>> {
      auto found = repos.jobs.get_job(answered->record.id);
      if (!found && found.error().kind == errc::not_found) return std::optional<Job>{};
      REPOKIT_TRY(auto job, std::move(found));
      if (!same_job(job, answered->record)) return std::optional<Job>{};
      return std::optional<Job>{std::move(job)};
    });
    if (!landed) {
      db.logger().warn("enqueue {}/{}: its COMMIT was in doubt and reading it back failed: {}",
                       request.job_type, request.target_id, landed.error().describe());
      return made;
    }
    if (landed.value()) return created_or_existing<Job>{std::move(*landed.value()), true};
    if (in_doubt == max_in_doubt) return made;
  }
}

}  // namespace repokit
