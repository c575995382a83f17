// The worker runtime against real databases: handlers per job type run each job once, several
// at a time; wake() ends idle waits; a cancelled running job is seen at its next heartbeat;
// failed attempts are retried until the job fails for good; a claim whose COMMIT was in doubt
// is read back; and a graceful stop leaves no job running without a live lease.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "job_support.hpp"
#include "repokit/notifications.hpp"
#include "repokit/testing/fault_injecting_session.hpp"

using namespace repokit;
using namespace repokit::jobs_test;
using repokit::testing::test_database;
using std::chrono::milliseconds;

namespace {

// Polling an hour apart, and not listening: an idle worker claims again only when woken (or
// stopped).
const runtime_options wake_only{.name = "test",
                                .idle_poll_min = std::chrono::hours{1},
                                .idle_poll_max = std::chrono::hours{1},
                                .listen = false};

// Polling every 5 to 50 ms.
const runtime_options quick_polls{
    .name = "test", .idle_poll_min = milliseconds{5}, .idle_poll_max = milliseconds{50}};

// What handlers saw, shared with the test thread.
struct observed {
  std::mutex mutex;
  std::condition_variable changed;
  std::map<std::int64_t, int> runs;  // per job id
  std::set<std::string> types;       // job types the handler was given
  int inside = 0;                    // handlers running now
  int most_inside = 0;
  std::vector<std::string> errors;  // what heartbeats answered, in order

  void enter(const Job& job) {
    const std::lock_guard lock(mutex);
    ++runs[job.id];
    types.insert(job.job_type);
    most_inside = std::max(most_inside, ++inside);
    changed.notify_all();
  }
  void leave() {
    const std::lock_guard lock(mutex);
    --inside;
    changed.notify_all();
  }
  void ran(const Job& job) {
    enter(job);
    leave();
  }
  int total_runs() {
    int total = 0;
    for (const auto& [id, n] : runs) total += n;
    return total;
  }
  // Waits, with no time limit, until `done` holds.
  template <class Done>
  void wait_for(Done done) {
    std::unique_lock lock(mutex);
    changed.wait(lock, done);
  }
};

std::vector<Job> jobs_of(const Database& db, std::string_view job_type,
                         const std::vector<std::int64_t>& ids) {
  std::vector<Job> found;
  for (const std::int64_t id : ids) {
    auto job = read_job(db, id);
    INFO(describe(job));
    REQUIRE(job);
    CHECK(job.value().job_type == job_type);
    found.push_back(job.value());
  }
  return found;
}

// No job of the type running without a live lease.
void check_none_running_unleased(const std::vector<Job>& jobs) {
  const timestamp now = wall_clock();
  for (const Job& job : jobs) {
    INFO("job " << job.id << " is " << to_string(job.status));
    if (job.status == job_status::running) {
      REQUIRE(job.lease_expires_at.has_value());
      CHECK(*job.lease_expires_at > now);
    }
  }
}

}  // namespace

