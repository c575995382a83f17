// The bad-input matrix: every kind of bad input through the public API, on the backend under
// test. Each must get a clear error (the right errc, a message fit for a log that never quotes
// a password) and leave every stored row, and the schema, exactly as they were.
#include <catch2/catch.hpp>

#include <sys/resource.h>

#include <csignal>
#include <cstdlib>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "reliability_support.hpp"
#include "support/capture_sink.hpp"

using namespace repokit;
using namespace repokit::reliability;
using repokit::testing::test_database;

namespace {

using namespace std::string_literals;

struct bad_value {
  std::string what;
  std::string bytes;
};

// What a field takes, and so which bad values apply to it.
enum class field_kind { id, target, text, parameters };

std::size_t limit_of(field_kind kind) {
  switch (kind) {
    case field_kind::id: return max_id_length;
    case field_kind::target: return max_target_id_length;
    case field_kind::text: return max_text_length;
    case field_kind::parameters: return max_parameters_length;
  }
  return 0;
}

std::vector<bad_value> bad_values_for(field_kind kind) {
  std::vector<bad_value> values{
      {"NUL inside", "ab\0cd"s},
      {"NUL first", "\0abc"s},
      {"NUL last", "abc\0"s},
      {"a lone continuation byte", "abc\x80"},
      {"0xFF 0xFE", "\xff\xfe"},
      {"a truncated sequence", "caf\xc3"},
      {"a bad continuation", "\xc3\x28"},
      {"an overlong '/'", "\xc0\xaf"},
      {"an overlong NUL", "\xc0\x80"},
      {"a UTF-16 surrogate", "\xed\xa0\x80"},
      {"a code point past U+10FFFF", "\xf4\x90\x80\x80"},
      {"Latin-1 text", "caf\xe9"},
      {"one byte over the limit", std::string(limit_of(kind) + 1, 'x')},
      {"1 MiB", std::string(1 << 20, 'x')},
  };
  if (kind == field_kind::id || kind == field_kind::target) values.push_back({"empty", ""});
  return values;
}

// One way into the API with one field set to the bad value; the rest valid.
struct entry_point {
  std::string name;
  field_kind kind;
  std::function<result<void>(Repositories&, const std::string&)> call;
};

template <class T>
result<void> ignore_value(result<T> outcome) {
  if (!outcome) return failure(std::move(outcome).error());
  return success();
}

std::vector<entry_point> entry_points(std::int64_t job_id) {
  using R = Repositories;
  using S = const std::string&;
  std::vector<entry_point> points{
      {"create_video(video_id)", field_kind::id,
       [](R& r, S v) { return ignore_value(r.videos.create_video(v, "ch-ok", "t", 1)); }},
      {"create_video(channel_id)", field_kind::id,
       [](R& r, S v) { return ignore_value(r.videos.create_video("vid-new", v, "t", 1)); }},
      {"create_video(title)", field_kind::text,
       [](R& r, S v) { return ignore_value(r.videos.create_video("vid-new", "ch-ok", v, 1)); }},
      {"get_video_by_id", field_kind::id,
       [](R& r, S v) { return ignore_value(r.videos.get_video_by_id(v)); }},
      {"update_video(video_id)", field_kind::id,
       [](R& r, S v) { return ignore_value(r.videos.update_video(v, {.title = "t2"})); }},
      {"update_video(channel_id)", field_kind::id,
       [](R& r, S v) { return ignore_value(r.videos.update_video("vid-ok", {.channel_id = v})); }},
      {"update_video(title)", field_kind::text,
       [](R& r, S v) { return ignore_value(r.videos.update_video("vid-ok", {.title = v})); }},
      {"delete_video", field_kind::id, [](R& r, S v) { return r.videos.delete_video(v); }},
      {"list_videos_by_channel", field_kind::id,
       [](R& r, S v) { return ignore_value(r.videos.list_videos_by_channel(v)); }},
      {"create_channel(channel_id)", field_kind::id,
       [](R& r, S v) { return ignore_value(r.channels.create_channel(v, "name")); }},
      {"create_channel(name)", field_kind::text,
       [](R& r, S v) { return ignore_value(r.channels.create_channel("ch-new", v)); }},
      {"get_channel_by_id", field_kind::id,
       [](R& r, S v) { return ignore_value(r.channels.get_channel_by_id(v)); }},
      {"get_or_create_channel(channel_id)", field_kind::id,
       [](R& r, S v) { return ignore_value(r.channels.get_or_create_channel(v, "name")); }},
      {"get_or_create_channel(name)", field_kind::text,
       [](R& r, S v) { return ignore_value(r.channels.get_or_create_channel("ch-new", v)); }},
      {"create_job(job_type)", field_kind::id,
       [](R& r, S v) { return ignore_value(r.jobs.create_job(v, "target")); }},
      {"create_job(target_id)", field_kind::target,
       [](R& r, S v) { return ignore_value(r.jobs.create_job("transcode", v)); }},
      {"create_job(parameters)", field_kind::parameters,
       [](R& r, S v) { return ignore_value(r.jobs.create_job("transcode", "target-new", v)); }},
      {"job_exists(job_type)", field_kind::id,
       [](R& r, S v) { return ignore_value(r.jobs.job_exists(v, "target")); }},
      {"job_exists(target_id)", field_kind::target,
       [](R& r, S v) { return ignore_value(r.jobs.job_exists("transcode", v)); }},
      {"create_if_not_exists(job_type)", field_kind::id,
       [](R& r, S v) { return ignore_value(r.jobs.create_if_not_exists(v, "target")); }},
      {"create_if_not_exists(target_id)", field_kind::target,
       [](R& r, S v) { return ignore_value(r.jobs.create_if_not_exists("transcode", v)); }},
      {"create_if_not_exists(parameters)", field_kind::parameters,
       [](R& r, S v) {
         return ignore_value(r.jobs.create_if_not_exists("transcode", "target-new", v));
       }},
      {"claim_next(job_type)", field_kind::id,
       [](R& r, S v) { return ignore_value(r.jobs.claim_next(v, "worker-1")); }},
      {"claim_next(worker_id)", field_kind::target,
       [](R& r, S v) { return ignore_value(r.jobs.claim_next("transcode", v)); }},
      {"update_job_status(last_error)", field_kind::text,
       [job_id](R& r, S v) {
         return ignore_value(r.jobs.update_job_status(job_id, job_status::failed, v));
       }},
  };
  return points;
}

struct fixture_data {
  std::int64_t job_id = 0;
};

fixture_data seed(const Database& db) {
  fixture_data out;
  unit_of_work(db, [&](Repositories& r) -> result<void> {
    REPOKIT_TRYV(r.channels.create_channel("ch-ok", "a channel"));
    REPOKIT_TRYV(r.videos.create_video("vid-ok", "ch-ok", "a video", 60));
    REPOKIT_TRY(auto job, r.jobs.create_job("transcode", "vid-ok", R"({"q":"hd"})"));
    out.job_id = job.id;
    return success();
  }).value();
  return out;
}

// The message of a refusal must be fit for a log line, and short even for a 1 MiB value.
void check_clear(const error& e, const std::string& context) {
  INFO(context << ": " << e.describe().substr(0, 300));
  CHECK(clean_text(e.message));
  CHECK(e.message.size() < 512);
  CHECK_FALSE(e.message.empty());
}

const std::vector<std::string> injection_payloads{
    "'; DROP TABLE videos; --",
    "x' OR '1'='1",
    "Robert'); DELETE FROM channels;--",
    "'); DROP TABLE jobs; CREATE TABLE pwned (x INTEGER); --",
    "\"; DROP TABLE jobs; --",
    "1; UPDATE jobs SET status = 'succeeded'",
    "') ON CONFLICT DO NOTHING; UPDATE videos SET title='pwned'; --",
    "'||(SELECT sql FROM sqlite_master)||'",
    "'||(SELECT string_agg(tablename, ',') FROM pg_tables)||'",
    "$$; DROP SCHEMA public CASCADE; $$",
    "E'\\x27; DROP TABLE channels; --'",
    R"(back\slash \' \" \\ \n \0 end\)",
    "%",
    "_",
    ":p1 :p2 $1 ? @p1 %s {0}",
    "/* comment */ SELECT 1; --",
    "\xe2\x80\x8f' OR 1=1 --",  // a right-to-left mark first
    "ATTACH DATABASE '/tmp/pwned.db' AS pwned; --",
    "'; PRAGMA writable_schema = ON; --",
    "'; COPY jobs TO PROGRAM 'touch /tmp/pwned'; --",
};

}  // namespace

