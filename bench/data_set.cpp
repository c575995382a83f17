// The data set every implementation works on, and the untimed chores around measurements. The
// schema is repokit's own (migrate()); rows are filled in with set-based SQL over a plain
// connection, which is quick and leaves no implementation's connections warmer than another's.
#include <libpq-fe.h>
#include <sqlite3.h>

#include <array>
#include <chrono>
#include <stdexcept>

#include "bench.hpp"
#include "repokit/repokit.hpp"

namespace repokit_bench {

std::string_view to_string(workload w) noexcept {
  switch (w) {
    case workload::scoped_read: return "scoped-read";
    case workload::hot_read: return "hot-read";
    case workload::scoped_write: return "scoped-write";
    case workload::create_job: return "create-job";
    case workload::bulk_ingest: return "bulk-ingest";
    case workload::pool_lease: return "pool-lease";
  }
  return "?";
}

std::optional<workload> parse_workload(std::string_view name) noexcept {
  for (const workload w : {workload::scoped_read, workload::hot_read, workload::scoped_write,
                           workload::create_job, workload::bulk_ingest, workload::pool_lease}) {
    if (to_string(w) == name) return w;
  }
  return std::nullopt;
}

job_state parse_job_state(std::string_view text) noexcept {
  if (text == "pending") return job_state::pending;
  if (text == "running") return job_state::running;
  if (text == "succeeded") return job_state::succeeded;
  if (text == "failed") return job_state::failed;
  return job_state::unknown;
}

std::string_view channel_for(std::size_t i) {
  static const std::array<std::string, 100> channels = [] {
    std::array<std::string, 100> names;
    for (std::size_t c = 0; c < names.size(); ++c) names[c] = "CH" + std::to_string(c);
    return names;
  }();
  return channels[i % channels.size()];
}

long long now_millis() noexcept {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// A plain connection for the chores: SQL in, a count out.
struct data_set::admin {
  virtual ~admin() = default;
  virtual void exec(const std::string& sql) = 0;
  virtual std::int64_t count(const std::string& sql) = 0;
};

namespace {

class sqlite_admin final : public data_set::admin {
 public:
  explicit sqlite_admin(const std::string& path) {
    if (sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr) !=
        SQLITE_OK) {
      throw std::runtime_error("cannot open " + path + ": " + sqlite3_errmsg(db_));
    }
    exec("PRAGMA busy_timeout=5000");
  }
  ~sqlite_admin() override { sqlite3_close(db_); }

  void exec(const std::string& sql) override {
    char* message = nullptr;
    if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &message) != SQLITE_OK) {
      const std::string text = message != nullptr ? message : sqlite3_errmsg(db_);
      sqlite3_free(message);
      throw std::runtime_error("data set: " + text + " (" + sql + ")");
    }
  }

  std::int64_t count(const std::string& sql) override {
    sqlite3_stmt* st = nullptr;
    if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &st, nullptr) != SQLITE_OK) {
      throw std::runtime_error("data set: " + std::string(sqlite3_errmsg(db_)) + " (" + sql + ")");
    }
    const std::int64_t n = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
    sqlite3_finalize(st);
    return n;
  }

 private:
  sqlite3* db_ = nullptr;
};

class postgresql_admin final : public data_set::admin {
 public:
  explicit postgresql_admin(const std::string& url) : conn_(PQconnectdb(url.c_str())) {
    if (PQstatus(conn_) != CONNECTION_OK) {
      const std::string message = PQerrorMessage(conn_);
      PQfinish(conn_);
      throw std::runtime_error("cannot connect to PostgreSQL: " + message);
    }
    PQsetNoticeProcessor(
        conn_, [](void*, const char*) {}, nullptr);
  }
  ~postgresql_admin() override { PQfinish(conn_); }

