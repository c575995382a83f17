// Leases, scheduling and retries against real databases: a claim holds its job while heartbeats
// renew its lease, an expired lease lets the next claim take the job over and refuses the first
// claim's outcome, claims follow priority, then run_at, then id, and a failed attempt comes back
// after its backoff until the job is out of attempts.
#include <atomic>
#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "job_support.hpp"
#include "repokit/testing/fault_injecting_session.hpp"

using namespace repokit;
using namespace repokit::jobs_test;
using repokit::testing::test_database;
using std::chrono::milliseconds;

namespace {

result<std::optional<Job>> claim(const Database& db, std::string_view job_type,
                                 std::string_view worker_id, claim_options options = {}) {
  return run_task(
      db, [&](Repositories& repos) { return repos.jobs.claim_next(job_type, worker_id, options); });
}

result<Job> heartbeat(const Database& db, const Job& claimed, milliseconds lease) {
  return run_task(db, [&](Repositories& repos) { return repos.jobs.heartbeat(claimed, lease); });
}

result<reconcile_report> reconcile(const Database& db, milliseconds older_than,
                                   std::int64_t max_attempts = 3) {
  return run_task(db, [&](Repositories& repos) {
    return repos.jobs.reconcile_stale(older_than, max_attempts);
  });
}

// Claims the next job of `job_type` for `worker_id`, under the default lease unless `options` say.
Job claim_only_job(const Database& db, std::string_view job_type, std::string_view worker_id,
                   claim_options options = {}) {
  auto claimed = claim(db, job_type, worker_id, options);
  INFO(describe(claimed));
  REQUIRE(claimed);
  REQUIRE(claimed.value());
  return *claimed.value();
}

// The worker holding `claimed` stops: its last heartbeat asks for a lease that ends at once.
// Answers once that lease has run out.
Job let_lease_run_out(const Database& db, const Job& claimed) {
  auto last = heartbeat(db, claimed, milliseconds{1});
  INFO(describe(last));
  REQUIRE(last);
  REQUIRE(last.value().lease_expires_at.has_value());
  wait_until_past(*last.value().lease_expires_at);
  return last.value();
}

Job create(const Database& db, std::string_view job_type, std::string_view target,
           job_schedule schedule) {
  auto created = job_repository(
      db, [&](JobRepository& jobs) { return jobs.create_job(job_type, target, "{}", schedule); });
  INFO(describe(created));
  REQUIRE(created);
  return created.value();
}

}  // namespace

TEST_CASE("a claim takes a lease; a live lease keeps other claims and reconcile_stale away",
          "[lease]") {
  constexpr std::string_view job_type = "lease_live";
  test_database fixture;
  const Database& db = fixture.db();
  const std::int64_t id = seed_jobs(db, job_type, 1).front();

  const timestamp before = wall_clock();
  const Job held = claim_only_job(db, job_type, "w1");
  CHECK(held.id == id);
  REQUIRE(held.lease_expires_at.has_value());
  CHECK(*held.lease_expires_at >= before + default_lease);
  CHECK(*held.lease_expires_at <= wall_clock() + default_lease);

  auto other = claim(db, job_type, "w2");
  INFO(describe(other));
  REQUIRE(other);
  CHECK_FALSE(other.value().has_value());
  auto report = reconcile(db, milliseconds{0});
  INFO(describe(report));
  REQUIRE(report);
  CHECK(report.value().requeued == 0);
  CHECK(report.value().dead == 0);
  CHECK(read_job(db, id).value() == held);
}

