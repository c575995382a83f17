// A worker runtime's metrics and the queue's depth as metric families (metric_families.hpp), for
// the Prometheus text (to_prometheus) or repokit::prometheus' to_prometheus_families:
//   repokit_jobs_*_total               the runtime's counters (claims, outcomes, deaths, lease
//                                      expiries, heartbeats, ...)
//   repokit_jobs_add_to_start_seconds  histograms by job_type: from due to claimed,
//   repokit_jobs_run_seconds           and the handler's run
//   repokit_jobs_queued                a gauge by job_type and status, from queue_depths
//
//   std::vector<repokit::queue_depth> depth;
//   if (auto counted = repokit::queue_depths(db)) depth = std::move(counted).value();
//   std::string text =
//       repokit::to_prometheus(repokit::job_metric_families(runtime.metrics(), depth));
#pragma once

#include <span>
#include <vector>

#include "repokit/metric_families.hpp"
#include "repokit/repositories/worker_runtime.hpp"

namespace repokit {

// The families of `runtime`, then the gauge of `depths` (left out when empty).
std::vector<metric_family> job_metric_families(const runtime_metrics& runtime,
                                               std::span<const queue_depth> depths = {});

// JobRepository::queue_depths in a read-only look-up of its own.
result<std::vector<queue_depth>> queue_depths(
    const Database& db, std::span<const job_status> statuses = queued_job_statuses);

}  // namespace repokit
