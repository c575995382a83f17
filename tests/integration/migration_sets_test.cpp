// Migration sets on real databases: an application's own set beside repokit's, the upgrade from
// the version table older repokits kept, another tool's table of that name, newer databases
// refused, and reads that never write.
#include <catch2/catch.hpp>

#include <array>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "contract_support.hpp"

using namespace repokit;
using namespace repokit::contract;
using repokit::testing::test_database;

namespace {

constexpr std::array<migration_step, 2> order_steps{{
    {1,
     "orders table",
     {.sql =
          "CREATE TABLE orders (order_id VARCHAR(64) PRIMARY KEY, total_cents BIGINT NOT NULL)"}},
    // Only SQLite needs this one; the other backends record it without running anything.
    {2, "orders analysed", {.sqlite = "ANALYZE orders"}},
}};
constexpr migration_set orders_schema{"orders", order_steps};

constexpr std::array<migration_step, 2> broken_steps{{
    {1, "a table", {.sql = "CREATE TABLE broken_one (id BIGINT PRIMARY KEY)"}},
    {2, "bad SQL", {.sql = "CREATE TABLE broken_two (id BIGINT PRIMARY KEY); THIS IS NOT SQL"}},
}};
constexpr migration_set broken_schema{"broken", broken_steps};

bool has_table(const Database& db, const std::string& name) {
  const std::string catalog =
      db.kind() == dialect::sqlite ? "sqlite_master WHERE type = 'table' AND name = '" + name + "'"
      : db.kind() == dialect::postgresql
          ? "information_schema.tables WHERE table_schema = current_schema() AND table_name = '" +
                name + "'"
          : "information_schema.tables WHERE table_schema = DATABASE() AND table_name = '" + name +
                "'";
  return testing::count_rows(db, "(SELECT 1 AS one FROM " + catalog + ") AS found") == 1;
}

// The version table of repokit before migration sets, with the rows it held at version 3.
void make_legacy_history(const Database& db) {
  testing::execute_sql(db,
                       "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name "
                       "VARCHAR(128) NOT NULL, applied_at BIGINT NOT NULL)");
  testing::execute_sql(db,
                       "INSERT INTO schema_migrations (version, name, applied_at) VALUES "
                       "(1, 'catalogue and jobs tables', 1000), "
                       "(2, 'one active job per type and target', 2000), "
                       "(3, 'jobs indexed by type, target and status', 3000)");
}

}  // namespace

TEST_CASE("migration sets: an application's set migrates beside repokit's, each recorded apart",
          "[contract][migrations][sets]") {
  test_database fixture({}, /*migrated=*/false);
  const Database& db = fixture.db();

  auto reports = migrate(db, repokit_schema(), orders_schema);
  INFO(describe(reports));
  REQUIRE(reports);
  REQUIRE(reports.value().size() == 2);
  CHECK(reports.value()[0].set == "repokit");
  CHECK(reports.value()[0].applied == std::vector<int>{1, 2, 3, 4, 5});
  CHECK(reports.value()[1].set == "orders");
  CHECK(reports.value()[1].applied == std::vector<int>{1, 2});
  CHECK(schema_version(db, orders_schema).value() == 2);
  CHECK(schema_version(db).value() == latest_schema_version);
  CHECK(rows_in(db, "orders") == 0);
  CHECK(rows_in(db, "repokit_schema_versions") == latest_schema_version + 2);

  auto again = migrate(db, repokit_schema(), orders_schema);
  REQUIRE(again);
  CHECK(again.value()[0].applied.empty());
  CHECK(again.value()[1].applied.empty());
  CHECK(rows_in(db, "repokit_schema_versions") == latest_schema_version + 2);
}

TEST_CASE("migration sets: status lists the steps still to apply, and changes nothing",
          "[contract][migrations][sets]") {
  test_database fixture;  // repokit's own set applied
  const Database& db = fixture.db();
  auto before = status(db, orders_schema);
  REQUIRE(before);
  CHECK(before.value().version == 0);
  CHECK(before.value().latest_version == 2);
  REQUIRE(before.value().pending.size() == 2);
  CHECK(before.value().pending[0]->name == "orders table");
  CHECK_FALSE(has_table(db, "orders"));

  auto own = status(db, repokit_schema());
  REQUIRE(own);
  CHECK(own.value().version == latest_schema_version);
  CHECK(own.value().pending.empty());
}

TEST_CASE("migration sets: reading a version of an empty database creates nothing",
          "[contract][migrations][sets]") {
  test_database fixture({}, /*migrated=*/false);
  const Database& db = fixture.db();
  CHECK(schema_version(db).value() == 0);
  CHECK(schema_version(db, orders_schema).value() == 0);
  CHECK(status(db, orders_schema).value().pending.size() == 2);
  CHECK_FALSE(has_table(db, "repokit_schema_versions"));
}

