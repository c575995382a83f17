// ChannelRepository: the channels table, inside one unit of work.
#pragma once

#include <cstddef>
#include <string_view>
#include <vector>

#include "repokit/repositories/records.hpp"
#include "repokit/result.hpp"
#include "repokit/unit_of_work.hpp"

namespace repokit {

class ChannelRepository {
 public:
  explicit ChannelRepository(UnitOfWork& unit) noexcept : unit_(&unit) {}

  // errc::not_found when there is no such channel.
  result<Channel> get_channel_by_id(std::string_view channel_id);
  // errc::integrity when the id is taken.
  result<Channel> create_channel(std::string_view channel_id, std::string_view name);
  // The stored channel, or a new one named `name`; never an error for the loser of a race.
  result<created_or_existing<Channel>> get_or_create_channel(std::string_view channel_id,
                                                             std::string_view name);
  // Ordered by channel_id; `limit` from 1 to 10000.
  result<std::vector<Channel>> list_channels(std::size_t limit = 1000, std::size_t offset = 0);

  UnitOfWork& unit() const noexcept { return *unit_; }

 private:
  UnitOfWork* unit_;
};

}  // namespace repokit
