// The JobRepository contract, against the backend chosen by REPOKIT_TEST_BACKEND.
#include <catch2/catch.hpp>

#include <array>
#include <optional>
#include <string>
#include <utility>

#include "contract_support.hpp"

using namespace repokit;
using namespace repokit::contract;
using repokit::testing::test_database;

namespace {

using enum job_status;

constexpr std::array all_statuses{pending, running, succeeded, failed, dead};

// The life cycle the contract promises, written out here rather than taken from the library:
//   pending -> running -> succeeded | failed | dead,  running | failed | dead -> pending,
//   pending -> failed.
bool contract_allows(job_status from, job_status to) {
  static constexpr std::array<std::pair<job_status, job_status>, 8> allowed{{
      {pending, running},
      {running, succeeded},
      {running, failed},
      {running, dead},
      {running, pending},
      {failed, pending},
      {dead, pending},
      {pending, failed},
  }};
  for (const auto& [f, t] : allowed) {
    if (f == from && t == to) return true;
  }
  return false;
}

result<Job> create(const Database& db, const std::string& type, const std::string& target,
                   const std::string& parameters = "{}") {
  return job_repository(
      db, [&](JobRepository& jobs) { return jobs.create_job(type, target, parameters); });
}

result<Job> move(const Database& db, std::int64_t id, job_status to,
                 std::optional<std::string_view> last_error = std::nullopt) {
  return job_repository(
      db, [&](JobRepository& jobs) { return jobs.update_job_status(id, to, last_error); });
}

result<bool> exists(const Database& db, const std::string& type, const std::string& target) {
  return job_repository(db, [&](JobRepository& jobs) { return jobs.job_exists(type, target); });
}

result<bool> exists_in(const Database& db, const std::string& type, const std::string& target,
                       std::span<const job_status> statuses) {
  return job_repository(
      db, [&](JobRepository& jobs) { return jobs.job_exists(type, target, statuses); });
}

// A committed job in `status`, reached through legal moves only.
Job job_in(const Database& db, job_status status, const std::string& target) {
  Job job = create(db, "transcode", target).value();
  switch (status) {
    case pending: break;
    case running: job = move(db, job.id, running).value(); break;
    case succeeded:
      move(db, job.id, running).value();
      job = move(db, job.id, succeeded).value();
      break;
    case failed:
      move(db, job.id, running).value();
      job = move(db, job.id, failed, "the first error").value();
      break;
    case dead:
      move(db, job.id, running).value();
      job = move(db, job.id, dead, "out of attempts").value();
      break;
  }
  REQUIRE(job.status == status);
  return job;
}

}  // namespace

TEST_CASE("jobs: a created job is pending with no attempts, and reads back whole",
          "[contract][jobs]") {
  test_database fixture;
  const Database& db = fixture.db();

  const timestamp before = clock_now();
  auto created = create(db, "transcode", "video-1", R"({"preset":"720p"})");
  const timestamp after = clock_now();
  INFO(describe(created));
  REQUIRE(created);
  const Job& job = created.value();
  CHECK(job.id > 0);
  CHECK(job.job_type == "transcode");
  CHECK(job.target_id == "video-1");
  CHECK(job.status == pending);
  CHECK(job.parameters == R"({"preset":"720p"})");
  CHECK(job.attempts == 0);
  CHECK_FALSE(job.last_error.has_value());
  CHECK_FALSE(job.worker_id.has_value());
  CHECK(job.created_at >= before);
  CHECK(job.created_at <= after);
  CHECK(job.updated_at == job.created_at);
  CHECK_FALSE(job.started_at.has_value());
  CHECK_FALSE(job.finished_at.has_value());

  auto read = read_job(db, job.id);
  INFO(describe(read));
  REQUIRE(read);
  CHECK(read.value() == job);

  // Default parameters, and ids that differ per job.
  auto other = job_repository(
      db, [](JobRepository& jobs) { return jobs.create_job("thumbnail", "video-1"); });
  REQUIRE(other);
  CHECK(other.value().parameters == "{}");
  CHECK(other.value().id != job.id);
  CHECK(rows_in(db, "jobs") == 2);
}

TEST_CASE("jobs: get_job of a missing id is not_found, of a non-positive id invalid_argument",
          "[contract][jobs]") {
  test_database fixture;
  const Database& db = fixture.db();
  const Job job = create(db, "transcode", "video-1").value();

  CHECK(kind_of(read_job(db, job.id + 1000)) == errc::not_found);
  CHECK(kind_of(read_job(db, 0)) == errc::invalid_argument);
  CHECK(kind_of(read_job(db, -1)) == errc::invalid_argument);
}

