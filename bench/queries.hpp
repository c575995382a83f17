// The SQL the baselines send: the text of repokit's repositories (repositories/src/
// video_repository.cpp and job_repository.cpp), so that every implementation asks the database
// for exactly the same work. Placeholders are :p1, :p2, ...; libpq wants $1, $2, ...
#pragma once

#include <string>
#include <string_view>

namespace repokit_bench::queries {

#define REPOKIT_BENCH_VIDEO_COLUMNS \
  "video_id, channel_id, title, duration_seconds, created_at, updated_at"
#define REPOKIT_BENCH_JOB_COLUMNS                                                              \
  "id, job_type, target_id, status, parameters, attempts, last_error, worker_id, created_at, " \
  "updated_at, started_at, finished_at, lease_expires_at, run_at, priority"

// VideoRepository::get_video_by_id
inline constexpr std::string_view select_video =
    "SELECT " REPOKIT_BENCH_VIDEO_COLUMNS " FROM videos WHERE video_id = :p1";

// VideoRepository::create_video
inline constexpr std::string_view insert_video =
    "INSERT INTO videos (video_id, channel_id, title, duration_seconds, created_at, updated_at) "
    "VALUES (:p1, :p2, :p3, :p4, :p5, :p6) RETURNING " REPOKIT_BENCH_VIDEO_COLUMNS;

// JobRepository::create_if_not_exists: the insert guarded by the unique index of active jobs...
inline constexpr std::string_view insert_job_if_absent =
    "INSERT INTO jobs (job_type, target_id, status, parameters, attempts, created_at, updated_at, "
    "run_at, priority) "
    "SELECT :p1, :p2, 'pending', :p3, 0, CAST(:p4 AS BIGINT), CAST(:p5 AS BIGINT), "
    "CAST(:p6 AS BIGINT), CAST(:p7 AS INTEGER) "
    "WHERE NOT EXISTS (SELECT 1 FROM jobs WHERE job_type = :p8 AND target_id = :p9 "
    "AND status IN (:p10, :p11, :p12, :p13)) "
    "ON CONFLICT (job_type, target_id) WHERE status IN ('pending', 'running') DO NOTHING "
    "RETURNING " REPOKIT_BENCH_JOB_COLUMNS;

// ...and, when it inserted nothing, the job that stopped it.
inline constexpr std::string_view select_existing_job =
    "SELECT " REPOKIT_BENCH_JOB_COLUMNS
    " FROM jobs WHERE job_type = :p1 AND target_id = :p2 "
    "AND status IN (:p3, :p4, :p5, :p6) ORDER BY id DESC LIMIT 1";

#undef REPOKIT_BENCH_VIDEO_COLUMNS
#undef REPOKIT_BENCH_JOB_COLUMNS

// :p1 .. :pN become $1 .. $N, as SOCI rewrites them for PostgreSQL.
inline std::string positional(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == ':' && i + 2 < text.size() && text[i + 1] == 'p' && text[i + 2] >= '0' &&
        text[i + 2] <= '9') {
      out += '$';
      ++i;  // skip the 'p'; the digits follow as they are
      continue;
    }
    out += text[i];
  }
  return out;
}

}  // namespace repokit_bench::queries
