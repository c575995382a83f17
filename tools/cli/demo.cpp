// `repokit demo`: the whole mission end to end. A catalogue is ingested, producer threads
// enqueue processing jobs idempotently for overlapping targets, a worker runtime claims and runs
// them in phases with per-task sessions, optional chaos injects transient faults, and the
// summary proves that no job was lost or processed twice.
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <memory>
#include <mutex>
#include <random>
#include <sstream>
#include <thread>
#include <vector>

#include <spdlog/logger.h>

#include "commands.hpp"
#include "interrupt.hpp"
#include "repokit/repokit.hpp"
#include "repokit/testing/fault_injecting_session.hpp"
#include "report.hpp"
#include "status_line.hpp"

namespace repokit::cli {
namespace {

using steady = std::chrono::steady_clock;

constexpr std::array<column_type, 2> status_count_columns{column_type::text, column_type::integer};
constexpr statement count_by_status{
    "demo_count_by_status",
    "SELECT status, COUNT(*) FROM jobs WHERE job_type = :p1 GROUP BY status ORDER BY status",
    statement_kind::read, status_count_columns};

struct settings {
  std::string url;
  int producers = 4;
  int workers = 4;
  int targets = 200;
  int videos = 1000;
  double chaos = 0;
  bool json = false;
};

// What the demo is doing, for the progress line.
enum class phase : int { ingest, enqueue, drain };

struct tally {
  std::atomic<std::int64_t> ingested{0};  // videos in the catalogue so far
  std::atomic<std::int64_t> enqueued{0};  // create_if_not_exists calls answered, all producers
  std::atomic<std::int64_t> created{0};
  std::atomic<std::int64_t> duplicates{0};
  std::atomic<std::int64_t> enqueue_failures{0};
  std::atomic<std::int64_t> processed{0};
  std::vector<std::atomic<int>> runs_per_target;  // how often the work ran for each target
  explicit tally(int targets) : runs_per_target(static_cast<std::size_t>(targets)) {}
};

std::string target_id(int index) { return "V" + std::to_string(index); }

int target_index(std::string_view target) {
  int index = -1;
  std::from_chars(target.data() + 1, target.data() + target.size(), index);
  return index;
}

result<void> ingest_catalogue(const Database& db, int videos, tally& counts) {
  const int channels = std::max(1, std::min(100, videos));
  REPOKIT_TRYV(channel_repository(db, [&](ChannelRepository& repo) -> result<void> {
    for (int i = 0; i < channels; ++i) {
      REPOKIT_TRYV(
          repo.get_or_create_channel("CH" + std::to_string(i), "Channel " + std::to_string(i)));
    }
    return success();
  }));
  constexpr int batch = 250;
  for (int first = 0; first < videos && !interrupted(); first += batch) {
    REPOKIT_TRYV(video_repository(db, [&](VideoRepository& repo) -> result<void> {
      for (int i = first; i < std::min(videos, first + batch); ++i) {
        const std::string id = target_id(i);
        if (repo.get_video_by_id(id)) continue;  // kept from an earlier run on this database
        REPOKIT_TRYV(repo.create_video(id, "CH" + std::to_string(i % channels),
                                       "Video " + std::to_string(i), i % 600));
      }
      return success();
    }));
    counts.ingested = std::min(videos, first + batch);
  }
  return success();
}

void produce(const Database& db, const std::string& job_type, const settings& config, int seed,
             tally& counts, worker_runtime& workers) {
  std::vector<int> order(static_cast<std::size_t>(config.targets));
  for (int i = 0; i < config.targets; ++i) order[static_cast<std::size_t>(i)] = i;
  std::shuffle(order.begin(), order.end(), std::minstd_rand(static_cast<unsigned>(seed)));
  // A video is processed once: a job that already succeeded answers as much as an active one.
  static constexpr std::array once{job_status::pending, job_status::running, job_status::succeeded};
  for (const int target : order) {
    const std::string id = target_id(target);
    // An enqueue is idempotent and resolves a COMMIT in doubt: one that gave up after its
    // retries is simply made again.
    const new_job request{
        .job_type = job_type, .target_id = id, .parameters = R"({"quality":"hd"})"};
    auto job = enqueue(db, request, once);
    while (!job && job.error().retryable() && !interrupted()) {
      ++counts.enqueue_failures;
      job = enqueue(db, request, once);
    }
    if (interrupted()) return;
    if (!job) {
      ++counts.enqueue_failures;
    } else if (job.value().created) {
      ++counts.created;
      workers.wake();
    } else {
      ++counts.duplicates;
    }
    ++counts.enqueued;
  }
}

result<std::vector<std::pair<std::string, std::int64_t>>> jobs_by_status(
    const Database& db, const std::string& job_type) {
  return lookup(
      db, [&](Repositories& repos) -> result<std::vector<std::pair<std::string, std::int64_t>>> {
        REPOKIT_TRY(auto rows, repos.unit.query(count_by_status,
                                                std::array<param, 1>{std::string_view(job_type)}));
        std::vector<std::pair<std::string, std::int64_t>> counts;
        for (const row& r : rows) counts.emplace_back(r.text(0), r.integer(1));
        return counts;
      });
}

std::int64_t count_of(const std::vector<std::pair<std::string, std::int64_t>>& counts,
                      std::string_view status) {
  for (const auto& [name, n] : counts) {
    if (name == status) return n;
  }
  return 0;
}

// The workers' claims: a short lease, so that a job whose claim or outcome was lost to a fault is
// taken over within seconds; failed work comes back after a short backoff.
const job_type_options demo_job_options{
    .claim = {.lease = std::chrono::seconds{10}, .max_attempts = 20},
    .retry = job_retry_policy{
        .max_attempts = 20, .delay = {.initial_delay = seconds{0.01}, .max_delay = seconds{0.2}}}};

// Phase 2 of each job: no session is held; the look-up opens a short unit of its own.
result<void> process(const Database& db, const Job& job, tally& counts) {
  REPOKIT_TRY(auto video, video_repository(db,
                                           {.propagate = propagation::independent,
                                            .access = access_mode::read_only,
                                            .name = "load video"},
                                           [&](VideoRepository& videos) {
                                             return videos.get_video_by_id(job.target_id);
                                           }));
  const int index = target_index(job.target_id);
  if (index >= 0 && index < static_cast<int>(counts.runs_per_target.size())) {
    ++counts.runs_per_target[static_cast<std::size_t>(index)];
  }
  ++counts.processed;
  (void)video;
  return success();
}

// Waits until nothing is pending (or waiting to be retried) and nothing running: a job left
// running by a lost claim is taken over once its lease runs out. False when interrupted first.
bool wait_until_drained(const Database& db, const std::string& job_type) {
  while (!interrupted()) {
    auto counted = jobs_by_status(db, job_type);
    if (counted && count_of(counted.value(), "pending") == 0 &&
        count_of(counted.value(), "running") == 0) {
      return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds{20});  // the display's own pace
  }
  return false;
}

// Progress through each phase on stderr, so that stdout holds the summary alone (one JSON
// object with --json): a bar redrawn in place on a terminal, a line a second anywhere else.
class progress_display {
 public:
  progress_display(const tally& counts, const settings& config, const Database& db,
                   std::shared_ptr<status_line> line)
      : counts_(counts),
        config_(config),
        db_(db),
        line_(std::move(line)),
        thread_([this](std::stop_token stop) { run(stop); }) {}
  ~progress_display() {
    thread_.request_stop();
    thread_.join();
    const std::lock_guard lock(mutex_);
    draw();  // the final state, so that a fast phase is never left half drawn
    line_->finish();
  }
  // Leaves the current phase's final state on a line of its own and moves to the next one.
  void advance(phase next) {
    const std::lock_guard lock(mutex_);
    draw();
    line_->finish();
    now_ = next;
  }
  progress_display(const progress_display&) = delete;
  progress_display& operator=(const progress_display&) = delete;