TEST_CASE("bad input matrix: malformed ids and texts are refused by every entry point",
          "[reliability][bad-input]") {
  test_database fixture({.retry = patient_retry()});
  const Database& db = fixture.db();
  const fixture_data seeded = seed(db);
  const auto data_before = data_of(db).value();
  const auto schema_before = schema_of(db).value();
  const std::uint64_t statements_before = db.metrics().statements;

  int tried = 0;
  for (const entry_point& point : entry_points(seeded.job_id)) {
    for (const bad_value& bad : bad_values_for(point.kind)) {
      const std::string context = point.name + " with " + bad.what;
      auto outcome = unit_of_work(db, [&](Repositories& r) { return point.call(r, bad.bytes); });
      ++tried;
      INFO(context << ": " << describe(outcome).substr(0, 300));
      REQUIRE(kind_of(outcome) == errc::invalid_argument);
      check_clear(outcome.error(), context);
    }
  }
  // Refused before any SQL: no statement reached the database.
  CHECK(db.metrics().statements == statements_before);
  CHECK(data_of(db).value() == data_before);
  CHECK(schema_of(db).value() == schema_before);
  WARN("bad-input matrix: " << tried << " bad values refused, nothing written ("
                            << to_string(db.kind()) << ")");
}

TEST_CASE("bad input matrix: a bad value after good writes rolls the whole unit back",
          "[reliability][bad-input]") {
  test_database fixture({.retry = patient_retry()});
  const Database& db = fixture.db();
  const fixture_data seeded = seed(db);
  const auto data_before = data_of(db).value();

  for (const entry_point& point : entry_points(seeded.job_id)) {
    const bad_value bad = bad_values_for(point.kind).front();  // NUL inside
    auto outcome = unit_of_work(db, [&](Repositories& r) -> result<void> {
      REPOKIT_TRYV(r.channels.create_channel("ch-first", "written first"));
      REPOKIT_TRYV(r.videos.update_video("vid-ok", {.title = "changed first"}));
      REPOKIT_TRYV(r.jobs.update_job_status(seeded.job_id, job_status::running));
      return point.call(r, bad.bytes);
    });
    INFO(point.name << ": " << describe(outcome));
    CHECK(kind_of(outcome) == errc::invalid_argument);
  }
  CHECK(data_of(db).value() == data_before);
}

