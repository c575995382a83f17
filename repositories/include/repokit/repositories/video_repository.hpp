// VideoRepository: the videos table, inside one unit of work. Open it with
// video_repository(db, body) (scoped.hpp); it is a light handle on the unit and does no I/O
// of its own until a method is called.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "repokit/repositories/records.hpp"
#include "repokit/result.hpp"
#include "repokit/unit_of_work.hpp"

namespace repokit {

class VideoRepository {
 public:
  explicit VideoRepository(UnitOfWork& unit) noexcept : unit_(&unit) {}

  // errc::not_found when there is no such video.
  result<Video> get_video_by_id(std::string_view video_id);
  // errc::integrity when the id is taken or the channel does not exist.
  result<Video> create_video(std::string_view video_id, std::string_view channel_id,
                             std::string_view title, std::int64_t duration_seconds);
  // Ordered by video_id; `limit` from 1 to 10000.
  result<std::vector<Video>> list_videos_by_channel(std::string_view channel_id,
                                                    std::size_t limit = 1000,
                                                    std::size_t offset = 0);
  // errc::not_found when there is no such video.
  result<Video> update_video(std::string_view video_id, const video_changes& changes);
  // errc::not_found when there is no such video.
  result<void> delete_video(std::string_view video_id);

  UnitOfWork& unit() const noexcept { return *unit_; }

 private:
  UnitOfWork* unit_;
};

}  // namespace repokit