 private:
  void run(std::stop_token stop) {
    const auto period =
        line_->terminal() ? std::chrono::milliseconds{100} : std::chrono::milliseconds{1000};
    std::mutex mutex;
    std::condition_variable_any wake;
    std::unique_lock lock(mutex);
    while (!stop.stop_requested()) {
      // The period, or less when the stop request comes first.
      wake.wait_for(lock, stop, period, [] { return false; });
      if (stop.stop_requested()) break;
      const std::lock_guard drawing(mutex_);
      draw();
    }
  }

  void draw() {
    const auto retries = static_cast<long long>(db_.metrics().retries_total());
    const auto processed = static_cast<long long>(counts_.processed.load());
    long long done = 0;
    long long total = 0;
    std::string label;
    std::string detail;
    switch (now_) {
      case phase::ingest:
        done = counts_.ingested.load();
        total = config_.videos;
        label = "1/3 ingest ";
        detail = "videos in the catalogue";
        break;
      case phase::enqueue:
        done = counts_.enqueued.load();
        total = static_cast<long long>(config_.targets) * config_.producers;
        label = "2/3 enqueue";
        detail = "enqueue calls, " + std::to_string(processed) + " jobs processed";
        break;
      case phase::drain:
        done = processed;
        total = config_.targets;
        label = "3/3 drain  ";
        detail = "jobs processed";
        break;
    }
    constexpr long long width = 24;
    const long long filled = total > 0 ? std::min(width, width * done / total) : width;
    std::string text = label;
    if (line_->terminal()) {
      text += " [" + std::string(static_cast<std::size_t>(filled), '#') +
              std::string(static_cast<std::size_t>(width - filled), ' ') + ']';
    }
    text += ' ' + std::to_string(done) + '/' + std::to_string(total) + ' ' + detail + ", " +
            std::to_string(retries) + " retries";
    line_->show(line_->terminal() ? text : "progress: " + text);
  }

