#include "repokit/metric_families.hpp"

#include <string>

#include "repokit/database.hpp"

namespace repokit {
namespace {

metric_family single(std::string_view name, std::string_view help, metric_type type,
                     std::uint64_t value, std::vector<metric_label> labels = {}) {
  return {name, help, type, {{std::move(labels), value, {}}}};
}

metric_family timed(std::string_view name, std::string_view help, const histogram_snapshot& h,
                    std::vector<metric_label> labels = {}) {
  return {name, help, metric_type::histogram, {{std::move(labels), 0, h}}};
}

void add_repokit_families(std::vector<metric_family>& out, const metrics_snapshot& m,
                          const pool_status& pool) {
  out.push_back(single("repokit_attempts_total", "Units of work run, retries included.",
                       metric_type::counter, m.attempts));
  out.push_back(
      single("repokit_commits_total", "Units of work committed.", metric_type::counter, m.commits));
  metric_family rollbacks{
      "repokit_rollbacks_total", "Units of work rolled back, by cause.", metric_type::counter, {}};
  for (std::size_t i = 0; i < rollback_cause_count; ++i) {
    const std::string_view cause = to_string(static_cast<rollback_cause>(i));
    rollbacks.samples.push_back({{{"cause", std::string(cause)}}, m.rollbacks[i], {}});
  }
  out.push_back(std::move(rollbacks));
  metric_family retries{"repokit_retries_total",
                        "Units of work run again, by the failure's class.",
                        metric_type::counter,
                        {}};
  for (std::size_t i = 0; i < retry_class_count; ++i) {
    const std::string_view failure_class = to_string(static_cast<retry_class>(i));
    retries.samples.push_back({{{"class", std::string(failure_class)}}, m.retries[i], {}});
  }
  out.push_back(std::move(retries));
  out.push_back(single("repokit_give_ups_total",
                       "Retryable failures that ran out of attempts or time.", metric_type::counter,
                       m.give_ups));
  out.push_back(single("repokit_in_doubt_total", "Commits whose outcome stayed unknown.",
                       metric_type::counter, m.in_doubt));
  out.push_back({"repokit_in_doubt_resolved_total",
                 "Commits lost with their connection, then resolved by asking the server.",
                 metric_type::counter,
                 {{{{"outcome", "committed"}}, m.in_doubt_committed, {}},
                  {{{"outcome", "aborted"}}, m.in_doubt_aborted, {}}}});
  out.push_back(single("repokit_sessions_opened_total", "Database connections opened.",
                       metric_type::counter, m.sessions_opened));
  out.push_back(single("repokit_sessions_discarded_total",
                       "Connections discarded instead of reused.", metric_type::counter,
                       m.sessions_discarded));
  out.push_back({"repokit_sessions_retired_total",
                 "Healthy connections closed by the pool's hygiene, by reason.",
                 metric_type::counter,
                 {{{{"reason", "max_lifetime"}}, m.sessions_expired, {}},
                  {{{"reason", "idle_timeout"}}, m.sessions_idle_closed, {}}}});
  out.push_back(single("repokit_pool_leaks_total", "Leases held past the leak detection threshold.",
                       metric_type::counter, m.leases_leaked));
  out.push_back(single("repokit_pool_timeouts_total",
                       "Acquires that found no free connection in time.", metric_type::counter,
                       m.pool_timeouts));
  out.push_back(
      single("repokit_statements_total", "Statements sent.", metric_type::counter, m.statements));
  out.push_back(single("repokit_pool_max_size", "Connections the pool may open.",
                       metric_type::gauge, pool.max_size));
  out.push_back(single("repokit_pool_open", "Connections open.", metric_type::gauge, pool.open));
  out.push_back(
      single("repokit_pool_in_use", "Connections leased out.", metric_type::gauge, pool.in_use));
  out.push_back(timed("repokit_session_lifetime_seconds",
                      "Time a unit of work held its connection.", m.session_lifetime));
  out.push_back(
      timed("repokit_pool_wait_seconds", "Time spent waiting for a connection.", m.pool_wait));
}

void add_otel_families(std::vector<metric_family>& out, const metrics_reading& r) {
  const std::vector<metric_label> labels{
      {"db_system_name", std::string(otel_system_name(r.system))},
      {"db_client_connection_pool_name", r.pool_name}};
  const auto with = [&labels](std::string_view name, std::string_view value) {
    std::vector<metric_label> more = labels;
    more.push_back({name, std::string(value)});
    return more;
  };
  const metrics_snapshot& m = r.counters;
  // A unit of work holds one connection from its first statement to its COMMIT or ROLLBACK:
  // the time it held it is the unit's duration as the database client sees it.
  out.push_back(timed("db_client_operation_duration_seconds",
                      "Duration of database client operations: units of work, from their first "
                      "statement to their commit or rollback.",
                      m.session_lifetime, labels));
  const std::size_t idle = r.pool.open > r.pool.in_use ? r.pool.open - r.pool.in_use : 0;
  out.push_back({"db_client_connection_count",
                 "The number of connections that are currently in state described by the state "
                 "attribute.",
                 metric_type::gauge,
                 {{with("db_client_connection_state", "idle"), idle, {}},
                  {with("db_client_connection_state", "used"), r.pool.in_use, {}}}});
  out.push_back(single("db_client_connection_max",
                       "The maximum number of open connections allowed.", metric_type::gauge,
                       r.pool.max_size, labels));
  out.push_back(single("db_client_connection_pending_requests",
                       "The number of current pending requests for an open connection.",
                       metric_type::gauge, r.pool.waiting, labels));
  out.push_back(single("db_client_connection_timeouts_total",
                       "The number of connection timeouts that have occurred trying to obtain a "
                       "connection from the pool.",
                       metric_type::counter, m.pool_timeouts, labels));
  out.push_back(timed("db_client_connection_wait_time_seconds",
                      "The time it took to obtain an open connection from the pool.", m.pool_wait,
                      labels));
  out.push_back(timed("db_client_connection_use_time_seconds",
                      "The time between borrowing a connection and returning it to the pool.",
                      m.session_lifetime, labels));
}

std::string_view type_name(metric_type type) {
  switch (type) {
    case metric_type::counter: return "counter";
    case metric_type::gauge: return "gauge";
    case metric_type::histogram: return "histogram";
  }
  return "untyped";
}

// Label values may hold any text: backslash, double quote and newline are escaped.
void append_escaped(std::string& out, std::string_view value) {
  for (const char c : value) {
    switch (c) {
      case '\\': out += "\\\\"; break;
      case '"': out += "\\\""; break;
      case '\n': out += "\\n"; break;
      default: out += c;
    }
  }
}

// `{a="x",b="y"}`, with `le` last for a histogram bucket; nothing when there are no labels.
void append_labels(std::string& out, const std::vector<metric_label>& labels,
                   std::string_view le = {}) {
  if (labels.empty() && le.empty()) return;
  out += '{';
  const char* separator = "";
  for (const metric_label& label : labels) {
    out.append(separator).append(label.name).append("=\"");
    append_escaped(out, label.value);
    out += '"';
    separator = ",";
  }
  if (!le.empty()) out.append(separator).append("le=\"").append(le).append("\"");
  out += '}';
}

std::string bound_text(double bound) {
  std::string text = std::to_string(bound);
  while (text.back() == '0') text.pop_back();
  if (text.back() == '.') text.pop_back();
  return text;
}

void append_histogram(std::string& out, std::string_view name, const metric_sample& sample) {
  const histogram_snapshot& h = sample.histogram;
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i <= histogram_bounds.size(); ++i) {
    cumulative += h.buckets[i];
    out.append(name).append("_bucket");
    append_labels(out, sample.labels,
                  i < histogram_bounds.size() ? bound_text(histogram_bounds[i]) : "+Inf");
    out.append(" ").append(std::to_string(cumulative)).append("\n");
  }
  out.append(name).append("_sum");
  append_labels(out, sample.labels);
  out.append(" ").append(std::to_string(h.sum_seconds)).append("\n");
  out.append(name).append("_count");
  append_labels(out, sample.labels);
  out.append(" ").append(std::to_string(h.count)).append("\n");
}

}  // namespace