TEST_CASE("a heartbeat renews the lease, and only under the claim that holds it", "[lease]") {
  constexpr std::string_view job_type = "lease_renew";
  test_database fixture;
  const Database& db = fixture.db();
  seed_jobs(db, job_type, 1);
  const Job held = claim_only_job(db, job_type, "w1");

  const timestamp before = wall_clock();
  auto renewed = heartbeat(db, held, std::chrono::hours{1});
  INFO(describe(renewed));
  REQUIRE(renewed);
  REQUIRE(renewed.value().lease_expires_at.has_value());
  CHECK(*renewed.value().lease_expires_at >= before + std::chrono::hours{1});
  CHECK(renewed.value().status == job_status::running);
  CHECK(renewed.value().attempts == held.attempts);

  Job impostor = held;
  impostor.worker_id = "w2";
  auto refused = heartbeat(db, impostor, std::chrono::hours{2});
  INFO(describe(refused));
  CHECK(kind_of(refused) == errc::invalid_state);
  CHECK(read_job(db, held.id).value() == renewed.value());

  for (const milliseconds bad : {milliseconds{0}, milliseconds{-1}, max_lease + milliseconds{1}}) {
    auto invalid = heartbeat(db, held, bad);
    INFO(bad.count() << " ms: " << describe(invalid));
    CHECK(kind_of(invalid) == errc::invalid_argument);
  }
  CHECK(read_job(db, held.id).value() == renewed.value());
}

TEST_CASE("an expired lease lets the next claim take the job over; the first claim is refused",
          "[lease]") {
  constexpr std::string_view job_type = "lease_expired";
  test_database fixture;
  const Database& db = fixture.db();
  const std::int64_t id = seed_jobs(db, job_type, 1).front();
  const Job first = claim_only_job(db, job_type, "w1");
  let_lease_run_out(db, first);

  const Job second = claim_only_job(db, job_type, "w2");
  CHECK(second.id == id);
  CHECK(second.status == job_status::running);
  CHECK(second.attempts == 2);
  CHECK(second.worker_id == "w2");
  CHECK(second.last_error == lease_expired_note);

  auto late_heartbeat = heartbeat(db, first, default_lease);
  INFO(describe(late_heartbeat));
  CHECK(kind_of(late_heartbeat) == errc::invalid_state);
  auto late_finish = run_task(
      db, [&](Repositories& repos) { return repos.jobs.finish_job(first, job_status::succeeded); });
  INFO(describe(late_finish));
  CHECK(kind_of(late_finish) == errc::invalid_state);
  CHECK(read_job(db, id).value() == second);

  auto finished = run_task(db, [&](Repositories& repos) {
    return repos.jobs.finish_job(second, job_status::succeeded);
  });
  INFO(describe(finished));
  REQUIRE(finished);
  CHECK(finished.value().status == job_status::succeeded);
  CHECK(finished.value().attempts == 2);
  CHECK(finished.value().lease_expires_at == std::nullopt);
}

TEST_CASE("an expired lease is not taken over once out of attempts; reconcile_stale kills it",
          "[lease]") {
  constexpr std::string_view job_type = "lease_exhausted";
  test_database fixture;
  const Database& db = fixture.db();
  const std::int64_t id = seed_jobs(db, job_type, 1).front();
  const Job held = claim_only_job(db, job_type, "w1");
  const Job expired = let_lease_run_out(db, held);

  auto none = claim(db, job_type, "w2", {.max_attempts = 1});
  INFO(describe(none));
  REQUIRE(none);
  CHECK_FALSE(none.value().has_value());
  CHECK(read_job(db, id).value() == expired);

  // Not claimed or renewed for an hour: the expired lease alone does not make the job stale.
  auto patient = reconcile(db, std::chrono::hours{1}, 1);
  INFO(describe(patient));
  REQUIRE(patient);
  CHECK(patient.value().dead == 0);
  CHECK(patient.value().requeued == 0);

  auto report = reconcile(db, milliseconds{0}, 1);
  INFO(describe(report));
  REQUIRE(report);
  CHECK(report.value().dead == 1);
  CHECK(report.value().requeued == 0);
  const Job dead = read_job(db, id).value();
  CHECK(dead.status == job_status::dead);
  CHECK(dead.lease_expires_at == std::nullopt);
}

