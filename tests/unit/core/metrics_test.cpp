// Metrics: histograms and their quantiles, the observer hook, and Prometheus' text format.
#include <catch2/catch.hpp>

#include <algorithm>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "repokit/metric_families.hpp"
#include "repokit/metrics.hpp"
#include "repokit/scope.hpp"
#include "support/mock_session.hpp"
#include "support/unit_fixtures.hpp"

using namespace repokit;
using namespace repokit::testing;
using trompeloeil::_;
using namespace std::chrono_literals;

TEST_CASE("a histogram puts each duration in its bucket and estimates quantiles", "[metrics]") {
  histogram h;
  for (int i = 0; i < 99; ++i) h.record(2ms);  // bucket (1 ms, 2.5 ms]
  h.record(3s);                                // bucket (2.5 s, 5 s]
  const histogram_snapshot s = h.snapshot();
  CHECK(s.count == 100);
  CHECK(s.sum_seconds == Approx(0.198 + 3.0));
  CHECK(s.buckets[4] == 99);
  CHECK(s.buckets[14] == 1);
  CHECK(s.quantile(0.5) > 0.001);
  CHECK(s.quantile(0.5) <= 0.0025);
  CHECK(s.quantile(1.0) > 2.5);
  CHECK(histogram_snapshot{}.quantile(0.99) == 0);
}

TEST_CASE("durations past the last bound land in the overflow bucket", "[metrics]") {
  histogram h;
  h.record(60s);
  CHECK(h.snapshot().buckets.back() == 1);
  CHECK(h.snapshot().quantile(0.5) == Approx(10.0));
}

TEST_CASE("the observer hears every commit and rollback as it happens", "[metrics]") {
  struct recorder final : observer {
    std::vector<event_kind> seen;
    void on_event(const event& what) noexcept override { seen.push_back(what.kind); }
  };
  auto listening = std::make_shared<recorder>();
  MockSession session;
  ALLOW_CALL(session, kind()).RETURN(dialect::sqlite);
  ALLOW_CALL(session, begin(_)).RETURN(ok());
  ALLOW_CALL(session, execute(_, _)).RETURN(changed(1));
  REQUIRE_CALL(session, commit()).RETURN(ok());
  REQUIRE_CALL(session, rollback()).RETURN(ok());
  mocked_database database(session, {.events = listening});

  REQUIRE(run_unit(database.db, [](UnitOfWork& unit) { return unit.execute(write_something); }));
  CHECK_FALSE(run_unit(database.db, [](UnitOfWork& unit) -> result<void> {
    REPOKIT_TRYV(unit.execute(write_something));
    return failure(errc::invalid_state, "no");
  }));
  CHECK(listening->seen == std::vector<event_kind>{event_kind::session_opened, event_kind::commit,
                                                   event_kind::rollback});
}

// The deprecated renderer of a snapshot and three loose gauges keeps its output: the
// repokit_* families alone.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
TEST_CASE("the Prometheus text of a snapshot names every counter, gauge and histogram",
          "[metrics]") {
  metrics_snapshot m;
  m.commits = 12;
  m.rollbacks[static_cast<std::size_t>(rollback_cause::poisoned)] = 3;
  m.retries[static_cast<std::size_t>(retry_class::retry_transaction)] = 5;
  m.session_lifetime.buckets[0] = 2;
  m.session_lifetime.count = 2;
  const std::string text = to_prometheus(m, 8, 3, 1);
  CHECK_THAT(text,
             Catch::Contains("# TYPE repokit_commits_total counter\nrepokit_commits_total 12\n"));
  CHECK_THAT(text, Catch::Contains("repokit_rollbacks_total{cause=\"poisoned\"} 3\n"));
  CHECK_THAT(text, Catch::Contains("repokit_retries_total{class=\"retry_transaction\"} 5\n"));
  CHECK_THAT(text, Catch::Contains("repokit_pool_in_use 1\n"));
  CHECK_THAT(text, Catch::Contains("repokit_session_lifetime_seconds_bucket{le=\"0.0001\"} 2\n"));
  CHECK_THAT(text, Catch::Contains("repokit_session_lifetime_seconds_bucket{le=\"+Inf\"} 2\n"));
  CHECK_THAT(text, Catch::Contains("repokit_pool_wait_seconds_count 0\n"));
  CHECK_THAT(text, !Catch::Contains("db_client_"));
}
#pragma GCC diagnostic pop

