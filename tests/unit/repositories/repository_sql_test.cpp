// Which statement each video and channel repository method chooses (by name), with which bound
// values, how rows become records, and that bad input sends nothing at all. What the mock returns
// is not checked back; the stored results are proven against real databases by
// tests/integration/video_repository_contract_test.cpp and channel_repository_contract_test.cpp.
#include <catch2/catch.hpp>

#include "repokit/repositories/scoped.hpp"
#include "support/mock_session.hpp"
#include "support/unit_fixtures.hpp"

using namespace repokit;
using namespace repokit::testing;
using trompeloeil::_;

namespace {

bool sql_has(const statement& sql, std::string_view fragment) {
  return sql.sql.find(fragment) != std::string_view::npos;
}

bool is_null(std::span<const param> params, std::size_t index) {
  return index < params.size() && std::holds_alternative<std::nullptr_t>(params[index]);
}

row video_row(std::string id, std::string channel, std::string title, std::int64_t duration) {
  return row({std::move(id), std::move(channel), std::move(title), duration, std::int64_t{1000},
              std::int64_t{2000}});
}

using repository_mock = statement_mock;

}  // namespace

TEST_CASE("get_video_by_id selects by a bound id and maps every column", "[repositories][sql]") {
  repository_mock m;
  REQUIRE_CALL(m.session, query(_, _))
      .WITH(_1.name == "get_video_by_id" && _1.kind == statement_kind::read &&
            param_is(_2, 0, "V1") && _2.size() == 1)
      .RETURN(rows_of({video_row("V1", "CH1", "Title", 60)}));

  auto video = video_repository(
      m.db(), [](VideoRepository& videos) { return videos.get_video_by_id("V1"); });
  REQUIRE(video);
  CHECK(video.value() == Video{"V1", "CH1", "Title", 60, timestamp{std::chrono::milliseconds{1000}},
                               timestamp{std::chrono::milliseconds{2000}}});
}

TEST_CASE("get_video_by_id answers not_found when no row comes back", "[repositories][sql]") {
  repository_mock m;
  REQUIRE_CALL(m.session, query(_, _)).RETURN(rows_of({}));
  auto video = video_repository(
      m.db(), [](VideoRepository& videos) { return videos.get_video_by_id("V404"); });
  REQUIRE_FALSE(video);
  CHECK(video.error().kind == errc::not_found);
  CHECK(video.error().message == "video 'V404' does not exist");
}

TEST_CASE("create_video binds every value of the new row", "[repositories][sql]") {
  repository_mock m;
  REQUIRE_CALL(m.session, query(_, _))
      .WITH(_1.name == "create_video" && _1.kind == statement_kind::write &&
            param_is(_2, 0, "V1") && param_is(_2, 1, "CH1") && param_is(_2, 2, "A title") &&
            param_is(_2, 3, std::int64_t{60}) && _2.size() == 5)
      .RETURN(rows_of({video_row("V1", "CH1", "A title", 60)}));
  auto video = video_repository(m.db(), [](VideoRepository& videos) {
    return videos.create_video("V1", "CH1", "A title", 60);
  });
  REQUIRE(video);
}

TEST_CASE("SQL injection payloads travel as bound values, never as SQL text",
          "[repositories][sql][injection]") {
  repository_mock m;
  const std::string payload = "V1'; DROP TABLE videos; --";
  REQUIRE_CALL(m.session, query(_, _))
      .WITH(_1.name == "get_video_by_id" && !sql_has(_1, "DROP") && param_is(_2, 0, payload) &&
            _2.size() == 1)
      .RETURN(rows_of({video_row(payload, "CH1", "t", 1)}));
  auto video = video_repository(
      m.db(), [&](VideoRepository& videos) { return videos.get_video_by_id(payload); });
  REQUIRE(video);
}

TEST_CASE("list_videos_by_channel binds the channel, limit and offset", "[repositories][sql]") {
  repository_mock m;
  REQUIRE_CALL(m.session, query(_, _))
      .WITH(_1.name == "list_videos_by_channel" && param_is(_2, 0, "CH1") &&
            param_is(_2, 1, std::int64_t{10}) && param_is(_2, 2, std::int64_t{20}))
      .RETURN(rows_of({video_row("V1", "CH1", "a", 1), video_row("V2", "CH1", "b", 2)}));
  auto videos = video_repository(
      m.db(), [](VideoRepository& repo) { return repo.list_videos_by_channel("CH1", 10, 20); });
  REQUIRE(videos);
  CHECK(videos.value().size() == 2);  // every row read, none dropped
}

