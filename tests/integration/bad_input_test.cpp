// Hostile and malformed input: refused before any SQL with errc::invalid_argument and nothing
// written, or, when it is valid text, stored verbatim and read back byte for byte.
#include <catch2/catch.hpp>

#include <limits>
#include <string>
#include <vector>

#include "contract_support.hpp"

using namespace repokit;
using namespace repokit::contract;
using repokit::testing::test_database;

namespace {

const std::string nul_inside("ab\0cd", 5);
const std::vector<std::pair<std::string, std::string>> invalid_utf8{
    {"a lone continuation byte", "abc\x80"},
    {"0xFF", "\xff\xfe"},
    {"a truncated sequence", "caf\xc3"},
    {"a bad continuation", "\xc3\x28"},
    {"an overlong '/'", "\xc0\xaf"},
    {"a UTF-16 surrogate", "\xed\xa0\x80"},
    {"a code point past U+10FFFF", "\xf4\x90\x80\x80"},
};

// Each call runs in a scope of its own and must be refused as invalid_argument.
template <class Body>
void check_refused(const Database& db, const std::string& what, Body body) {
  INFO(what);
  auto outcome = unit_of_work(db, [&](Repositories& repos) { return body(repos); });
  INFO(describe(outcome));
  CHECK(kind_of(outcome) == errc::invalid_argument);
}

// get_or_create_channel finds the stored channel `id` (not creating it anew) and its name.
bool get_or_create_stored_name_is(const Database& db, const std::string& id,
                                  const std::string& name) {
  auto got = channel_repository(db, [&](ChannelRepository& channels) {
    return channels.get_or_create_channel(id, "a name that must not be stored");
  });
  return got && !got.value().created && got.value().record.name == name;
}

}  // namespace