TEST_CASE("a handler that runs past its lease keeps its claim through heartbeats and runs once",
          "[lease]") {
  constexpr std::string_view job_type = "lease_heartbeats";
  constexpr milliseconds lease{900};
  test_database fixture({.pool_size = 4});
  const Database& db = fixture.db();
  const std::int64_t id = seed_jobs(db, job_type, 1).front();

  int runs = 0;
  std::optional<Job> renewed;  // the job as the handler saw it, renewed
  result<std::optional<Job>> rival_claim = std::optional<Job>{};  // another worker's claim
  result<reconcile_report> rival_reconcile = reconcile_report{};
  auto finished = work_on_next_job(db, job_type, "w1",
                                   [&](const Job& job) {
                                     ++runs;
                                     const timestamp first_expiry = job.lease_expires_at.value();
                                     // Wait for a heartbeat to move the lease (no time limit: the
                                     // renewal ends the wait), then for the first lease's end: from
                                     // there on only the heartbeats hold the job.
                                     for (;;) {
                                       auto now_stored = read_job(db, job.id);
                                       if (!now_stored)
                                         return;  // `renewed` stays empty, and the test fails
                                       if (now_stored.value().lease_expires_at > first_expiry)
                                         break;
                                       std::this_thread::sleep_for(lease / 10);
                                     }
                                     wait_until_past(first_expiry);
                                     rival_claim = claim(db, job_type, "w2");
                                     rival_reconcile = reconcile(db, milliseconds{0});
                                     renewed = read_job(db, job.id).value();
                                   },
                                   {.claim = {.lease = lease}});
  INFO(describe(finished));
  REQUIRE(finished);
  REQUIRE(finished.value());
  CHECK(runs == 1);
  INFO(describe(rival_claim));
  REQUIRE(rival_claim);
  CHECK_FALSE(rival_claim.value().has_value());
  INFO(describe(rival_reconcile));
  REQUIRE(rival_reconcile);
  CHECK(rival_reconcile.value().requeued == 0);
  REQUIRE(renewed.has_value());
  CHECK(renewed->status == job_status::running);
  CHECK(renewed->worker_id == "w1");
  CHECK(renewed->attempts == 1);
  CHECK(finished.value()->id == id);
  CHECK(finished.value()->status == job_status::succeeded);
  CHECK(finished.value()->attempts == 1);
  CHECK(db.pool().in_use == 0);
}

TEST_CASE("a short lease is renewed in time while the renewal thread sleeps for a long one",
          "[lease]") {
  // The process's one renewal thread sleeps until the next renewal due, so a lease to renew
  // sooner than that must wake it. The thread is put to sleep for a long lease's renewal: a short
  // lease held beside it loses its claim, and the thread drops it before its destructor returns.
  constexpr std::string_view job_type = "lease_sooner";
  constexpr milliseconds long_lease = std::chrono::hours{1};
  constexpr milliseconds short_lease{900};
  test_database fixture({.pool_size = 4});
  const Database& db = fixture.db();
  seed_jobs(db, job_type, 3);

  const Job long_held = claim_only_job(db, job_type, "w-long", {.lease = long_lease});
  const lease_renewal held(db, long_held, long_lease);
  {
    const Job doomed = claim_only_job(db, job_type, "w-doomed", {.lease = short_lease});
    const lease_renewal renewal(db, doomed, short_lease);
    auto taken_away = job_repository(
        db, [&](JobRepository& jobs) { return jobs.finish_job(doomed, job_status::succeeded); });
    INFO(describe(taken_away));
    REQUIRE(taken_away);
    wait_until_past(doomed.lease_expires_at.value());
    REQUIRE(renewal.claim_lost());  // its renewal was tried, refused, and dropped
  }

  std::atomic<std::uint64_t> renewals{0};
  const Job short_held = claim_only_job(db, job_type, "w-short", {.lease = short_lease});
  const lease_renewal renewal(db, short_held, short_lease, {}, &renewals);
  wait_until_past(short_held.lease_expires_at.value());
  auto stored = read_job(db, short_held.id);
  INFO(describe(stored));
  REQUIRE(stored);
  CHECK(stored.value().lease_expires_at > short_held.lease_expires_at);
  CHECK(renewals >= 1);
}

