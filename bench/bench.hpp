// The benchmark harness: the workloads of docs/benchmarks.md run side by side by repokit and by
// the baselines it is measured against (plain SOCI, the raw sqlite3 and libpq C APIs). Every
// implementation gets the same data set, the same inputs and the same SQL text.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace repokit_bench {

enum class backend : std::uint8_t { sqlite, postgresql };

enum class workload : std::uint8_t {
  scoped_read,   // a scope per operation: get_video_by_id, commit
  hot_read,      // one scope per thread, get_video_by_id N times
  scoped_write,  // a scope per operation: create_video, commit
  create_job,    // a scope per operation: create_if_not_exists, commit
  bulk_ingest,   // create_video, 1000 per scope: an operation is a row
  pool_lease,    // take a connection from the pool and give it back: no SQL
};

std::string_view to_string(workload w) noexcept;
std::optional<workload> parse_workload(std::string_view name) noexcept;

// Rows per scope in bulk-ingest.
inline constexpr std::int64_t ingest_batch = 1000;

struct settings {
  std::string url;  // the repokit URL: sqlite:///file.db or postgresql://...
  backend kind = backend::sqlite;
  std::string sqlite_path;  // SQLite: the file
  std::string conninfo;     // PostgreSQL: "host=... port=... dbname=..." for libpq and SOCI
  int videos = 10'000;      // videos in the data set
  int job_targets = 1000;   // create-job draws its targets from V0 .. V<job_targets - 1>
};

// What one thread does in one measurement, made before the clock starts: the same for every
// implementation, so that none pays for building its inputs.
struct thread_plan {
  int thread = 0;
  std::int64_t ops = 0;
  // Per operation: the video to read, the job's target or the new video's id. Empty for
  // pool-lease, which needs none.
  std::vector<std::string> keys;
};

// A measured implementation. open() and close() are not timed; run() is called from `threads`
// threads at once, each with its own plan, and answers how many operations failed.
class implementation {
 public:
  virtual ~implementation() = default;
  virtual std::string_view name() const noexcept = 0;
  virtual bool supports(workload w) const noexcept { return w != workload::pool_lease; }
  // Connections and prepared statements for `threads` threads.
  virtual void open(int threads) = 0;
  virtual std::int64_t run(workload w, const thread_plan& plan) = 0;
  // Transient errors absorbed by retrying, since open().
  virtual std::int64_t retries() const { return 0; }
};

std::unique_ptr<implementation> make_repokit(const settings& config);
std::unique_ptr<implementation> make_plain_soci(const settings& config);
std::unique_ptr<implementation> make_raw_sqlite(const settings& config);
std::unique_ptr<implementation> make_raw_libpq(const settings& config);

// The rows as the baselines map them: what repokit's Video and Job hold.
struct video_row {
  std::string video_id;
  std::string channel_id;
  std::string title;
  long long duration_seconds = 0;
  long long created_at = 0;
  long long updated_at = 0;
};

enum class job_state : std::uint8_t { pending, running, succeeded, failed, unknown };
job_state parse_job_state(std::string_view text) noexcept;

struct job_row {
  long long id = 0;
  std::string job_type;
  std::string target_id;
  job_state status = job_state::unknown;
  std::string parameters;
  long long attempts = 0;
  std::optional<std::string> last_error;
  std::optional<std::string> worker_id;
  long long created_at = 0;
  long long updated_at = 0;
  std::optional<long long> started_at;
  std::optional<long long> finished_at;
  std::optional<long long> lease_expires_at;
  long long run_at = 0;
  long long priority = 0;
};

// What the workloads pass (docs/benchmarks.md lists them).
inline constexpr std::string_view job_type = "video_process";
inline constexpr std::string_view job_parameters = R"({"q":1})";
inline constexpr std::string_view written_title = "Bench video";
inline constexpr long long written_duration = 60;
// create_if_not_exists with the default statuses (pending, running) fills its four status slots
// with pending, running, pending, pending.
inline constexpr std::string_view status_slots[4] = {"pending", "running", "pending", "pending"};

// The channel a written video belongs to: CH<i % 100>, i its index in the thread's plan.
std::string_view channel_for(std::size_t i);

// Milliseconds since the epoch, as repokit stores timestamps.
long long now_millis() noexcept;

// The data set, shared by every implementation, and the untimed chores between measurements.
class data_set {
 public:
  explicit data_set(const settings& config);
  ~data_set();
  data_set(const data_set&) = delete;
  data_set& operator=(const data_set&) = delete;

  // Drops every table first (--fresh).
  void drop();
  // Migrates the schema with repokit and fills in the channels and videos that are missing.
  void ensure();
  // Before a measurement: no jobs, no video but the data set's, the WAL checkpointed.
  void reset();
  // create-job's checks after a run: active jobs that share a (type, target), and jobs in all.
  std::int64_t duplicate_active_jobs();
  std::int64_t jobs();

  struct admin;  // a plain connection of the backend's C API

 private:
  std::unique_ptr<admin> admin_;
  settings config_;
};

}  // namespace repokit_bench