TEST_CASE("bad input: malformed ids, text and numbers are refused and nothing is written",
          "[contract][bad-input]") {
  test_database fixture;
  const Database& db = fixture.db();
  seed_channel(db, "ch-ok");
  seed_video(db, "vid-ok", "ch-ok");
  const std::int64_t job_id =
      job_repository(db, [](JobRepository& jobs) { return jobs.create_job("transcode", "vid-ok"); })
          .value()
          .id;
  const table_counts before = counts(db);
  const Video video_before = read_video(db, "vid-ok").value();
  const Job job_before = read_job(db, job_id).value();
  const std::string id_65(65, 'a');

  // Empty ids.
  check_refused(db, "empty video id (get)",
                [](Repositories& r) { return r.videos.get_video_by_id(""); });
  check_refused(db, "empty video id (create)",
                [](Repositories& r) { return r.videos.create_video("", "ch-ok", "t", 1); });
  check_refused(db, "empty channel id of a video",
                [](Repositories& r) { return r.videos.create_video("vid-x", "", "t", 1); });
  check_refused(db, "empty channel id (create)",
                [](Repositories& r) { return r.channels.create_channel("", "name"); });
  check_refused(db, "empty channel id (get_or_create)",
                [](Repositories& r) { return r.channels.get_or_create_channel("", "name"); });
  check_refused(db, "empty channel id (list)",
                [](Repositories& r) { return r.videos.list_videos_by_channel(""); });
  check_refused(db, "empty video id (update)", [](Repositories& r) {
    return r.videos.update_video("", video_changes{.title = "t"});
  });
  check_refused(db, "empty video id (delete)",
                [](Repositories& r) { return r.videos.delete_video(""); });
  check_refused(db, "empty job type", [](Repositories& r) { return r.jobs.create_job("", "x"); });
  check_refused(db, "empty job target", [](Repositories& r) { return r.jobs.create_job("t", ""); });
  check_refused(db, "empty job type (exists)",
                [](Repositories& r) { return r.jobs.job_exists("", "x"); });

  // 65-byte ids, one past the limit.
  check_refused(db, "65-byte video id",
                [&](Repositories& r) { return r.videos.create_video(id_65, "ch-ok", "t", 1); });
  check_refused(db, "65-byte channel id",
                [&](Repositories& r) { return r.channels.create_channel(id_65, "name"); });
  check_refused(db, "65-byte channel id of a video",
                [&](Repositories& r) { return r.videos.create_video("vid-x", id_65, "t", 1); });
  check_refused(db, "65-byte channel id (get_or_create)",
                [&](Repositories& r) { return r.channels.get_or_create_channel(id_65, "name"); });
  check_refused(db, "65-byte job type",
                [&](Repositories& r) { return r.jobs.create_job(id_65, "x"); });
  check_refused(db, "256-byte job target",
                [&](Repositories& r) { return r.jobs.create_job("t", std::string(256, 't')); });
  check_refused(db, "65-byte video id moved to (update)", [&](Repositories& r) {
    return r.videos.update_video("vid-ok", video_changes{.channel_id = id_65});
  });

  // A NUL byte inside.
  check_refused(db, "NUL in a video id", [&](Repositories& r) {
    return r.videos.create_video(nul_inside, "ch-ok", "t", 1);
  });
  check_refused(db, "NUL in a channel id",
                [&](Repositories& r) { return r.channels.create_channel(nul_inside, "name"); });
  check_refused(db, "NUL in a title", [&](Repositories& r) {
    return r.videos.create_video("vid-x", "ch-ok", nul_inside, 1);
  });
  check_refused(db, "NUL in a channel name",
                [&](Repositories& r) { return r.channels.create_channel("ch-x", nul_inside); });
  check_refused(db, "NUL in job parameters",
                [&](Repositories& r) { return r.jobs.create_job("t", "x", nul_inside); });
  check_refused(db, "NUL in a new title (update)", [&](Repositories& r) {
    return r.videos.update_video("vid-ok", video_changes{.title = nul_inside});
  });
  check_refused(db, "NUL in a last error", [&](Repositories& r) {
    return r.jobs.update_job_status(job_id, job_status::failed, nul_inside);
  });

  // Invalid UTF-8, in ids and in text.
  for (const auto& [what, bytes] : invalid_utf8) {
    check_refused(db, "video id with " + what,
                  [&](Repositories& r) { return r.videos.create_video(bytes, "ch-ok", "t", 1); });
    check_refused(db, "channel id with " + what,
                  [&](Repositories& r) { return r.channels.get_or_create_channel(bytes, "name"); });
    check_refused(db, "title with " + what, [&](Repositories& r) {
      return r.videos.create_video("vid-x", "ch-ok", bytes, 1);
    });
    check_refused(db, "new title with " + what, [&](Repositories& r) {
      return r.videos.update_video("vid-ok", video_changes{.title = bytes});
    });
    check_refused(db, "job target with " + what,
                  [&](Repositories& r) { return r.jobs.create_job("t", bytes); });
  }

  // Negative durations.
  check_refused(db, "negative duration",
                [](Repositories& r) { return r.videos.create_video("vid-x", "ch-ok", "t", -1); });
  check_refused(db, "negative duration (update)", [](Repositories& r) {
    return r.videos.update_video("vid-ok", video_changes{.duration_seconds = -5});
  });

  // Job ids that cannot exist.
  for (const job_status to : all_job_statuses) {
    check_refused(db, "job id 0 to " + std::string(to_string(to)),
                  [&](Repositories& r) { return r.jobs.update_job_status(0, to); });
    check_refused(db, "job id -1 to " + std::string(to_string(to)),
                  [&](Repositories& r) { return r.jobs.update_job_status(-1, to); });
  }
  check_refused(db, "get_job(0)", [](Repositories& r) { return r.jobs.get_job(0); });

  // Refused after a valid write in the same unit: the valid write is rolled back too.
  check_refused(db, "a bad call after a good one", [](Repositories& r) -> result<void> {
    REPOKIT_TRYV(r.channels.create_channel("ch-written-first", "good"));
    REPOKIT_TRYV(r.videos.create_video("vid-written-first", "ch-written-first", "good", 1));
    REPOKIT_TRYV(r.videos.create_video("vid-bad", "ch-written-first", "t", -1));
    return success();
  });

  CHECK(counts(db) == before);
  CHECK(read_video(db, "vid-ok").value() == video_before);
  CHECK(read_job(db, job_id).value() == job_before);
  CHECK(kind_of(read_channel(db, "ch-written-first")) == errc::not_found);
}

