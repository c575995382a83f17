// `repokit demo`: the whole mission end to end. A catalogue is ingested, producer threads
// enqueue processing jobs idempotently for overlapping targets, worker threads claim and run
// them in phases with per-task sessions, optional chaos injects transient faults, and the
// summary proves that no job was lost or processed twice.
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
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
#include <spdlog/sinks/stdout_color_sinks.h>

#include "chaos_session.hpp"
#include "commands.hpp"
#include "repokit/repokit.hpp"
#include "report.hpp"

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

struct tally {
  std::atomic<std::int64_t> created{0};
  std::atomic<std::int64_t> duplicates{0};
  std::atomic<std::int64_t> enqueue_failures{0};
  std::atomic<std::int64_t> worker_failures{0};
  std::atomic<std::int64_t> processed{0};
  std::atomic<bool> producers_done{false};
  std::vector<std::atomic<int>> runs_per_target;  // how often the work ran for each target
  explicit tally(int targets) : runs_per_target(static_cast<std::size_t>(targets)) {}
};

std::string target_id(int index) { return "V" + std::to_string(index); }

int target_index(std::string_view target) {
  int index = -1;
  std::from_chars(target.data() + 1, target.data() + target.size(), index);
  return index;
}

result<void> ingest_catalogue(const Database& db, int videos) {
  const int channels = std::max(1, std::min(100, videos));
  REPOKIT_TRYV(channel_repository(db, [&](ChannelRepository& repo) -> result<void> {
    for (int i = 0; i < channels; ++i) {
      REPOKIT_TRYV(
          repo.get_or_create_channel("CH" + std::to_string(i), "Channel " + std::to_string(i)));
    }
    return success();
  }));
  constexpr int batch = 250;
  for (int first = 0; first < videos; first += batch) {
    REPOKIT_TRYV(video_repository(db, [&](VideoRepository& repo) -> result<void> {
      for (int i = first; i < std::min(videos, first + batch); ++i) {
        const std::string id = target_id(i);
        if (repo.get_video_by_id(id)) continue;  // kept from an earlier run on this database
        REPOKIT_TRYV(repo.create_video(id, "CH" + std::to_string(i % channels),
                                       "Video " + std::to_string(i), i % 600));
      }
      return success();
    }));
  }
  return success();
}

