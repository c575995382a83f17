#include "repokit/repositories/channel_repository.hpp"

#include "mapping.hpp"
#include "repokit/repositories/validation.hpp"

namespace repokit {
namespace {

using enum column_type;
using enum statement_kind;

constexpr std::array channel_columns{text, text, integer};

constexpr statement select_channel{
    "get_channel_by_id", "SELECT channel_id, name, created_at FROM channels WHERE channel_id = :p1",
    read, channel_columns};

constexpr statement insert_channel{
    "create_channel",
    "INSERT INTO channels (channel_id, name, created_at) VALUES (:p1, :p2, :p3) "
    "RETURNING channel_id, name, created_at",
    write, channel_columns};

// No row back means another unit holds the id already: then it is read, not created. The
// same SQL on SQLite and PostgreSQL.
constexpr statement insert_channel_if_absent{
    "get_or_create_channel",
    "INSERT INTO channels (channel_id, name, created_at) VALUES (:p1, :p2, :p3) "
    "ON CONFLICT (channel_id) DO NOTHING RETURNING channel_id, name, created_at",
    write, channel_columns};

// MySQL: IGNORE turns only the duplicate key into "nothing inserted" here (channels has no
// foreign key, and the values were checked before).
constexpr statement insert_channel_ignore_mysql{
    "get_or_create_channel",
    "INSERT IGNORE INTO channels (channel_id, name, created_at) VALUES (:p1, :p2, :p3)",
    write,
    {}};

constexpr statement select_channels{
    "list_channels",
    "SELECT channel_id, name, created_at FROM channels ORDER BY channel_id LIMIT :p1 OFFSET :p2",
    read, channel_columns};

Channel to_channel(const row& r) {
  return Channel{r.text(0), r.text(1), detail::from_millis(r.integer(2))};
}

}  // namespace

result<Channel> ChannelRepository::get_channel_by_id(std::string_view channel_id) {
  REPOKIT_TRYV(check_id("channel_id", channel_id));
  const std::array<param, 1> params{channel_id};
  REPOKIT_TRY(auto found, unit_->query_one(select_channel, params));
  if (!found) return failure(detail::not_found("channel", channel_id));
  return to_channel(*found);
}

result<Channel> ChannelRepository::create_channel(std::string_view channel_id,
                                                  std::string_view name) {
  REPOKIT_TRYV(check_id("channel_id", channel_id));
  REPOKIT_TRYV(check_text("name", name));
  const std::array<param, 3> params{channel_id, name, detail::to_millis(detail::now())};
  REPOKIT_TRY(auto created, unit_->query_one(insert_channel, params));
  return to_channel(created.value());
}

result<created_or_existing<Channel>> ChannelRepository::get_or_create_channel(
    std::string_view channel_id, std::string_view name) {
  REPOKIT_TRYV(check_id("channel_id", channel_id));
  REPOKIT_TRYV(check_text("name", name));
  const std::array<param, 3> params{channel_id, name, detail::to_millis(detail::now())};
  if (unit_->kind() == dialect::mysql) {
    REPOKIT_TRY(const auto inserted, unit_->execute(insert_channel_ignore_mysql, params));
    REPOKIT_TRY(auto stored, get_channel_by_id(channel_id));
    return created_or_existing<Channel>{std::move(stored), inserted == 1};
  }
  REPOKIT_TRY(auto inserted, unit_->query_one(insert_channel_if_absent, params));
  if (inserted) return created_or_existing<Channel>{to_channel(*inserted), true};
  REPOKIT_TRY(auto existing, get_channel_by_id(channel_id));
  return created_or_existing<Channel>{std::move(existing), false};
}

result<std::vector<Channel>> ChannelRepository::list_channels(std::size_t limit,
                                                              std::size_t offset) {
  REPOKIT_TRYV(detail::check_page(limit, offset));
  const std::array<param, 2> params{static_cast<std::int64_t>(limit),
                                    static_cast<std::int64_t>(offset)};
  REPOKIT_TRY(auto rows, unit_->query(select_channels, params));
  std::vector<Channel> channels;
  channels.reserve(rows.size());
  for (const row& r : rows) channels.push_back(to_channel(r));
  return channels;
}

}  // namespace repokit
