// Helpers shared by the repository contract suite: readable Catch2 output for repokit's types,
// short ways to seed and read rows in units of their own, and to name a result's outcome.
#pragma once

#include <catch2/catch.hpp>

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "repokit/repokit.hpp"
#include "support/outcome.hpp"
#include "support/test_database.hpp"

namespace repokit::contract {

using testing::describe;
using testing::kind_of;

inline timestamp clock_now() {
  return std::chrono::time_point_cast<std::chrono::milliseconds>(std::chrono::system_clock::now());
}

inline Channel seed_channel(const Database& db, const std::string& id,
                            const std::string& name = "a channel") {
  return channel_repository(
             db, [&](ChannelRepository& channels) { return channels.create_channel(id, name); })
      .value();
}

inline Video seed_video(const Database& db, const std::string& id, const std::string& channel_id,
                        const std::string& title = "a video", std::int64_t duration = 60) {
  return video_repository(db,
                          [&](VideoRepository& videos) {
                            return videos.create_video(id, channel_id, title, duration);
                          })
      .value();
}

inline result<Video> read_video(const Database& db, const std::string& id) {
  return video_repository(db, [&](VideoRepository& videos) { return videos.get_video_by_id(id); });
}

inline result<Channel> read_channel(const Database& db, const std::string& id) {
  return channel_repository(
      db, [&](ChannelRepository& channels) { return channels.get_channel_by_id(id); });
}

inline result<Job> read_job(const Database& db, std::int64_t id) {
  return job_repository(db, [&](JobRepository& jobs) { return jobs.get_job(id); });
}

inline std::int64_t rows_in(const Database& db, const std::string& table) {
  return repokit::testing::count_rows(db, table);
}

// Takes a migrated database back to repokit's schema version 4, as that version shipped: its
// status check refuses 'dead', and there is no record of version 5. SQLite rebuilds the table
// for it, as version 5 does, keeping the rows, ids and the AUTOINCREMENT counter.
inline void undo_dead_jobs(const Database& db) {
  constexpr std::string_view v4_check =
      "CHECK (status IN ('pending', 'running', 'succeeded', 'failed'))";
  switch (db.kind()) {
    case dialect::postgresql:
      testing::execute_sql(db,
                           "ALTER TABLE jobs DROP CONSTRAINT jobs_status_check, ADD CONSTRAINT "
                           "jobs_status_check " +
                               std::string(v4_check));
      break;
    case dialect::mariadb:
      testing::execute_sql(db, "ALTER TABLE jobs MODIFY COLUMN status VARCHAR(16) NOT NULL " +
                                   std::string(v4_check));
      break;
    case dialect::sqlite: {
      constexpr std::string_view columns =
          "id, job_type, target_id, status, parameters, attempts, last_error, worker_id, "
          "created_at, updated_at, started_at, finished_at, lease_expires_at, run_at, priority";
      testing::execute_sql(
          db,
          "CREATE TABLE jobs_v4 (id INTEGER PRIMARY KEY AUTOINCREMENT, job_type VARCHAR(64) "
          "NOT NULL, target_id VARCHAR(255) NOT NULL, status VARCHAR(16) NOT NULL " +
              std::string(v4_check) +
              ", parameters TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, last_error "
              "TEXT, worker_id VARCHAR(255), created_at BIGINT NOT NULL, updated_at BIGINT NOT "
              "NULL, started_at BIGINT, finished_at BIGINT, lease_expires_at BIGINT, run_at "
              "BIGINT NOT NULL DEFAULT 0, priority INTEGER NOT NULL DEFAULT 0)");
      testing::execute_sql(db, "INSERT INTO jobs_v4 (" + std::string(columns) + ") SELECT " +
                                   std::string(columns) + " FROM jobs");
      testing::execute_sql(db, "DELETE FROM sqlite_sequence WHERE name = 'jobs_v4'");
      testing::execute_sql(db,
                           "INSERT INTO sqlite_sequence (name, seq) SELECT 'jobs_v4', seq FROM "
                           "sqlite_sequence WHERE name = 'jobs'");
      testing::execute_sql(db, "DROP TABLE jobs");
      testing::execute_sql(db, "ALTER TABLE jobs_v4 RENAME TO jobs");
      testing::execute_sql(db,
                           "CREATE UNIQUE INDEX jobs_one_active ON jobs (job_type, target_id) "
                           "WHERE status IN ('pending', 'running')");
      testing::execute_sql(
          db, "CREATE INDEX jobs_by_target_status ON jobs (job_type, target_id, status)");
      testing::execute_sql(db,
                           "CREATE INDEX jobs_claim_priority ON jobs (job_type, status, "
                           "priority DESC, run_at, id)");
      break;
    }
  }
  testing::execute_sql(db, "DELETE FROM repokit_schema_versions WHERE version = 5");
}

// Takes a migrated database back to repokit's schema version 3, as that version shipped: no
// lease, run_at or priority, the claim index on (job_type, status, id), no record of version 4.
inline void undo_leases_and_scheduling(const Database& db) {
  undo_dead_jobs(db);
  const bool mariadb = db.kind() == dialect::mariadb;
  testing::execute_sql(
      db, mariadb ? "DROP INDEX jobs_claim_priority ON jobs" : "DROP INDEX jobs_claim_priority");
  for (const char* column : {"lease_expires_at", "run_at", "priority"}) {
    testing::execute_sql(db, std::string("ALTER TABLE jobs DROP COLUMN ") + column);
  }
  testing::execute_sql(db, "CREATE INDEX jobs_claim_order ON jobs (job_type, status, id)");
  testing::execute_sql(db, "DELETE FROM repokit_schema_versions WHERE version = 4");
}

// The rows of the three tables, to show that a refused or rolled-back unit wrote nothing.
struct table_counts {
  std::int64_t channels = 0;
  std::int64_t videos = 0;
  std::int64_t jobs = 0;
  bool operator==(const table_counts&) const = default;
};

inline table_counts counts(const Database& db) {
  return {rows_in(db, "channels"), rows_in(db, "videos"), rows_in(db, "jobs")};
}

}  // namespace repokit::contract