void produce(const Database& db, const std::string& job_type, const settings& config, int seed,
             tally& counts) {
  std::vector<int> order(static_cast<std::size_t>(config.targets));
  for (int i = 0; i < config.targets; ++i) order[static_cast<std::size_t>(i)] = i;
  std::shuffle(order.begin(), order.end(), std::minstd_rand(static_cast<unsigned>(seed)));
  // A video is processed once: a job that already succeeded answers as much as an active one.
  static constexpr std::array once{job_status::pending, job_status::running, job_status::succeeded};
  for (const int target : order) {
    auto job = job_repository(db, [&](JobRepository& jobs) {
      return jobs.create_if_not_exists(job_type, target_id(target), R"({"quality":"hd"})", once);
    });
    if (!job) {
      ++counts.enqueue_failures;
    } else if (job.value().created) {
      ++counts.created;
    } else {
      ++counts.duplicates;
    }
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

void work(const Database& db, const std::string& job_type, int worker, tally& counts) {
  const std::string worker_id = "demo-worker-" + std::to_string(worker);
  // Phase 2 of each job: no session is held; the look-up opens a short unit of its own.
  const auto process = [&](const Job& job) -> result<void> {
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
    (void)video;
    return success();
  };
  for (;;) {
    auto finished = work_on_next_job(db, job_type, worker_id, process);
    if (!finished) {
      ++counts.worker_failures;
      continue;
    }
    if (finished.value()) {
      ++counts.processed;
      continue;
    }
    if (!counts.producers_done.load()) {
      std::this_thread::sleep_for(std::chrono::milliseconds{2});  // a worker's idle poll
      continue;
    }
    auto counted = jobs_by_status(db, job_type);
    if (counted && count_of(counted.value(), "pending") == 0) return;
  }
}

class progress_display {
 public:
  progress_display(const tally& counts, int targets, const Database& db, bool terminal)
      : counts_(counts),
        targets_(targets),
        db_(db),
        terminal_(terminal),
        thread_([this](std::stop_token stop) { run(stop); }) {}
  ~progress_display() {
    thread_.request_stop();
    thread_.join();
    if (terminal_) std::fprintf(stderr, "\n");
  }

 private:
  void run(std::stop_token stop) {
    const auto period =
        terminal_ ? std::chrono::milliseconds{100} : std::chrono::milliseconds{1000};
    while (!stop.stop_requested()) {
      std::this_thread::sleep_for(period);
      const auto done = counts_.processed.load();
      const auto m = db_.metrics();
      if (terminal_) {
        const int width = 30;
        const int filled = targets_ > 0 ? static_cast<int>(width * done / targets_) : width;
        std::fprintf(stderr, "\r[%-*s] %lld/%d jobs processed, %lld retries ", width,
                     std::string(static_cast<std::size_t>(std::min(filled, width)), '#').c_str(),
                     static_cast<long long>(done), targets_,
                     static_cast<long long>(m.retries_total()));
      } else {
        std::fprintf(stderr, "progress: %lld/%d jobs processed, %lld retries\n",
                     static_cast<long long>(done), targets_,
                     static_cast<long long>(m.retries_total()));
      }
      std::fflush(stderr);
    }
  }

  const tally& counts_;
  int targets_;
  const Database& db_;
  bool terminal_;
  std::jthread thread_;
};

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
  if (config.videos < config.targets) {
    throw usage_error("--videos must be at least --targets: every job's target is a video");
  }
  if (!given_url) {
    // The default database is the demo's own file: start it afresh each run.
    for (const char* suffix : {"", "-wal", "-shm"}) {
      std::filesystem::remove(std::string("repokit-demo.db") + suffix);
    }
  }

  auto chaos = std::make_shared<chaos_source>(config.chaos);
  auto logger = std::make_shared<spdlog::logger>(
      "repokit", std::make_shared<spdlog::sinks::stderr_color_sink_mt>());
  logger->set_level(args.flag("verbose") ? spdlog::level::info : spdlog::level::err);
  database_options options{
      .pool_size = static_cast<std::size_t>(std::min(32, config.producers + config.workers)),
      // Chaos makes failures far likelier than in life: be patient, and quick about it.
      .retry =
          db_retry{.max_retries = 12, .initial_delay = seconds{0.002}, .max_delay = seconds{0.1}},
      .logger = logger};
  if (config.chaos > 0) {
    options.wrap_session = [chaos](std::unique_ptr<Session> session) -> std::unique_ptr<Session> {
      return std::make_unique<chaos_session>(std::move(session), chaos);
    };
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
  if (auto ingested = ingest_catalogue(db, config.videos); !ingested) {
    std::cerr << "repokit demo: ingesting the catalogue failed: " << ingested.error().describe()
              << '\n';
    return 1;
  }

  // A job type of its own per run, so that runs on a shared database do not meet.
  const std::string job_type =
      "demo-transcode-" + std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(
                                             std::chrono::system_clock::now().time_since_epoch())
                                             .count());
  tally counts(config.targets);
  chaos->arm();
  {
    // Progress goes to stderr, so that stdout holds the summary alone (one JSON object with
    // --json); a terminal gets a bar redrawn in place, anything else a line a second.
    const progress_display progress(counts, config.targets, db, ::isatty(STDERR_FILENO) == 1);
    std::vector<std::jthread> workers;
    for (int w = 0; w < config.workers; ++w) {
      workers.emplace_back([&, w] { work(db, job_type, w, counts); });
    }
    {
      std::vector<std::jthread> producers;
      for (int p = 0; p < config.producers; ++p) {
        producers.emplace_back([&, p] { produce(db, job_type, config, 42 + p, counts); });
      }
    }
    counts.producers_done = true;
  }
  const double elapsed = std::chrono::duration<double>(steady::now() - started).count();

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
  lost = std::max(lost, config.targets - count_of(final_counts.value(), "succeeded"));

  report summary("repokit demo");
  const auto m = db.metrics();
  summary.add("database", db.url().masked());
  summary.add("producers", config.producers);
  summary.add("workers", config.workers);
  summary.add("targets", config.targets);
  summary.add("videos", config.videos);
  summary.add("chaos_rate", config.chaos);
  summary.add("jobs_created", counts.created.load());
  summary.add("duplicate_enqueues_absorbed", counts.duplicates.load());
  summary.add("enqueue_failures", counts.enqueue_failures.load());
  summary.add("jobs_processed", counts.processed.load());
  summary.add("jobs_succeeded", count_of(final_counts.value(), "succeeded"));
  summary.add("jobs_failed", count_of(final_counts.value(), "failed"));
  summary.add("jobs_lost", lost);
  summary.add("jobs_processed_twice", twice);
  summary.add("worker_failures", counts.worker_failures.load());
  summary.add("commits", m.commits);
  summary.add_metrics(m);
  summary.add("chaos_faults_injected", chaos->total());
  summary.add("chaos_busy", chaos->busy());
  summary.add("chaos_deadlocks", chaos->deadlocks());
  summary.add("chaos_dropped_connections", chaos->drops());
  summary.add("seconds", elapsed);
  summary.print(std::cout, config.json);

  // An enqueue that gave up is not a lost job when another producer enqueued that target:
  // what must hold is one job per target, each processed exactly once.
  const bool sound = lost == 0 && twice == 0 && counts.created == config.targets;
  if (!sound) {
    std::cerr << "repokit demo: FAILED: " << lost << " job(s) lost, " << twice
              << " processed twice, " << counts.created << " created for " << config.targets
              << " targets\n";
  }
  return sound ? 0 : 1;
}

}  // namespace repokit::cli
