#include "orders.hpp"

#include <array>
#include <chrono>

namespace shop {
namespace {

using repokit::command;
using repokit::query;
using repokit::sql_fragment;
using repokit::sql_join;

// No foreign key to videos: the orders may live in a database of their own (see main.cpp).
constexpr std::array<repokit::migration_step, 2> steps{{
    {1,
     "orders table",
     {.sql = "CREATE TABLE orders (order_id VARCHAR(64) PRIMARY KEY, video_id VARCHAR(64) NOT "
             "NULL, amount_cents BIGINT NOT NULL CHECK (amount_cents > 0), status VARCHAR(16) NOT "
             "NULL, placed_at BIGINT NOT NULL, paid_at BIGINT)",
      .mariadb = "CREATE TABLE IF NOT EXISTS orders (order_id VARCHAR(64) NOT NULL PRIMARY KEY, "
                 "video_id VARCHAR(64) NOT NULL, amount_cents BIGINT NOT NULL CHECK "
                 "(amount_cents > 0), status VARCHAR(16) NOT NULL, placed_at BIGINT NOT NULL, "
                 "paid_at BIGINT) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin"}},
    {2,
     "orders by video",
     {.sql = "CREATE INDEX orders_by_video ON orders (video_id, status)",
      .mariadb = "CREATE INDEX IF NOT EXISTS orders_by_video ON orders (video_id, status)"}},
}};
constexpr repokit::migration_set schema{"shop_orders", steps};

constexpr sql_fragment columns = "order_id, video_id, amount_cents, status, placed_at, paid_at";

constexpr command<Order(std::string_view, std::string_view, std::int64_t, order_status,
                        repokit::timestamp)>
    insert_order{"shop_insert_order",
                 sql_join<"INSERT INTO orders (", columns,
                          ") VALUES (:order_id, :video_id, :amount_cents, :status, :placed_at, "
                          "NULL) RETURNING ",
                          columns>};
// MariaDB has no INSERT ... RETURNING before 10.5 and no UPDATE ... RETURNING at all: its text
// writes, then reads back in the same statement's second part.
constexpr command<Order(order_status, repokit::timestamp, std::string_view, order_status)>
    pay_order{"shop_pay_order",
              {.sql = sql_join<"UPDATE orders SET status = :paid, paid_at = :now WHERE order_id = "
                               ":order_id AND status = :open RETURNING ",
                               columns>,
               .mariadb = sql_join<"UPDATE orders SET status = :paid, paid_at = :now WHERE "
                                   "order_id = :order_id AND status = :open; SELECT ",
                                   columns, " FROM orders WHERE order_id = :order_id">}};
constexpr query<Order(std::string_view)> select_order{
    "shop_find_order", sql_join<"SELECT ", columns, " FROM orders WHERE order_id = :order_id">};
constexpr query<Order(std::span<const std::string_view>)> select_orders{
    "shop_find_orders",
    sql_join<"SELECT ", columns, " FROM orders WHERE order_id IN (:order_ids) ORDER BY order_id">};
constexpr query<std::int64_t(std::string_view, order_status)> sum_paid{
    "shop_revenue_of",
    "SELECT COALESCE(SUM(amount_cents), 0) FROM orders WHERE video_id = :video_id AND status = "
    ":paid"};

repokit::timestamp now() {
  return std::chrono::time_point_cast<std::chrono::milliseconds>(std::chrono::system_clock::now());
}

repokit::error no_order(std::string_view order_id) {
  return repokit::make_error(repokit::errc::not_found,
                             "order '" + std::string(order_id) + "' does not exist");
}

}  // namespace

std::string_view to_string(order_status status) noexcept {
  switch (status) {
    case order_status::open: return "open";
    case order_status::paid: return "paid";
    case order_status::cancelled: return "cancelled";
  }
  return "open";
}

repokit::result<order_status> parse_order_status(std::string_view text) {
  for (order_status status : {order_status::open, order_status::paid, order_status::cancelled}) {
    if (to_string(status) == text) return status;
  }
  return repokit::failure(repokit::errc::invalid_argument,
                          "unknown order status '" + std::string(text) + "'");
}

const repokit::migration_set& orders_schema() noexcept { return schema; }

repokit::result<Order> Orders::place(std::string_view order_id, std::string_view video_id,
                                     std::int64_t amount_cents) {
  if (amount_cents <= 0) {
    return repokit::failure(repokit::errc::invalid_argument, "an order's amount must be positive");
  }
  REPOKIT_TRY(std::optional<Order> placed,
              unit_.one(insert_order, order_id, video_id, amount_cents, order_status::open, now()));
  return std::move(placed).value();  // an INSERT that succeeded returns its row
}

repokit::result<Order> Orders::find(std::string_view order_id) {
  REPOKIT_TRY(std::optional<Order> found, unit_.one(select_order, order_id));
  if (!found) return repokit::failure(no_order(order_id));
  return std::move(*found);
}

repokit::result<Order> Orders::mark_paid(std::string_view order_id) {
  REPOKIT_TRY(std::optional<Order> paid,
              unit_.one(pay_order, order_status::paid, now(), order_id, order_status::open));
  if (paid) return std::move(*paid);
  REPOKIT_TRY(Order current, find(order_id));
  return repokit::failure(repokit::errc::invalid_state, "order '" + current.order_id + "' is " +
                                                            std::string(to_string(current.status)) +
                                                            ", not open");
}

repokit::result<std::vector<Order>> Orders::find_many(std::span<const std::string_view> order_ids) {
  return unit_.all(select_orders, order_ids);
}

repokit::result<std::int64_t> Orders::revenue_of(std::string_view video_id) {
  REPOKIT_TRY(std::optional<std::int64_t> total, unit_.one(sum_paid, video_id, order_status::paid));
  return total.value_or(0);
}

}  // namespace shop