TEST_CASE("bad input matrix: SQL injection payloads are stored verbatim, the schema is untouched",
          "[reliability][bad-input][injection]") {
  test_database fixture({.retry = patient_retry()});
  const Database& db = fixture.db();
  seed(db);
  const auto schema_before = schema_of(db).value();
  const std::int64_t tables_before = static_cast<std::int64_t>(schema_before.size());

  int stored = 0;
  for (std::size_t k = 0; k < injection_payloads.size(); ++k) {
    const std::string& p = injection_payloads[k];
    INFO("payload " << k << ": " << p);
    auto written = unit_of_work(db, [&](Repositories& r) -> result<Job> {
      REPOKIT_TRYV(r.channels.create_channel(p, p));
      REPOKIT_TRYV(r.videos.create_video(p, p, p, 1));
      REPOKIT_TRYV(r.videos.update_video(p, {.title = p + p}));
      REPOKIT_TRY(auto created, r.jobs.create_if_not_exists(p, p, p));
      REPOKIT_TRY(auto exists, r.jobs.job_exists(p, p));
      if (!exists) return failure(errc::database, "the job just created does not exist");
      return created.record;
    });
    INFO(describe(written));
    REQUIRE(written);
    // Claimed and finished under the payload as worker id and error text.
    auto finished = job_repository(db, [&](JobRepository& jobs) -> result<Job> {
      REPOKIT_TRY(auto claimed, jobs.claim_next(p, p));
      if (!claimed) return failure(errc::not_found, "nothing to claim");
      return jobs.finish_job(*claimed, job_status::failed, p);
    });
    INFO(describe(finished));
    REQUIRE(finished);
    ++stored;

    auto read = unit_of_work(db, [&](Repositories& r) -> result<void> {
      REPOKIT_TRY(auto channel, r.channels.get_channel_by_id(p));
      REPOKIT_TRY(auto video, r.videos.get_video_by_id(p));
      REPOKIT_TRY(auto listed, r.videos.list_videos_by_channel(p));
      REPOKIT_TRY(auto job, r.jobs.get_job(written.value().id));
      const bool verbatim = channel.channel_id == p && channel.name == p && video.video_id == p &&
                            video.channel_id == p && video.title == p + p && listed.size() == 1 &&
                            job.job_type == p && job.target_id == p && job.parameters == p &&
                            job.worker_id == p && job.last_error == p &&
                            job.status == job_status::failed;
      if (!verbatim) return failure(errc::database, "a payload did not read back verbatim");
      return success();
    });
    INFO(describe(read));
    CHECK(read);
  }
  const auto schema_after = schema_of(db).value();
  CHECK(schema_after == schema_before);
  CHECK(static_cast<std::int64_t>(schema_after.size()) == tables_before);
  CHECK(testing::count_rows(db, "channels") == stored + 1);
  CHECK(testing::count_rows(db, "videos") == stored + 1);
  CHECK(testing::count_rows(db, "jobs") == stored + 1);
  CHECK(testing::count_rows(db, "repokit_schema_versions") == latest_schema_version);
  WARN("injection: " << stored << " payloads stored verbatim in 11 places each, schema of "
                     << schema_after.size() << " lines unchanged (" << to_string(db.kind()) << ")");
}

TEST_CASE("bad input matrix: unknown job statuses are refused, never guessed",
          "[reliability][bad-input][status]") {
  test_database fixture({.retry = patient_retry()});
  const Database& db = fixture.db();
  const fixture_data seeded = seed(db);

  for (const std::string& text :
       {"PENDING"s, "Pending"s, "pending "s, " pending"s, "pending\0"s, "done"s, "cancelled"s, ""s,
        "unknown"s, "running\n"s, "succeeded'; --"s, std::string(1000, 'p')}) {
    const auto parsed = parse_job_status(text);
    INFO("'" << text.substr(0, 40) << "'");
    REQUIRE_FALSE(parsed);
    CHECK(parsed.error().kind == errc::invalid_argument);
    CHECK(parsed.error().message.size() < 256);
  }

  const auto data_before = data_of(db).value();
  // A status value outside the enumeration, through every method that takes one.
  for (const auto raw : {5, 7, 200, 255}) {
    const auto bogus = static_cast<job_status>(raw);
    INFO("status value " << raw);
    auto moved = job_repository(
        db, [&](JobRepository& jobs) { return jobs.update_job_status(seeded.job_id, bogus); });
    INFO(describe(moved));
    CHECK(kind_of(moved) == errc::invalid_argument);
    const std::array<job_status, 1> statuses{bogus};
    auto exists = job_repository(
        db, [&](JobRepository& jobs) { return jobs.job_exists("transcode", "vid-ok", statuses); });
    INFO(describe(exists));
    CHECK(kind_of(exists) == errc::invalid_argument);
    auto finished = job_repository(db, [&](JobRepository& jobs) -> result<Job> {
      Job forged;
      forged.id = seeded.job_id;
      forged.status = job_status::running;
      forged.attempts = 1;
      forged.worker_id = "w";
      return jobs.finish_job(forged, bogus);
    });
    INFO(describe(finished));
    CHECK(kind_of(finished) == errc::invalid_argument);
  }
  CHECK(data_of(db).value() == data_before);

  // A row with a status repokit does not know, written behind its back.
  if (db.kind() == dialect::postgresql) {
    testing::execute_sql(db, "ALTER TABLE jobs DROP CONSTRAINT jobs_status_check");
    testing::execute_sql(db,
                         "INSERT INTO jobs (job_type, target_id, status, parameters, created_at, "
                         "updated_at) VALUES ('transcode', 'odd', 'paused', '{}', 1, 1)");
  } else {
    testing::execute_sql(db,
                         "PRAGMA ignore_check_constraints = ON; INSERT INTO jobs (job_type, "
                         "target_id, status, parameters, created_at, updated_at) VALUES "
                         "('transcode', 'odd', 'paused', '{}', 1, 1); "
                         "PRAGMA ignore_check_constraints = OFF");
  }
  const auto with_odd_row = data_of(db).value();
  static constexpr std::array<column_type, 1> id_column{column_type::integer};
  static constexpr statement odd_job{"odd_job", "SELECT id FROM jobs WHERE target_id = 'odd'",
                                     statement_kind::read, id_column};
  const std::int64_t odd_id = run_unit(db, [](UnitOfWork& unit) -> result<std::int64_t> {
                                REPOKIT_TRY(auto found, unit.query_one(odd_job));
                                return found.value().integer(0);
                              }).value();
  auto got = job_repository(db, [&](JobRepository& jobs) { return jobs.get_job(odd_id); });
  INFO(describe(got));
  REQUIRE(kind_of(got) == errc::database);
  CHECK_THAT(got.error().message, Catch::Contains("paused"));
  auto moved = job_repository(
      db, [&](JobRepository& jobs) { return jobs.update_job_status(odd_id, job_status::running); });
  INFO(describe(moved));
  CHECK_FALSE(moved);
  CHECK(data_of(db).value() == with_odd_row);
}

