// Plain SOCI as a C++ user writes it by hand: a soci::connection_pool, a session and a
// soci::transaction per unit of work, and `sql << "...", use(x), into(y)` statements with the
// same SQL as repokit. One difference SOCI forces: soci::transaction can only send BEGIN, so a
// unit that writes on SQLite starts with `sql << "BEGIN IMMEDIATE"`, as repokit's does, and ends
// through the same session::commit() / rollback() that soci::transaction calls.
#include <soci/postgresql/soci-postgresql.h>
#include <soci/soci.h>
#include <soci/sqlite3/soci-sqlite3.h>

#include <memory>

#include "bench.hpp"
#include "queries.hpp"

namespace repokit_bench {
namespace {

using soci::into;
using soci::use;

// A unit of work that writes: BEGIN IMMEDIATE on SQLite, plain BEGIN on PostgreSQL.
class write_transaction {
 public:
  write_transaction(soci::session& sql, backend kind) : sql_(sql) {
    if (kind == backend::sqlite) {
      sql_ << "BEGIN IMMEDIATE";
    } else {
      sql_.begin();
    }
  }
  ~write_transaction() {
    if (!done_) {
      try {
        sql_.rollback();
      } catch (...) {
      }
    }
  }
  write_transaction(const write_transaction&) = delete;
  write_transaction& operator=(const write_transaction&) = delete;

  void commit() {
    sql_.commit();
    done_ = true;
  }

 private:
  soci::session& sql_;
  bool done_ = false;
};

// A job row as SOCI fills it: indicators for the columns that may be NULL.
struct job_fields {
  job_row row;
  std::string status;
  std::string last_error;
  std::string worker_id;
  long long started_at = 0;
  long long finished_at = 0;
  long long lease_expires_at = 0;
  soci::indicator last_error_null = soci::i_ok;
  soci::indicator worker_id_null = soci::i_ok;
  soci::indicator started_at_null = soci::i_ok;
  soci::indicator finished_at_null = soci::i_ok;
  soci::indicator lease_expires_at_null = soci::i_ok;

  void finish() {
    row.status = parse_job_state(status);
    if (last_error_null == soci::i_ok) row.last_error = last_error;
    if (worker_id_null == soci::i_ok) row.worker_id = worker_id;
    if (started_at_null == soci::i_ok) row.started_at = started_at;
    if (finished_at_null == soci::i_ok) row.finished_at = finished_at;
    if (lease_expires_at_null == soci::i_ok) row.lease_expires_at = lease_expires_at;
  }
};

// Adds the fifteen job columns to a `sql << ...` statement; it runs at the end of the caller's
// full expression, as if they had been written there.
template <class Once>
void into_job(Once&& once, job_fields& j) {
  once, into(j.row.id), into(j.row.job_type), into(j.row.target_id), into(j.status),
      into(j.row.parameters), into(j.row.attempts), into(j.last_error, j.last_error_null),
      into(j.worker_id, j.worker_id_null), into(j.row.created_at), into(j.row.updated_at),
      into(j.started_at, j.started_at_null), into(j.finished_at, j.finished_at_null),
      into(j.lease_expires_at, j.lease_expires_at_null), into(j.row.run_at), into(j.row.priority);
}

class plain_soci final : public implementation {
 public:
  explicit plain_soci(const settings& config) : config_(config) {}

  std::string_view name() const noexcept override { return "plain-soci"; }
  bool supports(workload) const noexcept override { return true; }

  void open(int threads) override {
    pool_ = std::make_unique<soci::connection_pool>(static_cast<std::size_t>(threads));
    for (int i = 0; i < threads; ++i) {
      soci::session& sql = pool_->at(static_cast<std::size_t>(i));
      if (config_.kind == backend::sqlite) {
        sql.open(soci::sqlite3, "db=\"" + config_.sqlite_path + '"');
        sql << "PRAGMA busy_timeout=5000";
        sql << "PRAGMA foreign_keys=ON";
        sql << "PRAGMA synchronous=NORMAL";
        std::string mode;
        sql << "PRAGMA journal_mode=WAL", into(mode);
      } else {
        sql.open(soci::postgresql, config_.conninfo);
      }
    }
  }

