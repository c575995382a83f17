// Metrics: histograms and their quantiles, the observer hook, and Prometheus' text format.
#include <catch2/catch.hpp>

#include <vector>

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

TEST_CASE("the Prometheus text names every counter, gauge and histogram", "[metrics]") {
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
}
