#include "repokit/metrics.hpp"

#include <algorithm>
#include <numeric>
#include <string>

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
  out.sessions_opened = read(sessions_opened_);
  out.sessions_discarded = read(sessions_discarded_);
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

namespace {

void counter_line(std::string& out, std::string_view name, std::string_view help,
                  std::uint64_t value) {
  out += "# HELP repokit_" + std::string(name) + ' ' + std::string(help) + '\n';
  out += "# TYPE repokit_" + std::string(name) + " counter\n";
  out += "repokit_" + std::string(name) + ' ' + std::to_string(value) + '\n';
}

void gauge_line(std::string& out, std::string_view name, std::string_view help,
                std::uint64_t value) {
  out += "# HELP repokit_" + std::string(name) + ' ' + std::string(help) + '\n';
  out += "# TYPE repokit_" + std::string(name) + " gauge\n";
  out += "repokit_" + std::string(name) + ' ' + std::to_string(value) + '\n';
}

std::string bound_text(double bound) {
  std::string text = std::to_string(bound);
  while (text.back() == '0') text.pop_back();
  if (text.back() == '.') text.pop_back();
  return text;
}

void histogram_lines(std::string& out, std::string_view name, std::string_view help,
                     const histogram_snapshot& h) {
  const std::string metric = "repokit_" + std::string(name);
  out += "# HELP " + metric + ' ' + std::string(help) + '\n';
  out += "# TYPE " + metric + " histogram\n";
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i < histogram_bounds.size(); ++i) {
    cumulative += h.buckets[i];
    out += metric + "_bucket{le=\"" + bound_text(histogram_bounds[i]) + "\"} " +
           std::to_string(cumulative) + '\n';
  }
  cumulative += h.buckets.back();
  out += metric + "_bucket{le=\"+Inf\"} " + std::to_string(cumulative) + '\n';
  out += metric + "_sum " + std::to_string(h.sum_seconds) + '\n';
  out += metric + "_count " + std::to_string(h.count) + '\n';
}

}  // namespace

std::string to_prometheus(const metrics_snapshot& m, std::size_t pool_max, std::size_t pool_open,
                          std::size_t pool_in_use) {
  std::string out;
  counter_line(out, "attempts_total", "Units of work run, retries included.", m.attempts);
  counter_line(out, "commits_total", "Units of work committed.", m.commits);
  out += "# HELP repokit_rollbacks_total Units of work rolled back, by cause.\n";
  out += "# TYPE repokit_rollbacks_total counter\n";
  for (std::size_t i = 0; i < rollback_cause_count; ++i) {
    out += "repokit_rollbacks_total{cause=\"" +
           std::string(to_string(static_cast<rollback_cause>(i))) + "\"} " +
           std::to_string(m.rollbacks[i]) + '\n';
  }
  out += "# HELP repokit_retries_total Units of work run again, by the failure's class.\n";
  out += "# TYPE repokit_retries_total counter\n";
  for (std::size_t i = 0; i < retry_class_count; ++i) {
    out += "repokit_retries_total{class=\"" + std::string(to_string(static_cast<retry_class>(i))) +
           "\"} " + std::to_string(m.retries[i]) + '\n';
  }
  counter_line(out, "give_ups_total", "Retryable failures that ran out of attempts or time.",
               m.give_ups);
  counter_line(out, "in_doubt_total", "Commits whose outcome is unknown.", m.in_doubt);
  counter_line(out, "sessions_opened_total", "Database connections opened.", m.sessions_opened);
  counter_line(out, "sessions_discarded_total", "Connections discarded instead of reused.",
               m.sessions_discarded);
  counter_line(out, "pool_timeouts_total", "Acquires that found no free connection in time.",
               m.pool_timeouts);
  counter_line(out, "statements_total", "Statements sent.", m.statements);
  gauge_line(out, "pool_max_size", "Connections the pool may open.", pool_max);
  gauge_line(out, "pool_open", "Connections open.", pool_open);
  gauge_line(out, "pool_in_use", "Connections leased out.", pool_in_use);
  histogram_lines(out, "session_lifetime_seconds", "Time a unit of work held its connection.",
                  m.session_lifetime);
  histogram_lines(out, "pool_wait_seconds", "Time spent waiting for a connection.", m.pool_wait);
  return out;
}

}  // namespace repokit
