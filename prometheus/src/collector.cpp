#include "repokit/prometheus/collector.hpp"

#include <limits>
#include <string>

namespace repokit {
namespace {

::prometheus::MetricType type_of(metric_type type) {
  switch (type) {
    case metric_type::counter: return ::prometheus::MetricType::Counter;
    case metric_type::gauge: return ::prometheus::MetricType::Gauge;
    case metric_type::histogram: return ::prometheus::MetricType::Histogram;
  }
  return ::prometheus::MetricType::Untyped;
}

::prometheus::ClientMetric::Histogram histogram_of(const histogram_snapshot& h) {
  ::prometheus::ClientMetric::Histogram out;
  out.sample_count = h.count;
  out.sample_sum = h.sum_seconds;
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i < h.buckets.size(); ++i) {
    cumulative += h.buckets[i];
    const double bound =
        i < histogram_bounds.size() ? histogram_bounds[i] : std::numeric_limits<double>::infinity();
    out.bucket.push_back({cumulative, bound});
  }
  return out;
}

}  // namespace

std::vector<::prometheus::MetricFamily> to_prometheus_families(
    const std::vector<metric_family>& families) {
  std::vector<::prometheus::MetricFamily> out;
  out.reserve(families.size());
  for (const metric_family& family : families) {
    ::prometheus::MetricFamily converted{
        std::string(family.name), std::string(family.help), type_of(family.type), {}};
    for (const metric_sample& sample : family.samples) {
      ::prometheus::ClientMetric metric;
      for (const metric_label& label : sample.labels) {
        metric.label.push_back({std::string(label.name), label.value});
      }
      const auto value = static_cast<double>(sample.value);
      switch (family.type) {
        case metric_type::counter: metric.counter.value = value; break;
        case metric_type::gauge: metric.gauge.value = value; break;
        case metric_type::histogram: metric.histogram = histogram_of(sample.histogram); break;
      }
      converted.metric.push_back(std::move(metric));
    }
    out.push_back(std::move(converted));
  }
  return out;
}

std::vector<::prometheus::MetricFamily> prometheus_collector::Collect() const {
  return to_prometheus_families(metric_families(metrics_reading::of(db_)));
}

}  // namespace repokit
