// The jobs burn-down (docs/benchmarks.md): N jobs enqueued in batches with enqueue_all, then
// drained by W workers running an empty handler, first by repokit's worker_runtime, then by the
// raw baseline: the same claim (SKIP LOCKED on PostgreSQL, the write lock on SQLite) and
// completion, each in a transaction of its own, as a loop over the C API (libpq or sqlite3) with
// statements prepared once per connection. One JSON line per (implementation, W).
#include "burn_down.hpp"

#include <libpq-fe.h>
#include <sqlite3.h>
#include <sys/resource.h>

#include <atomic>
#include <chrono>
#include <iostream>
#include <latch>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "json.hpp"
#include "repokit/repokit.hpp"

namespace repokit_bench {
namespace {

using steady = std::chrono::steady_clock;

constexpr std::string_view burn_job_type = "burn_down";
constexpr long long raw_lease_ms = 60'000;

// The claim and the completion of the raw loop: what repokit's claim_next does for a due pending
// job (without its first look for a job whose lease expired), and finish_job's guarded update.
constexpr const char* claim_sql =
    "UPDATE jobs SET status = 'running', worker_id = $1, attempts = attempts + 1, "
    "started_at = $2, updated_at = $2, finished_at = NULL, lease_expires_at = $3 "
    "WHERE id = (SELECT id FROM jobs WHERE job_type = $4 AND status = 'pending' AND run_at <= $2 "
    "ORDER BY priority DESC, run_at, id LIMIT 1%s) RETURNING id, attempts";
constexpr const char* finish_sql =
    "UPDATE jobs SET status = 'succeeded', finished_at = $1, updated_at = $1, last_error = NULL, "
    "lease_expires_at = NULL WHERE id = $2 AND status = 'running' AND attempts = $3 "
    "AND worker_id = $4";

// The CPU time of this whole process so far, in seconds: during a drain, the workers' and the
// runtime's threads.
double process_cpu_seconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  const auto seconds = [](const timeval& t) {
    return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) * 1e-6;
  };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

// What a drain took: wall-clock and process CPU seconds.
struct drain_time {
  double seconds = 0;
  double cpu_seconds = 0;
};

std::string claim_text(bool skip_locked) {
  std::string text = claim_sql;
  text.replace(text.find("%s"), 2, skip_locked ? " FOR UPDATE SKIP LOCKED" : "");
  return text;
}

// The SQL above with ?NNN in place of $NNN, for sqlite3.
std::string for_sqlite(std::string text) {
  for (auto& c : text) {
    if (c == '$') c = '?';
  }
  return text;
}

// Drains the queue with one libpq connection; answers the jobs it finished.
std::int64_t raw_libpq_worker(const std::string& conninfo, int n) {
  PGconn* conn = PQconnectdb(conninfo.c_str());
  const auto finish = [&] { PQfinish(conn); };
  if (PQstatus(conn) != CONNECTION_OK) {
    const std::string message = PQerrorMessage(conn);
    finish();
    throw std::runtime_error("raw libpq: cannot connect: " + message);
  }
  const auto ok = [&](PGresult* res, ExecStatusType wanted) {
    const bool good = PQresultStatus(res) == wanted;
    if (!good) {
      const std::string message = PQresultErrorMessage(res);
      PQclear(res);
      finish();
      throw std::runtime_error("raw libpq: " + message);
    }
    return res;
  };
  PQclear(ok(PQprepare(conn, "claim", claim_text(true).c_str(), 0, nullptr), PGRES_COMMAND_OK));
  PQclear(ok(PQprepare(conn, "finish", finish_sql, 0, nullptr), PGRES_COMMAND_OK));
  const std::string worker = "raw/" + std::to_string(n);
  const std::string type(burn_job_type);
  std::int64_t done = 0;
  for (;;) {
    const std::string now = std::to_string(now_millis());
    const std::string until = std::to_string(now_millis() + raw_lease_ms);
    const char* claim_values[] = {worker.c_str(), now.c_str(), until.c_str(), type.c_str()};
    PQclear(ok(PQexec(conn, "BEGIN"), PGRES_COMMAND_OK));
    PGresult* claimed =
        ok(PQexecPrepared(conn, "claim", 4, claim_values, nullptr, nullptr, 0), PGRES_TUPLES_OK);
    PQclear(ok(PQexec(conn, "COMMIT"), PGRES_COMMAND_OK));
    if (PQntuples(claimed) == 0) {
      PQclear(claimed);
      break;
    }
    const std::string id = PQgetvalue(claimed, 0, 0);
    const std::string attempts = PQgetvalue(claimed, 0, 1);
    PQclear(claimed);
    // The empty handler, then the outcome.
    const std::string finished_at = std::to_string(now_millis());
    const char* finish_values[] = {finished_at.c_str(), id.c_str(), attempts.c_str(),
                                   worker.c_str()};
    PQclear(ok(PQexec(conn, "BEGIN"), PGRES_COMMAND_OK));
    PGresult* recorded =
        ok(PQexecPrepared(conn, "finish", 4, finish_values, nullptr, nullptr, 0), PGRES_COMMAND_OK);
    const bool one = std::string(PQcmdTuples(recorded)) == "1";
    PQclear(recorded);
    PQclear(ok(PQexec(conn, "COMMIT"), PGRES_COMMAND_OK));
    if (!one) {
      finish();
      throw std::runtime_error("raw libpq: an outcome matched no claim");
    }
    ++done;
  }
  finish();
  return done;
}

// The same loop over sqlite3: BEGIN IMMEDIATE takes the write lock, as repokit's write units do.
std::int64_t raw_sqlite_worker(const std::string& path, int n) {
  sqlite3* db = nullptr;
  std::vector<sqlite3_stmt*> statements;
  const auto fail = [&](const std::string& what) -> std::int64_t {
    const std::string message = what + ": " + (db ? sqlite3_errmsg(db) : "no connection");
    for (sqlite3_stmt* s : statements) sqlite3_finalize(s);
    sqlite3_close(db);
    throw std::runtime_error("raw sqlite3: " + message);
  };
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE, nullptr) != SQLITE_OK) {
    fail("cannot open " + path);
  }
  if (sqlite3_exec(db,
                   "PRAGMA busy_timeout=5000; PRAGMA synchronous=NORMAL; PRAGMA journal_mode=WAL;",
                   nullptr, nullptr, nullptr) != SQLITE_OK) {
    fail("pragmas");
  }
  const auto prepare = [&](const std::string& text) {
    sqlite3_stmt* s = nullptr;
    if (sqlite3_prepare_v3(db, text.c_str(), -1, SQLITE_PREPARE_PERSISTENT, &s, nullptr) !=
        SQLITE_OK) {
      fail("cannot prepare " + text);
    }
    statements.push_back(s);
    return s;
  };
  sqlite3_stmt* begin = prepare("BEGIN IMMEDIATE");
  sqlite3_stmt* commit = prepare("COMMIT");
  sqlite3_stmt* claim = prepare(for_sqlite(claim_text(false)));
  sqlite3_stmt* finish = prepare(for_sqlite(finish_sql));
  const auto run = [&](sqlite3_stmt* s) {
    const int rc = sqlite3_step(s);
    sqlite3_reset(s);
    if (rc != SQLITE_DONE) fail("step");
  };
  const std::string worker = "raw/" + std::to_string(n);
  std::int64_t done = 0;
  for (;;) {
    run(begin);
    const long long now = now_millis();
    sqlite3_bind_text(claim, 1, worker.data(), static_cast<int>(worker.size()), SQLITE_STATIC);
    sqlite3_bind_int64(claim, 2, now);
    sqlite3_bind_int64(claim, 3, now + raw_lease_ms);
    sqlite3_bind_text(claim, 4, burn_job_type.data(), static_cast<int>(burn_job_type.size()),
                      SQLITE_STATIC);
    const int rc = sqlite3_step(claim);
    long long id = 0;
    long long attempts = 0;
    const bool got = rc == SQLITE_ROW;
    if (got) {
      id = sqlite3_column_int64(claim, 0);
      attempts = sqlite3_column_int64(claim, 1);
      if (sqlite3_step(claim) != SQLITE_DONE) fail("claim");
    } else if (rc != SQLITE_DONE) {
      fail("claim");
    }
    sqlite3_reset(claim);
    run(commit);
    if (!got) break;
    run(begin);
    sqlite3_bind_int64(finish, 1, now_millis());
    sqlite3_bind_int64(finish, 2, id);
    sqlite3_bind_int64(finish, 3, attempts);
    sqlite3_bind_text(finish, 4, worker.data(), static_cast<int>(worker.size()), SQLITE_STATIC);
    run(finish);
    const bool one = sqlite3_changes(db) == 1;
    run(commit);
    if (!one) fail("an outcome matched no claim");
    ++done;
  }
  for (sqlite3_stmt* s : statements) sqlite3_finalize(s);
  sqlite3_close(db);
  return done;
}

