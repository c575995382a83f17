#include "repokit/migration.hpp"

#include <algorithm>
#include <chrono>
#include <optional>
#include <string>
#include <tuple>

#include "repokit/query.hpp"
#include "repokit/scope.hpp"

namespace repokit {
namespace {

// Named so that no other tool's table can be taken for it (golang-migrate, Rails and dbmate all
// use schema_migrations).
constexpr command<void()> create_versions{
    "create_schema_versions",
    sql_text{.sql = "CREATE TABLE IF NOT EXISTS repokit_schema_versions (migration_set "
                    "VARCHAR(64) NOT NULL, version INTEGER NOT NULL, name VARCHAR(128) NOT NULL, "
                    "applied_at BIGINT NOT NULL, PRIMARY KEY (migration_set, version))",
             .mariadb = "CREATE TABLE IF NOT EXISTS repokit_schema_versions (migration_set "
                        "VARCHAR(64) NOT NULL, version INT NOT NULL, name VARCHAR(128) NOT NULL, "
                        "applied_at BIGINT NOT NULL, PRIMARY KEY (migration_set, version)) "
                        "ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin"}};

// Serialises concurrent migrators on PostgreSQL until the end of the transaction. SQLite units
// that write hold the database's write lock already; MariaDB commits DDL on its own, so its
// steps are written to be repeatable and the second record of a step is ignored.
constexpr query<std::int64_t()> migration_lock{
    "migration_lock",
    sql_text{.postgresql = "SELECT 1 FROM (SELECT pg_advisory_xact_lock(7273649)) "
                           "AS locked"}};

constexpr query<std::int64_t(std::string_view)> table_exists{
    "table_exists",
    sql_text{.sqlite = "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = :name",
             .postgresql = "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = "
                           "current_schema() AND table_name = :name",
             .mariadb = "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = "
                        "DATABASE() AND table_name = :name"}};

constexpr query<std::int64_t(std::string_view)> recorded_version{
    "schema_version",
    "SELECT COALESCE(MAX(version), 0) FROM repokit_schema_versions WHERE migration_set = :set"};

constexpr command<void(std::string_view, int, std::string_view, timestamp)> record_step{
    "record_migration",
    sql_text{.sql = "INSERT INTO repokit_schema_versions (migration_set, version, name, "
                    "applied_at) VALUES (:set, :version, :name, :applied_at)",
             .mariadb = "INSERT IGNORE INTO repokit_schema_versions (migration_set, version, "
                        "name, applied_at) VALUES (:set, :version, :name, :applied_at)"}};

// Before sets, repokit kept its own versions in schema_migrations (version, name, applied_at).
// Its rows are recognised by their names, so another tool's table of that name is never taken
// for repokit's; they are copied into repokit_schema_versions, and the old table is left as is.
constexpr std::string_view own_set = "repokit";
constexpr std::string_view legacy_table = "schema_migrations";
constexpr query<std::int64_t()> legacy_columns{
    "legacy_schema_columns",
    sql_text{.sqlite = "SELECT COUNT(*) FROM pragma_table_info('schema_migrations') WHERE name "
                       "IN ('version', 'name', 'applied_at')",
             .postgresql = "SELECT COUNT(*) FROM information_schema.columns WHERE table_schema "
                           "= current_schema() AND table_name = 'schema_migrations' AND "
                           "column_name IN ('version', 'name', 'applied_at')",
             .mariadb = "SELECT COUNT(*) FROM information_schema.columns WHERE table_schema = "
                        "DATABASE() AND table_name = 'schema_migrations' AND column_name IN "
                        "('version', 'name', 'applied_at')"}};
struct legacy_row {
  std::int64_t version = 0;
  std::string name;
  std::int64_t applied_at = 0;
};
constexpr query<legacy_row()> legacy_rows{
    "legacy_schema_versions",
    "SELECT version, name, applied_at FROM schema_migrations ORDER BY version"};

const scope_options reading{.propagate = propagation::independent,
                            .access = access_mode::read_only,
                            .name = "schema_version"};
const scope_options migrating{
    .propagate = propagation::independent, .access = access_mode::read_write, .name = "migrate"};

result<bool> has_table(UnitOfWork& unit, std::string_view name) {
  REPOKIT_TRY(std::optional<std::int64_t> count, unit.one(table_exists, name));
  return count.value_or(0) > 0;
}

// The rows of the old table that are this set's steps, from version 1 without a gap.
result<std::vector<legacy_row>> adoptable_rows(UnitOfWork& unit, const migration_set& set) {
  std::vector<legacy_row> adopted;
  if (set.name() != own_set) return adopted;
  REPOKIT_TRY(const bool exists, has_table(unit, legacy_table));
  if (!exists) return adopted;
  REPOKIT_TRY(std::optional<std::int64_t> columns, unit.one(legacy_columns));
  if (columns.value_or(0) != 3) return adopted;
  REPOKIT_TRY(std::vector<legacy_row> rows, unit.all(legacy_rows));
  for (legacy_row& row : rows) {
    const auto expected = static_cast<std::int64_t>(adopted.size()) + 1;
    if (row.version != expected || expected > set.latest_version() ||
        set.steps()[static_cast<std::size_t>(expected - 1)].name != row.name) {
      break;
    }
    adopted.push_back(std::move(row));
  }
  return adopted;
}

// The version recorded for `set`, reading only.
result<int> read_version(UnitOfWork& unit, const migration_set& set) {
  REPOKIT_TRY(const bool exists, has_table(unit, "repokit_schema_versions"));
  if (exists) {
    REPOKIT_TRY(std::optional<std::int64_t> version, unit.one(recorded_version, set.name()));
    if (version.value_or(0) > 0) return static_cast<int>(*version);
  }
  REPOKIT_TRY(std::vector<legacy_row> adopted, adoptable_rows(unit, set));
  return static_cast<int>(adopted.size());
}

result<void> refuse_newer(const migration_set& set, int version) {
  if (version <= set.latest_version()) return success();
  return failure(errc::invalid_state, "the database holds migration set '" +
                                          std::string(set.name()) + "' at version " +
                                          std::to_string(version) + ", newer than the " +
                                          std::to_string(set.latest_version()) +
                                          " this program knows: run a program that knows it");
}

timestamp now() {
  return std::chrono::time_point_cast<std::chrono::milliseconds>(std::chrono::system_clock::now());
}

// Creates the versions table and copies the old table's rows of this set into it, once.
result<void> prepare_versions(UnitOfWork& unit, const migration_set& set) {
  REPOKIT_TRYV(unit.one(migration_lock));
  REPOKIT_TRYV(unit.run(create_versions));
  REPOKIT_TRY(std::optional<std::int64_t> version, unit.one(recorded_version, set.name()));
  if (version.value_or(0) > 0) return success();
  REPOKIT_TRY(std::vector<legacy_row> adopted, adoptable_rows(unit, set));
  for (const legacy_row& row : adopted) {
    REPOKIT_TRYV(unit.run(record_step, set.name(), static_cast<int>(row.version), row.name,
                          timestamp{std::chrono::milliseconds{row.applied_at}}));
  }
  return success();
}

}  // namespace

result<int> schema_version(const Database& db, const migration_set& set) {
  return run_unit(db, reading, [&](UnitOfWork& unit) { return read_version(unit, set); });
}

result<migration_status> status(const Database& db, const migration_set& set) {
  REPOKIT_TRY(const int version, schema_version(db, set));
  migration_status out{std::string(set.name()), version, set.latest_version(), {}};
  for (const migration_step& step : set.steps()) {
    if (step.version > version) out.pending.push_back(&step);
  }
  return out;
}

result<migration_report> migrate(const Database& db, const migration_set& set) {
  migration_report report{std::string(set.name()), 0, 0, {}};
  REPOKIT_TRY(report.from_version, schema_version(db, set));
  REPOKIT_TRYV(refuse_newer(set, report.from_version));
  report.to_version = report.from_version;
  for (const migration_step& step : set.steps()) {
    if (step.version <= report.to_version) continue;
    REPOKIT_TRY(const bool applied, run_unit(db, migrating, [&](UnitOfWork& unit) -> result<bool> {
                  REPOKIT_TRYV(prepare_versions(unit, set));
                  // Another process may have applied it since we looked: decide under the lock.
                  REPOKIT_TRY(std::optional<std::int64_t> version,
                              unit.one(recorded_version, set.name()));
                  REPOKIT_TRYV(refuse_newer(set, static_cast<int>(version.value_or(0))));
                  if (version.value_or(0) >= step.version) return false;
                  const std::string_view script = step.sql.for_dialect(unit.kind());
                  if (!script.empty()) REPOKIT_TRYV(unit.execute_script(script));
                  REPOKIT_TRY(const std::uint64_t recorded,
                              unit.run(record_step, set.name(), step.version, step.name, now()));
                  return recorded == 1;  // on MariaDB a racing migrator may have recorded it first
                }));
    if (applied) report.applied.push_back(step.version);
    report.to_version = step.version;
  }
  if (report.applied.empty() && report.from_version == report.to_version) {
    // Nothing to do; but an old table's rows are still copied, so later reads need no fallback.
    if (report.from_version > 0) {
      REPOKIT_TRYV(
          run_unit(db, migrating, [&](UnitOfWork& unit) { return prepare_versions(unit, set); }));
    }
  }
  return report;
}

}  // namespace repokit
