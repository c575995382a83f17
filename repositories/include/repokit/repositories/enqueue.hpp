// Enqueueing from producers: enqueue() creates a job idempotently in a unit of its own and
// resolves a COMMIT that was in doubt by reading the job back, so that a job which landed unseen
// is neither counted as missing nor created again after it has already run.
#pragma once

#include <span>
#include <string_view>

#include "repokit/repositories/job_repository.hpp"
#include "repokit/repositories/tasks.hpp"

namespace repokit {

// One job to enqueue: create_if_not_exists's arguments.
struct job_request {
  std::string_view job_type;
  std::string_view target_id;
  std::string_view parameters = "{}";
  std::span<const job_status> check_statuses = active_job_statuses;
  job_schedule schedule{};
};

// create_if_not_exists in a task of its own (see run_task). When its COMMIT is in doubt, the
// job the attempt created is read back after reconnecting, by its id, type, target and creation
// time: found, the COMMIT landed (`created` is true, whatever the job's status by now); not
// found, it did not, and the enqueue is made again. An attempt that found an existing job wrote
// nothing, and answers that job. errc::in_doubt only when the read-back itself fails, or when
// three COMMITs in a row were in doubt.
result<created_or_existing<Job>> enqueue(const Database& db, const job_request& request,
                                         task_options options = {.name = "enqueue"});

}  // namespace repokit
