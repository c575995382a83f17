// The raw sqlite3 C API, the physical limit: a connection per thread, opened like SOCI opens it,
// and every statement (BEGIN and COMMIT included) prepared once and kept for the whole run.
#include <sqlite3.h>

#include <stdexcept>
#include <vector>

#include "bench.hpp"
#include "queries.hpp"

namespace repokit_bench {
namespace {

class statement {
 public:
  statement(sqlite3* db, std::string_view text) {
    if (sqlite3_prepare_v3(db, text.data(), static_cast<int>(text.size()),
                           SQLITE_PREPARE_PERSISTENT, &st_, nullptr) != SQLITE_OK) {
      throw std::runtime_error("raw sqlite3: cannot prepare: " + std::string(sqlite3_errmsg(db)));
    }
  }
  ~statement() { sqlite3_finalize(st_); }
  statement(const statement&) = delete;
  statement& operator=(const statement&) = delete;

  sqlite3_stmt* get() const noexcept { return st_; }

  void text(int index, std::string_view value) const {
    sqlite3_bind_text(st_, index, value.data(), static_cast<int>(value.size()), SQLITE_STATIC);
  }
  void integer(int index, long long value) const { sqlite3_bind_int64(st_, index, value); }
  // SQLITE_ROW or SQLITE_DONE, or an error code.
  int step() const { return sqlite3_step(st_); }
  void reset() const { sqlite3_reset(st_); }
  // Runs a statement that returns nothing.
  bool run() const {
    const int rc = sqlite3_step(st_);
    sqlite3_reset(st_);
    return rc == SQLITE_DONE;
  }

  std::string column_text(int column) const {
    const auto* bytes = sqlite3_column_text(st_, column);
    return std::string(reinterpret_cast<const char*>(bytes),
                       static_cast<std::size_t>(sqlite3_column_bytes(st_, column)));
  }
  long long column_integer(int column) const { return sqlite3_column_int64(st_, column); }
  bool column_null(int column) const { return sqlite3_column_type(st_, column) == SQLITE_NULL; }

 private:
  sqlite3_stmt* st_ = nullptr;
};

struct connection {
  explicit connection(const std::string& path) : db(open(path)) {}
  ~connection() {
    statements.clear();
    sqlite3_close(db);
  }
  connection(const connection&) = delete;
  connection& operator=(const connection&) = delete;

  static sqlite3* open(const std::string& path) {
    sqlite3* db = nullptr;
    if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr) !=
        SQLITE_OK) {
      const std::string message = db != nullptr ? sqlite3_errmsg(db) : "out of memory";
      sqlite3_close(db);
      throw std::runtime_error("raw sqlite3: cannot open " + path + ": " + message);
    }
    sqlite3_exec(db,
                 "PRAGMA busy_timeout=5000; PRAGMA foreign_keys=ON; PRAGMA synchronous=NORMAL; "
                 "PRAGMA journal_mode=WAL;",
                 nullptr, nullptr, nullptr);
    return db;
  }

  const statement& prepare(std::string_view text) {
    statements.push_back(std::make_unique<statement>(db, text));
    return *statements.back();
  }

  sqlite3* db;
  std::size_t sink = 0;  // what was read, so that reading it cannot be optimised away
  std::vector<std::unique_ptr<statement>> statements;
  const statement& begin = prepare("BEGIN");
  const statement& begin_immediate = prepare("BEGIN IMMEDIATE");
  const statement& commit = prepare("COMMIT");
  const statement& rollback = prepare("ROLLBACK");
  const statement& select_video = prepare(queries::select_video);
  const statement& insert_video = prepare(queries::insert_video);
  const statement& insert_job_if_absent = prepare(queries::insert_job_if_absent);
  const statement& select_existing_job = prepare(queries::select_existing_job);
};

video_row read_video(const statement& st) {
  return video_row{st.column_text(0),    st.column_text(1),    st.column_text(2),
                   st.column_integer(3), st.column_integer(4), st.column_integer(5)};
}

job_row read_job(const statement& st) {
  job_row job;
  job.id = st.column_integer(0);
  job.job_type = st.column_text(1);
  job.target_id = st.column_text(2);
  job.status = parse_job_state(st.column_text(3));
  job.parameters = st.column_text(4);
  job.attempts = st.column_integer(5);
  if (!st.column_null(6)) job.last_error = st.column_text(6);
  if (!st.column_null(7)) job.worker_id = st.column_text(7);
  job.created_at = st.column_integer(8);
  job.updated_at = st.column_integer(9);
  if (!st.column_null(10)) job.started_at = st.column_integer(10);
  if (!st.column_null(11)) job.finished_at = st.column_integer(11);
  if (!st.column_null(12)) job.lease_expires_at = st.column_integer(12);
  job.run_at = st.column_integer(13);
  job.priority = st.column_integer(14);
  return job;
}

class raw_sqlite final : public implementation {
 public:
  explicit raw_sqlite(const settings& config) : config_(config) {}