TEST_CASE("bad input matrix: negative and out-of-range numbers are refused",
          "[reliability][bad-input][numbers]") {
  test_database fixture({.retry = patient_retry()});
  const Database& db = fixture.db();
  const fixture_data seeded = seed(db);
  const auto data_before = data_of(db).value();
  const auto lowest = std::numeric_limits<std::int64_t>::min();

  const std::vector<std::pair<std::string, std::function<result<void>(Repositories&)>>> calls{
      {"create_video duration -1",
       [](Repositories& r) {
         return ignore_value(r.videos.create_video("v-n", "ch-ok", "t", -1));
       }},
      {"create_video duration INT64_MIN",
       [&](Repositories& r) {
         return ignore_value(r.videos.create_video("v-n", "ch-ok", "t", lowest));
       }},
      {"update_video duration -1",
       [](Repositories& r) {
         return ignore_value(r.videos.update_video("vid-ok", {.duration_seconds = -1}));
       }},
      {"update_video duration INT64_MIN",
       [&](Repositories& r) {
         return ignore_value(r.videos.update_video("vid-ok", {.duration_seconds = lowest}));
       }},
      {"list_videos_by_channel limit 0",
       [](Repositories& r) { return ignore_value(r.videos.list_videos_by_channel("ch-ok", 0)); }},
      {"list_videos_by_channel limit 10001",
       [](Repositories& r) {
         return ignore_value(r.videos.list_videos_by_channel("ch-ok", 10001));
       }},
      {"list_channels limit SIZE_MAX",
       [](Repositories& r) {
         return ignore_value(r.channels.list_channels(std::numeric_limits<std::size_t>::max()));
       }},
      {"get_job 0", [](Repositories& r) { return ignore_value(r.jobs.get_job(0)); }},
      {"get_job INT64_MIN", [&](Repositories& r) { return ignore_value(r.jobs.get_job(lowest)); }},
      {"update_job_status id -1",
       [](Repositories& r) {
         return ignore_value(r.jobs.update_job_status(-1, job_status::running));
       }},
      {"reconcile_stale older_than -1 ms",
       [](Repositories& r) {
         return ignore_value(r.jobs.reconcile_stale(std::chrono::milliseconds{-1}));
       }},
      {"reconcile_stale max_attempts 0",
       [](Repositories& r) {
         return ignore_value(r.jobs.reconcile_stale(std::chrono::milliseconds{0}, 0));
       }},
      {"reconcile_stale max_attempts INT64_MIN",
       [&](Repositories& r) {
         return ignore_value(r.jobs.reconcile_stale(std::chrono::milliseconds{0}, lowest));
       }},
      {"job_exists with no statuses",
       [](Repositories& r) {
         return ignore_value(
             r.jobs.job_exists("transcode", "vid-ok", std::span<const job_status>{}));
       }},
      {"create_if_not_exists with six statuses",
       [](Repositories& r) {
         const std::array<job_status, 6> six{job_status::pending,   job_status::running,
                                             job_status::succeeded, job_status::failed,
                                             job_status::dead,      job_status::pending};
         return ignore_value(r.jobs.create_if_not_exists("transcode", "t-6", "{}", six));
       }},
  };
  for (const auto& [what, call] : calls) {
    auto outcome = unit_of_work(db, [&](Repositories& r) { return call(r); });
    INFO(what << ": " << describe(outcome));
    CHECK(kind_of(outcome) == errc::invalid_argument);
    if (!outcome) check_clear(outcome.error(), what);
  }
  (void)seeded;
  CHECK(data_of(db).value() == data_before);

  // Options: refused when the Database is opened, before any connection.
  const std::vector<std::pair<std::string, database_options>> options{
      {"pool_size 0", {.pool_size = 0}},
      {"negative pool_timeout", {.pool_timeout = std::chrono::milliseconds{-1}}},
      {"negative busy_timeout", {.busy_timeout = std::chrono::milliseconds{-1}}},
      {"synchronous 'OFF; DROP TABLE videos'", {.synchronous = "OFF; DROP TABLE videos"}},
      {"negative max_retries", {.retry = db_retry{.max_retries = -1}}},
      {"negative initial_delay", {.retry = db_retry{.initial_delay = seconds{-1}}}},
  };
  for (const auto& [what, bad] : options) {
    auto opened = Database::open(fixture.url(), bad);
    INFO(what << ": " << describe(opened));
    CHECK(kind_of(opened) == errc::configuration);
  }
  CHECK(data_of(db).value() == data_before);
}

