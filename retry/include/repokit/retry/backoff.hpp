// The exponential backoff schedule: how long to wait before each retry of a unit of work, or of
// a failed job. Pure arithmetic; the random draw for jitter is passed in so the schedule can be
// tested exactly, and unit_random() is the draw to pass otherwise.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

namespace repokit {

using seconds = std::chrono::duration<double>;

enum class jitter_mode : std::uint8_t {
  none,  // the exact schedule: initial, initial * multiplier, ... capped at max_delay
  full,  // uniform in [0, nominal): spreads out retries of units that failed together
};

struct backoff {
  seconds initial_delay{0.5};
  seconds max_delay{5.0};
  double multiplier = 2.0;
  jitter_mode jitter = jitter_mode::full;

  // Delay before retry number `retry` (1 is the first retry) before jitter.
  seconds nominal_delay(int retry) const noexcept;

  // The delay to sleep, `unit_random` being a uniform draw in [0, 1).
  seconds delay(int retry, double unit_random) const noexcept;

  // Why this schedule cannot be used, or nothing when it can.
  std::optional<std::string> invalid_reason() const;
};

// A uniform draw in [0, 1), from an engine of the calling thread's own.
double unit_random();

}  // namespace repokit