namespace Catch {

template <>
struct StringMaker<repokit::contract::table_counts> {
  static std::string convert(const repokit::contract::table_counts& c) {
    return "{channels " + std::to_string(c.channels) + ", videos " + std::to_string(c.videos) +
           ", jobs " + std::to_string(c.jobs) + "}";
  }
};

template <>
struct StringMaker<repokit::errc> {
  static std::string convert(repokit::errc kind) {
    if (kind == repokit::errc{0}) return "success";
    return "errc::" + std::string(repokit::to_string(kind));
  }
};

template <>
struct StringMaker<repokit::job_status> {
  static std::string convert(repokit::job_status status) {
    return std::string(repokit::to_string(status));
  }
};

template <>
struct StringMaker<repokit::Video> {
  static std::string convert(const repokit::Video& v) {
    return "Video{" + v.video_id + ", " + v.channel_id + ", \"" + v.title + "\", " +
           std::to_string(v.duration_seconds) + "s, created " +
           std::to_string(v.created_at.time_since_epoch().count()) + ", updated " +
           std::to_string(v.updated_at.time_since_epoch().count()) + "}";
  }
};

template <>
struct StringMaker<repokit::Channel> {
  static std::string convert(const repokit::Channel& c) {
    return "Channel{" + c.channel_id + ", \"" + c.name + "\", created " +
           std::to_string(c.created_at.time_since_epoch().count()) + "}";
  }
};

template <>
struct StringMaker<repokit::Job> {
  static std::string convert(const repokit::Job& j) {
    const auto text = [](const std::optional<std::string>& s) {
      return s ? "\"" + *s + "\"" : std::string("null");
    };
    const auto time = [](const std::optional<repokit::timestamp>& t) {
      return t ? std::to_string(t->time_since_epoch().count()) : std::string("null");
    };
    return "Job{#" + std::to_string(j.id) + " " + j.job_type + "/" + j.target_id + " " +
           std::string(repokit::to_string(j.status)) + " params=" + j.parameters +
           " attempts=" + std::to_string(j.attempts) + " last_error=" + text(j.last_error) +
           " worker=" + text(j.worker_id) +
           " created=" + std::to_string(j.created_at.time_since_epoch().count()) +
           " updated=" + std::to_string(j.updated_at.time_since_epoch().count()) +
           " started=" + time(j.started_at) + " finished=" + time(j.finished_at) + "}";
  }
};

}  // namespace Catch