TEST_CASE("claims take the highest priority first, then the earliest run_at, then the lowest id",
          "[lease][schedule]") {
  constexpr std::string_view job_type = "scheduled";
  test_database fixture;
  const Database& db = fixture.db();
  const timestamp now = wall_clock();
  const Job plain = create(db, job_type, "plain", {});
  create(db, job_type, "urgent", {.priority = 5});
  create(db, job_type, "urgent-later", {.priority = 5});
  create(db, job_type, "overdue", {.run_at = now - std::chrono::hours{1}});
  const Job future =
      create(db, job_type, "future", {.run_at = now + std::chrono::hours{1}, .priority = 9});
  CHECK(plain.run_at >= now);
  CHECK(plain.priority == 0);
  CHECK(future.run_at == now + std::chrono::hours{1});
  CHECK(future.priority == 9);

  std::vector<std::string> order;
  for (;;) {
    auto next = claim(db, job_type, "w1");
    INFO(describe(next));
    REQUIRE(next);
    if (!next.value()) break;
    order.push_back(next.value()->target_id);
  }
  // urgent before urgent-later: same priority, and run_at ties are broken by id.
  CHECK(order == std::vector<std::string>{"urgent", "urgent-later", "overdue", "plain"});
  CHECK(read_job(db, future.id).value() == future);  // not due: never claimed
}

TEST_CASE("create_if_not_exists schedules the job it creates, not the one it finds",
          "[lease][schedule]") {
  constexpr std::string_view job_type = "scheduled_once";
  test_database fixture;
  const Database& db = fixture.db();
  const timestamp later = wall_clock() + std::chrono::hours{2};
  auto enqueue = [&](job_schedule schedule) {
    return job_repository(db, [&](JobRepository& jobs) {
      return jobs.create_if_not_exists(job_type, "T1", "{}", active_job_statuses, schedule);
    });
  };
  auto first = enqueue({.run_at = later, .priority = 3});
  INFO(describe(first));
  REQUIRE(first);
  CHECK(first.value().created);
  CHECK(first.value().record.run_at == later);
  CHECK(first.value().record.priority == 3);

  auto second = enqueue({.priority = 7});
  INFO(describe(second));
  REQUIRE(second);
  CHECK_FALSE(second.value().created);
  CHECK(second.value().record == first.value().record);

  auto none = claim(db, job_type, "w1");
  REQUIRE(none);
  CHECK_FALSE(none.value().has_value());  // due in two hours
}

TEST_CASE("reconcile_stale gives back only running jobs: finished ones stay finished", "[lease]") {
  constexpr std::string_view job_type = "lease_finished";
  test_database fixture;
  const Database& db = fixture.db();
  seed_jobs(db, job_type, 2);
  std::vector<Job> finished;
  for (const job_status outcome : {job_status::succeeded, job_status::failed}) {
    const Job held = claim_only_job(db, job_type, "w1");
    auto done = run_task(
        db, [&](Repositories& repos) { return repos.jobs.finish_job(held, outcome, "done"); });
    INFO(describe(done));
    REQUIRE(done);
    CHECK(done.value().status == outcome);
    CHECK(done.value().last_error == "done");  // kept as a note on success, as the error else
    finished.push_back(done.value());
  }
  wait_until_past(std::max(finished[0].updated_at, finished[1].updated_at));

  auto report = reconcile(db, milliseconds{0});
  INFO(describe(report));
  REQUIRE(report);
  CHECK(report.value().requeued == 0);
  CHECK(report.value().dead == 0);
  for (const Job& job : finished) CHECK(read_job(db, job.id).value() == job);
}