// Enqueues `jobs` jobs in batches of max_job_batch; answers the seconds it took.
double enqueue(const repokit::Database& db, std::int64_t jobs) {
  std::vector<std::string> targets;
  targets.reserve(static_cast<std::size_t>(jobs));
  for (std::int64_t i = 0; i < jobs; ++i) targets.push_back("J" + std::to_string(i));
  const auto started = steady::now();
  for (std::size_t first = 0; first < targets.size(); first += repokit::max_job_batch) {
    std::vector<repokit::new_job> batch;
    for (std::size_t i = first; i < std::min(targets.size(), first + repokit::max_job_batch); ++i) {
      batch.push_back({.job_type = burn_job_type, .target_id = targets[i]});
    }
    auto made = repokit::enqueue_all(db, batch);
    if (!made) throw std::runtime_error("enqueue_all: " + made.error().describe());
  }
  return std::chrono::duration<double>(steady::now() - started).count();
}

// repokit's drain: a worker_runtime with `workers` workers and an empty handler, from start()
// until every job's success is recorded. `batched` says whether successes were recorded in
// batches (the runtime's default for the backend).
drain_time drain_with_runtime(const repokit::Database& db, std::int64_t jobs, int workers,
                              bool& batched) {
  repokit::worker_runtime runtime(db, {.name = "bench",
                                       .idle_poll_min = std::chrono::milliseconds{1},
                                       .idle_poll_max = std::chrono::milliseconds{10},
                                       .listen = false});
  auto registered =
      runtime.handle(burn_job_type, [](const repokit::Job&) {}, {.concurrency = workers});
  if (!registered) throw std::runtime_error(registered.error().describe());
  const double cpu_started = process_cpu_seconds();
  const auto started = steady::now();
  if (auto began = runtime.start(); !began) throw std::runtime_error(began.error().describe());
  while (runtime.counters().succeeded < static_cast<std::uint64_t>(jobs)) {
    if (runtime.counters().errors > 0) throw std::runtime_error("the runtime met errors");
    std::this_thread::sleep_for(std::chrono::milliseconds{1});
  }
  const drain_time took{std::chrono::duration<double>(steady::now() - started).count(),
                        process_cpu_seconds() - cpu_started};
  batched = runtime.counters().batches > 0;
  runtime.stop(std::chrono::seconds{10});
  return took;
}