TEST_CASE("the runtime runs each job once with its type's handler, as many at once as asked",
          "[runtime]") {
  test_database fixture({.pool_size = 8, .retry = patient_retry()});
  const Database& db = fixture.db();
  observed transcodes;
  observed thumbnails;
  constexpr int concurrency = 3;
  runtime_options options = wake_only;
  options.complete_in_batches = GENERATE(true, false);
  INFO("complete_in_batches " << *options.complete_in_batches);

  // Seeded before the workers start: their first claims find jobs, with no poll or wake-up.
  // (Seeded while a claim was under way, a job could be newer than that claim's clock: on MariaDB
  // the claim would lock it in passing, and a worker claiming at that moment would find nothing.)
  const auto transcode_ids = seed_jobs(db, "rt_transcode", 40);
  const auto thumbnail_ids = seed_jobs(db, "rt_thumbnail", 10);
  worker_runtime runtime(db, options);
  REQUIRE(runtime.handle("rt_transcode",
                         [&](const Job& job) {
                           transcodes.enter(job);
                           // The first handlers wait for one another: only `concurrency` threads
                           // get past this.
                           transcodes.wait_for(
                               [&] { return transcodes.most_inside >= concurrency; });
                           transcodes.leave();
                         },
                         {.concurrency = concurrency}));
  REQUIRE(runtime.handle("rt_thumbnail", [&](job_context& context) -> result<void> {
    thumbnails.ran(context.job());
    return success();
  }));
  REQUIRE(runtime.start());
  transcodes.wait_for([&] { return transcodes.total_runs() >= 40 && transcodes.inside == 0; });
  thumbnails.wait_for([&] { return thumbnails.total_runs() >= 10 && thumbnails.inside == 0; });
  const stop_report stopped = runtime.stop(std::chrono::seconds{30});

  CHECK(stopped.released == 0);
  CHECK(transcodes.most_inside == concurrency);
  CHECK(thumbnails.most_inside == 1);
  CHECK(transcodes.types == std::set<std::string>{"rt_transcode"});
  CHECK(thumbnails.types == std::set<std::string>{"rt_thumbnail"});
  for (const auto& [type, ids, seen] : {std::tuple{"rt_transcode", &transcode_ids, &transcodes},
                                        std::tuple{"rt_thumbnail", &thumbnail_ids, &thumbnails}}) {
    for (const Job& job : jobs_of(db, type, *ids)) {
      INFO("job " << job.id);
      CHECK(seen->runs[job.id] == 1);
      CHECK(job.status == job_status::succeeded);
      CHECK(job.attempts == 1);
      CHECK(job.worker_id.value_or("").starts_with(std::string("test/") + type + "/"));
    }
  }
  const runtime_counters counted = runtime.counters();
  CHECK(counted.claimed == 50);
  CHECK(counted.succeeded == 50);
  CHECK(counted.errors == 0);
  if (*options.complete_in_batches) {
    CHECK(counted.batches >= 1);
    CHECK(counted.batches <= 50);
  } else {
    CHECK(counted.batches == 0);
  }
  CHECK(db.pool().in_use == 0);
}

TEST_CASE("a success whose claim was lost is refused in its batch; the others are recorded",
          "[runtime]") {
  constexpr std::string_view job_type = "rt_batch_lost";
  constexpr int concurrency = 3;
  test_database fixture({.pool_size = 8, .retry = patient_retry()});
  const Database& db = fixture.db();
  const auto ids = seed_jobs(db, job_type, concurrency);
  observed seen;
  bool release = false;  // guarded by seen.mutex
  runtime_options in_batches = wake_only;
  in_batches.complete_in_batches = true;  // on every backend, SQLite too
  worker_runtime runtime(db, in_batches);
  REQUIRE(runtime.handle(job_type,
                         [&](const Job& job) {
                           seen.enter(job);
                           seen.wait_for([&] { return release; });
                           seen.leave();  // every handler succeeds, the cancelled one too
                         },
                         {.concurrency = concurrency}));
  REQUIRE(runtime.start());
  seen.wait_for([&] { return seen.inside == concurrency; });
  auto cancelled = job_repository(db, [&](JobRepository& jobs) { return jobs.cancel_job(ids[1]); });
  INFO(describe(cancelled));
  REQUIRE(cancelled);
  {
    const std::lock_guard lock(seen.mutex);
    release = true;
  }
  seen.changed.notify_all();
  seen.wait_for([&] { return seen.inside == 0; });
  runtime.stop(std::chrono::seconds{30});  // waits for the outcomes to be recorded

  const auto jobs = jobs_of(db, job_type, ids);
  CHECK(jobs[0].status == job_status::succeeded);
  CHECK(jobs[1].status == job_status::failed);  // cancelled: the late success changed nothing
  CHECK(jobs[1].last_error == std::string(cancelled_note) + "by request");
  CHECK(jobs[2].status == job_status::succeeded);
  const runtime_counters counted = runtime.counters();
  CHECK(counted.succeeded == 2);
  CHECK(counted.lost == 1);
  CHECK(counted.errors == 0);
  CHECK(counted.batches >= 1);
}

// A runtime whose one worker polls an hour apart but listens for new jobs (PostgreSQL), and the
// jobs it ran. Nobody calls wake(): a job is run by the claims the runtime makes once its
// listener has connected, or after a notification.
struct listening_worker {
  static constexpr std::string_view job_type = "rt_notified";
  const Database& db;
  observed seen;
  std::atomic<std::uint64_t> empty_claims_when_last_run{0};  // the runtime's empty claims so far
  worker_runtime runtime;
  int created = 0;

