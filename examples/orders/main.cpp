// The orders example: an application's own table migrated beside repokit's, used in one unit of
// work with videos and jobs, then routed to a database of its own.
//   orders_example [URL [ORDERS_URL]]   (default: sqlite:///orders_example.db, one database)
#include <chrono>
#include <cstdio>
#include <string>

#include "orders.hpp"

namespace {

std::string unique_suffix() {
  return std::to_string(std::chrono::duration_cast<std::chrono::microseconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count());
}

repokit::result<std::int64_t> sell(const repokit::database_routes& routes,
                                   const std::string& video_id, const std::string& order_id) {
  // One scope over four repositories: the channel, the video, the order and the receipt job
  // land together, or none of them does (per database, when Orders is routed elsewhere).
  return repokit::with<repokit::ChannelRepository, repokit::VideoRepository, shop::Orders,
                       repokit::JobRepository>(
      routes,
      [&](repokit::ChannelRepository& channels, repokit::VideoRepository& videos,
          shop::Orders& orders, repokit::JobRepository& jobs) -> repokit::result<std::int64_t> {
        REPOKIT_TRYV(channels.get_or_create_channel("shop", "The shop's channel"));
        REPOKIT_TRYV(videos.create_video(video_id, "shop", "A video for sale", 90));
        REPOKIT_TRYV(orders.place(order_id, video_id, 499));
        REPOKIT_TRY(shop::Order paid, orders.mark_paid(order_id));
        REPOKIT_TRYV(jobs.create_if_not_exists("receipt_email", paid.order_id));
        return orders.revenue_of(video_id);
      });
}

int fail(const char* what, const repokit::error& failure) {
  std::fprintf(stderr, "orders_example: %s: %s\n", what, failure.describe().c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string url = argc > 1 ? argv[1] : "sqlite:///orders_example.db";
  auto db = repokit::Database::open(url);
  if (!db) return fail("open", db.error());
  // Orders in a database of their own when a second URL is given, else beside the catalogue.
  auto orders_db = argc > 2 ? repokit::Database::open(argv[2]) : db;
  if (!orders_db) return fail("open the orders database", orders_db.error());

  if (auto migrated = repokit::migrate(db.value()); !migrated)
    return fail("migrate", migrated.error());
  if (auto migrated = repokit::migrate(orders_db.value(), shop::orders_schema()); !migrated) {
    return fail("migrate the orders", migrated.error());
  }

  repokit::database_routes routes(db.value());
  if (argc > 2) routes.route<shop::Orders>("orders", orders_db.value());

  const std::string suffix = unique_suffix();
  auto revenue = sell(routes, "video-" + suffix, "order-" + suffix);
  if (!revenue) return fail("sell", revenue.error());
  std::printf("order-%s paid: the video earned %lld cents\n", suffix.c_str(),
              static_cast<long long>(revenue.value()));
  return revenue.value() == 499 ? 0 : 1;
}