TEST_CASE("failed attempts come back after a growing backoff, then fail for good",
          "[lease][retry]") {
  constexpr std::string_view job_type = "retried";
  test_database fixture;
  const Database& db = fixture.db();
  const std::int64_t id = seed_jobs(db, job_type, 1).front();
  const work_options options{.retry = job_retry_policy{.max_attempts = 3,
                                                       .delay = {.initial_delay = seconds{0.2},
                                                                 .max_delay = seconds{1},
                                                                 .jitter = jitter_mode::none}}};
  auto fail_once = [&] {
    return work_on_next_job(
        db, job_type, "w1",
        [](const Job& job) -> result<void> {
          return failure(errc::invalid_argument, "attempt " + std::to_string(job.attempts));
        },
        options);
  };

  for (const std::int64_t attempt : {1, 2}) {
    const timestamp before = wall_clock();
    auto outcome = fail_once();
    const timestamp after = wall_clock();
    INFO("attempt " << attempt << ": " << describe(outcome));
    REQUIRE(outcome);
    REQUIRE(outcome.value());
    const Job& waiting = *outcome.value();
    CHECK(waiting.id == id);
    CHECK(waiting.status == job_status::pending);
    CHECK(waiting.attempts == attempt);
    CHECK(waiting.last_error.value_or("").find("attempt " + std::to_string(attempt)) !=
          std::string::npos);
    const milliseconds backoff{200 * (attempt == 1 ? 1 : 2)};  // 0.2 s, then 0.4 s
    CHECK(waiting.run_at >= before + backoff);
    CHECK(waiting.run_at <= after + backoff);
    wait_until_past(waiting.run_at);
  }

  auto last = fail_once();
  INFO(describe(last));
  REQUIRE(last);
  REQUIRE(last.value());
  const Job dead = *last.value();
  CHECK(dead.status == job_status::dead);
  CHECK(dead.attempts == 3);
  CHECK(dead.finished_at.has_value());
  CHECK(dead.last_error.value_or("").find("attempt 3") != std::string::npos);
  auto nothing = claim(db, job_type, "w2");
  REQUIRE(nothing);
  CHECK_FALSE(nothing.value().has_value());  // out of attempts: never claimed again

  // Requeued by hand, it is claimable again.
  auto requeued = job_repository(
      db, [&](JobRepository& jobs) { return jobs.update_job_status(id, job_status::pending); });
  INFO(describe(requeued));
  REQUIRE(requeued);
  const Job again = claim_only_job(db, job_type, "w3");
  CHECK(again.id == id);
  CHECK(again.attempts == 4);
}

TEST_CASE("an outcome whose unit gave up is recorded again while the lease holds",
          "[lease][retry]") {
  constexpr std::string_view job_type = "record_again";
  auto faults = std::make_shared<testing::fault_injector>();
  test_database fixture({.retry = db_retry{.max_retries = 1, .initial_delay = seconds{0.001}},
                         .wrap_session = testing::inject(faults)});
  const Database& db = fixture.db();
  const std::int64_t id = seed_jobs(db, job_type, 1).front();

  int runs = 0;
  auto finished = work_on_next_job(db, job_type, "w1", [&](const Job&) {
    ++runs;
    // The outcome's unit meets a deadlock, and another in its one retry: it gives up.
    faults->fail_next(testing::fault::deadlock, "finish_job");
    faults->fail_next(testing::fault::deadlock, "finish_job");
  });
  INFO(describe(finished));
  REQUIRE(finished);
  REQUIRE(finished.value());
  CHECK(runs == 1);
  CHECK(finished.value()->id == id);
  CHECK(finished.value()->status == job_status::succeeded);
  CHECK(finished.value()->attempts == 1);
  CHECK(faults->deadlocks() == 2);
  CHECK(db.metrics().give_ups == 1);
  CHECK(read_job(db, id).value() == *finished.value());
}
