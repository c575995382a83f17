#include "repokit/repositories/migrations.hpp"

#include <array>

#include "repokit/sql_text.hpp"

namespace repokit {
namespace {

constexpr sql_fragment catalogue_tables =
    "CREATE TABLE channels (channel_id VARCHAR(64) PRIMARY KEY, name TEXT NOT NULL, "
    "created_at BIGINT NOT NULL); "
    "CREATE TABLE videos (video_id VARCHAR(64) PRIMARY KEY, channel_id VARCHAR(64) NOT NULL "
    "REFERENCES channels (channel_id), title TEXT NOT NULL, duration_seconds BIGINT NOT NULL "
    "CHECK (duration_seconds >= 0), created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL); "
    "CREATE INDEX videos_by_channel ON videos (channel_id, video_id); ";
constexpr sql_fragment jobs_columns =
    "job_type VARCHAR(64) NOT NULL, target_id VARCHAR(255) NOT NULL, "
    "status VARCHAR(16) NOT NULL CHECK (status IN ('pending', 'running', 'succeeded', 'failed')), "
    "parameters TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, last_error TEXT, "
    "worker_id VARCHAR(255), created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL, "
    "started_at BIGINT, finished_at BIGINT); "
    "CREATE INDEX jobs_by_target ON jobs (job_type, target_id)";

// MariaDB: DDL commits on its own there, so each step is written to be repeatable (IF NOT
// EXISTS) instead of relying on the transaction. Binary collation: ids compare byte for byte,
// as on the other backends. No partial indexes: a generated column that is NULL outside the
// active statuses carries the unique key (NULLs never collide).
constexpr sql_fragment mariadb_table_options =
    " ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin";
constexpr std::string_view mariadb_catalogue_and_jobs = sql_join<
    "CREATE TABLE IF NOT EXISTS channels (channel_id VARCHAR(64) NOT NULL PRIMARY KEY, "
    "name TEXT NOT NULL, created_at BIGINT NOT NULL)",
    mariadb_table_options,
    "; CREATE TABLE IF NOT EXISTS videos (video_id VARCHAR(64) NOT NULL PRIMARY KEY, "
    "channel_id VARCHAR(64) NOT NULL, title TEXT NOT NULL, duration_seconds BIGINT NOT NULL "
    "CHECK (duration_seconds >= 0), created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL, "
    "KEY videos_by_channel (channel_id, video_id), CONSTRAINT videos_channel FOREIGN KEY "
    "(channel_id) REFERENCES channels (channel_id))",
    mariadb_table_options,
    "; CREATE TABLE IF NOT EXISTS jobs (id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY, "
    "job_type VARCHAR(64) NOT NULL, target_id VARCHAR(255) NOT NULL, status VARCHAR(16) NOT NULL "
    "CHECK (status IN ('pending', 'running', 'succeeded', 'failed')), parameters MEDIUMTEXT NOT "
    "NULL, attempts INT NOT NULL DEFAULT 0, last_error TEXT, worker_id VARCHAR(255), "
    "created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL, started_at BIGINT, finished_at "
    "BIGINT, KEY jobs_by_target (job_type, target_id))",
    mariadb_table_options>;

// The unique index of active jobs is what makes job creation idempotent under any concurrency.
constexpr sql_text active_jobs_indexes{
    .sql =
        "CREATE UNIQUE INDEX jobs_one_active ON jobs (job_type, target_id) "
        "WHERE status IN ('pending', 'running'); "
        "CREATE INDEX jobs_claim_order ON jobs (job_type, status, id)",
    .mariadb =
        "ALTER TABLE jobs ADD COLUMN IF NOT EXISTS active_job TINYINT AS "
        "(IF(status IN ('pending', 'running'), 1, NULL)) PERSISTENT; "
        "CREATE UNIQUE INDEX IF NOT EXISTS jobs_one_active ON jobs (job_type, target_id, "
        "active_job); "
        "CREATE INDEX IF NOT EXISTS jobs_claim_order ON jobs (job_type, status, id)"};

// The look-up create_if_not_exists runs before inserting (is there a job of this type and target
// in one of these statuses?) as one index range. Without it SQLite planned the look-up on
// jobs_claim_order (job_type, status, id) and walked every active job of the type, halving
// create-job's throughput; the new index makes jobs_by_target, its prefix, redundant.
constexpr sql_text target_status_index{
    .sql =
        "CREATE INDEX jobs_by_target_status ON jobs (job_type, target_id, status); "
        "DROP INDEX jobs_by_target",
    .mariadb =
        "CREATE INDEX IF NOT EXISTS jobs_by_target_status ON jobs (job_type, target_id, "
        "status); DROP INDEX IF EXISTS jobs_by_target ON jobs"};

// Leases and scheduling. A claim holds its job until lease_expires_at, renewed by heartbeats;
// a pending job is not claimable before run_at; claims take the highest priority first, then
// the earliest run_at, then the lowest id, which the new claim index walks in order. Jobs from
// before this step keep run_at 0: they were due when they were created.
constexpr sql_text leases_and_scheduling{
    .sql =
        "ALTER TABLE jobs ADD COLUMN lease_expires_at BIGINT; "
        "ALTER TABLE jobs ADD COLUMN run_at BIGINT NOT NULL DEFAULT 0; "
        "ALTER TABLE jobs ADD COLUMN priority INTEGER NOT NULL DEFAULT 0; "
        "CREATE INDEX jobs_claim_priority ON jobs (job_type, status, priority DESC, run_at, id); "
        "DROP INDEX jobs_claim_order",
    .mariadb =
        "ALTER TABLE jobs ADD COLUMN IF NOT EXISTS lease_expires_at BIGINT, "
        "ADD COLUMN IF NOT EXISTS run_at BIGINT NOT NULL DEFAULT 0, "
        "ADD COLUMN IF NOT EXISTS priority INT NOT NULL DEFAULT 0; "
        "CREATE INDEX IF NOT EXISTS jobs_claim_priority ON jobs (job_type, status, "
        "priority DESC, run_at, id); "
        "DROP INDEX IF EXISTS jobs_claim_order ON jobs"};

// Dead jobs: out of attempts, kept apart from the jobs their workers failed. The status check
// gains 'dead'. SQLite cannot change a CHECK constraint, so the table is rebuilt with its rows,
// ids and AUTOINCREMENT counter (ids are never reused), and its indexes made again.
constexpr sql_fragment job_status_check =
    "CHECK (status IN ('pending', 'running', 'succeeded', 'failed', 'dead'))";
constexpr sql_fragment job_column_names =
    "id, job_type, target_id, status, parameters, attempts, last_error, worker_id, created_at, "
    "updated_at, started_at, finished_at, lease_expires_at, run_at, priority";
constexpr sql_text dead_jobs{
    .sqlite = sql_join<
        "CREATE TABLE jobs_rebuilt (id INTEGER PRIMARY KEY AUTOINCREMENT, "
        "job_type VARCHAR(64) NOT NULL, target_id VARCHAR(255) NOT NULL, "
        "status VARCHAR(16) NOT NULL ",
        job_status_check,
        ", parameters TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, last_error TEXT, "
        "worker_id VARCHAR(255), created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL, "
        "started_at BIGINT, finished_at BIGINT, lease_expires_at BIGINT, "
        "run_at BIGINT NOT NULL DEFAULT 0, priority INTEGER NOT NULL DEFAULT 0); "
        "INSERT INTO jobs_rebuilt (",
        job_column_names, ") SELECT ", job_column_names,
        " FROM jobs ORDER BY id; "
        "DELETE FROM sqlite_sequence WHERE name = 'jobs_rebuilt'; "
        "INSERT INTO sqlite_sequence (name, seq) SELECT 'jobs_rebuilt', seq FROM sqlite_sequence "
        "WHERE name = 'jobs'; "
        "DROP TABLE jobs; "
        "ALTER TABLE jobs_rebuilt RENAME TO jobs; "
        "CREATE UNIQUE INDEX jobs_one_active ON jobs (job_type, target_id) "
        "WHERE status IN ('pending', 'running'); "
        "CREATE INDEX jobs_by_target_status ON jobs (job_type, target_id, status); "
        "CREATE INDEX jobs_claim_priority ON jobs (job_type, status, priority DESC, run_at, id)">,
    .postgresql = sql_join<"ALTER TABLE jobs DROP CONSTRAINT jobs_status_check, "
                           "ADD CONSTRAINT jobs_status_check ",
                           job_status_check>,
    .mariadb =
        sql_join<"ALTER TABLE jobs MODIFY COLUMN status VARCHAR(16) NOT NULL ", job_status_check>};

constexpr std::array<migration_step, 5> steps{{
    {1,
     "catalogue and jobs tables",
     {.sqlite = sql_join<catalogue_tables,
                         "CREATE TABLE jobs (id INTEGER PRIMARY KEY "
                         "AUTOINCREMENT, ",
                         jobs_columns>,
      .postgresql =
          sql_join<catalogue_tables, "CREATE TABLE jobs (id BIGSERIAL PRIMARY KEY, ", jobs_columns>,
      .mariadb = mariadb_catalogue_and_jobs}},
    {2, "one active job per type and target", active_jobs_indexes},
    {3, "jobs indexed by type, target and status", target_status_index},
    {4, "job leases, run_at and priority", leases_and_scheduling},
    {5, "dead jobs", dead_jobs},
}};
constexpr migration_set schema{"repokit", steps};
static_assert(schema.latest_version() == latest_schema_version);

}  // namespace

const migration_set& repokit_schema() noexcept { return schema; }

result<migration_report> migrate(const Database& db) { return migrate(db, schema); }

result<int> schema_version(const Database& db) { return schema_version(db, schema); }

}  // namespace repokit
