// The orders example on real databases: its migration set beside repokit's, its repository in
// one unit of work with videos and jobs, and routed to a database of its own.
#include <catch2/catch.hpp>

#include <array>
#include <string_view>

#include "contract_support.hpp"
#include "orders.hpp"

using namespace repokit;
using namespace repokit::contract;
using shop::Orders;

namespace {

void migrate_orders(const Database& db) {
  auto migrated = migrate(db, shop::orders_schema());
  INFO(describe(migrated));
  REQUIRE(migrated);
}

}  // namespace

TEST_CASE("orders example: placed and paid in one unit with a video and a job",
          "[contract][examples]") {
  testing::test_database fixture;
  const Database& db = fixture.db();
  migrate_orders(db);
  seed_channel(db, "CH1");

  auto revenue = with<VideoRepository, Orders, JobRepository>(
      db, [](VideoRepository& videos, Orders& orders, JobRepository& jobs) -> result<std::int64_t> {
        REPOKIT_TRYV(videos.create_video("V1", "CH1", "for sale", 10));
        REPOKIT_TRYV(orders.place("O1", "V1", 250));
        REPOKIT_TRYV(orders.place("O2", "V1", 100));
        REPOKIT_TRYV(orders.mark_paid("O1"));
        REPOKIT_TRYV(jobs.create_if_not_exists("receipt_email", "O1"));
        return orders.revenue_of("V1");
      });
  INFO(describe(revenue));
  REQUIRE(revenue);
  CHECK(revenue.value() == 250);

  auto again = with<Orders>(db, [](Orders& orders) { return orders.mark_paid("O1"); });
  CHECK(kind_of(again) == errc::invalid_state);

  const std::array<std::string_view, 3> ids{"O2", "O9", "O1"};
  auto found = with<Orders>(db, [&](Orders& orders) { return orders.find_many(ids); });
  REQUIRE(found);
  REQUIRE(found.value().size() == 2);
  CHECK(found.value()[0].order_id == "O1");
  CHECK(found.value()[0].status == shop::order_status::paid);
  CHECK(found.value()[0].paid_at.has_value());
  CHECK(found.value()[1].order_id == "O2");
}

TEST_CASE("orders example: a failure anywhere in the unit leaves no order, video or job",
          "[contract][examples]") {
  testing::test_database fixture;
  const Database& db = fixture.db();
  migrate_orders(db);
  seed_channel(db, "CH1");
  auto failed = with<VideoRepository, Orders, JobRepository>(
      db, [](VideoRepository& videos, Orders& orders, JobRepository& jobs) -> result<void> {
        REPOKIT_TRYV(videos.create_video("V1", "CH1", "for sale", 10));
        REPOKIT_TRYV(orders.place("O1", "V1", 250));
        REPOKIT_TRYV(jobs.create_if_not_exists("receipt_email", "O1"));
        REPOKIT_TRYV(orders.place("O1", "V1", 250));  // the same id again: integrity
        return success();
      });
  CHECK(kind_of(failed) == errc::integrity);
  CHECK(rows_in(db, "orders") == 0);
  CHECK(rows_in(db, "videos") == 0);
  CHECK(rows_in(db, "jobs") == 0);
}

TEST_CASE("orders example: routed to a database of their own, and joining an open scope",
          "[contract][examples][routing]") {
  testing::test_database catalogue;
  testing::test_database shop_db({}, /*migrated=*/false);
  migrate_orders(shop_db.db());
  seed_channel(catalogue.db(), "CH1");
  database_routes routes(catalogue.db());
  routes.route<Orders>("orders", shop_db.db());

  auto sold = with<VideoRepository, Orders>(
      routes, [&](VideoRepository& videos, Orders& orders) -> result<void> {
        REPOKIT_TRYV(videos.create_video("V1", "CH1", "for sale", 10));
        REPOKIT_TRYV(orders.place("O1", "V1", 250));
        // A routed scope opened inside this one joins it: its order shares this transaction.
        return with<Orders>(routes, [](Orders& inner) -> result<void> {
          REPOKIT_TRYV(inner.place("O2", "V1", 100));
          return failure(errc::invalid_state, "the inner scope gives up");
        });
      });
  CHECK(kind_of(sold) == errc::invalid_state);
  // Joined, so the inner failure rolled back the outer writes on both databases.
  CHECK(rows_in(shop_db.db(), "orders") == 0);
  CHECK(rows_in(catalogue.db(), "videos") == 0);

  auto committed = with<VideoRepository, Orders>(
      routes, [&](VideoRepository& videos, Orders& orders) -> result<void> {
        REPOKIT_TRYV(videos.create_video("V1", "CH1", "for sale", 10));
        REPOKIT_TRYV(orders.place("O1", "V1", 250));
        return with<Orders>(routes, [](Orders& inner) -> result<void> {
          REPOKIT_TRYV(inner.place("O2", "V1", 100));
          return success();
        });
      });
  INFO(describe(committed));
  REQUIRE(committed);
  CHECK(rows_in(shop_db.db(), "orders") == 2);
  CHECK(rows_in(catalogue.db(), "videos") == 1);
}