TEST_CASE("migration sets: a database at a newer version than the code knows is refused",
          "[contract][migrations][sets]") {
  test_database fixture;
  const Database& db = fixture.db();
  REQUIRE(migrate(db, orders_schema));
  testing::execute_sql(db,
                       "INSERT INTO repokit_schema_versions (migration_set, version, name, "
                       "applied_at) VALUES ('orders', 3, 'from a newer program', 0)");
  CHECK(schema_version(db, orders_schema).value() == 3);

  auto refused = migrate(db, orders_schema);
  REQUIRE_FALSE(refused);
  CHECK(refused.error().kind == errc::invalid_state);
  CHECK_THAT(refused.error().message,
             Catch::Contains("'orders' at version 3") && Catch::Contains("newer than the 2"));
  CHECK(rows_in(db, "repokit_schema_versions") == latest_schema_version + 3);
}

TEST_CASE("migration sets: a step that fails is not recorded, and the earlier ones stay",
          "[contract][migrations][sets]") {
  test_database fixture;
  const Database& db = fixture.db();
  auto failed = migrate(db, broken_schema);
  REQUIRE_FALSE(failed);
  CHECK(schema_version(db, broken_schema).value() == 1);
  CHECK(has_table(db, "broken_one"));
  // The failed step's first statement rolled back with it, where DDL is transactional.
  if (db.kind() != dialect::mariadb) CHECK_FALSE(has_table(db, "broken_two"));
}

TEST_CASE("migration sets: a database migrated before sets keeps its data and its history",
          "[contract][migrations][sets]") {
  test_database fixture;
  const Database& db = fixture.db();
  seed_channel(db, "ch-old");
  // As an older repokit left it, at version 3: its own version table, none of the new one.
  undo_leases_and_scheduling(db);
  testing::execute_sql(db, "DROP TABLE repokit_schema_versions");
  make_legacy_history(db);

  CHECK(schema_version(db).value() == 3);
  CHECK_FALSE(has_table(db, "repokit_schema_versions"));  // reading wrote nothing

  auto report = migrate(db);
  INFO(describe(report));
  REQUIRE(report);
  CHECK(report.value().from_version == 3);
  CHECK(report.value().applied == std::vector<int>{4, 5});
  CHECK(rows_in(db, "repokit_schema_versions") == latest_schema_version);
  CHECK(testing::count_rows(db,
                            "(SELECT applied_at FROM repokit_schema_versions WHERE "
                            "migration_set = 'repokit' AND applied_at IN (1000, 2000, 3000)) "
                            "AS kept") == 3);
  CHECK(read_channel(db, "ch-old").value().channel_id == "ch-old");
  CHECK(rows_in(db, "schema_migrations") == 3);  // left as it was
}

TEST_CASE("migration sets: another tool's schema_migrations is not taken for repokit's",
          "[contract][migrations][sets]") {
  test_database fixture({}, /*migrated=*/false);
  const Database& db = fixture.db();
  // golang-migrate's table, at one of its own versions.
  testing::execute_sql(db,
                       "CREATE TABLE schema_migrations (version BIGINT NOT NULL PRIMARY KEY, "
                       "dirty BOOLEAN NOT NULL)");
  testing::execute_sql(db, "INSERT INTO schema_migrations (version, dirty) VALUES (3, FALSE)");

  CHECK(schema_version(db).value() == 0);
  auto report = migrate(db);
  INFO(describe(report));
  REQUIRE(report);
  CHECK(report.value().applied == std::vector<int>{1, 2, 3, 4, 5});
  CHECK(rows_in(db, "jobs") == 0);
  CHECK(rows_in(db, "schema_migrations") == 1);
}

TEST_CASE("migration sets: a read-only Database reads versions and refuses every write",
          "[contract][migrations][sets]") {
  test_database fixture;
  const Database reader = fixture.open_another({.pool_size = 1, .read_only = true});
  const auto file_bytes = [&]() -> std::string {
    if (reader.kind() != dialect::sqlite) return {};
    const auto url = database_url::parse(fixture.url()).value();
    std::ifstream in(url.path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  };
  const std::string before = file_bytes();

  CHECK(schema_version(reader).value() == latest_schema_version);
  CHECK(status(reader, orders_schema).value().pending.size() == 2);
  auto wrote = channel_repository(
      reader, [](ChannelRepository& channels) { return channels.create_channel("CH1", "no"); });
  CHECK(kind_of(wrote) == errc::misuse);
  auto migrated = migrate(reader, orders_schema);
  CHECK(kind_of(migrated) == errc::misuse);

  CHECK(file_bytes() == before);
  CHECK(rows_in(fixture.db(), "channels") == 0);
  CHECK_FALSE(has_table(fixture.db(), "orders"));
}