drain_time drain_raw(const settings& config, std::int64_t jobs, int workers) {
  std::atomic<std::int64_t> done{0};
  std::latch ready(workers + 1);
  std::vector<std::thread> threads;
  std::vector<std::string> errors(static_cast<std::size_t>(workers));
  for (int n = 0; n < workers; ++n) {
    threads.emplace_back([&, n] {
      ready.arrive_and_wait();
      try {
        done += config.kind == backend::sqlite ? raw_sqlite_worker(config.sqlite_path, n)
                                               : raw_libpq_worker(config.conninfo, n);
      } catch (const std::exception& e) {
        errors[static_cast<std::size_t>(n)] = e.what();
      }
    });
  }
  const double cpu_started = process_cpu_seconds();
  const auto started = steady::now();
  ready.arrive_and_wait();
  for (auto& thread : threads) thread.join();
  const drain_time took{std::chrono::duration<double>(steady::now() - started).count(),
                        process_cpu_seconds() - cpu_started};
  for (const auto& error : errors) {
    if (!error.empty()) throw std::runtime_error(error);
  }
  if (done != jobs) {
    throw std::runtime_error("the raw loop finished " + std::to_string(done.load()) + " of " +
                             std::to_string(jobs) + " jobs");
  }
  return took;
}

}  // namespace

bool run_burn_down(const settings& config, data_set& data, std::int64_t jobs,
                   const std::vector<int>& workers) {
  auto opened = repokit::Database::open(config.url, {.pool_size = 16});
  if (!opened) throw std::runtime_error(opened.error().describe());
  const repokit::Database& db = opened.value();
  const std::string_view backend_name = config.kind == backend::sqlite ? "sqlite" : "postgresql";
  const std::string_view raw_name = config.kind == backend::sqlite ? "raw-sqlite" : "raw-libpq";
  for (const int w : workers) {
    data.reset();
    const double enqueue_seconds = enqueue(db, jobs);
    bool batched = false;
    const drain_time repokit_took = drain_with_runtime(db, jobs, w, batched);
    data.reset();
    enqueue(db, jobs);
    const drain_time raw_took = drain_raw(config, jobs, w);
    const double per_job = 1e6 / static_cast<double>(jobs);
    const double repokit_rate = static_cast<double>(jobs) / repokit_took.seconds;
    const double raw_rate = static_cast<double>(jobs) / raw_took.seconds;
    std::cerr << "  burn-down workers=" << w << ": enqueued "
              << static_cast<long long>(static_cast<double>(jobs) / enqueue_seconds)
              << " jobs/s; drained repokit " << static_cast<long long>(repokit_rate) << ", "
              << raw_name << ' ' << static_cast<long long>(raw_rate) << " jobs/s\n";
    const std::string raw_key(raw_name == "raw-sqlite" ? "raw_sqlite" : "raw_libpq");
    json_line mine;
    mine.add("impl", "repokit")
        .add("backend", backend_name)
        .add("workload", "burn-down")
        .add("jobs", jobs)
        .add("threads", w)
        .add("batches", batched)
        .add("enqueued_per_s", static_cast<double>(jobs) / enqueue_seconds, 1)
        .add("drained_per_s", repokit_rate, 1)
        .add("cpu_us_per_job", repokit_took.cpu_seconds * per_job, 2)
        .add("vs_" + raw_key, repokit_rate / raw_rate, 3)
        .add("cpu_vs_" + raw_key, raw_took.cpu_seconds / repokit_took.cpu_seconds, 3);
    std::cout << mine.str() << std::endl;
    json_line raw;
    raw.add("impl", raw_name)
        .add("backend", backend_name)
        .add("workload", "burn-down")
        .add("jobs", jobs)
        .add("threads", w)
        .add("drained_per_s", raw_rate, 1)
        .add("cpu_us_per_job", raw_took.cpu_seconds * per_job, 2);
    std::cout << raw.str() << std::endl;
  }
  data.reset();
  return true;
}

}  // namespace repokit_bench
