// repokit::prometheus as an application uses it: its collector registered with a
// prometheus::Exposer on the loopback, scraped over HTTP while units of work run on SQLite.
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <prometheus/exposer.h>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "repokit/prometheus/collector.hpp"
#include "repokit/scope.hpp"
#include "support/test_database.hpp"

using namespace repokit;
using repokit::testing::execute_sql;
using repokit::testing::test_database;

namespace {

// GET `path` from 127.0.0.1:`port` over HTTP/1.0; the body of a 200 answer.
std::string http_get(int port, const std::string& path) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<std::uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string answer;
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0) {
    const std::string request = "GET " + path + " HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
    std::size_t sent = 0;
    while (sent < request.size()) {
      const ssize_t n = ::send(fd, request.data() + sent, request.size() - sent, 0);
      if (n <= 0) break;
      sent += static_cast<std::size_t>(n);
    }
    char buffer[4096];
    for (ssize_t n; (n = ::recv(fd, buffer, sizeof buffer, 0)) > 0;) {
      answer.append(buffer, static_cast<std::size_t>(n));
    }
  }
  ::close(fd);
  const std::size_t body = answer.find("\r\n\r\n");
  INFO(answer);
  REQUIRE(answer.starts_with("HTTP/1.1 200"));
  REQUIRE(body != std::string::npos);
  return answer.substr(body + 4);
}

// Each sample line, `name{labels}` or `name`, to its value; no series twice.
std::map<std::string, double> samples_of(const std::string& text) {
  std::map<std::string, double> samples;
  std::size_t from = 0;
  for (std::size_t end = text.find('\n'); end != std::string::npos; end = text.find('\n', from)) {
    const std::string_view line(text.data() + from, end - from);
    from = end + 1;
    if (line.empty() || line.starts_with('#')) continue;
    const std::size_t space = line.rfind(' ');
    REQUIRE(space != std::string_view::npos);
    const bool first = samples
                           .emplace(std::string(line.substr(0, space)),
                                    std::stod(std::string(line.substr(space + 1))))
                           .second;
    CHECK(first);  // a series appears once
  }
  return samples;
}

constexpr std::string_view labels =
    R"(db_system_name="sqlite",db_client_connection_pool_name="scraped")";

std::string series(std::string_view name, std::string_view more = {}) {
  std::string out = std::string(name) + '{' + std::string(labels);
  if (!more.empty()) out.append(",").append(more);
  return out + '}';
}

constexpr statement insert_item{
    "insert_item", "INSERT INTO items (id) VALUES (:id)", statement_kind::write, {}};

}  // namespace

TEST_CASE("a scrape of the exposer serves the OpenTelemetry-named series", "[prometheus]") {
  test_database database({.pool_size = 3, .pool_name = "scraped"}, false);
  const Database& db = database.db();

  prometheus::Exposer exposer("127.0.0.1:0", 1);
  const std::vector<int> ports = exposer.GetListeningPorts();
  REQUIRE(ports.size() == 1);
  REQUIRE(ports[0] > 0);
  auto collector = std::make_shared<prometheus_collector>(db);
  exposer.RegisterCollectable(collector);

  execute_sql(db, "CREATE TABLE items (id INTEGER PRIMARY KEY)");
  for (std::int64_t id = 1; id <= 3; ++id) {
    const param bound[] = {id};
    REQUIRE(run_unit(db, [&bound](UnitOfWork& unit) { return unit.execute(insert_item, bound); }));
  }

  const std::string text = http_get(ports[0], "/metrics");
  CHECK_THAT(text, Catch::Contains("# TYPE db_client_connection_use_time_seconds histogram\n"));
  CHECK_THAT(text, Catch::Contains("# TYPE db_client_connection_count gauge\n"));
  CHECK_THAT(text, Catch::Contains("# TYPE db_client_connection_timeouts_total counter\n"));
  std::map<std::string, double> scraped = samples_of(text);
  CHECK(scraped.at("repokit_commits_total") == 4);
  CHECK(scraped.at(series("db_client_operation_duration_seconds_count")) == 4);
  CHECK(scraped.at(series("db_client_connection_use_time_seconds_count")) == 4);
  CHECK(scraped.at(series("db_client_connection_use_time_seconds_bucket", R"(le="+Inf")")) == 4);
  CHECK(scraped.at(series("db_client_connection_wait_time_seconds_count")) == 4);
  CHECK(scraped.at(series("db_client_connection_max")) == 3);
  CHECK(scraped.at(series("db_client_connection_count", R"(db_client_connection_state="idle")")) ==
        1);
  CHECK(scraped.at(series("db_client_connection_count", R"(db_client_connection_state="used")")) ==
        0);
  CHECK(scraped.at(series("db_client_connection_pending_requests")) == 0);
  CHECK(scraped.at(series("db_client_connection_timeouts_total")) == 0);

  // Each scrape reads the Database anew: one taken from inside a unit sees its connection used.
  REQUIRE(run_unit(db, [&](UnitOfWork& unit) -> result<void> {
    const param bound[] = {std::int64_t{4}};
    REPOKIT_TRYV(unit.execute(insert_item, bound));
    scraped = samples_of(http_get(ports[0], "/metrics"));
    return success();
  }));
  CHECK(scraped.at(series("db_client_connection_count", R"(db_client_connection_state="used")")) ==
        1);
  CHECK(scraped.at(series("db_client_connection_count", R"(db_client_connection_state="idle")")) ==
        0);
  CHECK(scraped.at(series("db_client_connection_use_time_seconds_count")) == 4);
  scraped = samples_of(http_get(ports[0], "/metrics"));
  CHECK(scraped.at(series("db_client_connection_use_time_seconds_count")) == 5);
  CHECK(scraped.at("repokit_commits_total") == 5);
}
