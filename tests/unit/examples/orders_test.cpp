// The orders example's repository against a mocked session: the statements it sends, the values
// it binds, and the errors it answers. A user's own repository is tested the same way.
#include <catch2/catch.hpp>

#include "orders.hpp"
#include "support/mock_session.hpp"
#include "support/unit_fixtures.hpp"

using namespace repokit;
using namespace repokit::testing;
using trompeloeil::_;

namespace {

row order_row(std::string id, std::string status) {
  return row({std::move(id), std::string("V1"), std::int64_t{499}, std::move(status),
              std::int64_t{1000}, std::monostate{}});
}

}  // namespace

TEST_CASE("Orders::place inserts the bound values and returns the stored row", "[examples]") {
  statement_mock m;
  REQUIRE_CALL(m.session, query(_, _))
      .WITH(_1.name == "shop_insert_order" && _1.kind == statement_kind::write &&
            param_is(_2, 0, "O1") && param_is(_2, 1, "V1") && param_is(_2, 2, std::int64_t{499}) &&
            param_is(_2, 3, "open"))
      .RETURN(rows_of({order_row("O1", "open")}));
  auto placed = with<shop::Orders>(
      m.db(), [](shop::Orders& orders) { return orders.place("O1", "V1", 499); });
  REQUIRE(placed);
  CHECK(placed.value().status == shop::order_status::open);
  CHECK_FALSE(placed.value().paid_at.has_value());
}

TEST_CASE("Orders::place refuses a non-positive amount before any SQL", "[examples]") {
  statement_mock m;  // no query expectations: any statement would be a violation
  auto placed =
      with<shop::Orders>(m.db(), [](shop::Orders& orders) { return orders.place("O1", "V1", 0); });
  REQUIRE_FALSE(placed);
  CHECK(placed.error().kind == errc::invalid_argument);
  CHECK(m.database.opened.load() == 0);
}

TEST_CASE("Orders::mark_paid on an order that is not open answers invalid_state", "[examples]") {
  statement_mock m;
  trompeloeil::sequence order;
  REQUIRE_CALL(m.session, query(_, _))
      .WITH(_1.name == "shop_pay_order" && param_is(_2, 0, "paid") && param_is(_2, 2, "O1") &&
            param_is(_2, 3, "open"))
      .IN_SEQUENCE(order)
      .RETURN(rows_of({}));
  REQUIRE_CALL(m.session, query(_, _))
      .WITH(_1.name == "shop_find_order" && param_is(_2, 0, "O1"))
      .IN_SEQUENCE(order)
      .RETURN(rows_of({order_row("O1", "cancelled")}));
  auto paid =
      with<shop::Orders>(m.db(), [](shop::Orders& orders) { return orders.mark_paid("O1"); });
  REQUIRE_FALSE(paid);
  CHECK(paid.error().kind == errc::invalid_state);
  CHECK(paid.error().message == "order 'O1' is cancelled, not open");
}

TEST_CASE("an unknown stored status is an error naming the statement, never an exception",
          "[examples]") {
  statement_mock m;
  REQUIRE_CALL(m.session, query(_, _)).RETURN(rows_of({order_row("O1", "refunded")}));
  auto found = with<shop::Orders>(m.db(), [](shop::Orders& orders) { return orders.find("O1"); });
  REQUIRE_FALSE(found);
  CHECK(found.error().operation == "shop_find_order");
  CHECK_THAT(found.error().message, Catch::Contains("column 4"));
}