// A statement time limit below 1 ms cannot mean anything sensible: PostgreSQL reads 0 as "no
// limit" and refuses a negative one only at the server, SQLite's progress handler fires at once.
// Such a limit used to be passed on as it was.
TEST_CASE("bad input matrix: a zero or negative statement timeout is refused before any SQL",
          "[reliability][bad-input][numbers][bug]") {
  test_database fixture({.retry = patient_retry()});
  const Database& db = fixture.db();
  seed(db);
  const auto data_before = data_of(db).value();
  for (const auto limit : {std::chrono::milliseconds{0}, std::chrono::milliseconds{-5}}) {
    const std::uint64_t statements_before = db.metrics().statements;
    const std::string id = "ch-timed" + std::to_string(limit.count());
    auto outcome = unit_of_work(
        db, scope_options{.name = "timed", .statement_timeout = limit},
        [&](Repositories& r) { return ignore_value(r.channels.create_channel(id, "x")); });
    INFO("statement_timeout " << limit.count() << " ms: " << describe(outcome));
    CHECK(kind_of(outcome) == errc::invalid_argument);
    CHECK(db.metrics().statements == statements_before);
  }
  CHECK(data_of(db).value() == data_before);
}

TEST_CASE("bad input matrix: malformed URLs are refused and never quote the password",
          "[reliability][bad-input][url]") {
  const std::string secret = "s3cr3t-PW-9f2a";
  const std::vector<std::string> urls{
      "",
      " ",
      "sqlite:",
      "sqlite:relative.db",
      "sqlite://host/x.db",
      "sqlite:///",
      "sqlite:///dir/",
      "sqlite:///x.db?mode=ro",
      "sqlite:///x%ZZ.db",
      "sqlite:///x%00.db",
      "sqlite:///x.db\0y"s,
      "file:///x.db",
      "http://user:" + secret + "@h/db",
      "postgresql://",
      "postgresql://user:" + secret + "@",
      "postgresql://user:" + secret + "@host",
      "postgresql://user:" + secret + "@host/",
      "postgresql://user:" + secret + "@:5432/db",
      "postgresql://user:" + secret + "@host:0/db",
      "postgresql://user:" + secret + "@host:65536/db",
      "postgresql://user:" + secret + "@host:-1/db",
      "postgresql://user:" + secret + "@host:54x2/db",
      "postgresql://user:" + secret + "@[::1/db",
      "postgresql://user:" + secret + "@[::1]x/db",
      "postgresql://user:" + secret + "@host,/db",
      "postgresql://user:" + secret + "@host/db?sslmode",
      "postgresql://user:" + secret + "@host/db?=x",
      "postgresql://user:" + secret + "%ZZ@host/db",
      "postgresql://user:" + secret + "%0@host/db",
      "postgresql://user:" + secret + "%00@host/db",
      "postgresql://us%ZZer:" + secret + "@host/db",
      "postgresql://user:" + secret + "@host/db?password=" + secret,
      "postgresql://user:" + secret + "@host/db?options=-c%20x%3D1&host=evil",
      "postgres://user:" + secret + "@host:5432/db\0"s,
      "POSTGRESQL://user:" + secret + "@host/db",
      std::string(100000, 'x'),
      "postgresql://user:" + secret + "@" + std::string(100000, 'h') + ":99999/db",
  };
  int refused = 0;
  for (const std::string& url : urls) {
    auto db = Database::open(url);
    INFO("URL: " << url.substr(0, 100));
    INFO(describe(db).substr(0, 300));
    REQUIRE_FALSE(db);
    ++refused;
    CHECK(db.error().kind == errc::configuration);
    CHECK(db.error().describe().find(secret) == std::string::npos);
    CHECK(db.error().describe().find("%ZZ@") == std::string::npos);
    CHECK(clean_text(db.error().message));
  }
  WARN("malformed URLs: " << refused << " refused with errc::configuration, no password quoted");
}

TEST_CASE("bad input matrix: an unreachable server or a wrong password is masked everywhere",
          "[reliability][bad-input][password]") {
  const std::string secret = "Wr0ng-PW-7c1e";
  std::vector<std::pair<std::string, std::string>> urls{
      {"connection refused", "postgresql://app:" + secret + "@127.0.0.1:1/db?connect_timeout=2"},
  };
  if (testing::backend_under_test() == dialect::postgresql) {
    // The test server's URL with the password swapped for a wrong one. Run for PostgreSQL, this
    // case needs the server: without it, it fails rather than test less.
    const char* server = std::getenv("REPOKIT_TEST_POSTGRES_URL");
    INFO("REPOKIT_TEST_POSTGRES_URL is not set: run scripts/test.sh, which starts PostgreSQL");
    REQUIRE(server != nullptr);
    auto good = database_url::parse(server).value();
    const std::string base(server);
    const auto at = base.rfind('@');
    const auto colon = base.find(':', base.find("://") + 3);
    REQUIRE((at != std::string::npos && colon < at));
    urls.emplace_back("wrong password", base.substr(0, colon + 1) + secret + base.substr(at));
    urls.emplace_back("unknown user",
                      base.substr(0, base.find("://") + 3) + "nobody:" + secret + base.substr(at));
    urls.emplace_back("wrong password and unknown database",
                      base.substr(0, colon + 1) + secret + "@" + good.hosts.front().host + ":" +
                          std::to_string(good.hosts.front().port) + "/nodb");
  }
  for (const auto& [what, url] : urls) {
    auto sink = std::make_shared<testing::capture_sink>();
    auto db = Database::open(url, {.pool_timeout = std::chrono::milliseconds{5000},
                                   .retry = db_retry{.max_retries = 1,
                                                     .initial_delay = seconds{0.01},
                                                     .max_delay = seconds{0.01}},
                                   .logger = testing::capturing_logger(sink)});
    REQUIRE(db);
    CHECK(db.value().url().masked().find(secret) == std::string::npos);
    auto outcome = video_repository(
        db.value(), [](VideoRepository& videos) { return videos.get_video_by_id("v1"); });
    INFO(what << ": " << describe(outcome));
    REQUIRE_FALSE(outcome);
    CHECK((outcome.error().kind == errc::configuration ||
           outcome.error().kind == errc::connection_lost));
    CHECK(outcome.error().describe().find(secret) == std::string::npos);
    CHECK(clean_text(outcome.error().message));
    try {
      outcome.value();
    } catch (const db_error& thrown) {
      CHECK(std::string(thrown.what()).find(secret) == std::string::npos);
    }
    for (const std::string& line : sink->lines()) {
      INFO("log: " << line);
      CHECK(line.find(secret) == std::string::npos);
    }
    if (what == "wrong password") CHECK(outcome.error().kind == errc::configuration);
  }
}

