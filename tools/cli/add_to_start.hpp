// The add-to-start latency of jobs: how long from the moment a producer begins enqueueing a job
// to the moment a worker runtime's handler starts it, with jobs arriving one at a time.
#pragma once

#include <chrono>
#include <cstdint>
#include <string_view>
#include <vector>

#include "repokit/repokit.hpp"

namespace repokit::cli {

struct add_to_start_latency {
  std::vector<double> ms;      // one per job, in the order they were added
  std::uint64_t notified = 0;  // the runtime's wake-ups by notification
  std::uint64_t failures = 0;  // enqueues that failed
};

// Adds `jobs` jobs of `job_type`, one at a time, the gaps between them drawn from an exponential
// distribution of mean `mean_gap` (arrivals at random), to a runtime with one worker that polls
// with the default backoff and, when `listen`, also listens for new jobs. Stops early when
// interrupted.
add_to_start_latency measure_add_to_start(const Database& db, std::string_view job_type,
                                          bool listen, std::int64_t jobs,
                                          std::chrono::milliseconds mean_gap, unsigned seed);

}  // namespace repokit::cli
