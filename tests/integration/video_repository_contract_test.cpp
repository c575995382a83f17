// The VideoRepository contract, against the backend chosen by REPOKIT_TEST_BACKEND.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "contract_support.hpp"

using namespace repokit;
using namespace repokit::contract;
using repokit::testing::test_database;

namespace {

std::vector<std::string> ids_of(const std::vector<Video>& videos) {
  std::vector<std::string> ids;
  for (const Video& v : videos) ids.push_back(v.video_id);
  return ids;
}

result<std::vector<Video>> list_page(const Database& db, const std::string& channel,
                                     std::size_t limit, std::size_t offset) {
  return video_repository(db, [&](VideoRepository& videos) {
    return videos.list_videos_by_channel(channel, limit, offset);
  });
}

result<Video> change(const Database& db, const std::string& id, const video_changes& changes) {
  return video_repository(
      db, [&](VideoRepository& videos) { return videos.update_video(id, changes); });
}

}  // namespace

TEST_CASE("videos: a created video reads back with every field and both timestamps set",
          "[contract][videos]") {
  test_database fixture;
  const Database& db = fixture.db();
  seed_channel(db, "ch-1");

  const timestamp before = clock_now();
  auto created = video_repository(db, [](VideoRepository& videos) {
    return videos.create_video("vid-1", "ch-1", "The first video", 754);
  });
  const timestamp after = clock_now();
  INFO(describe(created));
  REQUIRE(created);
  const Video& video = created.value();
  CHECK(video.video_id == "vid-1");
  CHECK(video.channel_id == "ch-1");
  CHECK(video.title == "The first video");
  CHECK(video.duration_seconds == 754);
  CHECK(video.created_at >= before);
  CHECK(video.created_at <= after);
  CHECK(video.updated_at == video.created_at);

  auto read = read_video(db, "vid-1");
  INFO(describe(read));
  REQUIRE(read);
  CHECK(read.value() == video);
  CHECK(rows_in(db, "videos") == 1);
}

TEST_CASE("videos: getting a missing video is not_found", "[contract][videos]") {
  test_database fixture;
  seed_channel(fixture.db(), "ch-1");
  seed_video(fixture.db(), "vid-present", "ch-1");

  auto missing = read_video(fixture.db(), "vid-absent");
  INFO(describe(missing));
  CHECK(kind_of(missing) == errc::not_found);
}

TEST_CASE(
    "videos: a duplicate id is an integrity error, returned by the scope, and changes nothing",
    "[contract][videos]") {
  test_database fixture;
  const Database& db = fixture.db();
  seed_channel(db, "ch-1");
  seed_channel(db, "ch-2");
  const Video original = seed_video(db, "vid-dup", "ch-1", "original title", 10);

  result<Video> inside = failure(errc::database, "the body did not run");
  auto scope = video_repository(db, [&](VideoRepository& videos) {
    inside = videos.create_video("vid-dup", "ch-2", "intruder", 20);
    return inside;
  });
  INFO("inside: " << describe(inside) << "; scope: " << describe(scope));
  CHECK(kind_of(inside) == errc::integrity);
  CHECK(kind_of(scope) == errc::integrity);

  CHECK(rows_in(db, "videos") == 1);
  auto stored = read_video(db, "vid-dup");
  REQUIRE(stored);
  CHECK(stored.value() == original);
}

TEST_CASE("videos: a video of an unknown channel is refused by the foreign key",
          "[contract][videos]") {
  test_database fixture;
  const Database& db = fixture.db();
  seed_channel(db, "ch-known");

  auto created = video_repository(db, [](VideoRepository& videos) {
    return videos.create_video("vid-orphan", "ch-unknown", "no channel", 5);
  });
  INFO(describe(created));
  CHECK(kind_of(created) == errc::integrity);
  CHECK(rows_in(db, "videos") == 0);
  CHECK(kind_of(read_video(db, "vid-orphan")) == errc::not_found);
}

