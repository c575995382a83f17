#include "repokit/repositories/channel_repository.hpp"

#include "mapping.hpp"
#include "repokit/repositories/validation.hpp"

namespace repokit {
namespace {

// Channel's members, in order.
constexpr sql_fragment channel_columns = "channel_id, name, created_at";

constexpr query<Channel(std::string_view)> select_channel{
    "get_channel_by_id",
    sql_join<"SELECT ", channel_columns, " FROM channels WHERE channel_id = :channel_id">};

constexpr command<Channel(std::string_view, std::string_view, timestamp)> insert_channel{
    "create_channel", sql_join<"INSERT INTO channels (", channel_columns,
                               ") VALUES (:channel_id, :name, :now) RETURNING ", channel_columns>};

// No row back means another unit holds the id already: then it is read, not created. MariaDB's
// IGNORE turns only the duplicate key into "nothing inserted" here (channels has no foreign
// key, and the values were checked before); the row is read back when it was inserted.
constexpr command<Channel(std::string_view, std::string_view, timestamp)> insert_channel_if_absent{
    "get_or_create_channel",
    {.sql = sql_join<"INSERT INTO channels (", channel_columns,
                     ") VALUES (:channel_id, :name, :now) ON CONFLICT (channel_id) DO "
                     "NOTHING RETURNING ",
                     channel_columns>,
     .mariadb = sql_join<"INSERT IGNORE INTO channels (", channel_columns,
                         ") VALUES (:channel_id, :name, :now); SELECT ", channel_columns,
                         " FROM channels WHERE channel_id = :channel_id">}};

constexpr query<Channel(std::int64_t, std::int64_t)> select_channels{
    "list_channels", sql_join<"SELECT ", channel_columns,
                              " FROM channels ORDER BY channel_id LIMIT :limit OFFSET :offset">};

}  // namespace

result<Channel> ChannelRepository::get_channel_by_id(std::string_view channel_id) {
  REPOKIT_TRYV(check_id("channel_id", channel_id));
  REPOKIT_TRY(auto found, unit_->one(select_channel, channel_id));
  if (!found) return failure(detail::not_found("channel", channel_id));
  return std::move(*found);
}

result<Channel> ChannelRepository::create_channel(std::string_view channel_id,
                                                  std::string_view name) {
  REPOKIT_TRYV(check_id("channel_id", channel_id));
  REPOKIT_TRYV(check_text("name", name));
  REPOKIT_TRY(auto created, unit_->one(insert_channel, channel_id, name, detail::now()));
  if (!created) return failure(errc::database, "create_channel: the insert returned no row");
  return std::move(*created);
}

result<created_or_existing<Channel>> ChannelRepository::get_or_create_channel(
    std::string_view channel_id, std::string_view name) {
  REPOKIT_TRYV(check_id("channel_id", channel_id));
  REPOKIT_TRYV(check_text("name", name));
  REPOKIT_TRY(auto inserted, unit_->one(insert_channel_if_absent, channel_id, name, detail::now()));
  if (inserted) return created_or_existing<Channel>{std::move(*inserted), true};
  REPOKIT_TRY(auto existing, get_channel_by_id(channel_id));
  return created_or_existing<Channel>{std::move(existing), false};
}

result<std::vector<Channel>> ChannelRepository::list_channels(std::size_t limit,
                                                              std::size_t offset) {
  REPOKIT_TRYV(detail::check_page(limit, offset));
  return unit_->all(select_channels, static_cast<std::int64_t>(limit),
                    static_cast<std::int64_t>(offset));
}

}  // namespace repokit
