#include "repokit/metrics.hpp"

#include <algorithm>
#include <numeric>

namespace repokit {

std::string_view to_string(rollback_cause value) noexcept {
  switch (value) {
    case rollback_cause::body_error: return "body_error";
    case rollback_cause::exception: return "exception";
    case rollback_cause::poisoned: return "poisoned";
    case rollback_cause::commit_failed: return "commit_failed";
    case rollback_cause::abandoned: return "abandoned";
    case rollback_cause::lookup: return "lookup";
  }
  return "unknown";
}

std::uint64_t metrics_snapshot::rollbacks_total() const noexcept {
  return std::accumulate(rollbacks.begin(), rollbacks.end(), std::uint64_t{0});
}

std::uint64_t metrics_snapshot::retries_total() const noexcept {
  return std::accumulate(retries.begin(), retries.end(), std::uint64_t{0});
}

metrics_snapshot metrics::snapshot() const noexcept {
  const auto read = [](const counter& c) { return c.load(std::memory_order_relaxed); };
  metrics_snapshot out;
  out.attempts = read(attempts_);
  out.commits = read(commits_);
  for (std::size_t i = 0; i < rollback_cause_count; ++i) out.rollbacks[i] = read(rollbacks_[i]);
  for (std::size_t i = 0; i < retry_class_count; ++i) out.retries[i] = read(retries_[i]);
  out.give_ups = read(give_ups_);
  out.in_doubt = read(in_doubt_);
  out.in_doubt_committed = read(in_doubt_committed_);
  out.in_doubt_aborted = read(in_doubt_aborted_);
  out.sessions_opened = read(sessions_opened_);
  out.sessions_discarded = read(sessions_discarded_);
  out.sessions_expired = read(sessions_expired_);
  out.sessions_idle_closed = read(sessions_idle_closed_);
  out.leases_leaked = read(leases_leaked_);
  out.pool_timeouts = read(pool_timeouts_);
  out.statements = read(statements_);
  out.session_lifetime = session_lifetime_.snapshot();
  out.pool_wait = pool_wait_.snapshot();
  return out;
}

}  // namespace repokit

namespace repokit {

void histogram::record(std::chrono::steady_clock::duration elapsed) noexcept {
  const double seconds_taken = std::chrono::duration<double>(elapsed).count();
  std::size_t bucket = 0;
  while (bucket < histogram_bounds.size() && seconds_taken > histogram_bounds[bucket]) ++bucket;
  buckets_[bucket].fetch_add(1, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
  const auto nanoseconds = std::chrono::duration_cast<std::chrono::nanoseconds>(elapsed).count();
  sum_nanoseconds_.fetch_add(static_cast<std::uint64_t>(std::max<std::int64_t>(0, nanoseconds)),
                             std::memory_order_relaxed);
}

histogram_snapshot histogram::snapshot() const noexcept {
  histogram_snapshot out;
  for (std::size_t i = 0; i < buckets_.size(); ++i) {
    out.buckets[i] = buckets_[i].load(std::memory_order_relaxed);
  }
  out.count = count_.load(std::memory_order_relaxed);
  out.sum_seconds = static_cast<double>(sum_nanoseconds_.load(std::memory_order_relaxed)) / 1e9;
  return out;
}

double histogram_snapshot::quantile(double q) const noexcept {
  std::uint64_t total = 0;
  for (const auto n : buckets) total += n;
  if (total == 0) return 0;
  const double rank = std::clamp(q, 0.0, 1.0) * static_cast<double>(total);
  double below = 0;
  for (std::size_t i = 0; i < buckets.size(); ++i) {
    const double in_bucket = static_cast<double>(buckets[i]);
    if (below + in_bucket >= rank && in_bucket > 0) {
      const double lower = i == 0 ? 0.0 : histogram_bounds[i - 1];
      if (i == histogram_bounds.size()) return lower;  // past the last bound: report that bound
      const double upper = histogram_bounds[i];
      return lower + (upper - lower) * ((rank - below) / in_bucket);
    }
    below += in_bucket;
  }
  return histogram_bounds.back();
}

}  // namespace repokit
