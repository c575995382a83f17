// repokit::prometheus: a Database's metrics for prometheus-cpp. The collector renders, on each
// scrape, the families of metric_families.hpp (repokit_* and the OpenTelemetry-named
// db_client_*), read from the Database at that moment. Register it where prometheus-cpp takes
// collectables, beside the application's own Registry:
//   auto collector = std::make_shared<repokit::prometheus_collector>(db);
//   exposer.RegisterCollectable(collector);   // prometheus::Exposer, or a prometheus::Gateway
// The exposer keeps a weak pointer: keep the collector alive as long as it is to be scraped.
// Built only when prometheus-cpp is found; not part of repokit::repokit. Its names are in
// namespace repokit, not repokit::prometheus, which would hide ::prometheus where
// `using namespace repokit` is in force.
#pragma once

#include <vector>

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

#include "repokit/database.hpp"
#include "repokit/metric_families.hpp"

namespace repokit {

// The families in prometheus-cpp's form.
std::vector<::prometheus::MetricFamily> to_prometheus_families(
    const std::vector<metric_family>& families);

class prometheus_collector final : public ::prometheus::Collectable {
 public:
  explicit prometheus_collector(Database db) : db_(std::move(db)) {}

  std::vector<::prometheus::MetricFamily> Collect() const override;

 private:
  Database db_;
};

}  // namespace repokit