  explicit listening_worker(const Database& database)
      : db(database), runtime(database, with_listening()) {
    REQUIRE(runtime.handle(job_type, [this](const Job& job) {
      empty_claims_when_last_run = runtime.counters().empty_claims;
      seen.ran(job);
    }));
    REQUIRE(runtime.start());
  }
  static runtime_options with_listening() {
    runtime_options options = wake_only;
    options.listen = true;
    return options;
  }
  // Creates a job and waits until it has run.
  void run_one() {
    ++created;
    REQUIRE(job_repository(db, [&](JobRepository& jobs) {
      return jobs.create_job(job_type, "T" + std::to_string(created));
    }));
    seen.wait_for([&] { return seen.total_runs() == created && seen.inside == 0; });
  }
  // Runs jobs until a notification has come: the listener is connected.
  void run_until_notified() {
    const std::uint64_t before = runtime.counters().notified;
    while (runtime.counters().notified == before) run_one();
  }
  // Once the worker's claim after the last job has found nothing, it waits an hour: only a
  // notification, or the claims after the listener connects again, can have the next job run.
  void run_one_while_idle() {
    while (runtime.counters().empty_claims == empty_claims_when_last_run) {
      std::this_thread::yield();
    }
    run_one();
  }
};

TEST_CASE("on PostgreSQL, a new job's notification wakes the idle workers of its type",
          "[runtime]") {
  test_database fixture({.pool_size = 4});
  const Database& db = fixture.db();
  if (db.kind() != dialect::postgresql) {  // elsewhere only polls and wake() wake workers
    CHECK_FALSE(listen(db, job_notification_channel).value().has_value());
    return;
  }
  listening_worker worker(db);
  worker_runtime& runtime = worker.runtime;
  worker.run_until_notified();
  worker.run_one_while_idle();
  runtime.stop(std::chrono::seconds{30});
  CHECK(runtime.counters().notified >= 2);
  CHECK(runtime.counters().succeeded == static_cast<std::uint64_t>(worker.created));
  CHECK(runtime.counters().errors == 0);
}

TEST_CASE("on PostgreSQL, a runtime whose listening connection is killed listens again",
          "[runtime]") {
  // The runtime's connections carry this name: the kill below finds its listener by it.
  test_database fixture({.pool_size = 4, .application_name = "rt-listener-killed"});
  const Database& db = fixture.db();
  if (db.kind() != dialect::postgresql) {
    CHECK_FALSE(listen(db, job_notification_channel).value().has_value());
    return;
  }
  listening_worker worker(db);
  worker_runtime& runtime = worker.runtime;
  worker.run_until_notified();

  constexpr query<std::int64_t()> kill_listener{
      "kill_listener",
      {.postgresql = "SELECT COUNT(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE "
                     "application_name = 'rt-listener-killed' AND query LIKE 'LISTEN %'"}};
  auto killed = run_unit(db, [&](UnitOfWork& unit) { return unit.one(kill_listener); });
  INFO(describe(killed));
  REQUIRE(killed);
  REQUIRE(killed.value() == std::optional<std::int64_t>{1});
  // The runtime notices, connects again and claims; after that, notifications wake it again.
  worker.run_one_while_idle();
  worker.run_until_notified();
  worker.run_one_while_idle();
  runtime.stop(std::chrono::seconds{30});
  CHECK(runtime.counters().errors == 1);  // the lost connection
  CHECK(runtime.counters().succeeded == static_cast<std::uint64_t>(worker.created));
}

