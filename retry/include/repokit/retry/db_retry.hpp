// db_retry: the policy that says how often and how patiently a unit of work is run again after a
// transient failure. A plain aggregate, so a policy reads as what it is:
//
//   repokit::db_retry patient{.max_retries = 5, .max_delay = repokit::seconds{10}};
//   repokit::db_retry exact{.jitter = repokit::jitter_mode::none};  // 0.5 s, 1.0 s, 2.0 s
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <string>

#include "repokit/retry/backoff.hpp"

namespace repokit {

struct db_retry {
  using clock_type = std::chrono::steady_clock;

  int max_retries = 3;  // retries after the first attempt; 0 disables retrying
  seconds initial_delay{0.5};
  seconds max_delay{5.0};
  double multiplier = 2.0;
  jitter_mode jitter = jitter_mode::full;
  // Overall budget from the first attempt; none by default. A wait that would end past it is
  // cut short, one last attempt is made at the deadline, and then the loop gives up.
  std::optional<seconds> deadline{};

  // Injection points for tests; empty means the real thing.
  std::function<clock_type::time_point()> clock{};
  std::function<void(seconds)> sleep{};
  std::function<double()> random{};  // uniform in [0, 1)

  static db_retry disabled() { return db_retry{.max_retries = 0}; }

  backoff schedule() const noexcept {
    return backoff{initial_delay, max_delay, multiplier, jitter};
  }

  // Why this policy cannot be used, or nothing when it can.
  std::optional<std::string> invalid_reason() const;
};

}  // namespace repokit
