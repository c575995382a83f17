#include <catch2/catch.hpp>

#include <chrono>
#include <limits>
#include <string_view>
#include <vector>

#include "repokit/retry/db_retry.hpp"
#include "repokit/retry/retry_class.hpp"
#include "repokit/retry/retry_state.hpp"

namespace {

using repokit::db_retry;
using repokit::jitter_mode;
using repokit::retry_class;
using repokit::retry_decision;
using repokit::retry_state;
using repokit::retry_verdict;
using repokit::seconds;

std::string_view name(retry_verdict verdict) {
  switch (verdict) {
    case retry_verdict::retry: return "retry";
    case retry_verdict::not_retryable: return "not_retryable";
    case retry_verdict::attempts_exhausted: return "attempts_exhausted";
    case retry_verdict::deadline_exceeded: return "deadline_exceeded";
  }
  return "unknown";
}

// A clock that only moves when the retry loop sleeps, and a record of every sleep: the loop's
// timing becomes exact and the test takes no real time.
struct fake_time {
  db_retry::clock_type::time_point now{std::chrono::hours{1}};
  std::vector<double> slept;

  void install(db_retry& policy) {
    policy.clock = [this] { return now; };
    policy.sleep = [this](seconds delay) {
      slept.push_back(delay.count());
      now += std::chrono::duration_cast<db_retry::clock_type::duration>(delay);
    };
  }
};

// Runs failures of class `failure` until the state stops retrying; answers the final verdict.
retry_verdict fail_until_given_up(retry_state& state, retry_class failure, bool idempotent) {
  for (int guard = 0; guard < 1000; ++guard) {
    const retry_decision decision = state.on_failure(failure, idempotent);
    if (decision.verdict != retry_verdict::retry) return decision.verdict;
    state.wait(decision);
  }
  FAIL("the retry loop never gave up");
  return retry_verdict::retry;
}

}  // namespace

TEST_CASE("Without jitter the loop sleeps 0.5, 1 and 2 seconds, then its attempts are exhausted",
          "[retry][retry_state]") {
  db_retry policy{.jitter = jitter_mode::none};
  fake_time time;
  time.install(policy);
  retry_state state(policy);
  CHECK(state.attempt() == 1);
  CHECK(state.max_attempts() == 4);

  CHECK(name(fail_until_given_up(state, retry_class::retry_transaction, false)) ==
        name(retry_verdict::attempts_exhausted));
  CHECK(time.slept == std::vector<double>{0.5, 1.0, 2.0});
  CHECK(state.attempt() == 4);
  CHECK(state.elapsed().count() == Approx(3.5));
}

TEST_CASE("Each decision carries the delay for the current attempt", "[retry][retry_state]") {
  db_retry policy{.jitter = jitter_mode::none};
  fake_time time;
  time.install(policy);
  retry_state state(policy);

  const retry_decision first = state.on_failure(retry_class::reconnect_then_retry, false);
  CHECK(name(first.verdict) == name(retry_verdict::retry));
  CHECK(first.delay.count() == 0.5);
  // Deciding does not advance the attempt; waiting does.
  CHECK(state.attempt() == 1);
  CHECK(time.slept.empty());
  state.wait(first);
  CHECK(state.attempt() == 2);
  CHECK(time.slept == std::vector<double>{0.5});

  const retry_decision second = state.on_failure(retry_class::retry_transaction, false);
  CHECK(second.delay.count() == 1.0);
}

TEST_CASE("Full jitter draws the delay from the injected random source", "[retry][retry_state]") {
  db_retry policy{.jitter = jitter_mode::full};
  fake_time time;
  time.install(policy);
  std::vector<double> draws{0.5, 0.25, 0.0};
  std::size_t next = 0;
  policy.random = [&] { return draws.at(next++); };
  retry_state state(policy);

  CHECK(name(fail_until_given_up(state, retry_class::retry_transaction, false)) ==
        name(retry_verdict::attempts_exhausted));
  REQUIRE(time.slept.size() == 2);  // a zero delay is not slept
  CHECK(time.slept[0] == Approx(0.25));
  CHECK(time.slept[1] == Approx(0.25));
  CHECK(next == 3);
  CHECK(state.attempt() == 4);
}

TEST_CASE("max_retries of zero gives up at once without sleeping", "[retry][retry_state]") {
  db_retry policy{.max_retries = 0, .jitter = jitter_mode::none};
  fake_time time;
  time.install(policy);
  retry_state state(policy);
  CHECK(state.max_attempts() == 1);

  const retry_decision decision = state.on_failure(retry_class::retry_transaction, true);
  CHECK(name(decision.verdict) == name(retry_verdict::attempts_exhausted));
  CHECK(time.slept.empty());
}

TEST_CASE("The disabled policy makes exactly one attempt", "[retry][retry_state]") {
  db_retry policy = db_retry::disabled();
  CHECK(policy.max_retries == 0);
  CHECK_FALSE(policy.invalid_reason().has_value());
  fake_time time;
  time.install(policy);
  retry_state state(policy);
  CHECK(state.max_attempts() == 1);
  CHECK(name(state.on_failure(retry_class::reconnect_then_retry, false).verdict) ==
        name(retry_verdict::attempts_exhausted));
  CHECK(time.slept.empty());
}

TEST_CASE("A permanent failure is not retried and nothing is slept", "[retry][retry_state]") {
  db_retry policy{.jitter = jitter_mode::none};
  fake_time time;
  time.install(policy);
  retry_state state(policy);

  // Idempotence does not make a permanent failure worth repeating.
  const bool idempotent = GENERATE(false, true);
  const retry_decision decision = state.on_failure(retry_class::permanent, idempotent);
  CHECK(name(decision.verdict) == name(retry_verdict::not_retryable));
  CHECK(decision.delay.count() == 0.0);
  CHECK(time.slept.empty());
  CHECK(state.attempt() == 1);
}

