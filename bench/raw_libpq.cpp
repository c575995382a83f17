// The raw libpq C API, the physical limit: a connection per thread, every statement prepared
// once on it (PQprepare) and run with PQexecPrepared, values in text format as SOCI sends them,
// BEGIN and COMMIT with PQexec as repokit sends them.
#include <libpq-fe.h>

#include <charconv>
#include <cstdlib>
#include <memory>
#include <stdexcept>
#include <vector>

#include "bench.hpp"
#include "queries.hpp"

namespace repokit_bench {
namespace {

struct result_deleter {
  void operator()(PGresult* res) const noexcept { PQclear(res); }
};
using result_ptr = std::unique_ptr<PGresult, result_deleter>;

// Integers as text, the way they travel in text format.
class number {
 public:
  explicit number(long long value) {
    *std::to_chars(digits_, digits_ + sizeof digits_ - 1, value).ptr = '\0';
  }
  const char* c_str() const noexcept { return digits_; }

 private:
  char digits_[24]{};
};

struct connection {
  explicit connection(const std::string& url) : conn(PQconnectdb(url.c_str())) {
    if (PQstatus(conn) != CONNECTION_OK) {
      const std::string message = PQerrorMessage(conn);
      PQfinish(conn);
      throw std::runtime_error("raw libpq: cannot connect: " + message);
    }
    prepare("select_video", queries::select_video);
    prepare("insert_video", queries::insert_video);
    prepare("insert_job_if_absent", queries::insert_job_if_absent);
    prepare("select_existing_job", queries::select_existing_job);
  }
  ~connection() { PQfinish(conn); }
  connection(const connection&) = delete;
  connection& operator=(const connection&) = delete;

  void prepare(const char* name, std::string_view text) {
    const result_ptr res(PQprepare(conn, name, queries::positional(text).c_str(), 0, nullptr));
    if (PQresultStatus(res.get()) != PGRES_COMMAND_OK) {
      throw std::runtime_error("raw libpq: cannot prepare " + std::string(name) + ": " +
                               PQresultErrorMessage(res.get()));
    }
  }

  bool command(const char* text) const {
    const result_ptr res(PQexec(conn, text));
    return PQresultStatus(res.get()) == PGRES_COMMAND_OK;
  }

  result_ptr query(const char* name, int count, const char* const* values) const {
    return result_ptr(PQexecPrepared(conn, name, count, values, nullptr, nullptr, 0));
  }

  PGconn* conn;
  std::size_t sink = 0;  // what was read, so that reading it cannot be optimised away
};

std::string text_at(const PGresult* res, int column) {
  return std::string(PQgetvalue(res, 0, column),
                     static_cast<std::size_t>(PQgetlength(res, 0, column)));
}

long long integer_at(const PGresult* res, int column) {
  long long value = 0;
  const char* digits = PQgetvalue(res, 0, column);
  std::from_chars(digits, digits + PQgetlength(res, 0, column), value);
  return value;
}

bool null_at(const PGresult* res, int column) { return PQgetisnull(res, 0, column) != 0; }

video_row read_video(const PGresult* res) {
  return video_row{text_at(res, 0),    text_at(res, 1),    text_at(res, 2),
                   integer_at(res, 3), integer_at(res, 4), integer_at(res, 5)};
}

job_row read_job(const PGresult* res) {
  job_row job;
  job.id = integer_at(res, 0);
  job.job_type = text_at(res, 1);
  job.target_id = text_at(res, 2);
  job.status = parse_job_state(text_at(res, 3));
  job.parameters = text_at(res, 4);
  job.attempts = integer_at(res, 5);
  if (!null_at(res, 6)) job.last_error = text_at(res, 6);
  if (!null_at(res, 7)) job.worker_id = text_at(res, 7);
  job.created_at = integer_at(res, 8);
  job.updated_at = integer_at(res, 9);
  if (!null_at(res, 10)) job.started_at = integer_at(res, 10);
  if (!null_at(res, 11)) job.finished_at = integer_at(res, 11);
  if (!null_at(res, 12)) job.lease_expires_at = integer_at(res, 12);
  job.run_at = integer_at(res, 13);
  job.priority = integer_at(res, 14);
  return job;
}

// 1 row, 0 rows, or -1 when the statement failed.
int rows(const result_ptr& res) {
  if (PQresultStatus(res.get()) != PGRES_TUPLES_OK) return -1;
  return PQntuples(res.get());
}

class raw_libpq final : public implementation {
 public:
  explicit raw_libpq(const settings& config) : config_(config) {}