TEST_CASE("bad input matrix: a file that is not an SQLite database is reported and left alone",
          "[reliability][bad-input][sqlite-file][sqlite-only]") {
  require_backend(dialect::sqlite);
  scratch_dir dir("notsqlite_");
  // Text, random bytes, a PostgreSQL dump, an SQLite header on garbage, a directory.
  std::string random_bytes(64 * 1024, '\0');
  std::uint32_t state = 12345;
  for (char& c : random_bytes) {
    state = state * 1664525u + 1013904223u;
    c = static_cast<char>(state >> 24);
  }
  std::string fake_header = std::string("SQLite format 3\0"s) + std::string(4096 - 16, '\x7f');
  const std::vector<std::pair<std::string, std::string>> files{
      {"text", "this is not a database\n"},
      {"random", random_bytes},
      {"sql dump", "CREATE TABLE videos (video_id TEXT);\nINSERT INTO videos VALUES ('x');\n"},
      {"fake header", fake_header},
  };
  for (const auto& [what, bytes] : files) {
    const std::string path = dir.file(what + ".db");
    write_file(path, bytes);
    auto db = Database::open("sqlite:///" + path, {.retry = db_retry::disabled()});
    INFO(what << ": " << describe(db));
    REQUIRE(db);
    auto outcome = video_repository(
        db.value(), [](VideoRepository& videos) { return videos.get_video_by_id("v1"); });
    INFO(describe(outcome));
    REQUIRE_FALSE(outcome);
    CHECK(outcome.error().kind == errc::database);
    CHECK(clean_text(outcome.error().message));
    CHECK((outcome.error().message.find("not a database") != std::string::npos ||
           outcome.error().message.find("malformed") != std::string::npos));
    auto migrated = migrate(db.value());
    INFO(describe(migrated));
    CHECK_FALSE(migrated);
    CHECK(file_bytes(path) == bytes);  // never "repaired" or truncated
  }

  // A directory, and a path under a missing directory.
  for (const std::string& path : {dir.path().string(), dir.file("missing/dir/x.db")}) {
    auto db = Database::open("sqlite:///" + path, {.retry = db_retry::disabled()});
    REQUIRE(db);
    auto outcome = migrate(db.value());
    INFO(path << ": " << describe(outcome));
    REQUIRE_FALSE(outcome);
    CHECK((outcome.error().kind == errc::configuration || outcome.error().kind == errc::database));
    CHECK(clean_text(outcome.error().message));
  }
  CHECK_FALSE(std::filesystem::exists(dir.file("missing")));
}

// SOCI passes the path to SQLite in a double-quoted value with no escape for a '"' inside, so
// such a name is refused (it used to open a file named a\"b.db); every other name opens itself.
TEST_CASE(
    "bad input matrix: an SQLite path with blanks, quotes or backslashes opens that file, "
    "one with '\"' is refused",
    "[reliability][bad-input][sqlite-file][sqlite-only][bug]") {
  require_backend(dialect::sqlite);
  for (const std::string name : {"c d.db", "e'f.db", "g\\h.db", "caf\xc3\xa9.db", "x  y .db"}) {
    scratch_dir dir("paths_");
    const std::string path = dir.file(name);
    auto db = Database::open("sqlite:///" + path, {.wal = false});
    INFO(name << ": " << describe(db));
    REQUIRE(db);
    auto migrated = migrate(db.value());
    INFO(describe(migrated));
    REQUIRE(migrated);
    std::vector<std::string> files;
    for (const auto& entry : std::filesystem::directory_iterator(dir.path())) {
      files.push_back(entry.path().filename().string());
    }
    INFO("files made: " << files.size() << (files.empty() ? "" : ", the first " + files.front()));
    CHECK(files == std::vector<std::string>{name});
  }
  scratch_dir dir("quote_");
  auto refused = Database::open("sqlite:///" + dir.file("a\"b.db"), {.wal = false});
  INFO(describe(refused));
  CHECK(kind_of(refused) == errc::configuration);
  CHECK(std::filesystem::is_empty(dir.path()));
}

