#include "repokit/retry/backoff.hpp"

#include <algorithm>
#include <cmath>

namespace repokit {

seconds backoff::nominal_delay(int retry) const noexcept {
  if (retry < 1 || !(initial_delay > seconds{0})) return seconds{0};
  // Computed in the exponent's domain so that a large retry number caps instead of overflowing.
  const double grown = initial_delay.count() * std::pow(multiplier, static_cast<double>(retry - 1));
  if (!std::isfinite(grown) || grown > max_delay.count()) return max_delay;
  return seconds{grown};
}

seconds backoff::delay(int retry, double unit_random) const noexcept {
  const seconds nominal = nominal_delay(retry);
  if (jitter == jitter_mode::none) return nominal;
  return nominal * std::clamp(unit_random, 0.0, 1.0);
}

}  // namespace repokit
