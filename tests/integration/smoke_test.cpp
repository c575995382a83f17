#include <catch2/catch.hpp>

#include "repokit/repokit.hpp"
#include "support/test_database.hpp"

using namespace repokit;
using repokit::testing::test_database;

TEST_CASE("a fresh test database is migrated to the latest schema", "[smoke]") {
  test_database fixture;
  CHECK(schema_version(fixture.db()).value() == latest_schema_version);
  CHECK(testing::count_rows(fixture.db(), "videos") == 0);
}
