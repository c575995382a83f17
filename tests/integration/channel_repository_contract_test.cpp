// The ChannelRepository contract, against the backend chosen by REPOKIT_TEST_BACKEND.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "contract_support.hpp"

using namespace repokit;
using namespace repokit::contract;
using repokit::testing::test_database;

namespace {

std::vector<std::string> ids_of(const std::vector<Channel>& channels) {
  std::vector<std::string> ids;
  for (const Channel& c : channels) ids.push_back(c.channel_id);
  return ids;
}

result<std::vector<Channel>> list_page(const Database& db, std::size_t limit, std::size_t offset) {
  return channel_repository(
      db, [&](ChannelRepository& channels) { return channels.list_channels(limit, offset); });
}

result<created_or_existing<Channel>> get_or_create(const Database& db, const std::string& id,
                                                   const std::string& name) {
  return channel_repository(
      db, [&](ChannelRepository& channels) { return channels.get_or_create_channel(id, name); });
}

}  // namespace

TEST_CASE("channels: a created channel reads back with every field", "[contract][channels]") {
  test_database fixture;
  const Database& db = fixture.db();

  const timestamp before = clock_now();
  auto created = channel_repository(db, [](ChannelRepository& channels) {
    return channels.create_channel("ch-1", "Channel One");
  });
  const timestamp after = clock_now();
  INFO(describe(created));
  REQUIRE(created);
  CHECK(created.value().channel_id == "ch-1");
  CHECK(created.value().name == "Channel One");
  CHECK(created.value().created_at >= before);
  CHECK(created.value().created_at <= after);

  auto read = read_channel(db, "ch-1");
  INFO(describe(read));
  REQUIRE(read);
  CHECK(read.value() == created.value());
  CHECK(kind_of(read_channel(db, "ch-missing")) == errc::not_found);
}

TEST_CASE("channels: a duplicate id is an integrity error and keeps the stored channel",
          "[contract][channels]") {
  test_database fixture;
  const Database& db = fixture.db();
  const Channel original = seed_channel(db, "ch-dup", "first name");

  auto duplicate = channel_repository(db, [](ChannelRepository& channels) {
    return channels.create_channel("ch-dup", "second name");
  });
  INFO(describe(duplicate));
  CHECK(kind_of(duplicate) == errc::integrity);
  CHECK(rows_in(db, "channels") == 1);
  CHECK(read_channel(db, "ch-dup").value() == original);
}

TEST_CASE("channels: get_or_create_channel creates once, then returns the stored channel",
          "[contract][channels]") {
  test_database fixture;
  const Database& db = fixture.db();

  auto first = get_or_create(db, "ch-goc", "stored name");
  INFO(describe(first));
  REQUIRE(first);
  CHECK(first.value().created);
  CHECK(first.value().record.channel_id == "ch-goc");
  CHECK(first.value().record.name == "stored name");

  auto second = get_or_create(db, "ch-goc", "a different name");
  INFO(describe(second));
  REQUIRE(second);
  CHECK_FALSE(second.value().created);
  CHECK(second.value().record.name == "stored name");
  CHECK(second.value().record == first.value().record);
  CHECK(read_channel(db, "ch-goc").value() == first.value().record);
  CHECK(rows_in(db, "channels") == 1);

  // A channel made by create_channel is found the same way.
  const Channel made = seed_channel(db, "ch-made", "made by create");
  auto found = get_or_create(db, "ch-made", "ignored");
  REQUIRE(found);
  CHECK_FALSE(found.value().created);
  CHECK(found.value().record == made);
  CHECK(rows_in(db, "channels") == 2);
}

TEST_CASE("channels: get_or_create_channel inside one unit sees the unit's own insert",
          "[contract][channels]") {
  test_database fixture;
  const Database& db = fixture.db();
  auto both =
      channel_repository(db, [](ChannelRepository& channels) -> result<std::pair<bool, bool>> {
        REPOKIT_TRY(auto first, channels.get_or_create_channel("ch-same-unit", "one"));
        REPOKIT_TRY(auto second, channels.get_or_create_channel("ch-same-unit", "two"));
        if (second.record.name != "one") {
          return failure(errc::database, "the second call returned " + second.record.name);
        }
        return std::pair{first.created, second.created};
      });
  INFO(describe(both));
  REQUIRE(both);
  CHECK(both.value().first);
  CHECK_FALSE(both.value().second);
  CHECK(read_channel(db, "ch-same-unit").value().name == "one");
}

TEST_CASE("channels: list_channels is ordered by id and paged", "[contract][channels]") {
  test_database fixture;
  const Database& db = fixture.db();
  CHECK(list_page(db, 1000, 0).value().empty());

  for (const char* id : {"ch-04", "ch-02", "ch-05", "ch-01", "ch-03"}) {
    seed_channel(db, id, std::string("name of ") + id);
  }

  auto all = list_page(db, 1000, 0);
  INFO(describe(all));
  REQUIRE(all);
  CHECK(ids_of(all.value()) ==
        std::vector<std::string>{"ch-01", "ch-02", "ch-03", "ch-04", "ch-05"});
  for (const Channel& c : all.value()) CHECK(c.name == "name of " + c.channel_id);

  CHECK(ids_of(list_page(db, 2, 0).value()) == std::vector<std::string>{"ch-01", "ch-02"});
  CHECK(ids_of(list_page(db, 2, 2).value()) == std::vector<std::string>{"ch-03", "ch-04"});
  CHECK(ids_of(list_page(db, 2, 4).value()) == std::vector<std::string>{"ch-05"});
  CHECK(list_page(db, 2, 5).value().empty());
  CHECK(ids_of(list_page(db, 1, 3).value()) == std::vector<std::string>{"ch-04"});

  CHECK(kind_of(list_page(db, 0, 0)) == errc::invalid_argument);
  CHECK(kind_of(list_page(db, 10'001, 0)) == errc::invalid_argument);
  CHECK(list_page(db, 10'000, 0).value().size() == 5);
}