TEST_CASE("An in-doubt commit is retried only when the caller declared the unit idempotent",
          "[retry][retry_state]") {
  db_retry policy{.jitter = jitter_mode::none};
  fake_time time;
  time.install(policy);
  retry_state state(policy);

  CHECK(name(state.on_failure(retry_class::in_doubt, false).verdict) ==
        name(retry_verdict::not_retryable));
  const retry_decision idempotent = state.on_failure(retry_class::in_doubt, true);
  CHECK(name(idempotent.verdict) == name(retry_verdict::retry));
  CHECK(idempotent.delay.count() == 0.5);
}

TEST_CASE("The wait that would pass the deadline is cut short for one last attempt at it",
          "[retry][retry_state]") {
  // Waits of 0.5 and 1 s end at 1.5 s; the next, 2 s, is cut to the 1.5 s left of a 3 s
  // budget. The attempt made at the deadline is the last.
  db_retry policy{.max_retries = 10, .jitter = jitter_mode::none, .deadline = seconds{3}};
  fake_time time;
  time.install(policy);
  retry_state state(policy);

  CHECK(name(fail_until_given_up(state, retry_class::retry_transaction, false)) ==
        name(retry_verdict::deadline_exceeded));
  CHECK(time.slept == std::vector<double>{0.5, 1.0, 1.5});
  CHECK(state.attempt() == 4);
  CHECK(state.elapsed().count() == 3.0);
}

TEST_CASE("The deadline counts the time the attempts took, not only the waits",
          "[retry][retry_state]") {
  db_retry policy{.jitter = jitter_mode::none, .deadline = seconds{10}};
  fake_time time;
  time.install(policy);
  retry_state state(policy);

  // The first attempt itself ran for 9.6 s: only 0.4 s of the 0.5 s wait is left.
  time.now += std::chrono::milliseconds{9600};
  const retry_decision cut = state.on_failure(retry_class::retry_transaction, false);
  CHECK(name(cut.verdict) == name(retry_verdict::retry));
  CHECK(cut.delay.count() == Approx(0.4));
  state.wait(cut);

  // The attempt at the deadline failed at once: there is no time left for another.
  const retry_decision last = state.on_failure(retry_class::retry_transaction, false);
  CHECK(name(last.verdict) == name(retry_verdict::deadline_exceeded));
  CHECK(last.delay.count() == 0.0);
  REQUIRE(time.slept.size() == 1);
  CHECK(time.slept[0] == Approx(0.4));
}

TEST_CASE("A wait that ends before the deadline is not shortened", "[retry][retry_state]") {
  db_retry policy{.jitter = jitter_mode::none, .deadline = seconds{10}};
  fake_time time;
  time.install(policy);
  retry_state state(policy);

  time.now += std::chrono::milliseconds{9400};
  const retry_decision decision = state.on_failure(retry_class::retry_transaction, false);
  CHECK(name(decision.verdict) == name(retry_verdict::retry));
  CHECK(decision.delay.count() == 0.5);
}

TEST_CASE("A failure after the deadline has passed is not retried", "[retry][retry_state]") {
  db_retry policy{.jitter = jitter_mode::none, .deadline = seconds{10}};
  fake_time time;
  time.install(policy);
  retry_state state(policy);

  time.now += std::chrono::seconds{12};
  const retry_decision decision = state.on_failure(retry_class::reconnect_then_retry, false);
  CHECK(name(decision.verdict) == name(retry_verdict::deadline_exceeded));
  CHECK(decision.delay.count() == 0.0);
  CHECK(time.slept.empty());
  CHECK(state.attempt() == 1);
}

TEST_CASE("db_retry explains why a policy cannot be used", "[retry][retry_state]") {
  CHECK_FALSE(db_retry{}.invalid_reason().has_value());
  CHECK_FALSE(db_retry{.max_delay = seconds{0.5}}.invalid_reason().has_value());
  CHECK_FALSE(db_retry{.multiplier = 1.0}.invalid_reason().has_value());

  const auto reason_for = [](const db_retry& policy) {
    const auto reason = policy.invalid_reason();
    REQUIRE(reason.has_value());
    return *reason;
  };
  CHECK_THAT(reason_for(db_retry{.max_retries = -1}), Catch::Contains("max_retries"));
  CHECK_THAT(reason_for(db_retry{.initial_delay = seconds{-0.1}}),
             Catch::Contains("initial_delay"));
  CHECK_THAT(reason_for(db_retry{.initial_delay = seconds{2}, .max_delay = seconds{1}}),
             Catch::Contains("max_delay"));
  CHECK_THAT(reason_for(db_retry{.multiplier = 0.5}), Catch::Contains("multiplier"));
  CHECK_THAT(reason_for(db_retry{.multiplier = std::numeric_limits<double>::quiet_NaN()}),
             Catch::Contains("multiplier"));
  CHECK_THAT(reason_for(db_retry{.deadline = seconds{0}}), Catch::Contains("deadline"));
  CHECK_THAT(reason_for(db_retry{.deadline = seconds{-1}}), Catch::Contains("deadline"));
}

TEST_CASE("A policy's schedule carries its delays, multiplier and jitter", "[retry][retry_state]") {
  const db_retry policy{.initial_delay = seconds{0.2},
                        .max_delay = seconds{3},
                        .multiplier = 1.5,
                        .jitter = jitter_mode::none};
  const repokit::backoff schedule = policy.schedule();
  CHECK(schedule.initial_delay.count() == 0.2);
  CHECK(schedule.max_delay.count() == 3.0);
  CHECK(schedule.multiplier == 1.5);
  CHECK(schedule.jitter == jitter_mode::none);
}
