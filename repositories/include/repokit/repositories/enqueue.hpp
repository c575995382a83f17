// Enqueueing from producers: enqueue() creates a job idempotently in a unit of its own and
// resolves a COMMIT that was in doubt by reading the job back, so that a job which landed unseen
// is neither counted as missing nor created again after it has already run.
#pragma once

#include <span>
#include <vector>

#include "repokit/repositories/job_repository.hpp"
#include "repokit/repositories/tasks.hpp"

namespace repokit {

// create_if_not_exists in a task of its own (see run_task). When its COMMIT is in doubt, the
// job the attempt created is read back after reconnecting, by its id, type, target and creation
// time: found, the COMMIT landed, and the job is answered as it was created (`created` is true,
// whatever its status by now); not found, it did not, and the enqueue is made again. An attempt
// that found an existing job wrote nothing, and answers that job. errc::in_doubt only when the
// read-back itself fails, or when three COMMITs in a row were in doubt.
result<created_or_existing<Job>> enqueue(
    const Database& db, const new_job& job,
    std::span<const job_status> check_statuses = active_job_statuses,
    task_options options = {.name = "enqueue"});

// create_all_if_not_exists in a task of its own, resolving a COMMIT in doubt like enqueue(): the
// batch's COMMIT landed whole or not at all, and one job it created read back tells which.
result<std::vector<created_or_existing<Job>>> enqueue_all(const Database& db,
                                                          std::span<const new_job> jobs,
                                                          task_options options = {
                                                              .name = "enqueue_all"});

}  // namespace repokit
