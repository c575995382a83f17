#include "repokit/metrics.hpp"

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
  out.sessions_opened = read(sessions_opened_);
  out.sessions_discarded = read(sessions_discarded_);
  out.pool_timeouts = read(pool_timeouts_);
  out.statements = read(statements_);
  return out;
}

}  // namespace repokit
