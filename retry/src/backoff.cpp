#include "repokit/retry/backoff.hpp"

#include <algorithm>
#include <cmath>

namespace repokit {

seconds backoff::nominal_delay(int retry) const noexcept {
  if (retry < 1) return seconds{0};
  // Computed in the exponent's domain so that a large retry number caps instead of overflowing.
  const double grown =
      initial_delay.count() * std::pow(multiplier, static_cast<double>(retry - 1));
  const double capped = std::isfinite(grown) ? std::min(grown, max_delay.count())
                                             : max_delay.count();
  return seconds{std::max(0.0, capped)};
}

seconds backoff::delay(int retry, double unit_random) const noexcept {
  const seconds nominal = nominal_delay(retry);
  if (jitter == jitter_mode::none) return nominal;
  return nominal * std::clamp(unit_random, 0.0, 1.0);
}

}  // namespace repokit