TEST_CASE("a cancelled job: pending, it is never run; running, its next heartbeat says so",
          "[runtime]") {
  constexpr std::string_view job_type = "rt_cancel";
  test_database fixture({.pool_size = 4});
  const Database& db = fixture.db();
  const auto ids = seed_jobs(db, job_type, 2);
  auto cancelled_pending = job_repository(
      db, [&](JobRepository& jobs) { return jobs.cancel_job(ids[0], "not needed"); });
  INFO(describe(cancelled_pending));
  REQUIRE(cancelled_pending);
  CHECK(cancelled_pending.value().status == job_status::failed);
  CHECK(cancelled_pending.value().last_error == std::string(cancelled_note) + "not needed");

  observed seen;
  bool cancelled = false;  // guarded by seen.mutex
  worker_runtime runtime(db, wake_only);
  REQUIRE(runtime.handle(job_type, [&](job_context& context) -> result<void> {
    seen.enter(context.job());
    seen.wait_for([&] { return cancelled; });
    auto renewed = context.heartbeat();
    {
      const std::lock_guard lock(seen.mutex);
      seen.errors.push_back(renewed ? "renewed" : std::string(to_string(renewed.error().kind)));
    }
    const bool lost = context.claim_lost();
    seen.leave();
    if (!lost) return success();
    return failure(errc::invalid_state, "cancelled");
  }));
  REQUIRE(runtime.start());
  seen.wait_for([&] { return seen.inside == 1; });
  auto cancelled_running =
      job_repository(db, [&](JobRepository& jobs) { return jobs.cancel_job(ids[1]); });
  {
    const std::lock_guard lock(seen.mutex);
    cancelled = true;
  }
  seen.changed.notify_all();
  seen.wait_for([&] { return seen.inside == 0; });
  runtime.stop(std::chrono::seconds{30});

  INFO(describe(cancelled_running));
  REQUIRE(cancelled_running);
  CHECK(seen.runs == std::map<std::int64_t, int>{{ids[1], 1}});
  CHECK(seen.errors == std::vector<std::string>{"invalid_state"});
  const auto jobs = jobs_of(db, job_type, ids);
  CHECK(jobs[0].status == job_status::failed);
  CHECK(jobs[0].attempts == 0);
  CHECK(jobs[1].status == job_status::failed);
  CHECK(jobs[1].last_error == std::string(cancelled_note) + "by request");
  CHECK(runtime.counters().lost == 1);
  CHECK(runtime.counters().failed == 0);

  // A finished job cannot be cancelled.
  auto again = job_repository(db, [&](JobRepository& j) { return j.cancel_job(ids[1]); });
  CHECK(kind_of(again) == errc::invalid_state);
}

TEST_CASE("the runtime retries a failing handler's job after its backoff, then it is dead",
          "[runtime][retry]") {
  constexpr std::string_view job_type = "rt_retry";
  test_database fixture({.pool_size = 4});
  const Database& db = fixture.db();
  const std::int64_t id = seed_jobs(db, job_type, 1).front();

  observed seen;
  worker_runtime runtime(db, quick_polls);
  REQUIRE(runtime.handle(job_type,
                         [&](const Job& job) -> result<void> {
                           seen.enter(job);
                           seen.leave();
                           return failure(errc::invalid_argument,
                                          "attempt " + std::to_string(job.attempts));
                         },
                         {.retry = job_retry_policy{.max_attempts = 3,
                                                    .delay = {.initial_delay = seconds{0.02},
                                                              .max_delay = seconds{0.05}}}}));
  REQUIRE(runtime.start());
  seen.wait_for([&] { return seen.total_runs() == 3; });
  runtime.stop(std::chrono::seconds{30});  // waits for the third outcome to be recorded

  const Job job = read_job(db, id).value();
  CHECK(seen.runs[id] == 3);
  CHECK(job.status == job_status::dead);
  CHECK(job.attempts == 3);
  CHECK(job.last_error.value_or("").find("attempt 3") != std::string::npos);
  const runtime_counters counted = runtime.counters();
  CHECK(counted.retried == 2);
  CHECK(counted.dead == 1);
  CHECK(counted.failed == 0);
  CHECK(counted.claimed == 3);
}

TEST_CASE("a claim whose COMMIT was in doubt is read back and its job run once", "[runtime]") {
  constexpr std::string_view job_type = "rt_in_doubt";
  auto faults = std::make_shared<testing::fault_injector>();
  test_database fixture({.pool_size = 4, .wrap_session = testing::inject(faults)});
  const Database& db = fixture.db();
  const std::int64_t id = seed_jobs(db, job_type, 1).front();

  observed seen;
  worker_runtime runtime(db, quick_polls);
  // Without the read-back, the job would run only once this lease had expired, as a second
  // attempt.
  REQUIRE(runtime.handle(job_type,
                         [&](const Job& job) {
                           seen.enter(job);
                           seen.leave();
                         },
                         {.claim = {.lease = milliseconds{500}}}));
  faults->fail_next(testing::fault::in_doubt_commit);  // the claim's COMMIT lands, unanswered
  REQUIRE(runtime.start());
  seen.wait_for([&] { return seen.total_runs() == 1 && seen.inside == 0; });
  runtime.stop(std::chrono::seconds{30});

  CHECK(faults->in_doubt() == 1);
  const Job job = read_job(db, id).value();
  CHECK(job.status == job_status::succeeded);
  CHECK(job.attempts == 1);
  CHECK(runtime.counters().errors == 0);
}