namespace {

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::size_t from = 0;
  for (std::size_t end = text.find('\n'); end != std::string::npos; end = text.find('\n', from)) {
    lines.push_back(text.substr(from, end - from));
    from = end + 1;
  }
  CHECK(from == text.size());  // the text ends with a newline
  return lines;
}

// The lines that start with `prefix`, in order.
std::vector<std::string> lines_starting(const std::string& text, std::string_view prefix) {
  std::vector<std::string> found;
  for (std::string& line : lines_of(text)) {
    if (line.starts_with(prefix)) found.push_back(std::move(line));
  }
  return found;
}

metrics_reading sample_reading() {
  metrics_reading r;
  r.system = dialect::postgresql;
  r.pool_name = "orders";
  r.counters.pool_timeouts = 4;
  r.counters.pool_wait.buckets[0] = 3;   // <= 100 µs
  r.counters.pool_wait.buckets[9] = 1;   // (50 ms, 100 ms]
  r.counters.pool_wait.buckets[16] = 2;  // above 10 s
  r.counters.pool_wait.count = 6;
  r.counters.pool_wait.sum_seconds = 40.5;
  r.counters.session_lifetime.buckets[3] = 7;  // (500 µs, 1 ms]
  r.counters.session_lifetime.count = 7;
  r.counters.session_lifetime.sum_seconds = 0.005;
  r.pool = {.max_size = 8, .open = 5, .in_use = 2, .waiting = 3};
  return r;
}

constexpr std::string_view labels =
    R"(db_system_name="postgresql",db_client_connection_pool_name="orders")";

}  // namespace

TEST_CASE("the pool's gauges and counters carry OpenTelemetry's names and labels", "[metrics]") {
  const std::string text = to_prometheus(sample_reading());
  const std::string l(labels);
  CHECK(lines_starting(text, "db_client_connection_count") ==
        std::vector<std::string>{
            "db_client_connection_count{" + l + ",db_client_connection_state=\"idle\"} 3",
            "db_client_connection_count{" + l + ",db_client_connection_state=\"used\"} 2"});
  CHECK(lines_starting(text, "db_client_connection_max") ==
        std::vector<std::string>{"db_client_connection_max{" + l + "} 8"});
  CHECK(lines_starting(text, "db_client_connection_pending_requests") ==
        std::vector<std::string>{"db_client_connection_pending_requests{" + l + "} 3"});
  CHECK(lines_starting(text, "db_client_connection_timeouts_total") ==
        std::vector<std::string>{"db_client_connection_timeouts_total{" + l + "} 4"});
  CHECK_THAT(text, Catch::Contains("# TYPE db_client_connection_count gauge\n"
                                   "db_client_connection_count{"));
  CHECK_THAT(text, Catch::Contains("# TYPE db_client_connection_timeouts_total counter\n"
                                   "db_client_connection_timeouts_total{"));
}

