// Counters of what a Database did: units committed and rolled back (by cause), retries (by
// class), give-ups, in-doubt commits, connections opened and discarded, pool waits. Relaxed
// atomics: cheap on the hot path, exact once the threads that counted have been joined.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "repokit/retry/retry_class.hpp"

namespace repokit {

enum class rollback_cause : std::uint8_t {
  body_error,     // the body returned an error result
  exception,      // the body threw
  poisoned,       // a statement failed, so the unit could not commit
  commit_failed,  // COMMIT itself failed
  abandoned,      // a guard or raw repository went away without commit
  lookup,         // a read-only look-up ended, as look-ups always do, with a rollback
};
inline constexpr std::size_t rollback_cause_count = 6;
inline constexpr std::size_t retry_class_count = 4;

std::string_view to_string(rollback_cause value) noexcept;

struct metrics_snapshot {
  std::uint64_t attempts = 0;  // units of work run, each retry counting again
  std::uint64_t commits = 0;
  std::array<std::uint64_t, rollback_cause_count> rollbacks{};  // indexed by rollback_cause
  std::array<std::uint64_t, retry_class_count> retries{};       // indexed by retry_class
  std::uint64_t give_ups = 0;         // retryable failures that ran out of attempts or time
  std::uint64_t in_doubt = 0;         // commits whose outcome is unknown
  std::uint64_t sessions_opened = 0;  // connections made
  std::uint64_t sessions_discarded = 0;
  std::uint64_t pool_timeouts = 0;
  std::uint64_t statements = 0;

  std::uint64_t rollbacks_total() const noexcept;
  std::uint64_t retries_total() const noexcept;
  std::uint64_t rollbacks_by(rollback_cause cause) const noexcept {
    return rollbacks[static_cast<std::size_t>(cause)];
  }
  std::uint64_t retries_by(retry_class failure) const noexcept {
    return retries[static_cast<std::size_t>(failure)];
  }
};

class metrics {
 public:
  void count_attempt() noexcept { bump(attempts_); }
  void count_commit() noexcept { bump(commits_); }
  void count_rollback(rollback_cause cause) noexcept {
    bump(rollbacks_[static_cast<std::size_t>(cause)]);
  }
  void count_retry(retry_class failure) noexcept {
    bump(retries_[static_cast<std::size_t>(failure)]);
  }
  void count_give_up() noexcept { bump(give_ups_); }
  void count_in_doubt() noexcept { bump(in_doubt_); }
  void count_session_opened() noexcept { bump(sessions_opened_); }
  void count_session_discarded() noexcept { bump(sessions_discarded_); }
  void count_pool_timeout() noexcept { bump(pool_timeouts_); }
  void count_statement() noexcept { bump(statements_); }

  metrics_snapshot snapshot() const noexcept;

 private:
  using counter = std::atomic<std::uint64_t>;
  static void bump(counter& c) noexcept { c.fetch_add(1, std::memory_order_relaxed); }

  counter attempts_{0};
  counter commits_{0};
  std::array<counter, rollback_cause_count> rollbacks_{};
  std::array<counter, retry_class_count> retries_{};
  counter give_ups_{0};
  counter in_doubt_{0};
  counter sessions_opened_{0};
  counter sessions_discarded_{0};
  counter pool_timeouts_{0};
  counter statements_{0};
};

}  // namespace repokit
