// The checks of job settings that the job repository and the worker runtime share: the runtime
// refuses at registration what a claim, a retry or an occurrence would refuse later.
#pragma once

#include "repokit/repositories/job_repository.hpp"

namespace repokit::detail {

result<void> check_claim_options(const claim_options& options);
result<void> check_retry_policy(const job_retry_policy& policy);
result<void> check_periodic_job(const periodic_job& schedule);

}  // namespace repokit::detail