TEST_CASE("OpenTelemetry-named histograms have cumulative buckets, +Inf, sum and count",
          "[metrics]") {
  const std::string text = to_prometheus(sample_reading());
  const std::string l(labels);
  const std::string wait = "db_client_connection_wait_time_seconds";
  std::vector<std::string> expected{
      "# HELP " + wait + " The time it took to obtain an open connection from the pool.",
      "# TYPE " + wait + " histogram"};
  const std::vector<std::pair<std::string, int>> buckets{
      {"0.0001", 3}, {"0.00025", 3}, {"0.0005", 3}, {"0.001", 3}, {"0.0025", 3}, {"0.005", 3},
      {"0.01", 3},   {"0.025", 3},   {"0.05", 3},   {"0.1", 4},   {"0.25", 4},   {"0.5", 4},
      {"1", 4},      {"2.5", 4},     {"5", 4},      {"10", 4},    {"+Inf", 6}};
  for (const auto& [le, count] : buckets) {
    expected.push_back(wait + "_bucket{" + l + ",le=\"" + le + "\"} " + std::to_string(count));
  }
  expected.push_back(wait + "_sum{" + l + "} 40.500000");
  expected.push_back(wait + "_count{" + l + "} 6");
  std::vector<std::string> got = lines_starting(text, "# HELP " + wait);
  for (std::string& line : lines_starting(text, "# TYPE " + wait)) got.push_back(std::move(line));
  for (std::string& line : lines_starting(text, wait)) got.push_back(std::move(line));
  CHECK(got == expected);

  // The unit of work is the operation, timed from taking its connection to giving it back.
  for (const std::string name :
       {"db_client_operation_duration_seconds", "db_client_connection_use_time_seconds"}) {
    CAPTURE(name);
    CHECK_THAT(text, Catch::Contains(name + "_bucket{" + l + ",le=\"0.0005\"} 0\n" + name +
                                     "_bucket{" + l + ",le=\"0.001\"} 7\n"));
    CHECK_THAT(text, Catch::Contains(name + "_bucket{" + l + ",le=\"+Inf\"} 7\n" + name + "_sum{" +
                                     l + "} 0.005000\n" + name + "_count{" + l + "} 7\n"));
  }
}

TEST_CASE("in-doubt commits are counted as resolved by outcome, or as unknown", "[metrics]") {
  metrics_reading reading = sample_reading();
  reading.counters.in_doubt = 1;
  reading.counters.in_doubt_committed = 2;
  reading.counters.in_doubt_aborted = 3;
  const std::string text = to_prometheus(reading);
  CHECK(lines_starting(text, "repokit_in_doubt_total") ==
        std::vector<std::string>{"repokit_in_doubt_total 1"});
  CHECK(lines_starting(text, "repokit_in_doubt_resolved_total") ==
        std::vector<std::string>{"repokit_in_doubt_resolved_total{outcome=\"committed\"} 2",
                                 "repokit_in_doubt_resolved_total{outcome=\"aborted\"} 3"});
  CHECK_THAT(text, Catch::Contains("# TYPE repokit_in_doubt_resolved_total counter\n"));
}

TEST_CASE("connections the pool retired are counted by reason, and leaks on their own",
          "[metrics]") {
  metrics_reading reading = sample_reading();
  reading.counters.sessions_expired = 2;
  reading.counters.sessions_idle_closed = 5;
  reading.counters.leases_leaked = 1;
  const std::string text = to_prometheus(reading);
  CHECK(lines_starting(text, "repokit_sessions_retired_total") ==
        std::vector<std::string>{"repokit_sessions_retired_total{reason=\"max_lifetime\"} 2",
                                 "repokit_sessions_retired_total{reason=\"idle_timeout\"} 5"});
  CHECK(lines_starting(text, "repokit_pool_leaks_total") ==
        std::vector<std::string>{"repokit_pool_leaks_total 1"});
  CHECK_THAT(text, Catch::Contains("# TYPE repokit_pool_leaks_total counter\n"));
}