std::string to_prometheus(const std::vector<metric_family>& families) {
  std::string out;
  for (const metric_family& family : families) {
    out.append("# HELP ").append(family.name).append(" ").append(family.help).append("\n");
    out.append("# TYPE ").append(family.name).append(" ").append(type_name(family.type));
    out += '\n';
    for (const metric_sample& sample : family.samples) {
      if (family.type == metric_type::histogram) {
        append_histogram(out, family.name, sample);
        continue;
      }
      out.append(family.name);
      append_labels(out, sample.labels);
      out.append(" ").append(std::to_string(sample.value)).append("\n");
    }
  }
  return out;
}

metrics_reading metrics_reading::of(const Database& db) {
  const database_options& options = db.options();
  return {db.kind(), options.pool_name.empty() ? options.application_name : options.pool_name,
          db.metrics(), db.pool()};
}

// repokit's dialects are named as OpenTelemetry names these systems.
std::string_view otel_system_name(dialect kind) noexcept { return to_string(kind); }

std::vector<metric_family> metric_families(const metrics_reading& reading) {
  std::vector<metric_family> out;
  add_repokit_families(out, reading.counters, reading.pool);
  add_otel_families(out, reading);
  return out;
}

std::string to_prometheus(const metrics_reading& reading) {
  return to_prometheus(metric_families(reading));
}

std::string to_prometheus(const Database& db) { return to_prometheus(metrics_reading::of(db)); }

std::string to_prometheus(const metrics_snapshot& snapshot, std::size_t pool_max,
                          std::size_t pool_open, std::size_t pool_in_use) {
  std::vector<metric_family> families;
  add_repokit_families(families, snapshot, {pool_max, pool_open, pool_in_use, 0});
  return to_prometheus(families);
}

}  // namespace repokit
