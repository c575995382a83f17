#include <catch2/catch.hpp>

#include <cmath>
#include <limits>

#include "repokit/retry/backoff.hpp"

namespace {

using repokit::backoff;
using repokit::jitter_mode;
using repokit::seconds;

backoff exact() { return backoff{.jitter = jitter_mode::none}; }

}  // namespace

TEST_CASE("The default schedule doubles from half a second and is capped at five seconds",
          "[retry][backoff]") {
  const backoff schedule = exact();
  // The draw must not matter without jitter.
  for (const double draw : {0.0, 0.3, 0.999}) {
    CHECK(schedule.delay(1, draw).count() == 0.5);
    CHECK(schedule.delay(2, draw).count() == 1.0);
    CHECK(schedule.delay(3, draw).count() == 2.0);
    CHECK(schedule.delay(4, draw).count() == 4.0);
    CHECK(schedule.delay(5, draw).count() == 5.0);
    CHECK(schedule.delay(6, draw).count() == 5.0);
    CHECK(schedule.delay(20, draw).count() == 5.0);
  }
}

TEST_CASE("The nominal delay follows a custom initial delay, multiplier and cap",
          "[retry][backoff]") {
  const backoff schedule{.initial_delay = seconds{0.1},
                         .max_delay = seconds{1.0},
                         .multiplier = 3.0,
                         .jitter = jitter_mode::none};
  CHECK(schedule.nominal_delay(1).count() == Approx(0.1));
  CHECK(schedule.nominal_delay(2).count() == Approx(0.3));
  CHECK(schedule.nominal_delay(3).count() == Approx(0.9));
  CHECK(schedule.nominal_delay(4).count() == 1.0);
  CHECK(schedule.nominal_delay(5).count() == 1.0);
}

TEST_CASE("A multiplier of one keeps the delay constant", "[retry][backoff]") {
  const backoff schedule{.initial_delay = seconds{0.25},
                         .max_delay = seconds{5.0},
                         .multiplier = 1.0,
                         .jitter = jitter_mode::none};
  for (int retry = 1; retry <= 10; ++retry) CHECK(schedule.delay(retry, 0.5).count() == 0.25);
}

TEST_CASE("A retry number below one has no delay", "[retry][backoff]") {
  const backoff schedule = exact();
  CHECK(schedule.nominal_delay(0).count() == 0.0);
  CHECK(schedule.nominal_delay(-1).count() == 0.0);
  CHECK(schedule.nominal_delay(std::numeric_limits<int>::min()).count() == 0.0);
  CHECK(schedule.delay(0, 1.0).count() == 0.0);
}

TEST_CASE("Huge retry numbers are capped instead of overflowing", "[retry][backoff]") {
  const backoff schedule = exact();
  for (const int retry : {64, 1025, 100'000, std::numeric_limits<int>::max()}) {
    const double delay = schedule.nominal_delay(retry).count();
    INFO("retry " << retry);
    CHECK(std::isfinite(delay));
    CHECK(delay == 5.0);
  }
}

TEST_CASE("A zero initial delay stays zero however many retries were made", "[retry][backoff]") {
  // 0 * multiplier^n is 0 for every n; a NaN from 0 * inf must not turn into the cap.
  const backoff schedule{.initial_delay = seconds{0},
                         .max_delay = seconds{5.0},
                         .multiplier = 2.0,
                         .jitter = jitter_mode::none};
  for (const int retry : {1, 2, 10, 1025, std::numeric_limits<int>::max()}) {
    INFO("retry " << retry);
    CHECK(schedule.nominal_delay(retry).count() == 0.0);
  }
}

TEST_CASE("Full jitter scales the nominal delay by the random draw", "[retry][backoff]") {
  const backoff schedule{.jitter = jitter_mode::full};
  CHECK(schedule.delay(1, 0.0).count() == 0.0);
  CHECK(schedule.delay(1, 0.5).count() == Approx(0.25));
  CHECK(schedule.delay(3, 0.25).count() == Approx(0.5));
  CHECK(schedule.delay(10, 0.5).count() == Approx(2.5));  // jitter applies after the cap
  CHECK(schedule.delay(2, 0.999).count() == Approx(0.999));
}

TEST_CASE("Full jitter clamps a draw outside [0, 1]", "[retry][backoff]") {
  const backoff schedule{.jitter = jitter_mode::full};
  CHECK(schedule.delay(2, -0.5).count() == 0.0);
  CHECK(schedule.delay(2, 1.5).count() == 1.0);
  CHECK(schedule.delay(2, std::numeric_limits<double>::infinity()).count() == 1.0);
  CHECK(schedule.delay(2, -std::numeric_limits<double>::infinity()).count() == 0.0);
}
