#include "repokit/repositories/enqueue.hpp"

#include <optional>
#include <utility>

#include <spdlog/logger.h>

namespace repokit {
namespace {

// Whether `created`, a job an attempt created before its COMMIT was in doubt, is in the
// database. Its id alone is not enough: SQLite may give a rolled-back row's id to the next insert.
result<bool> landed(const Database& db, const Job& created) {
  return lookup(db, [&](Repositories& repos) -> result<bool> {
    auto found = repos.jobs.get_job(created.id);
    if (!found && found.error().kind == errc::not_found) return false;
    REPOKIT_TRY(auto job, std::move(found));
    return job.job_type == created.job_type && job.target_id == created.target_id &&
           job.created_at == created.created_at;
  });
}

const Job* first_created(const created_or_existing<Job>& answer) {
  return answer.created ? &answer.record : nullptr;
}
const Job* first_created(const std::vector<created_or_existing<Job>>& answer) {
  for (const auto& job : answer) {
    if (job.created) return &job.record;
  }
  return nullptr;
}

// Runs create(Repositories&) in a task until it answers, made again after a COMMIT in doubt that
// did not land, three times at most. The answer of an attempt whose COMMIT landed stands; one
// that created nothing wrote nothing that matters, and stands too.
template <class Answer, class Create>
result<Answer> create_resolving_doubt(const Database& db, Create create,
                                      const task_options& options, std::string_view what) {
  constexpr int max_in_doubt = 3;
  for (int in_doubt = 1;; ++in_doubt) {
    std::optional<Answer> answered;  // what the last attempt's body answered before its COMMIT
    auto made = run_task(
        db,
        [&](Repositories& repos) -> result<Answer> {
          answered.reset();
          REPOKIT_TRY(auto answer, create(repos.jobs));
          answered = answer;
          return answer;
        },
        options);
    if (made || made.error().kind != errc::in_doubt || !answered) return made;
    const Job* created = first_created(*answered);
    if (created == nullptr) return std::move(*answered);
    auto found = landed(db, *created);
    if (!found) {
      db.logger().warn("{}: its COMMIT was in doubt and reading it back failed: {}", what,
                       found.error().describe());
      return made;
    }
    if (found.value()) return std::move(*answered);
    if (in_doubt == max_in_doubt) return made;
  }
}

}  // namespace

result<created_or_existing<Job>> enqueue(const Database& db, const new_job& job,
                                         std::span<const job_status> check_statuses,
                                         task_options options) {
  return create_resolving_doubt<created_or_existing<Job>>(
      db,
      [&](JobRepository& jobs) {
        return jobs.create_if_not_exists(job.job_type, job.target_id, job.parameters,
                                         check_statuses, job.schedule);
      },
      options, "enqueue " + std::string(job.job_type) + "/" + std::string(job.target_id));
}

result<std::vector<created_or_existing<Job>>> enqueue_all(const Database& db,
                                                          std::span<const new_job> jobs,
                                                          task_options options) {
  return create_resolving_doubt<std::vector<created_or_existing<Job>>>(
      db, [&](JobRepository& repo) { return repo.create_all_if_not_exists(jobs); }, options,
      "enqueue_all of " + std::to_string(jobs.size()) + " jobs");
}

}  // namespace repokit
