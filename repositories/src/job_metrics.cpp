#include "repokit/repositories/job_metrics.hpp"

#include <string>

#include "repokit/repositories/tasks.hpp"

namespace repokit {
namespace {

struct counter_family {
  std::string_view name;
  std::string_view help;
  std::uint64_t runtime_counters::*value;
};

constexpr counter_family counter_families[] = {
    {"repokit_jobs_claimed_total", "Jobs claimed by the worker runtime.",
     &runtime_counters::claimed},
    {"repokit_jobs_succeeded_total", "Jobs whose handler succeeded.", &runtime_counters::succeeded},
    {"repokit_jobs_retried_total", "Failed attempts sent back to pending after a backoff.",
     &runtime_counters::retried},
    {"repokit_jobs_failed_total", "Jobs failed by a handler's error, with no retry policy.",
     &runtime_counters::failed},
    {"repokit_jobs_dead_total", "Jobs out of attempts under their retry policy: dead.",
     &runtime_counters::dead},
    {"repokit_jobs_lease_expiries_total",
     "Jobs claimed again after another worker's lease on them expired.",
     &runtime_counters::rescued},
    {"repokit_jobs_claims_lost_total",
     "Outcomes refused: the job was cancelled or taken over meanwhile.", &runtime_counters::lost},
    {"repokit_jobs_released_total", "Jobs given back by stop() after its deadline.",
     &runtime_counters::released},
    {"repokit_jobs_errors_total",
     "Claims or outcomes that failed, and listening connections lost or not made.",
     &runtime_counters::errors},
    {"repokit_jobs_heartbeats_total", "Leases renewed while handlers ran.",
     &runtime_counters::heartbeats},
    {"repokit_jobs_scheduled_total", "Occurrences of periodic jobs created.",
     &runtime_counters::scheduled},
    {"repokit_jobs_notified_total", "Idle workers woken by a new job's notification.",
     &runtime_counters::notified},
    {"repokit_jobs_empty_claims_total", "Claims that found no due job.",
     &runtime_counters::empty_claims},
    {"repokit_jobs_completion_batches_total", "Units that recorded successes in batches.",
     &runtime_counters::batches},
};

}  // namespace

std::vector<metric_family> job_metric_families(const runtime_metrics& runtime,
                                               std::span<const queue_depth> depths) {
  std::vector<metric_family> out;
  for (const counter_family& family : counter_families) {
    out.push_back({family.name,
                   family.help,
                   metric_type::counter,
                   {{{}, runtime.counters.*family.value, {}}}});
  }
  metric_family add_to_start{"repokit_jobs_add_to_start_seconds",
                             "Time from a job falling due to its claim, by job type.",
                             metric_type::histogram,
                             {}};
  metric_family run_time{
      "repokit_jobs_run_seconds", "Time handlers ran, by job type.", metric_type::histogram, {}};
  for (const job_type_timings& type : runtime.types) {
    add_to_start.samples.push_back({{{"job_type", type.job_type}}, 0, type.add_to_start});
    run_time.samples.push_back({{{"job_type", type.job_type}}, 0, type.run_time});
  }
  out.push_back(std::move(add_to_start));
  out.push_back(std::move(run_time));
  if (!depths.empty()) {
    metric_family queued{
        "repokit_jobs_queued", "Jobs by job type and status.", metric_type::gauge, {}};
    for (const queue_depth& depth : depths) {
      queued.samples.push_back(
          {{{"job_type", depth.job_type}, {"status", std::string(to_string(depth.status))}},
           static_cast<std::uint64_t>(depth.jobs),
           {}});
    }
    out.push_back(std::move(queued));
  }
  return out;
}

result<std::vector<queue_depth>> queue_depths(const Database& db,
                                              std::span<const job_status> statuses) {
  return lookup(db, [&](Repositories& repos) { return repos.jobs.queue_depths(statuses); });
}

}  // namespace repokit