  std::int64_t run(workload w, const thread_plan& plan) override {
    std::int64_t failed = 0;
    switch (w) {
      case workload::scoped_read:
        for (const std::string& key : plan.keys) {
          if (!attempt([&] { return scoped_read(key); })) ++failed;
        }
        break;
      case workload::hot_read:
        if (!attempt([&] { return hot_read(plan.keys, failed); })) {
          failed = static_cast<std::int64_t>(plan.keys.size());
        }
        break;
      case workload::scoped_write:
        for (std::size_t i = 0; i < plan.keys.size(); ++i) {
          if (!attempt([&] { return scoped_write(plan.keys[i], channel_for(i)); })) ++failed;
        }
        break;
      case workload::create_job:
        for (const std::string& target : plan.keys) {
          if (!attempt([&] { return create_job(target); })) ++failed;
        }
        break;
      case workload::bulk_ingest:
        for (std::size_t first = 0; first < plan.keys.size(); first += ingest_batch) {
          const std::size_t last = std::min(plan.keys.size(), first + ingest_batch);
          if (!attempt([&] { return ingest(plan.keys, first, last); })) {
            failed += static_cast<std::int64_t>(last - first);
          }
        }
        break;
      case workload::pool_lease:
        for (std::int64_t i = 0; i < plan.ops; ++i) {
          const soci::session sql(*pool_);
        }
        break;
    }
    return failed;
  }

 private:
  template <class Unit>
  static bool attempt(Unit unit) {
    try {
      return unit();
    } catch (const std::exception&) {
      return false;
    }
  }

  static bool read_video(soci::session& sql, const std::string& key, video_row& v) {
    sql << queries::select_video.data(), use(key), into(v.video_id), into(v.channel_id),
        into(v.title), into(v.duration_seconds), into(v.created_at), into(v.updated_at);
    return sql.got_data();
  }

  bool scoped_read(const std::string& key) {
    soci::session sql(*pool_);
    soci::transaction tr(sql);
    video_row v;
    const bool found = read_video(sql, key, v);
    tr.commit();
    return found;
  }

  bool hot_read(const std::vector<std::string>& keys, std::int64_t& failed) {
    soci::session sql(*pool_);
    soci::transaction tr(sql);
    for (const std::string& key : keys) {
      video_row v;
      if (!read_video(sql, key, v)) ++failed;
    }
    tr.commit();
    return true;
  }

  static bool insert_video(soci::session& sql, const std::string& id, std::string_view channel) {
    const std::string channel_id(channel);
    const std::string title(written_title);
    const long long now = now_millis();
    video_row v;
    sql << queries::insert_video.data(), use(id), use(channel_id), use(title),
        use(written_duration), use(now), use(now), into(v.video_id), into(v.channel_id),
        into(v.title), into(v.duration_seconds), into(v.created_at), into(v.updated_at);
    return sql.got_data();
  }

  bool scoped_write(const std::string& id, std::string_view channel) {
    soci::session sql(*pool_);
    write_transaction tr(sql, config_.kind);
    if (!insert_video(sql, id, channel)) return false;
    tr.commit();
    return true;
  }

  bool ingest(const std::vector<std::string>& ids, std::size_t first, std::size_t last) {
    soci::session sql(*pool_);
    write_transaction tr(sql, config_.kind);
    for (std::size_t i = first; i < last; ++i) {
      if (!insert_video(sql, ids[i], channel_for(i))) return false;
    }
    tr.commit();
    return true;
  }

  bool create_job(const std::string& target) {
    soci::session sql(*pool_);
    write_transaction tr(sql, config_.kind);
    const std::string type(job_type);
    const std::string parameters(job_parameters);
    const long long priority = 0;
    const std::string s0(status_slots[0]), s1(status_slots[1]), s2(status_slots[2]),
        s3(status_slots[3]);
    for (int round = 0; round < 3; ++round) {
      const long long now = now_millis();
      job_fields job;
      into_job((sql << queries::insert_job_if_absent.data(), use(type), use(target),
                use(parameters), use(now), use(now), use(now), use(priority), use(type),
                use(target), use(s0), use(s1), use(s2), use(s3)),
               job);
      if (!sql.got_data()) {
        into_job((sql << queries::select_existing_job.data(), use(type), use(target), use(s0),
                  use(s1), use(s2), use(s3)),
                 job);
      }
      if (sql.got_data()) {
        job.finish();
        tr.commit();
        return job.row.status != job_state::unknown;
      }
    }
    return false;
  }

  settings config_;
  std::unique_ptr<soci::connection_pool> pool_;
};

}  // namespace

std::unique_ptr<implementation> make_plain_soci(const settings& config) {
  return std::make_unique<plain_soci>(config);
}

}  // namespace repokit_bench
