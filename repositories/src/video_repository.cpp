#include "repokit/repositories/video_repository.hpp"

#include "mapping.hpp"
#include "repokit/repositories/validation.hpp"

namespace repokit {
namespace {

// Video's members, in order.
constexpr sql_fragment video_columns =
    "video_id, channel_id, title, duration_seconds, created_at, updated_at";

constexpr query<Video(std::string_view)> select_video{
    "get_video_by_id",
    sql_join<"SELECT ", video_columns, " FROM videos WHERE video_id = :video_id">};

constexpr command<Video(std::string_view, std::string_view, std::string_view, std::int64_t,
                        timestamp)>
    insert_video{"create_video",
                 sql_join<"INSERT INTO videos (", video_columns,
                          ") VALUES (:video_id, :channel_id, :title, :duration_seconds, :now, "
                          ":now) RETURNING ",
                          video_columns>};

constexpr query<Video(std::string_view, std::int64_t, std::int64_t)> select_by_channel{
    "list_videos_by_channel",
    sql_join<"SELECT ", video_columns,
             " FROM videos WHERE channel_id = :channel_id ORDER BY video_id "
             "LIMIT :limit OFFSET :offset">};

// Empty changes are bound as NULL, and COALESCE keeps the stored value. MariaDB has no
// UPDATE ... RETURNING: it reads the row back when the update matched it.
constexpr sql_fragment update_video_sql =
    "UPDATE videos SET channel_id = COALESCE(:channel_id, channel_id), "
    "title = COALESCE(:title, title), "
    "duration_seconds = COALESCE(:duration_seconds, duration_seconds), updated_at = :now "
    "WHERE video_id = :video_id";
constexpr command<Video(std::optional<std::string_view>, std::optional<std::string_view>,
                        std::optional<std::int64_t>, timestamp, std::string_view)>
    update_video_statement{"update_video",
                           {.sql = sql_join<update_video_sql, " RETURNING ", video_columns>,
                            .mariadb = sql_join<update_video_sql, "; SELECT ", video_columns,
                                                " FROM videos WHERE video_id = :video_id">}};

constexpr command<void(std::string_view)> delete_video_statement{
    "delete_video", "DELETE FROM videos WHERE video_id = :video_id"};

std::optional<std::string_view> view_of(const std::optional<std::string>& text) {
  if (!text) return std::nullopt;
  return std::string_view(*text);
}

}  // namespace

result<Video> VideoRepository::get_video_by_id(std::string_view video_id) {
  REPOKIT_TRYV(check_id("video_id", video_id));
  auto found = unit_->one(select_video, video_id);
  if (!found) return failure(std::move(found).error());
  if (!found.value()) return failure(detail::not_found("video", video_id));
  return std::move(*found.value());  // the one move of the record on its way out
}

result<Video> VideoRepository::create_video(std::string_view video_id, std::string_view channel_id,
                                            std::string_view title, std::int64_t duration_seconds) {
  REPOKIT_TRYV(check_id("video_id", video_id));
  REPOKIT_TRYV(check_id("channel_id", channel_id));
  REPOKIT_TRYV(check_text("title", title));
  REPOKIT_TRYV(check_non_negative("duration_seconds", duration_seconds));
  REPOKIT_TRY(auto created, unit_->one(insert_video, video_id, channel_id, title, duration_seconds,
                                       detail::now()));
  if (!created) return failure(errc::database, "create_video: the insert returned no row");
  return std::move(*created);
}

result<std::vector<Video>> VideoRepository::list_videos_by_channel(std::string_view channel_id,
                                                                   std::size_t limit,
                                                                   std::size_t offset) {
  REPOKIT_TRYV(check_id("channel_id", channel_id));
  REPOKIT_TRYV(detail::check_page(limit, offset));
  return unit_->all(select_by_channel, channel_id, static_cast<std::int64_t>(limit),
                    static_cast<std::int64_t>(offset));
}

result<Video> VideoRepository::update_video(std::string_view video_id,
                                            const video_changes& changes) {
  REPOKIT_TRYV(check_id("video_id", video_id));
  if (changes.channel_id) REPOKIT_TRYV(check_id("channel_id", *changes.channel_id));
  if (changes.title) REPOKIT_TRYV(check_text("title", *changes.title));
  if (changes.duration_seconds) {
    REPOKIT_TRYV(check_non_negative("duration_seconds", *changes.duration_seconds));
  }
  REPOKIT_TRY(auto updated, unit_->one(update_video_statement, view_of(changes.channel_id),
                                       view_of(changes.title), changes.duration_seconds,
                                       detail::now(), video_id));
  if (!updated) return failure(detail::not_found("video", video_id));
  return std::move(*updated);
}

result<void> VideoRepository::delete_video(std::string_view video_id) {
  REPOKIT_TRYV(check_id("video_id", video_id));
  REPOKIT_TRY(auto deleted, unit_->run(delete_video_statement, video_id));
  if (deleted == 0) return failure(detail::not_found("video", video_id));
  return success();
}

}  // namespace repokit
