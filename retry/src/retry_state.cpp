#include "repokit/retry/retry_state.hpp"

#include <algorithm>
#include <random>
#include <thread>

namespace repokit {

std::optional<std::string> db_retry::invalid_reason() const {
  if (max_retries < 0) return "max_retries must be 0 or more";
  if (auto reason = schedule().invalid_reason()) return reason;
  if (deadline && *deadline <= seconds{0}) return "deadline must be positive when set";
  return std::nullopt;
}

retry_state::retry_state(db_retry policy)
    : policy_(std::move(policy)), max_retries_(std::max(0, policy_.max_retries)), started_(now()) {}

db_retry::clock_type::time_point retry_state::now() const {
  return policy_.clock ? policy_.clock() : db_retry::clock_type::now();
}

seconds retry_state::elapsed() const { return now() - started_; }

retry_decision retry_state::on_failure(retry_class failure, bool idempotent) {
  const bool retryable = failure == retry_class::retry_transaction ||
                         failure == retry_class::reconnect_then_retry ||
                         (failure == retry_class::in_doubt && idempotent);
  if (!retryable) return {retry_verdict::not_retryable};
  if (attempt_ > max_retries_) return {retry_verdict::attempts_exhausted};

  const double draw = policy_.random ? policy_.random() : unit_random();
  seconds delay = policy_.schedule().delay(attempt_, draw);
  if (policy_.deadline) {
    const seconds remaining = *policy_.deadline - elapsed();
    if (remaining <= seconds{0}) return {retry_verdict::deadline_exceeded};
    // The last wait is cut to end at the deadline, where one final attempt is made.
    delay = std::min(delay, remaining);
  }
  return {retry_verdict::retry, delay};
}

void retry_state::wait(const retry_decision& decision) {
  if (decision.delay > seconds{0}) {
    if (policy_.sleep) {
      policy_.sleep(decision.delay);
    } else {
      std::this_thread::sleep_for(decision.delay);
    }
  }
  ++attempt_;
}

}  // namespace repokit