  void exec(const std::string& sql) override {
    PGresult* res = PQexec(conn_, sql.c_str());
    const ExecStatusType status = PQresultStatus(res);
    const std::string message = PQresultErrorMessage(res);
    PQclear(res);
    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
      throw std::runtime_error("data set: " + message + " (" + sql + ")");
    }
  }

  std::int64_t count(const std::string& sql) override {
    PGresult* res = PQexec(conn_, sql.c_str());
    std::int64_t n = -1;
    if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1) {
      n = std::stoll(PQgetvalue(res, 0, 0));
    }
    const std::string message = PQresultErrorMessage(res);
    PQclear(res);
    if (n < 0) throw std::runtime_error("data set: " + message + " (" + sql + ")");
    return n;
  }

 private:
  PGconn* conn_;
};

}  // namespace

data_set::data_set(const settings& config) : config_(config) {
  if (config.kind == backend::sqlite) {
    admin_ = std::make_unique<sqlite_admin>(config.sqlite_path);
  } else {
    admin_ = std::make_unique<postgresql_admin>(config.conninfo);
  }
}

data_set::~data_set() = default;

void data_set::drop() {
  for (const char* table : {"jobs", "videos", "channels", "repokit_schema_versions"}) {
    admin_->exec(std::string("DROP TABLE IF EXISTS ") + table);
  }
}

void data_set::ensure() {
  {
    auto db = repokit::Database::open(config_.url, {.pool_size = 1});
    if (!db) throw std::runtime_error("cannot open " + config_.url + ": " + db.error().describe());
    if (auto migrated = repokit::migrate(db.value()); !migrated) {
      throw std::runtime_error("migrate failed: " + migrated.error().describe());
    }
  }
  const std::string videos = std::to_string(config_.videos);
  if (admin_->count("SELECT COUNT(*) FROM videos WHERE substr(video_id, 1, 1) = 'V'") >=
      config_.videos) {
    return;
  }
  const std::string now = std::to_string(now_millis());
  if (config_.kind == backend::sqlite) {
    admin_->exec(
        "BEGIN IMMEDIATE; "
        "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 99) "
        "INSERT OR IGNORE INTO channels (channel_id, name, created_at) "
        "SELECT 'CH' || i, 'Channel ' || i, " +
        now +
        " FROM n; "
        "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < " +
        videos +
        " - 1) "
        "INSERT OR IGNORE INTO videos (video_id, channel_id, title, duration_seconds, created_at, "
        "updated_at) SELECT 'V' || i, 'CH' || (i % 100), 'Video ' || i, i % 600, " +
        now + ", " + now + " FROM n; COMMIT");
  } else {
    admin_->exec(
        "BEGIN; "
        "INSERT INTO channels (channel_id, name, created_at) "
        "SELECT 'CH' || i, 'Channel ' || i, " +
        now +
        " FROM generate_series(0, 99) AS i "
        "ON CONFLICT DO NOTHING; "
        "INSERT INTO videos (video_id, channel_id, title, duration_seconds, created_at, "
        "updated_at) "
        "SELECT 'V' || i, 'CH' || (i % 100), 'Video ' || i, i % 600, " +
        now + ", " + now + " FROM generate_series(0, " + videos +
        " - 1) AS i ON CONFLICT DO NOTHING; COMMIT");
    admin_->exec("VACUUM ANALYZE");
  }
}

void data_set::reset() {
  admin_->exec("DELETE FROM jobs");
  admin_->exec("DELETE FROM videos WHERE substr(video_id, 1, 1) <> 'V'");
  if (config_.kind == backend::sqlite) {
    admin_->exec("PRAGMA wal_checkpoint(TRUNCATE)");
  } else {
    admin_->exec("VACUUM ANALYZE jobs, videos");
  }
}

std::int64_t data_set::duplicate_active_jobs() {
  return admin_->count(
      "SELECT COUNT(*) FROM (SELECT job_type, target_id FROM jobs "
      "WHERE status IN ('pending', 'running') GROUP BY job_type, target_id "
      "HAVING COUNT(*) > 1) AS duplicated");
}

std::int64_t data_set::jobs() { return admin_->count("SELECT COUNT(*) FROM jobs"); }

}  // namespace repokit_bench