  std::string_view name() const noexcept override { return "raw-sqlite"; }

  void open(int threads) override {
    connections_.clear();
    for (int i = 0; i < threads; ++i) {
      connections_.push_back(std::make_unique<connection>(config_.sqlite_path));
    }
  }

  std::int64_t run(workload w, const thread_plan& plan) override {
    connection& c = *connections_.at(static_cast<std::size_t>(plan.thread));
    std::int64_t failed = 0;
    switch (w) {
      case workload::scoped_read:
        for (const std::string& key : plan.keys) {
          if (!unit(c, c.begin, [&] { return get_video(c, key); })) ++failed;
        }
        break;
      case workload::hot_read: {
        const bool done = unit(c, c.begin, [&] {
          for (const std::string& key : plan.keys) {
            if (!get_video(c, key)) ++failed;
          }
          return true;
        });
        if (!done) failed = static_cast<std::int64_t>(plan.keys.size());
        break;
      }
      case workload::scoped_write:
        for (std::size_t i = 0; i < plan.keys.size(); ++i) {
          if (!unit(c, c.begin_immediate,
                    [&] { return create_video(c, plan.keys[i], channel_for(i)); })) {
            ++failed;
          }
        }
        break;
      case workload::create_job:
        for (const std::string& target : plan.keys) {
          if (!unit(c, c.begin_immediate, [&] { return create_job(c, target); })) ++failed;
        }
        break;
      case workload::bulk_ingest:
        for (std::size_t first = 0; first < plan.keys.size(); first += ingest_batch) {
          const std::size_t last = std::min(plan.keys.size(), first + ingest_batch);
          const bool done = unit(c, c.begin_immediate, [&] {
            for (std::size_t i = first; i < last; ++i) {
              if (!create_video(c, plan.keys[i], channel_for(i))) return false;
            }
            return true;
          });
          if (!done) failed += static_cast<std::int64_t>(last - first);
        }
        break;
      case workload::pool_lease: break;
    }
    return failed;
  }

 private:
  // BEGIN, the body, COMMIT; ROLLBACK when any of it fails.
  template <class Body>
  static bool unit(connection& c, const statement& begin, Body body) {
    if (!begin.run()) return false;
    if (body() && c.commit.run()) return true;
    c.rollback.run();
    return false;
  }

  static bool get_video(connection& c, const std::string& key) {
    const statement& st = c.select_video;
    st.text(1, key);
    const bool found = st.step() == SQLITE_ROW;
    if (found) c.sink += read_video(st).title.size();
    st.reset();
    return found;
  }

  static bool create_video(connection& c, const std::string& id, std::string_view channel) {
    const statement& st = c.insert_video;
    const long long now = now_millis();
    st.text(1, id);
    st.text(2, channel);
    st.text(3, written_title);
    st.integer(4, written_duration);
    st.integer(5, now);
    st.integer(6, now);
    const bool created = st.step() == SQLITE_ROW;
    if (created) c.sink += read_video(st).title.size();
    // Step to the end: the insert is only complete once the statement has run to completion.
    const bool done = created && st.step() == SQLITE_DONE;
    st.reset();
    return done;
  }

  static bool create_job(connection& c, const std::string& target) {
    for (int round = 0; round < 3; ++round) {
      const statement& insert = c.insert_job_if_absent;
      const long long now = now_millis();
      insert.text(1, job_type);
      insert.text(2, target);
      insert.text(3, job_parameters);
      insert.integer(4, now);
      insert.integer(5, now);
      insert.integer(6, now);  // run_at: due now
      insert.integer(7, 0);    // priority
      insert.text(8, job_type);
      insert.text(9, target);
      for (int slot = 0; slot < 4; ++slot) insert.text(10 + slot, status_slots[slot]);
      int rc = insert.step();
      if (rc == SQLITE_ROW) {
        const job_row job = read_job(insert);
        c.sink += job.parameters.size();
        rc = insert.step();
        insert.reset();
        return rc == SQLITE_DONE && job.status != job_state::unknown;
      }
      insert.reset();
      if (rc != SQLITE_DONE) return false;

      const statement& lookup = c.select_existing_job;
      lookup.text(1, job_type);
      lookup.text(2, target);
      for (int slot = 0; slot < 4; ++slot) lookup.text(3 + slot, status_slots[slot]);
      rc = lookup.step();
      if (rc == SQLITE_ROW) {
        const job_row job = read_job(lookup);
        c.sink += job.parameters.size();
        lookup.reset();
        return job.status != job_state::unknown;
      }
      lookup.reset();
      if (rc != SQLITE_DONE) return false;
    }
    return false;
  }

  settings config_;
  std::vector<std::unique_ptr<connection>> connections_;
};

}  // namespace

std::unique_ptr<implementation> make_raw_sqlite(const settings& config) {
  return std::make_unique<raw_sqlite>(config);
}

}  // namespace repokit_bench