TEST_CASE("every family has one HELP and one TYPE line, before its samples", "[metrics]") {
  const std::string text = to_prometheus(sample_reading());
  std::vector<std::string> typed;
  std::string current;
  for (const std::string& line : lines_of(text)) {
    if (line.starts_with("# HELP ")) {
      current = line.substr(7, line.find(' ', 7) - 7);
      CHECK(std::count(typed.begin(), typed.end(), current) == 0);
      typed.push_back(current);
      continue;
    }
    if (line.starts_with("# TYPE ")) {
      CHECK(line.starts_with("# TYPE " + current + ' '));
      continue;
    }
    CAPTURE(line);
    CHECK(line.starts_with(current));
  }
  CHECK(typed.size() == 25);  // 18 repokit_* families and 7 db_client_* ones
  for (const std::string_view name :
       {"db_client_operation_duration_seconds", "db_client_connection_count",
        "db_client_connection_max", "db_client_connection_pending_requests",
        "db_client_connection_timeouts_total", "db_client_connection_wait_time_seconds",
        "db_client_connection_use_time_seconds", "repokit_commits_total",
        "repokit_in_doubt_resolved_total"}) {
    CHECK(std::count(typed.begin(), typed.end(), name) == 1);
  }
}

TEST_CASE("label values are escaped as the exposition format says", "[metrics]") {
  metrics_reading r = sample_reading();
  r.pool_name = "a\\b \"c\"\nd";
  const std::string text = to_prometheus(r);
  CHECK(lines_starting(text, "db_client_connection_max") ==
        std::vector<std::string>{"db_client_connection_max{db_system_name=\"postgresql\","
                                 "db_client_connection_pool_name=\"a\\\\b \\\"c\\\"\\nd\"} 8"});
}

TEST_CASE("a Database's series are labelled with its system and its pool's name", "[metrics]") {
  MockSession session;
  ALLOW_CALL(session, kind()).RETURN(dialect::mariadb);
  ALLOW_CALL(session, begin(_)).RETURN(ok());
  ALLOW_CALL(session, execute(_, _)).RETURN(changed(1));
  ALLOW_CALL(session, commit()).RETURN(ok());

  SECTION("the pool_name option names the pool") {
    mocked_database database(session, {.pool_size = 3, .pool_name = "billing"}, dialect::mariadb);
    REQUIRE(run_unit(database.db, [](UnitOfWork& unit) { return unit.execute(write_something); }));
    REQUIRE(run_unit(database.db, [](UnitOfWork& unit) { return unit.execute(write_something); }));
    const std::string text = to_prometheus(database.db);
    const std::string l = R"(db_system_name="mariadb",db_client_connection_pool_name="billing")";
    CHECK_THAT(text, Catch::Contains("\ndb_client_connection_max{" + l + "} 3\n"));
    CHECK_THAT(text, Catch::Contains("\ndb_client_connection_count{" + l +
                                     ",db_client_connection_state=\"idle\"} 1\n"));
    CHECK_THAT(text, Catch::Contains("\ndb_client_connection_count{" + l +
                                     ",db_client_connection_state=\"used\"} 0\n"));
    CHECK_THAT(text, Catch::Contains("\ndb_client_connection_pending_requests{" + l + "} 0\n"));
    CHECK_THAT(text,
               Catch::Contains("\ndb_client_operation_duration_seconds_count{" + l + "} 2\n"));
    CHECK_THAT(text,
               Catch::Contains("\ndb_client_connection_use_time_seconds_count{" + l + "} 2\n"));
    CHECK_THAT(text,
               Catch::Contains("\ndb_client_connection_wait_time_seconds_count{" + l + "} 2\n"));
    CHECK_THAT(text, Catch::Contains("\nrepokit_commits_total 2\n"));
  }
  SECTION("without one, the application_name does") {
    mocked_database database(session, {.application_name = "shop"}, dialect::mariadb);
    CHECK_THAT(to_prometheus(database.db),
               Catch::Contains(R"(db_client_connection_max{db_system_name="mariadb",)"
                               R"(db_client_connection_pool_name="shop"} 8)"));
  }
}

TEST_CASE("OpenTelemetry's system names are those of its conventions", "[metrics]") {
  CHECK(otel_system_name(dialect::sqlite) == "sqlite");
  CHECK(otel_system_name(dialect::postgresql) == "postgresql");
  CHECK(otel_system_name(dialect::mariadb) == "mariadb");
}