TEST_CASE("bad input matrix: a corrupted SQLite file gives clear errors, never a crash",
          "[reliability][bad-input][sqlite-file][sqlite-only]") {
  require_backend(dialect::sqlite);
  scratch_dir dir("corrupt_");
  const std::string path = dir.file("corrupt.db");
  {
    auto db = Database::open("sqlite:///" + path, {.wal = false}).value();
    migrate(db).value();
    unit_of_work(db, [](Repositories& r) -> result<void> {
      REPOKIT_TRYV(r.channels.create_channel("ch", "c"));
      for (int i = 0; i < 200; ++i) {
        REPOKIT_TRYV(r.videos.create_video("v" + std::to_string(i), "ch",
                                           std::string(200, static_cast<char>('a' + i % 26)), i));
      }
      return success();
    }).value();
  }
  std::string bytes = file_bytes(path);
  REQUIRE(bytes.size() > 4 * 4096);
  // Pages 2 to 4 overwritten with a pattern; page 1 (the header and the schema) left alone.
  for (std::size_t k = 4096; k < 4 * 4096; k += 3) bytes[k] = static_cast<char>(0xA5);
  write_file(path, bytes);

  auto db = Database::open("sqlite:///" + path, {.wal = false, .retry = db_retry::disabled()});
  REQUIRE(db);
  const std::vector<std::pair<std::string, std::function<result<void>(Repositories&)>>> calls{
      {"list videos",
       [](Repositories& r) { return ignore_value(r.videos.list_videos_by_channel("ch")); }},
      {"list channels", [](Repositories& r) { return ignore_value(r.channels.list_channels()); }},
      {"get video", [](Repositories& r) { return ignore_value(r.videos.get_video_by_id("v150")); }},
      {"create video",
       [](Repositories& r) { return ignore_value(r.videos.create_video("v-new", "ch", "t", 1)); }},
      {"create job", [](Repositories& r) { return ignore_value(r.jobs.create_job("t", "x")); }},
  };
  int clear_errors = 0;
  for (const auto& [what, call] : calls) {
    auto outcome = unit_of_work(db.value(), [&](Repositories& r) { return call(r); });
    INFO(what << ": " << describe(outcome));
    if (!outcome) {
      CHECK((outcome.error().kind == errc::database || outcome.error().kind == errc::integrity));
      CHECK(clean_text(outcome.error().message));
      ++clear_errors;
    }
  }
  CHECK(clear_errors > 0);
}

// The server's counterpart of a read-only file: a session whose transactions are read-only.
TEST_CASE("bad input matrix: a read-only PostgreSQL session refuses writes and keeps the data",
          "[reliability][bad-input][read-only][postgresql-only]") {
  require_backend(dialect::postgresql);
  {
    test_database fixture({.retry = patient_retry()});
    seed(fixture.db());
    const auto data_before = data_of(fixture.db()).value();
    const std::string read_only_url = fixture.url() + "%20-c%20default_transaction_read_only%3Don";
    auto db = Database::open(read_only_url, {.retry = db_retry::disabled()}).value();
    auto read =
        video_repository(db, [](VideoRepository& v) { return v.get_video_by_id("vid-ok"); });
    INFO(describe(read));
    CHECK(read);
    auto written = video_repository(
        db, [](VideoRepository& v) { return v.create_video("v-ro", "ch-ok", "t", 1); });
    INFO(describe(written));
    REQUIRE_FALSE(written);
    CHECK(written.error().backend_code == "25006");  // read_only_sql_transaction
    CHECK_THAT(written.error().message, Catch::Contains("read-only"));
    CHECK(data_of(fixture.db()).value() == data_before);
  }
}

// Root only (chattr +i): registered behind tests/support/requires_root.sh, which reports it as
// skipped where it cannot run.
TEST_CASE("bad input matrix: an immutable SQLite file refuses writes and keeps its data",
          "[reliability][bad-input][read-only][sqlite-only][root]") {
  require_backend(dialect::sqlite);
  REQUIRE(running_as_root());
  {
    // An immutable file in a writable directory: SQLite falls back to opening it read-only.
    scratch_dir dir("immutable_");
    const std::string path = dir.file("immutable.db");
    std::vector<std::string> data_before;
    {
      auto db = Database::open("sqlite:///" + path).value();
      migrate(db).value();
      seed(db);
      data_before = data_of(db).value();
    }
    immutable_file locked(path);
    INFO(locked.why_not());
    REQUIRE(locked.done());
    {
      auto db = Database::open("sqlite:///" + path, {.retry = db_retry::disabled()}).value();
      auto read =
          video_repository(db, [](VideoRepository& v) { return v.get_video_by_id("vid-ok"); });
      INFO("read: " << describe(read));
      CHECK(read);
      auto written = video_repository(
          db, [](VideoRepository& v) { return v.create_video("v-ro", "ch-ok", "t", 1); });
      INFO("write: " << describe(written));
      REQUIRE_FALSE(written);
      CHECK(written.error().kind == errc::database);
      CHECK_THAT(written.error().message, Catch::Contains("readonly"));
      CHECK(data_of(db).value() == data_before);
    }
  }
}

