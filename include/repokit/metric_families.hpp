// What a Database's metrics look like from outside: metric families with names, help, types,
// labels and values, ready for an exposition. The one source of the names, for the text format
// (to_prometheus) and for repokit::prometheus' collector alike. Two sets of families:
//   repokit_*    repokit's own counters, gauges and histograms, without labels;
//   db_client_*  the OpenTelemetry database-client conventions as Prometheus names them, each
//                sample labelled db_system_name and db_client_connection_pool_name.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "repokit/connection_pool.hpp"
#include "repokit/dialect.hpp"
#include "repokit/metrics.hpp"

namespace repokit {

class Database;

enum class metric_type : std::uint8_t { counter, gauge, histogram };

struct metric_label {
  std::string_view name;
  std::string value;  // as is: escaping is the exposition's business
};

struct metric_sample {
  std::vector<metric_label> labels;
  std::uint64_t value = 0;       // counter, gauge
  histogram_snapshot histogram;  // histogram: buckets over histogram_bounds
};

struct metric_family {
  std::string_view name;
  std::string_view help;
  metric_type type = metric_type::counter;
  std::vector<metric_sample> samples;
};

// One Database's metrics read at one moment: what the families are made of.
struct metrics_reading {
  dialect system = dialect::sqlite;
  std::string pool_name;  // database_options::pool_name, or application_name when that is empty
  metrics_snapshot counters;
  pool_status pool;

  static metrics_reading of(const Database& db);
};

// OpenTelemetry's db.system.name of a dialect: "sqlite", "postgresql" or "mariadb".
std::string_view otel_system_name(dialect kind) noexcept;

// The repokit_* families, then the db_client_* ones.
std::vector<metric_family> metric_families(const metrics_reading& reading);

// Families in Prometheus' text exposition format (version 0.0.4): these, or a Database's.
std::string to_prometheus(const std::vector<metric_family>& families);
std::string to_prometheus(const metrics_reading& reading);
std::string to_prometheus(const Database& db);

}  // namespace repokit
