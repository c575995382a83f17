// The jobs burn-down: enqueue N jobs in batches, drain them with W workers, repokit's worker
// runtime against the raw SKIP LOCKED loop of the backend's C API (burn_down.cpp).
#pragma once

#include <cstdint>
#include <vector>

#include "bench.hpp"

namespace repokit_bench {

// One burn-down of `jobs` jobs per worker count; prints a JSON line per implementation and count.
bool run_burn_down(const settings& config, data_set& data, std::int64_t jobs,
                   const std::vector<int>& workers);

}  // namespace repokit_bench
