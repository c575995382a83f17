#include "repokit/retry/backoff.hpp"

#include <algorithm>
#include <cmath>
#include <random>

namespace repokit {

seconds backoff::nominal_delay(int retry) const noexcept {
  if (retry < 1 || !(initial_delay > seconds{0})) return seconds{0};
  // Computed in the exponent's domain so that a large retry number caps instead of overflowing.
  const double grown = initial_delay.count() * std::pow(multiplier, static_cast<double>(retry - 1));
  if (!std::isfinite(grown) || grown > max_delay.count()) return max_delay;
  return seconds{grown};
}

std::optional<std::string> backoff::invalid_reason() const {
  if (initial_delay < seconds{0}) return "initial_delay must not be negative";
  if (max_delay < initial_delay) return "max_delay must not be below initial_delay";
  if (!(multiplier >= 1.0)) return "multiplier must be 1.0 or more";
  return std::nullopt;
}

double unit_random() {
  // One engine per thread: retries of many threads must not contend on a shared generator.
  thread_local std::minstd_rand engine{std::random_device{}()};
  return std::uniform_real_distribution<double>{0.0, 1.0}(engine);
}

seconds backoff::delay(int retry, double unit_random) const noexcept {
  const seconds nominal = nominal_delay(retry);
  if (jitter == jitter_mode::none) return nominal;
  return nominal * std::clamp(unit_random, 0.0, 1.0);
}

}  // namespace repokit