// Root only (a tmpfs remounted read-only): registered behind tests/support/requires_root.sh.
TEST_CASE("bad input matrix: an SQLite file on a read-only mount refuses writes and keeps its data",
          "[reliability][bad-input][read-only][sqlite-only][root]") {
  require_backend(dialect::sqlite);
  REQUIRE(running_as_root());
  scratch_dir dir("readonly_");
  tmpfs_mount mount(dir.path(), "4m");
  INFO(mount.why_not());
  REQUIRE(mount.mounted());
  const std::string path = dir.file("ro.db");
  std::vector<std::string> data_before;
  {
    auto db = Database::open("sqlite:///" + path).value();
    migrate(db).value();
    seed(db);
    data_before = data_of(db).value();
  }  // closed: the WAL is checkpointed and removed
  REQUIRE(mount.set_read_only(true));

  const auto fds_before = open_fds();
  {
    auto db = Database::open("sqlite:///" + path, {.retry = db_retry::disabled()});
    REQUIRE(db);
    auto written = video_repository(
        db.value(), [](VideoRepository& v) { return v.create_video("v-ro", "ch-ok", "t", 1); });
    INFO(describe(written));
    REQUIRE_FALSE(written);
    CHECK(written.error().kind == errc::database);
    CHECK(clean_text(written.error().message));
    CHECK((written.error().message.find("readonly") != std::string::npos ||
           written.error().message.find("read-only") != std::string::npos ||
           written.error().message.find("unable to open") != std::string::npos));
    auto read = video_repository(db.value(),
                                 [](VideoRepository& v) { return v.get_video_by_id("vid-ok"); });
    INFO("read: " << describe(read));
    if (!read) CHECK(clean_text(read.error().message));
  }
  CHECK(open_fds() == fds_before);
  REQUIRE(mount.set_read_only(false));
  auto db = Database::open("sqlite:///" + path).value();
  CHECK(data_of(db).value() == data_before);
}

namespace {

enum class full_by { file_size_limit, small_tmpfs };

// The disk fills up under a stream of writes: a 512 KiB tmpfs (root only), or a file size limit
// (RLIMIT_FSIZE) that any user can set.
void check_full_disk(full_by how) {
  require_backend(dialect::sqlite);
  scratch_dir dir("diskfull_");
  std::optional<tmpfs_mount> mount;
  if (how == full_by::small_tmpfs) {
    REQUIRE(running_as_root());
    mount.emplace(dir.path(), "512k");
    INFO(mount->why_not());
    REQUIRE(mount->mounted());
  }
  const std::string path = dir.file("full.db");
  // With a file size limit instead of a small disk, writes past it fail with EFBIG (the
  // signal that would kill the process is ignored meanwhile).
  struct rlimit old_limit {};
  const bool by_rlimit = !mount;
  struct sigaction old_action {};
  if (by_rlimit) {
    struct sigaction ignore {};
    ignore.sa_handler = SIG_IGN;
    REQUIRE(::sigaction(SIGXFSZ, &ignore, &old_action) == 0);
    REQUIRE(::getrlimit(RLIMIT_FSIZE, &old_limit) == 0);
  }

  auto db = Database::open("sqlite:///" + path, {.retry = db_retry::disabled()}).value();
  migrate(db).value();
  seed(db);
  if (by_rlimit) {
    struct rlimit limit = old_limit;
    limit.rlim_cur = 512 * 1024;
    REQUIRE(::setrlimit(RLIMIT_FSIZE, &limit) == 0);
  }
  int committed = 0;
  std::optional<error> full;
  const std::string title(3000, 't');
  for (int i = 0; i < 2000 && !full; ++i) {
    auto written = video_repository(db, [&](VideoRepository& videos) {
      return videos.create_video("v" + std::to_string(i), "ch-ok", title + std::to_string(i), i);
    });
    if (written) {
      ++committed;
    } else {
      full = written.error();
    }
  }
  if (by_rlimit) {
    ::setrlimit(RLIMIT_FSIZE, &old_limit);
    ::sigaction(SIGXFSZ, &old_action, nullptr);
  }
  REQUIRE(full);
  INFO(full->describe());
  CHECK(full->kind == errc::database);
  CHECK(clean_text(full->message));
  CHECK((full->message.find("full") != std::string::npos ||
         full->message.find("I/O") != std::string::npos));
  CHECK(committed > 10);

  // Every committed row is still there, whole, from this connection and from a new one.
  const auto check_rows = [&](const Database& on) {
    auto read = video_repository(on, [&](VideoRepository& videos) -> result<int> {
      int whole = 0;
      for (int i = 0; i < committed; ++i) {
        REPOKIT_TRY(auto video, videos.get_video_by_id("v" + std::to_string(i)));
        if (video.title == title + std::to_string(i)) ++whole;
      }
      return whole;
    });
    INFO(describe(read));
    REQUIRE(read);
    CHECK(read.value() == committed);
  };
  check_rows(db);
  CHECK(testing::count_rows(db, "videos") == committed + 1);
  WARN("disk full (" << (by_rlimit ? "RLIMIT_FSIZE" : "512 KiB tmpfs") << ") after " << committed
                     << " videos: " << full->describe() << "; all " << committed
                     << " committed rows intact");
  {
    auto reopened = Database::open("sqlite:///" + path).value();
    check_rows(reopened);
    static constexpr std::array<column_type, 1> text_column{column_type::text};
    static constexpr statement integrity{"integrity_check", "PRAGMA integrity_check",
                                         statement_kind::read, text_column};
    auto checked = run_unit(reopened, [](UnitOfWork& unit) { return unit.query_one(integrity); });
    INFO(describe(checked));
    REQUIRE(checked);
    CHECK(checked.value()->text(0) == "ok");
  }
}

}  // namespace

TEST_CASE("bad input matrix: a file size limit fails the write clearly and loses nothing committed",
          "[reliability][bad-input][disk-full][sqlite-only]") {
  check_full_disk(full_by::file_size_limit);
}

// Root only: registered behind tests/support/requires_root.sh.
TEST_CASE("bad input matrix: a full disk fails the write clearly and loses nothing committed",
          "[reliability][bad-input][disk-full][sqlite-only][root]") {
  check_full_disk(full_by::small_tmpfs);
}