TEST_CASE("jobs: job_exists looks at active statuses by default, or at the ones given",
          "[contract][jobs]") {
  test_database fixture;
  const Database& db = fixture.db();
  const std::array<job_status, 1> only_pending{pending};
  const std::array<job_status, 1> only_running{running};
  const std::array<job_status, 2> finished{succeeded, failed};
  const std::array<job_status, 4> any{pending, running, succeeded, failed};

  CHECK_FALSE(exists(db, "transcode", "video-1").value());
  CHECK_FALSE(exists_in(db, "transcode", "video-1", any).value());

  const Job job = create(db, "transcode", "video-1").value();
  CHECK(exists(db, "transcode", "video-1").value());
  CHECK(exists_in(db, "transcode", "video-1", only_pending).value());
  CHECK_FALSE(exists_in(db, "transcode", "video-1", only_running).value());
  CHECK_FALSE(exists_in(db, "transcode", "video-1", finished).value());
  // Same target, other type; same type, other target.
  CHECK_FALSE(exists(db, "thumbnail", "video-1").value());
  CHECK_FALSE(exists(db, "transcode", "video-2").value());

  move(db, job.id, running).value();
  CHECK(exists(db, "transcode", "video-1").value());
  CHECK_FALSE(exists_in(db, "transcode", "video-1", only_pending).value());
  CHECK(exists_in(db, "transcode", "video-1", only_running).value());

  move(db, job.id, succeeded).value();
  CHECK_FALSE(exists(db, "transcode", "video-1").value());
  CHECK(exists_in(db, "transcode", "video-1", finished).value());
  CHECK(exists_in(db, "transcode", "video-1", any).value());

  const std::array<job_status, 6> too_many{pending, running, succeeded, failed, dead, pending};
  CHECK(kind_of(exists_in(db, "transcode", "video-1", {})) == errc::invalid_argument);
  CHECK(kind_of(exists_in(db, "transcode", "video-1", too_many)) == errc::invalid_argument);
}

TEST_CASE("jobs: pending -> running -> succeeded counts an attempt and stamps the times",
          "[contract][jobs]") {
  test_database fixture;
  const Database& db = fixture.db();
  const Job created = create(db, "transcode", "video-1").value();

  auto started = move(db, created.id, running);
  INFO(describe(started));
  REQUIRE(started);
  CHECK(started.value().status == running);
  CHECK(started.value().attempts == 1);
  REQUIRE(started.value().started_at.has_value());
  CHECK(*started.value().started_at >= created.created_at);
  CHECK_FALSE(started.value().finished_at.has_value());
  CHECK(started.value().updated_at >= created.updated_at);
  CHECK(started.value().created_at == created.created_at);
  CHECK(started.value().parameters == created.parameters);
  CHECK(read_job(db, created.id).value() == started.value());

  auto done = move(db, created.id, succeeded);
  INFO(describe(done));
  REQUIRE(done);
  CHECK(done.value().status == succeeded);
  CHECK(done.value().attempts == 1);
  CHECK(done.value().started_at == started.value().started_at);
  REQUIRE(done.value().finished_at.has_value());
  CHECK(*done.value().finished_at >= *done.value().started_at);
  CHECK_FALSE(done.value().last_error.has_value());
  CHECK(read_job(db, created.id).value() == done.value());
}

TEST_CASE("jobs: a failed job keeps its last error, through a requeue and another attempt",
          "[contract][jobs]") {
  test_database fixture;
  const Database& db = fixture.db();
  const Job created = create(db, "transcode", "video-1").value();
  move(db, created.id, running).value();

  auto failed_once = move(db, created.id, failed, "decoder crashed");
  INFO(describe(failed_once));
  REQUIRE(failed_once);
  CHECK(failed_once.value().status == failed);
  CHECK(failed_once.value().last_error == std::optional<std::string>("decoder crashed"));
  CHECK(failed_once.value().finished_at.has_value());
  CHECK(failed_once.value().attempts == 1);
  CHECK(read_job(db, created.id).value() == failed_once.value());

  auto requeued = move(db, created.id, pending);
  INFO(describe(requeued));
  REQUIRE(requeued);
  CHECK(requeued.value().status == pending);
  CHECK(requeued.value().last_error == std::optional<std::string>("decoder crashed"));
  CHECK_FALSE(requeued.value().started_at.has_value());
  CHECK_FALSE(requeued.value().finished_at.has_value());
  CHECK(requeued.value().attempts == 1);

  auto retried = move(db, created.id, running);
  REQUIRE(retried);
  CHECK(retried.value().attempts == 2);
  CHECK(retried.value().last_error == std::optional<std::string>("decoder crashed"));

  // Failing again without a message keeps the last one.
  auto failed_twice = move(db, created.id, failed);
  REQUIRE(failed_twice);
  CHECK(failed_twice.value().last_error == std::optional<std::string>("decoder crashed"));
  CHECK(read_job(db, created.id).value() == failed_twice.value());

  // Cancelling a pending job is a failure too.
  const Job waiting = create(db, "transcode", "video-2").value();
  auto cancelled = move(db, waiting.id, failed, "cancelled by the operator");
  REQUIRE(cancelled);
  CHECK(cancelled.value().status == failed);
  CHECK(cancelled.value().attempts == 0);
  CHECK(cancelled.value().last_error == std::optional<std::string>("cancelled by the operator"));
}

