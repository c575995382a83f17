// Serialises a Database's metrics through repokit::prometheus' collector: the component's
// headers, library and its prometheus-cpp dependency came along.
#include <iostream>
#include <string>

#include <prometheus/text_serializer.h>
#include <repokit/prometheus/collector.hpp>
#include <repokit/repokit.hpp>

int main() {
  const auto db = repokit::Database::open("sqlite::memory:", {.pool_name = "packaged"}).value();
  repokit::migrate(db).value();
  const repokit::prometheus_collector collector(db);
  const std::string text = prometheus::TextSerializer().Serialize(collector.Collect());
  const std::string expected =
      R"(db_client_connection_max{db_system_name="sqlite",db_client_connection_pool_name="packaged"} 1)";
  std::cout << (text.find(expected) != std::string::npos ? "" : "not found: ") << expected << '\n';
  return text.find(expected) != std::string::npos ? 0 : 1;
}
