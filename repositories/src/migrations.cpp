#include "repokit/repositories/migrations.hpp"

#include <array>
#include <string_view>

#include "mapping.hpp"
#include "repokit/scope.hpp"

namespace repokit {
namespace {

struct migration {
  int version;
  std::string_view name;
  std::string_view sqlite;
  std::string_view postgresql;
  std::string_view mysql;

  std::string_view for_dialect(dialect kind) const {
    switch (kind) {
      case dialect::sqlite: return sqlite;
      case dialect::postgresql: return postgresql;
      case dialect::mysql: return mysql;
    }
    return sqlite;
  }
};

constexpr std::string_view create_history =
    "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, "
    "name VARCHAR(128) NOT NULL, applied_at BIGINT NOT NULL)";

// Serialises concurrent migrate() calls on PostgreSQL until the end of the transaction; SQLite
// units that write already hold the database's write lock.
constexpr std::string_view postgresql_migration_lock = "SELECT pg_advisory_xact_lock(7273649)";

#define REPOKIT_CATALOGUE_TABLES                                                             \
  "CREATE TABLE channels (channel_id VARCHAR(64) PRIMARY KEY, name TEXT NOT NULL, "          \
  "created_at BIGINT NOT NULL); "                                                            \
  "CREATE TABLE videos (video_id VARCHAR(64) PRIMARY KEY, channel_id VARCHAR(64) NOT NULL "  \
  "REFERENCES channels (channel_id), title TEXT NOT NULL, duration_seconds BIGINT NOT NULL " \
  "CHECK (duration_seconds >= 0), created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL); " \
  "CREATE INDEX videos_by_channel ON videos (channel_id, video_id); "
#define REPOKIT_JOBS_COLUMNS                                                                      \
  "job_type VARCHAR(64) NOT NULL, target_id VARCHAR(255) NOT NULL, "                              \
  "status VARCHAR(16) NOT NULL CHECK (status IN ('pending', 'running', 'succeeded', 'failed')), " \
  "parameters TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, last_error TEXT, "              \
  "worker_id VARCHAR(255), created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL, "              \
  "started_at BIGINT, finished_at BIGINT); "                                                      \
  "CREATE INDEX jobs_by_target ON jobs (job_type, target_id)"

// The unique index of active jobs is what makes job creation idempotent under any concurrency.
#define REPOKIT_ACTIVE_JOBS_INDEXES                                    \
  "CREATE UNIQUE INDEX jobs_one_active ON jobs (job_type, target_id) " \
  "WHERE status IN ('pending', 'running'); "                           \
  "CREATE INDEX jobs_claim_order ON jobs (job_type, status, id)"

// MySQL / MariaDB: DDL commits on its own there, so each step is written to be repeatable (IF
// NOT EXISTS) instead of relying on the transaction. Binary collation: ids compare byte for
// byte, as on the other backends. No partial indexes: a generated column that is NULL outside
// the active statuses carries the unique key (NULLs never collide).
#define REPOKIT_MYSQL_TABLE_OPTIONS " ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin"
constexpr std::string_view mysql_catalogue_and_jobs =
    "CREATE TABLE IF NOT EXISTS channels (channel_id VARCHAR(64) NOT NULL PRIMARY KEY, "
    "name TEXT NOT NULL, created_at BIGINT NOT NULL)" REPOKIT_MYSQL_TABLE_OPTIONS
    "; "
    "CREATE TABLE IF NOT EXISTS videos (video_id VARCHAR(64) NOT NULL PRIMARY KEY, "
    "channel_id VARCHAR(64) NOT NULL, title TEXT NOT NULL, duration_seconds BIGINT NOT NULL "
    "CHECK (duration_seconds >= 0), created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL, "
    "KEY videos_by_channel (channel_id, video_id), CONSTRAINT videos_channel FOREIGN KEY "
    "(channel_id) REFERENCES channels (channel_id))" REPOKIT_MYSQL_TABLE_OPTIONS
    "; "
    "CREATE TABLE IF NOT EXISTS jobs (id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY, "
    "job_type VARCHAR(64) NOT NULL, target_id VARCHAR(255) NOT NULL, status VARCHAR(16) NOT NULL "
    "CHECK (status IN ('pending', 'running', 'succeeded', 'failed')), parameters MEDIUMTEXT NOT "
    "NULL, attempts INT NOT NULL DEFAULT 0, last_error TEXT, worker_id VARCHAR(255), "
    "created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL, started_at BIGINT, finished_at "
    "BIGINT, KEY jobs_by_target (job_type, target_id))" REPOKIT_MYSQL_TABLE_OPTIONS;
constexpr std::string_view mysql_active_jobs =
    "ALTER TABLE jobs ADD COLUMN IF NOT EXISTS active_job TINYINT AS "
    "(IF(status IN ('pending', 'running'), 1, NULL)) PERSISTENT; "
    "CREATE UNIQUE INDEX IF NOT EXISTS jobs_one_active ON jobs (job_type, target_id, active_job); "
    "CREATE INDEX IF NOT EXISTS jobs_claim_order ON jobs (job_type, status, id)";

// The look-up create_if_not_exists runs before inserting (is there a job of this type and target
// in one of these statuses?) as one index range. Without it SQLite planned the look-up on
// jobs_claim_order (job_type, status, id) and walked every active job of the type, halving
// create-job's throughput; the new index makes jobs_by_target, its prefix, redundant.
constexpr std::string_view target_status_index =
    "CREATE INDEX jobs_by_target_status ON jobs (job_type, target_id, status); "
    "DROP INDEX jobs_by_target";
constexpr std::string_view mysql_target_status_index =
    "CREATE INDEX IF NOT EXISTS jobs_by_target_status ON jobs (job_type, target_id, status); "
    "DROP INDEX IF EXISTS jobs_by_target ON jobs";

constexpr std::array<migration, 3> migrations{{
    {1, "catalogue and jobs tables",
     REPOKIT_CATALOGUE_TABLES
     "CREATE TABLE jobs (id INTEGER PRIMARY KEY AUTOINCREMENT, " REPOKIT_JOBS_COLUMNS,
     REPOKIT_CATALOGUE_TABLES "CREATE TABLE jobs (id BIGSERIAL PRIMARY KEY, " REPOKIT_JOBS_COLUMNS,
     mysql_catalogue_and_jobs},
    {2, "one active job per type and target", REPOKIT_ACTIVE_JOBS_INDEXES,
     REPOKIT_ACTIVE_JOBS_INDEXES, mysql_active_jobs},
    {3, "jobs indexed by type, target and status", target_status_index, target_status_index,
     mysql_target_status_index},
}};
static_assert(migrations.back().version == latest_schema_version);

constexpr std::array version_columns{column_type::integer};
constexpr statement select_version{"schema_version",
                                   "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
                                   statement_kind::read, version_columns};
constexpr statement insert_version{
    "record_migration",
    "INSERT INTO schema_migrations (version, name, applied_at) VALUES (:p1, :p2, :p3)",
    statement_kind::write,
    {}};
// Two MySQL migrators may both get here (no transactional DDL to serialise them): the second
// record is then a no-op.
constexpr statement insert_version_mysql{
    "record_migration",
    "INSERT IGNORE INTO schema_migrations (version, name, applied_at) VALUES (:p1, :p2, :p3)",
    statement_kind::write,
    {}};

const scope_options migration_scope{
    .propagate = propagation::independent, .access = access_mode::read_write, .name = "migrate"};

result<void> prepare_history(UnitOfWork& unit) {
  if (unit.kind() == dialect::postgresql)
    REPOKIT_TRYV(unit.execute_script(postgresql_migration_lock));
  return unit.execute_script(create_history);
}

result<int> current_version(UnitOfWork& unit) {
  REPOKIT_TRY(auto found, unit.query_one(select_version));
  return static_cast<int>(found.value().integer(0));
}

}  // namespace

result<int> schema_version(const Database& db) {
  return run_unit(db, migration_scope, [](UnitOfWork& unit) -> result<int> {
    REPOKIT_TRYV(prepare_history(unit));
    return current_version(unit);
  });
}

result<migration_report> migrate(const Database& db) {
  migration_report report;
  REPOKIT_TRY(report.from_version, schema_version(db));
  report.to_version = report.from_version;
  for (const migration& step : migrations) {
    if (step.version <= report.to_version) continue;
    REPOKIT_TRY(
        const bool applied, run_unit(db, migration_scope, [&](UnitOfWork& unit) -> result<bool> {
          REPOKIT_TRYV(prepare_history(unit));
          // Another process may have applied it since we looked: decide under the lock.
          REPOKIT_TRY(const int version, current_version(unit));
          if (version >= step.version) return false;
          REPOKIT_TRYV(unit.execute_script(step.for_dialect(unit.kind())));
          const std::array<param, 3> params{std::int64_t{step.version}, step.name,
                                            detail::to_millis(detail::now())};
          REPOKIT_TRY(
              const auto recorded,
              unit.execute(unit.kind() == dialect::mysql ? insert_version_mysql : insert_version,
                           params));
          return recorded == 1;  // on MySQL a racing migrator may have recorded it first
        }));
    if (applied) report.applied.push_back(step.version);
    report.to_version = step.version;
  }
  return report;
}

}  // namespace repokit