  const tally& counts_;
  const settings& config_;
  const Database& db_;
  std::shared_ptr<status_line> line_;
  std::mutex mutex_;  // one drawing at a time, and the phase changes between drawings
  phase now_ = phase::ingest;
  std::jthread thread_;  // last: it starts drawing once everything above is ready
};

}  // namespace

namespace {

// The summary: what matters first, grouped; every counter with --verbose, and always in JSON.
void fill_summary(report& summary, const Database& db, const settings& config, const tally& counts,
                  const runtime_counters& workers, const testing::fault_injector& chaos,
                  std::int64_t succeeded, std::int64_t failed, std::int64_t dead, std::int64_t lost,
                  std::int64_t twice, double elapsed, bool everything) {
  const auto m = db.metrics();
  summary.add("database", db.url().masked());
  summary.add("seconds", elapsed);
  if (everything) {
    summary.add("producers", config.producers);
    summary.add("workers", config.workers);
    summary.add("targets", config.targets);
    summary.add("videos", config.videos);
    summary.add("chaos_rate", config.chaos);
  }
  report& jobs = summary.section("jobs", "jobs");
  jobs.add("jobs_created", counts.created.load());
  jobs.add("duplicate_enqueues_absorbed", counts.duplicates.load());
  jobs.add("jobs_succeeded", succeeded);
  jobs.add("jobs_failed", failed);
  jobs.add("jobs_dead", dead);
  jobs.add("jobs_lost", lost);
  jobs.add("jobs_processed_twice", twice);
  jobs.add("jobs_rescued_after_expired_lease", workers.rescued);
  if (everything) {
    jobs.add("jobs_processed", counts.processed.load());
    jobs.add("enqueue_failures", counts.enqueue_failures.load());
    jobs.add("attempts_retried", workers.retried);
    jobs.add("outcomes_refused_claim_lost", workers.lost);
    jobs.add("worker_errors_covered_by_lease", workers.errors);
  }
  report& faults = summary.section("retries_and_faults", "retries and faults");
  for (const retry_class kind :
       {retry_class::retry_transaction, retry_class::reconnect_then_retry}) {
    faults.add("retries_" + std::string(to_string(kind)),
               m.retries[static_cast<std::size_t>(kind)]);
  }
  faults.add("give_ups", m.give_ups);
  faults.add("in_doubt", m.in_doubt);
  faults.add("chaos_faults_injected", chaos.injected());
  if (everything) {
    faults.add("chaos_busy", chaos.busy());
    faults.add("chaos_deadlocks", chaos.deadlocks());
    faults.add("chaos_dropped_connections", chaos.drops());
  }
  report& pool = summary.section("sessions_and_pool", "sessions and pool");
  if (everything) {
    pool.add("commits", m.commits);
    pool.add_metrics(m);
  } else {
    pool.add("commits", m.commits);
    pool.add("sessions_opened", m.sessions_opened);
    pool.add("pool_wait_p99_ms", m.pool_wait.quantile(0.99) * 1e3);
    pool.add("pool_timeouts", m.pool_timeouts);
  }
}

}  // namespace

int run_demo(const command_line& args) {
  settings config;
  const auto given_url = args.url();
  config.url = given_url.value_or("sqlite:///repokit-demo.db");
  config.producers = static_cast<int>(args.integer("producers", 4, 1, 64));
  config.workers = static_cast<int>(args.integer("workers", 4, 1, 64));
  config.targets = static_cast<int>(args.integer("targets", 200, 1, 100'000));
  config.videos =
      static_cast<int>(args.integer("videos", std::max(1000, config.targets), 1, 1'000'000));
  config.chaos = args.real("chaos", 0.0, 0.0, 0.5);
  config.json = args.flag("json");
  const bool verbose = args.flag("verbose");
  if (config.videos < config.targets) {
    throw usage_error("--videos must be at least --targets: every job's target is a video");
  }
  if (!given_url) {
    // The default database is the demo's own file: start it afresh each run.
    for (const char* suffix : {"", "-wal", "-shm"}) {
      std::filesystem::remove(std::string("repokit-demo.db") + suffix);
    }
  }
  watch_for_interrupt();

  auto chaos = std::make_shared<testing::fault_injector>(config.chaos);
  // Log lines and the progress bar share stderr through one status line.
  auto line = std::make_shared<status_line>(::isatty(STDERR_FILENO) == 1);
  auto logger = std::make_shared<spdlog::logger>("repokit", status_line_sink(line));
  logger->set_level(verbose ? spdlog::level::info : spdlog::level::err);
  database_options options{
      .pool_size = static_cast<std::size_t>(std::min(32, config.producers + config.workers)),
      // Chaos makes failures far likelier than in life: be patient, and quick about it.
      .retry =
          db_retry{.max_retries = 12, .initial_delay = seconds{0.002}, .max_delay = seconds{0.1}},
      .logger = logger};
  if (config.chaos > 0) {
    options.wrap_session = testing::inject(chaos);
  }
  auto opened = Database::open(config.url, options);
  if (!opened) {
    std::cerr << "repokit demo: cannot open the database: " << opened.error().describe() << '\n';
    return 1;
  }
  const Database& db = opened.value();
  const auto started = steady::now();
  if (auto migrated = migrate(db); !migrated) {
    std::cerr << "repokit demo: migration failed: " << migrated.error().describe() << '\n';
    return 1;
  }

  // A job type of its own per run, so that runs on a shared database do not meet.
  const std::string job_type =
      "demo-transcode-" + std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(
                                             std::chrono::system_clock::now().time_since_epoch())
                                             .count());
  tally counts(config.targets);
  std::optional<worker_runtime> runtime(
      std::in_place, db,
      runtime_options{.name = "demo",
                      .idle_poll_min = std::chrono::milliseconds{2},
                      .idle_poll_max = std::chrono::milliseconds{100}});
  worker_runtime& workers = *runtime;
  job_type_options per_type = demo_job_options;
  per_type.concurrency = config.workers;
  if (auto registered = workers.handle(
          job_type, [&](const Job& job) { return process(db, job, counts); }, per_type);
      !registered) {
    std::cerr << "repokit demo: " << registered.error().describe() << '\n';
    return 1;
  }
  stop_report stopped;
  {
    progress_display progress(counts, config, db, line);
    if (auto ingested = ingest_catalogue(db, config.videos, counts); !ingested) {
      line->finish();
      std::cerr << "repokit demo: ingesting the catalogue failed: " << ingested.error().describe()
                << '\n';
      return 1;
    }
    progress.advance(phase::enqueue);
    chaos->arm();
    if (auto started_workers = workers.start(); !started_workers) {
      line->finish();
      std::cerr << "repokit demo: cannot start the workers: " << started_workers.error().describe()
                << '\n';
      return 1;
    }
    {
      std::vector<std::jthread> producers;
      for (int p = 0; p < config.producers; ++p) {
        producers.emplace_back([&, p] { produce(db, job_type, config, 42 + p, counts, workers); });
      }
    }
    progress.advance(phase::drain);
    wait_until_drained(db, job_type);
    // On Ctrl-C or SIGTERM, running handlers get this long to finish; their jobs are given back
    // after it.
    stopped = workers.stop(std::chrono::seconds{10});
  }
  const double elapsed = std::chrono::duration<double>(steady::now() - started).count();
  if (interrupted()) {
    runtime.reset();  // the workers are done with the database
    // Closing the pool lets SQLite fold its -wal file back and remove it and the -shm file.
    opened = failure(errc::misuse, "closed");
    std::cerr << "repokit demo: interrupted after " << counts.processed.load() << " of "
              << config.targets << " jobs";
    if (stopped.released > 0) {
      std::cerr << "; " << stopped.released << " running job(s) given back for a later run";
    }
    std::cerr << "; the database is closed cleanly\n";
    return exit_interrupted;
  }

  auto final_counts = jobs_by_status(db, job_type);
  if (!final_counts) {
    std::cerr << "repokit demo: cannot read the final job counts: "
              << final_counts.error().describe() << '\n';
    return 1;
  }
  std::int64_t lost = 0;
  std::int64_t twice = 0;
  for (const auto& runs : counts.runs_per_target) {
    const int n = runs.load();
    if (n == 0) ++lost;
    if (n > 1) ++twice;
  }
  const std::int64_t succeeded = count_of(final_counts.value(), "succeeded");
  lost = std::max(lost, config.targets - succeeded);

  // What must hold is one job per target, each processed exactly once. The jobs are counted in
  // the database: an enqueue whose COMMIT was in doubt may have created its job unseen.
  std::int64_t jobs_made = 0;
  for (const auto& [status, n] : final_counts.value()) jobs_made += n;
  const bool sound = lost == 0 && twice == 0 && jobs_made == config.targets;
  std::string verdict;
  if (sound) {
    verdict =
        "OK: " + std::to_string(config.targets) + " jobs, each created once and processed once";
    if (chaos->injected() > 0) {
      verdict += "; " + std::to_string(chaos->injected()) + " injected faults absorbed";
    }
    if (const auto give_ups = db.metrics().give_ups; give_ups > 0) {
      verdict += "; " + std::to_string(give_ups) +
                 " give-ups, each made good by a later claim, a job's retry or the enqueue made "
                 "again";
    }
  } else {
    verdict = "FAILED: " + std::to_string(lost) + " job(s) lost, " + std::to_string(twice) +
              " processed twice, " + std::to_string(jobs_made) + " jobs for " +
              std::to_string(config.targets) + " targets";
  }

  report summary("repokit demo");
  fill_summary(summary, db, config, counts, workers.counters(), *chaos, succeeded,
               count_of(final_counts.value(), "failed"), count_of(final_counts.value(), "dead"),
               lost, twice, elapsed, verbose || config.json);
  if (config.json) {
    summary.add("verdict", verdict);
    summary.print(std::cout, true);
    if (!sound) std::cerr << "repokit demo: " << verdict << '\n';
  } else {
    summary.print(std::cout, false);
    const bool colour = colour_wanted(STDOUT_FILENO);
    const char* on = !colour ? "" : sound ? "\033[1;32m" : "\033[1;31m";
    std::cout << on << verdict << (colour ? "\033[0m" : "") << '\n';
  }
  return sound ? 0 : 1;
}

}  // namespace repokit::cli
