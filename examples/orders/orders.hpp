// An application's own table behind repokit: the orders of a video shop. Its migration set, its
// record type and its repository, written on the same public API as repokit's own.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <repokit/repokit.hpp>

namespace shop {

enum class order_status { open, paid, cancelled };

std::string_view to_string(order_status status) noexcept;
repokit::result<order_status> parse_order_status(std::string_view text);

struct Order {
  std::string order_id;
  std::string video_id;
  std::int64_t amount_cents = 0;
  order_status status = order_status::open;
  repokit::timestamp placed_at{};
  std::optional<repokit::timestamp> paid_at;
  bool operator==(const Order&) const = default;
};

// The orders table, versioned apart from repokit's own tables.
const repokit::migration_set& orders_schema() noexcept;

// Built on a unit of work like every repository: many can share one transaction.
class Orders {
 public:
  explicit Orders(repokit::UnitOfWork& unit) noexcept : unit_(unit) {}

  repokit::result<Order> place(std::string_view order_id, std::string_view video_id,
                               std::int64_t amount_cents);
  // The order, or errc::not_found.
  repokit::result<Order> find(std::string_view order_id);
  // Open to paid; errc::invalid_state when the order is not open.
  repokit::result<Order> mark_paid(std::string_view order_id);
  // The orders among `order_ids`, in id order; ids that do not exist are left out.
  repokit::result<std::vector<Order>> find_many(std::span<const std::string_view> order_ids);
  // The paid total of a video's orders, in cents.
  repokit::result<std::int64_t> revenue_of(std::string_view video_id);

 private:
  repokit::UnitOfWork& unit_;
};

}  // namespace shop

// An order's status is stored as its name.
template <>
struct repokit::column_traits<shop::order_status> : repokit::stored_as<std::string_view> {
  static std::string_view to_stored(shop::order_status status) noexcept {
    return shop::to_string(status);
  }
  static repokit::result<shop::order_status> from_stored(std::string_view text) {
    return shop::parse_order_status(text);
  }
};
