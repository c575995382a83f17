#include "repokit/repositories/video_repository.hpp"

#include "mapping.hpp"
#include "repokit/repositories/validation.hpp"

namespace repokit {
namespace {

using enum column_type;
using enum statement_kind;

constexpr std::array video_columns{text, text, text, integer, integer, integer};
#define REPOKIT_VIDEO_COLUMNS \
  "video_id, channel_id, title, duration_seconds, created_at, updated_at"

constexpr statement select_video{
    "get_video_by_id", "SELECT " REPOKIT_VIDEO_COLUMNS " FROM videos WHERE video_id = :p1", read,
    video_columns};

constexpr statement insert_video{
    "create_video",
    "INSERT INTO videos (video_id, channel_id, title, duration_seconds, created_at, updated_at) "
    "VALUES (:p1, :p2, :p3, :p4, :p5, :p6) RETURNING " REPOKIT_VIDEO_COLUMNS,
    write, video_columns};

constexpr statement select_by_channel{"list_videos_by_channel",
                                      "SELECT " REPOKIT_VIDEO_COLUMNS
                                      " FROM videos WHERE channel_id = :p1 "
                                      "ORDER BY video_id LIMIT :p2 OFFSET :p3",
                                      read, video_columns};

// Empty changes are bound as NULL, and COALESCE keeps the stored value.
constexpr statement update_video_statement{
    "update_video",
    "UPDATE videos SET channel_id = COALESCE(:p1, channel_id), title = COALESCE(:p2, title), "
    "duration_seconds = COALESCE(:p3, duration_seconds), updated_at = :p4 "
    "WHERE video_id = :p5 RETURNING " REPOKIT_VIDEO_COLUMNS,
    write, video_columns};

// MariaDB has no UPDATE ... RETURNING: update, then read the row back.
constexpr statement update_video_mysql{
    "update_video",
    "UPDATE videos SET channel_id = COALESCE(:p1, channel_id), title = COALESCE(:p2, title), "
    "duration_seconds = COALESCE(:p3, duration_seconds), updated_at = :p4 WHERE video_id = :p5",
    write,
    {}};

constexpr statement delete_video_statement{
    "delete_video", "DELETE FROM videos WHERE video_id = :p1", write, {}};

Video to_video(const row& r) {
  return Video{r.text(0),
               r.text(1),
               r.text(2),
               r.integer(3),
               detail::from_millis(r.integer(4)),
               detail::from_millis(r.integer(5))};
}

template <class T>
param optional_param(const std::optional<T>& value) {
  if (!value) return nullptr;
  if constexpr (std::is_same_v<T, std::string>) {
    return std::string_view(*value);
  } else {
    return *value;
  }
}

}  // namespace

result<Video> VideoRepository::get_video_by_id(std::string_view video_id) {
  REPOKIT_TRYV(check_id("video_id", video_id));
  const std::array<param, 1> params{video_id};
  REPOKIT_TRY(auto found, unit_->query_one(select_video, params));
  if (!found) return failure(detail::not_found("video", video_id));
  return to_video(*found);
}

result<Video> VideoRepository::create_video(std::string_view video_id, std::string_view channel_id,
                                            std::string_view title, std::int64_t duration_seconds) {
  REPOKIT_TRYV(check_id("video_id", video_id));
  REPOKIT_TRYV(check_id("channel_id", channel_id));
  REPOKIT_TRYV(check_text("title", title));
  REPOKIT_TRYV(check_non_negative("duration_seconds", duration_seconds));
  const std::int64_t now = detail::to_millis(detail::now());
  const std::array<param, 6> params{video_id, channel_id, title, duration_seconds, now, now};
  REPOKIT_TRY(auto created, unit_->query_one(insert_video, params));
  return to_video(created.value());
}

result<std::vector<Video>> VideoRepository::list_videos_by_channel(std::string_view channel_id,
                                                                   std::size_t limit,
                                                                   std::size_t offset) {
  REPOKIT_TRYV(check_id("channel_id", channel_id));
  REPOKIT_TRYV(detail::check_page(limit, offset));
  const std::array<param, 3> params{channel_id, static_cast<std::int64_t>(limit),
                                    static_cast<std::int64_t>(offset)};
  REPOKIT_TRY(auto rows, unit_->query(select_by_channel, params));
  std::vector<Video> videos;
  videos.reserve(rows.size());
  for (const row& r : rows) videos.push_back(to_video(r));
  return videos;
}

result<Video> VideoRepository::update_video(std::string_view video_id,
                                            const video_changes& changes) {
  REPOKIT_TRYV(check_id("video_id", video_id));
  if (changes.channel_id) REPOKIT_TRYV(check_id("channel_id", *changes.channel_id));
  if (changes.title) REPOKIT_TRYV(check_text("title", *changes.title));
  if (changes.duration_seconds) {
    REPOKIT_TRYV(check_non_negative("duration_seconds", *changes.duration_seconds));
  }
  const std::array<param, 5> params{
      optional_param(changes.channel_id), optional_param(changes.title),
      optional_param(changes.duration_seconds), detail::to_millis(detail::now()), video_id};
  if (unit_->kind() == dialect::mysql) {
    // Affected rows count matched rows here (SOCI connects with CLIENT_FOUND_ROWS).
    REPOKIT_TRY(const auto matched, unit_->execute(update_video_mysql, params));
    if (matched == 0) return failure(detail::not_found("video", video_id));
    return get_video_by_id(video_id);
  }
  REPOKIT_TRY(auto updated, unit_->query_one(update_video_statement, params));
  if (!updated) return failure(detail::not_found("video", video_id));
  return to_video(*updated);
}

result<void> VideoRepository::delete_video(std::string_view video_id) {
  REPOKIT_TRYV(check_id("video_id", video_id));
  const std::array<param, 1> params{video_id};
  REPOKIT_TRY(auto deleted, unit_->execute(delete_video_statement, params));
  if (deleted == 0) return failure(detail::not_found("video", video_id));
  return success();
}

}  // namespace repokit