  std::string_view name() const noexcept override { return "raw-libpq"; }

  void open(int threads) override {
    connections_.clear();
    for (int i = 0; i < threads; ++i)
      connections_.push_back(std::make_unique<connection>(config_.conninfo));
  }

  std::int64_t run(workload w, const thread_plan& plan) override {
    connection& c = *connections_.at(static_cast<std::size_t>(plan.thread));
    std::int64_t failed = 0;
    switch (w) {
      case workload::scoped_read:
        for (const std::string& key : plan.keys) {
          if (!unit(c, [&] { return get_video(c, key); })) ++failed;
        }
        break;
      case workload::hot_read: {
        const bool done = unit(c, [&] {
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
          if (!unit(c, [&] { return create_video(c, plan.keys[i], channel_for(i)); })) ++failed;
        }
        break;
      case workload::create_job:
        for (const std::string& target : plan.keys) {
          if (!unit(c, [&] { return create_job(c, target); })) ++failed;
        }
        break;
      case workload::bulk_ingest:
        for (std::size_t first = 0; first < plan.keys.size(); first += ingest_batch) {
          const std::size_t last = std::min(plan.keys.size(), first + ingest_batch);
          const bool done = unit(c, [&] {
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
  template <class Body>
  static bool unit(connection& c, Body body) {
    if (!c.command("BEGIN")) return false;
    if (body() && c.command("COMMIT")) return true;
    c.command("ROLLBACK");
    return false;
  }

  static bool get_video(connection& c, const std::string& key) {
    const char* values[] = {key.c_str()};
    const result_ptr res = c.query("select_video", 1, values);
    if (rows(res) != 1) return false;
    c.sink += read_video(res.get()).title.size();
    return true;
  }

  static bool create_video(connection& c, const std::string& id, std::string_view channel) {
    const number duration(written_duration);
    const number now(now_millis());
    const std::string channel_id(channel);
    const char* values[] = {id.c_str(),       channel_id.c_str(), written_title.data(),
                            duration.c_str(), now.c_str(),        now.c_str()};
    const result_ptr res = c.query("insert_video", 6, values);
    if (rows(res) != 1) return false;
    c.sink += read_video(res.get()).title.size();
    return true;
  }

  static bool create_job(connection& c, const std::string& target) {
    for (int round = 0; round < 3; ++round) {
      const number now(now_millis());
      const char* insert[] = {job_type.data(),
                              target.c_str(),
                              job_parameters.data(),
                              now.c_str(),
                              now.c_str(),
                              now.c_str(),  // run_at: due now
                              "0",          // priority
                              job_type.data(),
                              target.c_str(),
                              status_slots[0].data(),
                              status_slots[1].data(),
                              status_slots[2].data(),
                              status_slots[3].data()};
      const result_ptr created = c.query("insert_job_if_absent", 13, insert);
      const int inserted = rows(created);
      if (inserted < 0) return false;
      if (inserted == 1) {
        const job_row job = read_job(created.get());
        c.sink += job.parameters.size();
        return job.status != job_state::unknown;
      }
      const char* lookup[] = {job_type.data(),        target.c_str(),
                              status_slots[0].data(), status_slots[1].data(),
                              status_slots[2].data(), status_slots[3].data()};
      const result_ptr existing = c.query("select_existing_job", 6, lookup);
      const int found = rows(existing);
      if (found < 0) return false;
      if (found == 1) {
        const job_row job = read_job(existing.get());
        c.sink += job.parameters.size();
        return job.status != job_state::unknown;
      }
    }
    return false;
  }

  settings config_;
  std::vector<std::unique_ptr<connection>> connections_;
};

}  // namespace

std::unique_ptr<implementation> make_raw_libpq(const settings& config) {
  return std::make_unique<raw_libpq>(config);
}

}  // namespace repokit_bench
