// repokit: typed repositories over SQL with safe units of work and whole-unit retries.
// The umbrella header: everything a service or worker needs.
#pragma once

#include "repokit/database.hpp"
#include "repokit/error.hpp"
#include "repokit/metric_families.hpp"
#include "repokit/migration.hpp"
#include "repokit/query.hpp"
#include "repokit/record.hpp"
#include "repokit/repositories/channel_repository.hpp"
#include "repokit/repositories/job_repository.hpp"
#include "repokit/repositories/migrations.hpp"
#include "repokit/repositories/phased_job.hpp"
#include "repokit/repositories/raw_getters.hpp"
#include "repokit/repositories/records.hpp"
#include "repokit/repositories/routing.hpp"
#include "repokit/repositories/scoped.hpp"
#include "repokit/repositories/tasks.hpp"
#include "repokit/repositories/video_repository.hpp"
#include "repokit/result.hpp"
#include "repokit/retry/db_retry.hpp"
#include "repokit/scope.hpp"
#include "repokit/unit_of_work.hpp"
