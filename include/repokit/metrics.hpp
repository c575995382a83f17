// Counters of what a Database did: units committed and rolled back (by cause), retries (by
// class), give-ups, in-doubt commits (resolved or not), connections opened, discarded and
// retired, leases held too long, pool waits. Relaxed atomics: cheap on the hot path, exact once
// the threads that counted have been joined.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
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

// Fixed buckets, in seconds, from 100 µs to 10 s (and +Inf): Prometheus-style, lock-free.
inline constexpr std::array<double, 16> histogram_bounds{
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
    0.05,   0.1,     0.25,   0.5,   1.0,    2.5,   5.0,  10.0};

struct histogram_snapshot {
  std::array<std::uint64_t, histogram_bounds.size() + 1> buckets{};  // last: above 10 s
  std::uint64_t count = 0;
  double sum_seconds = 0;

  // The q-quantile (0..1), interpolated within its bucket; 0 when empty.
  double quantile(double q) const noexcept;
};

struct metrics_snapshot {
  std::uint64_t attempts = 0;  // units of work run, each retry counting again
  std::uint64_t commits = 0;
  std::array<std::uint64_t, rollback_cause_count> rollbacks{};  // indexed by rollback_cause
  std::array<std::uint64_t, retry_class_count> retries{};       // indexed by retry_class
  std::uint64_t give_ups = 0;  // retryable failures that ran out of attempts or time
  std::uint64_t in_doubt = 0;  // commits whose outcome stayed unknown
  // COMMITs lost with their connection whose outcome the server told another connection
  // (PostgreSQL): committed, so the unit succeeded; aborted, so it failed as a lost connection.
  std::uint64_t in_doubt_committed = 0;
  std::uint64_t in_doubt_aborted = 0;
  std::uint64_t sessions_opened = 0;  // connections made
  std::uint64_t sessions_discarded = 0;
  std::uint64_t sessions_expired = 0;      // closed at their maximum lifetime
  std::uint64_t sessions_idle_closed = 0;  // closed after the idle timeout
  std::uint64_t leases_leaked = 0;         // held past the leak detection threshold
  std::uint64_t pool_timeouts = 0;
  std::uint64_t statements = 0;
  histogram_snapshot session_lifetime;  // from taking a connection to giving it back
  histogram_snapshot pool_wait;         // time spent in acquire

  std::uint64_t rollbacks_total() const noexcept;
  std::uint64_t retries_total() const noexcept;
  std::uint64_t rollbacks_by(rollback_cause cause) const noexcept {
    return rollbacks[static_cast<std::size_t>(cause)];
  }
  std::uint64_t retries_by(retry_class failure) const noexcept {
    return retries[static_cast<std::size_t>(failure)];
  }
};

// What happened, for applications that forward events elsewhere (tracing, their own metrics).
enum class event_kind : std::uint8_t {
  commit,
  rollback,
  retry,
  give_up,
  in_doubt,
  in_doubt_committed,
  in_doubt_aborted,
  session_opened,
  session_discarded,
  session_expired,
  session_idle_closed,
  lease_leaked,
  pool_timeout
};

struct event {
  event_kind kind;
  retry_class retry = retry_class::permanent;         // retry, give_up
  rollback_cause cause = rollback_cause::body_error;  // rollback
};

class observer {
 public:
  virtual ~observer() = default;
  // Called on the thread where it happened; must be quick and must not throw.
  virtual void on_event(const event& what) noexcept = 0;
};

class histogram {
 public:
  void record(std::chrono::steady_clock::duration elapsed) noexcept;
  histogram_snapshot snapshot() const noexcept;

 private:
  std::array<std::atomic<std::uint64_t>, histogram_bounds.size() + 1> buckets_{};
  std::atomic<std::uint64_t> count_{0};
  std::atomic<std::uint64_t> sum_nanoseconds_{0};
};

class metrics {
 public:
  explicit metrics(std::shared_ptr<observer> watcher = nullptr) : observer_(std::move(watcher)) {}

  void count_attempt() noexcept { attempts_.fetch_add(1, std::memory_order_relaxed); }
  void count_commit() noexcept { bump(commits_, {event_kind::commit}); }
  void count_rollback(rollback_cause cause) noexcept {
    bump(rollbacks_[static_cast<std::size_t>(cause)], {event_kind::rollback, {}, cause});
  }
  void count_retry(retry_class failure) noexcept {
    bump(retries_[static_cast<std::size_t>(failure)], {event_kind::retry, failure});
  }
  void count_give_up(retry_class failure) noexcept {
    bump(give_ups_, {event_kind::give_up, failure});
  }
  void count_in_doubt() noexcept { bump(in_doubt_, {event_kind::in_doubt}); }
  void count_in_doubt_committed() noexcept {
    bump(in_doubt_committed_, {event_kind::in_doubt_committed});
  }
  void count_in_doubt_aborted() noexcept {
    bump(in_doubt_aborted_, {event_kind::in_doubt_aborted});
  }
  void count_session_opened() noexcept { bump(sessions_opened_, {event_kind::session_opened}); }
  void count_session_discarded() noexcept {
    bump(sessions_discarded_, {event_kind::session_discarded});
  }
  void count_session_expired() noexcept { bump(sessions_expired_, {event_kind::session_expired}); }
  void count_session_idle_closed() noexcept {
    bump(sessions_idle_closed_, {event_kind::session_idle_closed});
  }
  void count_lease_leaked() noexcept { bump(leases_leaked_, {event_kind::lease_leaked}); }
  void count_pool_timeout() noexcept { bump(pool_timeouts_, {event_kind::pool_timeout}); }
  void count_statement() noexcept { statements_.fetch_add(1, std::memory_order_relaxed); }
  void time_session(std::chrono::steady_clock::duration held) noexcept {
    session_lifetime_.record(held);
  }
  void time_pool_wait(std::chrono::steady_clock::duration waited) noexcept {
    pool_wait_.record(waited);
  }

  metrics_snapshot snapshot() const noexcept;

 private:
  using counter = std::atomic<std::uint64_t>;
  void bump(counter& c, const event& what) noexcept {
    c.fetch_add(1, std::memory_order_relaxed);
    if (observer_) observer_->on_event(what);
  }

  std::shared_ptr<observer> observer_;
  counter attempts_{0};
  counter commits_{0};
  std::array<counter, rollback_cause_count> rollbacks_{};
  std::array<counter, retry_class_count> retries_{};
  counter give_ups_{0};
  counter in_doubt_{0};
  counter in_doubt_committed_{0};
  counter in_doubt_aborted_{0};
  counter sessions_opened_{0};
  counter sessions_discarded_{0};
  counter sessions_expired_{0};
  counter sessions_idle_closed_{0};
  counter leases_leaked_{0};
  counter pool_timeouts_{0};
  counter statements_{0};
  histogram session_lifetime_;
  histogram pool_wait_;
};

// The snapshot and pool gauges in Prometheus' text exposition format: the repokit_* families
// only. to_prometheus(db) (metric_families.hpp) adds the OpenTelemetry-named ones.
[[deprecated("use to_prometheus(const Database&) from repokit/metric_families.hpp")]] std::string
to_prometheus(const metrics_snapshot& snapshot, std::size_t pool_max, std::size_t pool_open,
              std::size_t pool_in_use);

}  // namespace repokit