TEST_CASE("bad input: the longest valid ids and texts are accepted", "[contract][bad-input]") {
  test_database fixture;
  const Database& db = fixture.db();
  const std::string id_64(64, 'c');
  // 16 four-byte characters: 64 bytes, but only 16 characters.
  std::string emoji_64;
  for (int k = 0; k < 16; ++k) emoji_64 += "\xF0\x9F\x8E\xAC";  // U+1F3AC
  const std::string title_4096(4096, 't');
  const std::string target_255(255, 'x');

  auto stored = unit_of_work(db, [&](Repositories& r) -> result<void> {
    REPOKIT_TRYV(r.channels.create_channel(id_64, title_4096));
    REPOKIT_TRYV(r.channels.create_channel(emoji_64, "emoji"));
    REPOKIT_TRYV(r.videos.create_video(id_64, id_64, title_4096, 0));
    REPOKIT_TRYV(r.jobs.create_job(id_64, target_255));
    return success();
  });
  INFO(describe(stored));
  REQUIRE(stored);
  CHECK(read_channel(db, id_64).value().name == title_4096);
  CHECK(read_channel(db, emoji_64).value().name == "emoji");
  CHECK(read_video(db, id_64).value().title == title_4096);

  check_refused(db, "4097-byte title", [&](Repositories& r) {
    return r.videos.create_video("vid-long", id_64, title_4096 + "t", 1);
  });
  check_refused(db, "65-byte id of multi-byte characters", [&](Repositories& r) {
    return r.channels.create_channel(emoji_64 + "x", "too long");
  });
  CHECK(counts(db) == table_counts{2, 1, 1});
}

TEST_CASE("bad input: SQL injection payloads are stored verbatim and break nothing",
          "[contract][bad-input]") {
  test_database fixture;
  const Database& db = fixture.db();
  seed_channel(db, "ch-bystander", "bystander");
  seed_video(db, "vid-bystander", "ch-bystander");

  const std::vector<std::string> payloads{
      "'; DROP TABLE videos; --",
      "x' OR '1'='1",
      "Robert'); DELETE FROM channels;--",
      R"(back\slash \' \" "double" 'single' \\ \n \0 end\)",
      "%",
      "_",
      ":p1 $1 ? @p1",
      "\"; DROP TABLE jobs; --",
      "') ON CONFLICT DO NOTHING; UPDATE videos SET title='pwned'; --",
  };

  for (std::size_t k = 0; k < payloads.size(); ++k) {
    const std::string& p = payloads[k];
    INFO("payload " << k << ": " << p);
    auto stored = unit_of_work(db, [&](Repositories& r) -> result<std::int64_t> {
      REPOKIT_TRYV(r.channels.create_channel(p, p));
      REPOKIT_TRYV(r.videos.create_video(p, p, p, 1));
      REPOKIT_TRY(auto job, r.jobs.create_job(p, p, p));
      return job.id;
    });
    INFO(describe(stored));
    REQUIRE(stored);

    auto channel = read_channel(db, p);
    REQUIRE(channel);
    CHECK(channel.value().channel_id == p);
    CHECK(channel.value().name == p);
    auto video = read_video(db, p);
    REQUIRE(video);
    CHECK(video.value().video_id == p);
    CHECK(video.value().channel_id == p);
    CHECK(video.value().title == p);
    auto job = read_job(db, stored.value());
    REQUIRE(job);
    CHECK(job.value().job_type == p);
    CHECK(job.value().target_id == p);
    CHECK(job.value().parameters == p);
    auto listed = video_repository(
        db, [&](VideoRepository& videos) { return videos.list_videos_by_channel(p); });
    REQUIRE(listed);
    REQUIRE(listed.value().size() == 1);  // "%" and "_" are not wildcards
    CHECK(listed.value().front().video_id == p);
    CHECK(job_repository(db, [&](JobRepository& jobs) { return jobs.job_exists(p, p); }).value());
    CHECK(get_or_create_stored_name_is(db, p, p));

    // As a title change and a last error too.
    auto updated = video_repository(db, [&](VideoRepository& videos) {
      return videos.update_video("vid-bystander", video_changes{.title = p});
    });
    REQUIRE(updated);
    CHECK(read_video(db, "vid-bystander").value().title == p);
  }

  // Every table is still there, with exactly the rows written.
  const auto n = static_cast<std::int64_t>(payloads.size());
  CHECK(counts(db) == table_counts{n + 1, n + 1, n});
  CHECK(read_channel(db, "ch-bystander").value().name == "bystander");
  CHECK(rows_in(db, "repokit_schema_versions") == latest_schema_version);
}