TEST_CASE("update_video binds NULL for the fields it keeps", "[repositories][sql]") {
  repository_mock m;
  REQUIRE_CALL(m.session, query(_, _))
      .WITH(_1.name == "update_video" && is_null(_2, 0) && param_is(_2, 1, "New title") &&
            is_null(_2, 2) && param_is(_2, 4, "V1"))
      .RETURN(rows_of({video_row("V1", "CH1", "New title", 60)}));
  auto video = video_repository(m.db(), [](VideoRepository& videos) {
    return videos.update_video("V1", {.title = "New title"});
  });
  REQUIRE(video);
}

TEST_CASE("update_video and delete_video answer not_found when nothing matched",
          "[repositories][sql]") {
  repository_mock m;
  REQUIRE_CALL(m.session, query(_, _))
      .WITH(_1.name == "update_video" && param_is(_2, 4, "V9"))
      .RETURN(rows_of({}));
  REQUIRE_CALL(m.session, execute(_, _))
      .WITH(_1.name == "delete_video" && param_is(_2, 0, "V9") && _2.size() == 1)
      .RETURN(changed(0));
  auto outcome = video_repository(m.db(), [](VideoRepository& videos) -> result<void> {
    auto updated = videos.update_video("V9", {.duration_seconds = 5});
    CHECK(updated.error().kind == errc::not_found);
    auto deleted = videos.delete_video("V9");
    CHECK(deleted.error().kind == errc::not_found);
    return success();
  });
  CHECK(outcome);
}

TEST_CASE("bad input is refused before any SQL is sent", "[repositories][validation]") {
  repository_mock m;  // no query/execute expectations: any statement would be a violation
  const std::string oversized(65, 'x');
  const std::string with_nul("V\0", 2);
  auto outcome = unit_of_work(m.db(), [&](Repositories& repos) -> result<void> {
    CHECK(repos.videos.get_video_by_id("").error().kind == errc::invalid_argument);
    CHECK(repos.videos.get_video_by_id(oversized).error().kind == errc::invalid_argument);
    CHECK(repos.videos.get_video_by_id(with_nul).error().kind == errc::invalid_argument);
    CHECK(repos.videos.create_video("V1", "CH1", "t", -1).error().kind == errc::invalid_argument);
    CHECK(repos.videos.create_video("V1", "CH1", "\xff\xfe", 1).error().kind ==
          errc::invalid_argument);
    CHECK(repos.videos.list_videos_by_channel("CH1", 0).error().kind == errc::invalid_argument);
    CHECK(repos.channels.create_channel("", "name").error().kind == errc::invalid_argument);
    CHECK(repos.channels.list_channels(10'001).error().kind == errc::invalid_argument);
    CHECK(repos.jobs.get_job(0).error().kind == errc::invalid_argument);
    CHECK(repos.jobs.create_job("t", std::string(256, 'x')).error().kind == errc::invalid_argument);
    CHECK(repos.jobs.job_exists("t", "x", {}).error().kind == errc::invalid_argument);
    return success();
  });
  CHECK(outcome);
  CHECK(m.database.opened.load() == 0);
}

TEST_CASE("get_or_create_channel inserts if absent and reads the stored row otherwise",
          "[repositories][sql]") {
  repository_mock m;
  trompeloeil::sequence order;
  REQUIRE_CALL(m.session, query(_, _))
      .IN_SEQUENCE(order)
      .WITH(_1.name == "get_or_create_channel" && param_is(_2, 0, "CH1") &&
            param_is(_2, 1, "New name"))
      .RETURN(rows_of({}));
  REQUIRE_CALL(m.session, query(_, _))
      .IN_SEQUENCE(order)
      .WITH(_1.name == "get_channel_by_id" && param_is(_2, 0, "CH1"))
      .RETURN(rows_of({row({std::string("CH1"), std::string("Stored name"), std::int64_t{5}})}));

  auto got = channel_repository(m.db(), [](ChannelRepository& channels) {
    return channels.get_or_create_channel("CH1", "New name");
  });
  REQUIRE(got);
  CHECK_FALSE(got.value().created);
  CHECK(got.value().record.name == "Stored name");
}

// The order itself is proven on real databases (channel_repository_contract_test.cpp).
TEST_CASE("list_channels binds the page's limit and offset", "[repositories][sql]") {
  repository_mock m;
  REQUIRE_CALL(m.session, query(_, _))
      .WITH(_1.name == "list_channels" && param_is(_2, 0, std::int64_t{2}) &&
            param_is(_2, 1, std::int64_t{4}))
      .RETURN(rows_of({row({std::string("CH4"), std::string("a"), std::int64_t{1}})}));
  auto channels =
      channel_repository(m.db(), [](ChannelRepository& repo) { return repo.list_channels(2, 4); });
  REQUIRE(channels);
  CHECK(channels.value().size() == 1);
}
