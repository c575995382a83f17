// One run of the retry loop under a db_retry policy: counts attempts, watches the deadline and
// decides, after each failure, whether and after how long the whole unit of work runs again.
#pragma once

#include <cstdint>

#include "repokit/retry/db_retry.hpp"
#include "repokit/retry/retry_class.hpp"

namespace repokit {

enum class retry_verdict : std::uint8_t {
  retry,               // wait `delay`, then run the whole unit again
  not_retryable,       // the failure's class forbids another attempt
  attempts_exhausted,  // max_retries retries were already made
  deadline_exceeded,   // the policy's deadline has passed
};

struct retry_decision {
  retry_verdict verdict;
  seconds delay{0};
};

class retry_state {
 public:
  explicit retry_state(db_retry policy);

  int attempt() const noexcept { return attempt_; }  // 1-based number of the current attempt
  int max_attempts() const noexcept { return max_retries_ + 1; }
  seconds elapsed() const;

  // After the current attempt failed with `failure`. `idempotent` lets an in-doubt commit be
  // retried: the caller promised the body may safely land twice.
  retry_decision on_failure(retry_class failure, bool idempotent);

  // Sleeps the decided delay and moves on to the next attempt.
  void wait(const retry_decision& decision);

 private:
  db_retry::clock_type::time_point now() const;

  db_retry policy_;
  int max_retries_;
  int attempt_ = 1;
  db_retry::clock_type::time_point started_;
};

}  // namespace repokit