TEST_CASE("bad input: unicode text round-trips byte for byte", "[contract][bad-input]") {
  test_database fixture;
  const Database& db = fixture.db();
  seed_channel(db, "ch-unicode");

  const std::vector<std::string> titles{
      "日本語のタイトル",
      "Ünïcödé Çhäñnél",
      "emoji \xF0\x9F\x8E\xAC\xF0\x9F\x8E\xA5 and a flag \xF0\x9F\x87\xAB\xF0\x9F\x87\xB7",
      "combining e\xCC\x81 vs precomposed \xC3\xA9",  // must not be normalised
      "مرحبا بالعالم (right to left)",
      "zero\xE2\x80\x8Bwidth space and \xEF\xBB\xBF BOM",
      "U+10FFFF \xF4\x8F\xBF\xBF and U+FFFD \xEF\xBF\xBD",
      "",
  };
  for (std::size_t k = 0; k < titles.size(); ++k) {
    const std::string id = "vid-u" + std::to_string(k);
    INFO("title " << k);
    auto created = video_repository(db, [&](VideoRepository& videos) {
      return videos.create_video(id, "ch-unicode", titles[k], 1);
    });
    INFO(describe(created));
    REQUIRE(created);
    CHECK(created.value().title == titles[k]);
    CHECK(read_video(db, id).value().title == titles[k]);
  }
  // Unicode in ids as well.
  const std::string id = "頻道-\xF0\x9F\x8E\xAC";
  auto channel = channel_repository(
      db, [&](ChannelRepository& channels) { return channels.create_channel(id, "名前"); });
  REQUIRE(channel);
  CHECK(read_channel(db, id).value().name == "名前");
  CHECK(counts(db) == table_counts{2, static_cast<std::int64_t>(titles.size()), 0});
}

// A regression test (fixed): offsets used to be cast to a signed 64-bit integer without a check,
// so an offset above INT64_MAX wrapped around to a negative OFFSET, which SQLite read as 0 (the
// first page again) and PostgreSQL refused (SQLSTATE 2201X). It must be refused up front, like a
// bad limit, or give an empty page.
TEST_CASE("bad input: an offset too large for the database is neither wrapped nor sent",
          "[contract][bad-input][bug]") {
  test_database fixture;
  const Database& db = fixture.db();
  seed_channel(db, "ch-1");
  seed_video(db, "vid-1", "ch-1");
  seed_video(db, "vid-2", "ch-1");

  for (const std::size_t offset : {std::numeric_limits<std::size_t>::max(), std::size_t{1} << 63}) {
    INFO("offset " << offset);
    auto videos = video_repository(
        db, [&](VideoRepository& repo) { return repo.list_videos_by_channel("ch-1", 10, offset); });
    INFO("videos: " << describe(videos) << ", " << (videos ? videos.value().size() : 0) << " rows");
    CHECK((kind_of(videos) == errc::invalid_argument || (videos && videos.value().empty())));

    auto channels = channel_repository(
        db, [&](ChannelRepository& repo) { return repo.list_channels(10, offset); });
    INFO("channels: " << describe(channels) << ", " << (channels ? channels.value().size() : 0)
                      << " rows");
    CHECK((kind_of(channels) == errc::invalid_argument || (channels && channels.value().empty())));
  }
  // The largest offset the database can take is fine: an empty page.
  const auto largest = static_cast<std::size_t>(std::numeric_limits<std::int64_t>::max());
  auto last = video_repository(
      db, [&](VideoRepository& repo) { return repo.list_videos_by_channel("ch-1", 10, largest); });
  INFO(describe(last));
  REQUIRE(last);
  CHECK(last.value().empty());
}