TEST_CASE("videos: list_videos_by_channel is ordered by id, paged, and excludes other channels",
          "[contract][videos]") {
  test_database fixture;
  const Database& db = fixture.db();
  seed_channel(db, "ch-a");
  seed_channel(db, "ch-b");
  seed_channel(db, "ch-empty");
  // Created out of order, interleaved with another channel's videos. The ids compare the same
  // bytewise and under any collation, so the expected order holds on every backend.
  for (const char* id : {"vid-03", "vid-01", "vid-05", "vid-02", "vid-04"}) {
    seed_video(db, id, "ch-a", std::string("title of ") + id);
    seed_video(db, std::string(id) + "-b", "ch-b");
  }
  seed_video(db, "vid-00-b", "ch-b");

  auto all = list_page(db, "ch-a", 1000, 0);
  INFO(describe(all));
  REQUIRE(all);
  CHECK(ids_of(all.value()) ==
        std::vector<std::string>{"vid-01", "vid-02", "vid-03", "vid-04", "vid-05"});
  for (const Video& v : all.value()) {
    CHECK(v.channel_id == "ch-a");
    CHECK(v.title == "title of " + v.video_id);
  }

  CHECK(ids_of(list_page(db, "ch-a", 2, 0).value()) ==
        std::vector<std::string>{"vid-01", "vid-02"});
  CHECK(ids_of(list_page(db, "ch-a", 2, 2).value()) ==
        std::vector<std::string>{"vid-03", "vid-04"});
  CHECK(ids_of(list_page(db, "ch-a", 2, 4).value()) == std::vector<std::string>{"vid-05"});
  CHECK(list_page(db, "ch-a", 2, 5).value().empty());
  CHECK(list_page(db, "ch-a", 1000, 100).value().empty());
  CHECK(ids_of(list_page(db, "ch-b", 3, 0).value()) ==
        std::vector<std::string>{"vid-00-b", "vid-01-b", "vid-02-b"});
  CHECK(list_page(db, "ch-empty", 1000, 0).value().empty());
  CHECK(list_page(db, "ch-nonexistent", 1000, 0).value().empty());

  CHECK(kind_of(list_page(db, "ch-a", 0, 0)) == errc::invalid_argument);
  CHECK(kind_of(list_page(db, "ch-a", 10'001, 0)) == errc::invalid_argument);
  CHECK(list_page(db, "ch-a", 10'000, 0).value().size() == 5);
}

TEST_CASE("videos: update_video changes only the given fields", "[contract][videos]") {
  test_database fixture;
  const Database& db = fixture.db();
  seed_channel(db, "ch-from");
  seed_channel(db, "ch-to");
  const Video original = seed_video(db, "vid-upd", "ch-from", "old title", 100);
  seed_video(db, "vid-bystander", "ch-from", "bystander", 7);

  auto titled = change(db, "vid-upd", video_changes{.title = "new title"});
  INFO(describe(titled));
  REQUIRE(titled);
  CHECK(titled.value().title == "new title");
  CHECK(titled.value().channel_id == "ch-from");
  CHECK(titled.value().duration_seconds == 100);
  CHECK(titled.value().created_at == original.created_at);
  CHECK(titled.value().updated_at >= titled.value().created_at);
  CHECK(read_video(db, "vid-upd").value() == titled.value());

  auto timed = change(db, "vid-upd", video_changes{.duration_seconds = 0});
  INFO(describe(timed));
  REQUIRE(timed);
  CHECK(timed.value().duration_seconds == 0);
  CHECK(timed.value().title == "new title");
  CHECK(timed.value().channel_id == "ch-from");
  CHECK(timed.value().created_at == original.created_at);
  CHECK(timed.value().updated_at >= titled.value().updated_at);
  CHECK(read_video(db, "vid-upd").value() == timed.value());

  auto moved = change(db, "vid-upd", video_changes{.channel_id = "ch-to"});
  INFO(describe(moved));
  REQUIRE(moved);
  CHECK(moved.value().channel_id == "ch-to");
  CHECK(moved.value().title == "new title");
  CHECK(moved.value().duration_seconds == 0);
  CHECK(moved.value().created_at == original.created_at);
  CHECK(moved.value().updated_at >= moved.value().created_at);
  CHECK(read_video(db, "vid-upd").value() == moved.value());
  CHECK(ids_of(list_page(db, "ch-to", 10, 0).value()) == std::vector<std::string>{"vid-upd"});
  CHECK(ids_of(list_page(db, "ch-from", 10, 0).value()) ==
        std::vector<std::string>{"vid-bystander"});

  // All three at once, then none at all (only updated_at may move).
  auto everything = change(db, "vid-upd", video_changes{"ch-from", "final", 42});
  REQUIRE(everything);
  CHECK(everything.value().channel_id == "ch-from");
  CHECK(everything.value().title == "final");
  CHECK(everything.value().duration_seconds == 42);
  auto nothing = change(db, "vid-upd", video_changes{});
  REQUIRE(nothing);
  CHECK(nothing.value().channel_id == "ch-from");
  CHECK(nothing.value().title == "final");
  CHECK(nothing.value().duration_seconds == 42);
  CHECK(nothing.value().created_at == original.created_at);

  // Moving to a channel that does not exist is refused and changes nothing.
  const Video before_refusal = read_video(db, "vid-upd").value();
  auto orphaned = change(db, "vid-upd", video_changes{.channel_id = "ch-nowhere"});
  INFO(describe(orphaned));
  CHECK(kind_of(orphaned) == errc::integrity);
  CHECK(read_video(db, "vid-upd").value() == before_refusal);

  // The other video was never touched.
  const Video bystander = read_video(db, "vid-bystander").value();
  CHECK(bystander.title == "bystander");
  CHECK(bystander.duration_seconds == 7);
  CHECK(bystander.updated_at == bystander.created_at);

  auto missing = change(db, "vid-missing", video_changes{.title = "x"});
  INFO(describe(missing));
  CHECK(kind_of(missing) == errc::not_found);
  CHECK(rows_in(db, "videos") == 2);
}

TEST_CASE("videos: a deleted video is gone, and deleting a missing one is not_found",
          "[contract][videos]") {
  test_database fixture;
  const Database& db = fixture.db();
  seed_channel(db, "ch-1");
  seed_video(db, "vid-doomed", "ch-1");
  seed_video(db, "vid-kept", "ch-1");

  auto deleted = video_repository(
      db, [](VideoRepository& videos) { return videos.delete_video("vid-doomed"); });
  INFO(describe(deleted));
  REQUIRE(deleted);
  CHECK(kind_of(read_video(db, "vid-doomed")) == errc::not_found);
  CHECK(read_video(db, "vid-kept"));
  CHECK(rows_in(db, "videos") == 1);

  auto again = video_repository(
      db, [](VideoRepository& videos) { return videos.delete_video("vid-doomed"); });
  INFO(describe(again));
  CHECK(kind_of(again) == errc::not_found);
  auto never = video_repository(
      db, [](VideoRepository& videos) { return videos.delete_video("vid-never-existed"); });
  CHECK(kind_of(never) == errc::not_found);
  CHECK(rows_in(db, "videos") == 1);

  // The id is free again.
  auto recreated = video_repository(db, [](VideoRepository& videos) {
    return videos.create_video("vid-doomed", "ch-1", "second life", 1);
  });
  REQUIRE(recreated);
  CHECK(read_video(db, "vid-doomed").value().title == "second life");
}