TEST_CASE(
    "stop: handlers that return in time record their outcomes; the jobs of the others go back",
    "[runtime]") {
  constexpr std::string_view job_type = "rt_stop";
  constexpr int concurrency = 3;
  test_database fixture({.pool_size = 8, .retry = patient_retry()});
  const Database& db = fixture.db();
  const auto ids = seed_jobs(db, job_type, 10);

  const bool cooperative = GENERATE(true, false);
  INFO((cooperative ? "handlers that return once asked to stop" : "handlers that ignore it"));
  observed seen;
  bool let_go = false;  // guarded by seen.mutex: the test lets the stubborn handlers return
  std::optional<worker_runtime> workers(std::in_place, db, wake_only);
  worker_runtime& runtime = *workers;
  REQUIRE(runtime.handle(job_type,
                         [&](job_context& context) -> result<void> {
                           seen.enter(context.job());
                           {
                             std::unique_lock lock(seen.mutex);
                             if (cooperative) {
                               std::condition_variable_any stopping;
                               stopping.wait(lock, context.stop_token(), [] { return false; });
                             } else {
                               seen.changed.wait(lock, [&] { return let_go; });
                             }
                           }
                           seen.leave();
                           return failure(errc::invalid_argument, "stopped before its end");
                         },
                         {.concurrency = concurrency}));
  REQUIRE(runtime.start());
  seen.wait_for([&] { return seen.inside == concurrency; });
  // A short deadline: the stubborn handlers are still running at its end.
  const stop_report stopped = runtime.stop(milliseconds{cooperative ? 30'000 : 200});

  CHECK(stopped.in_flight == concurrency);
  CHECK(stopped.released == (cooperative ? 0 : concurrency));
  CHECK(stopped.left_to_lease == 0);
  const auto jobs = jobs_of(db, job_type, ids);
  check_none_running_unleased(jobs);
  int running = 0;
  int released = 0;
  for (const Job& job : jobs) {
    running += job.status == job_status::running ? 1 : 0;
    released += job.last_error == runtime_released_note ? 1 : 0;
  }
  CHECK(running == 0);
  CHECK(released == (cooperative ? 0 : concurrency));
  CHECK(seen.total_runs() == concurrency);  // no claim after the stop

  {
    const std::lock_guard lock(seen.mutex);
    let_go = true;
  }
  seen.changed.notify_all();
  const runtime_counters counted = runtime.counters();
  workers.reset();  // waits for the stubborn handlers and their outcomes
  if (cooperative) {
    CHECK(counted.retried == concurrency);
  } else {
    // Their outcomes come after their jobs were given back: refused, changing nothing.
    CHECK(jobs_of(db, job_type, ids) == jobs);
  }
}

TEST_CASE("the runtime refuses a bad registration and a second start", "[runtime]") {
  test_database fixture;
  const Database& db = fixture.db();
  worker_runtime runtime(db);
  CHECK(kind_of(runtime.start()) == errc::misuse);  // no handler
  const auto nothing = [](const Job&) {};
  CHECK(kind_of(runtime.handle("rt_bad", nothing, {.concurrency = 0})) == errc::invalid_argument);
  CHECK(kind_of(runtime.handle("rt_bad", nothing, {.claim = {.lease = milliseconds{0}}})) ==
        errc::invalid_argument);
  CHECK(kind_of(runtime.handle("rt_bad", nothing,
                               {.retry = job_retry_policy{.delay = {.initial_delay = seconds{2},
                                                                    .max_delay = seconds{1}}}})) ==
        errc::invalid_argument);
  REQUIRE(runtime.handle("rt_good", nothing));
  CHECK(kind_of(runtime.handle("rt_good", nothing)) == errc::invalid_argument);  // twice
  REQUIRE(runtime.start());
  CHECK(kind_of(runtime.start()) == errc::misuse);
  CHECK(kind_of(runtime.handle("rt_late", nothing)) == errc::misuse);
}