TEST_CASE("jobs: the library's transition table is the contract's", "[contract][jobs]") {
  for (const job_status from : all_statuses) {
    for (const job_status to : all_statuses) {
      INFO(to_string(from) << " -> " << to_string(to));
      CHECK(is_allowed_transition(from, to) == contract_allows(from, to));
    }
  }
}

TEST_CASE("jobs: every illegal transition is invalid_state and leaves the row exactly as it was",
          "[contract][jobs]") {
  test_database fixture;
  const Database& db = fixture.db();
  int target = 0;
  int illegal = 0;
  for (const job_status from : all_statuses) {
    for (const job_status to : all_statuses) {
      if (contract_allows(from, to)) continue;
      ++illegal;
      INFO(to_string(from) << " -> " << to_string(to));
      const Job before = job_in(db, from, "illegal-" + std::to_string(++target));

      auto refused = move(db, before.id, to, "must not be stored");
      INFO(describe(refused));
      CHECK(kind_of(refused) == errc::invalid_state);
      auto after = read_job(db, before.id);
      REQUIRE(after);
      CHECK(after.value() == before);
    }
  }
  CHECK(illegal == 17);
}

TEST_CASE("jobs: every legal transition moves the job", "[contract][jobs]") {
  test_database fixture;
  const Database& db = fixture.db();
  int target = 0;
  for (const job_status from : all_statuses) {
    for (const job_status to : all_statuses) {
      if (!contract_allows(from, to)) continue;
      INFO(to_string(from) << " -> " << to_string(to));
      const Job before = job_in(db, from, "legal-" + std::to_string(++target));
      auto moved = move(db, before.id, to);
      INFO(describe(moved));
      REQUIRE(moved);
      CHECK(moved.value().status == to);
      CHECK(moved.value().attempts == before.attempts + (to == running ? 1 : 0));
      CHECK(read_job(db, before.id).value() == moved.value());
    }
  }
}

TEST_CASE("jobs: moving a missing job is not_found, a non-positive id invalid_argument",
          "[contract][jobs]") {
  test_database fixture;
  const Database& db = fixture.db();
  const Job job = create(db, "transcode", "video-1").value();
  for (const job_status to : all_statuses) {
    INFO("to " << to_string(to));
    CHECK(kind_of(move(db, job.id + 1000, to)) == errc::not_found);
    CHECK(kind_of(move(db, 0, to)) == errc::invalid_argument);
    CHECK(kind_of(move(db, -7, to)) == errc::invalid_argument);
  }
  CHECK(read_job(db, job.id).value() == job);
}

TEST_CASE("jobs: one active job per type and target; a finished one frees the pair",
          "[contract][jobs]") {
  test_database fixture;
  const Database& db = fixture.db();
  const Job first = create(db, "transcode", "video-1").value();

  auto second = create(db, "transcode", "video-1", R"({"second":true})");
  INFO(describe(second));
  CHECK(kind_of(second) == errc::integrity);
  CHECK(rows_in(db, "jobs") == 1);

  // Other pairs are independent.
  CHECK(create(db, "thumbnail", "video-1"));
  CHECK(create(db, "transcode", "video-2"));

  move(db, first.id, running).value();
  CHECK(kind_of(create(db, "transcode", "video-1")) == errc::integrity);

  move(db, first.id, succeeded).value();
  auto after_success = create(db, "transcode", "video-1");
  INFO(describe(after_success));
  REQUIRE(after_success);
  CHECK(after_success.value().status == pending);
  CHECK(after_success.value().id != first.id);

  // A failed job frees the pair as well; requeueing it while another is active is refused.
  move(db, after_success.value().id, failed, "gave up").value();
  auto after_failure = create(db, "transcode", "video-1");
  REQUIRE(after_failure);
  auto requeue = move(db, after_success.value().id, pending);
  INFO(describe(requeue));
  CHECK(kind_of(requeue) == errc::integrity);
  CHECK(read_job(db, after_success.value().id).value().status == failed);
  CHECK(rows_in(db, "jobs") == 5);
}
