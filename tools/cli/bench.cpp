// `repokit bench`: the workloads of the benchmark suite through repokit's public API. It runs on
// a fresh temporary database by default, refuses a database holding data it did not create, and
// removes what it wrote. Each measurement is repeated: a warm-up round, then --rounds rounds,
// reported as their median and spread.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <random>
#include <thread>
#include <vector>

#include "add_to_start.hpp"
#include "commands.hpp"
#include "interrupt.hpp"
#include "repokit/repokit.hpp"
#include "report.hpp"

namespace repokit::cli {
namespace {

constexpr int exit_refused = 3;

// Every row the benchmark writes carries this prefix, so that it can remove them all.
constexpr std::string_view prefix = "repokit-bench-";

constexpr std::array<column_type, 1> count_column{column_type::integer};
constexpr statement sqlite_tables{
    "bench_tables",
    "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
    statement_kind::read, count_column};
constexpr statement postgresql_tables{
    "bench_tables",
    "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = current_schema()",
    statement_kind::read, count_column};
constexpr statement mysql_tables{
    "bench_tables",
    "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = DATABASE()",
    statement_kind::read, count_column};

// Jobs first: they name videos, which name channels.
constexpr std::array<statement, 3> remove_rows{{
    {"bench_remove_jobs", "DELETE FROM jobs WHERE job_type LIKE :p1", statement_kind::write, {}},
    {"bench_remove_videos",
     "DELETE FROM videos WHERE video_id LIKE :p1",
     statement_kind::write,
     {}},
    {"bench_remove_channels",
     "DELETE FROM channels WHERE channel_id LIKE :p1",
     statement_kind::write,
     {}},
}};
constexpr std::string_view drop_tables =
    "DROP TABLE jobs; DROP TABLE videos; DROP TABLE channels; DROP TABLE repokit_schema_versions;";

struct settings {
  std::string workload;
  std::int64_t ops = 0;
  int rounds = 0;
  int threads = 0;
  int videos = 0;
};

std::string video_id(int index) { return std::string(prefix) + "V" + std::to_string(index); }
std::string channel_id(int index) { return std::string(prefix) + "CH" + std::to_string(index); }

// A temporary directory for the default database, removed with everything in it.
class scratch_directory {
 public:
  scratch_directory() {
    std::string pattern =
        (std::filesystem::temp_directory_path() / "repokit-bench.XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("cannot create " + pattern);
    path_ = pattern;
  }
  ~scratch_directory() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  scratch_directory(const scratch_directory&) = delete;
  scratch_directory& operator=(const scratch_directory&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// How many tables the database holds, read without writing anything: the file stays byte for
// byte the same.
result<std::int64_t> count_tables(const std::string& url) {
  REPOKIT_TRY(const database_url parsed, database_url::parse(url));
  std::error_code ignored;
  if (parsed.kind == dialect::sqlite && !parsed.in_memory() &&
      !std::filesystem::exists(parsed.path, ignored)) {
    return 0;  // a file bench will create, and remove
  }
  REPOKIT_TRY(auto db, Database::open(url, {.pool_size = 1, .read_only = true}));
  const statement& query = db.kind() == dialect::sqlite       ? sqlite_tables
                           : db.kind() == dialect::postgresql ? postgresql_tables
                                                              : mysql_tables;
  return run_unit(db, {.access = access_mode::read_only, .name = "bench check"},
                  [&](UnitOfWork& unit) -> result<std::int64_t> {
                    REPOKIT_TRY(auto counted, unit.query_one(query));
                    return counted->integer(0);
                  });
}

result<void> create_data_set(const Database& db, int videos) {
  REPOKIT_TRYV(migrate(db));
  REPOKIT_TRYV(channel_repository(db, [](ChannelRepository& channels) -> result<void> {
    for (int i = 0; i < 100; ++i) {
      REPOKIT_TRYV(channels.get_or_create_channel(channel_id(i), "Channel " + std::to_string(i)));
    }
    return success();
  }));
  constexpr int batch = 1000;
  for (int first = 0; first < videos && !interrupted(); first += batch) {
    REPOKIT_TRYV(video_repository(db, [&](VideoRepository& repo) -> result<void> {
      for (int i = first; i < std::min(videos, first + batch); ++i) {
        REPOKIT_TRYV(repo.create_video(video_id(i), channel_id(i % 100),
                                       "Video " + std::to_string(i), i % 600));
      }
      return success();
    }));
  }
  return success();
}

result<void> remove_what_was_written(const Database& db, bool drop) {
  if (drop) {
    return run_unit(db, [](UnitOfWork& unit) { return unit.execute_script(drop_tables); });
  }
  const std::string pattern = std::string(prefix) + "%";
  return run_unit(db, [&](UnitOfWork& unit) -> result<void> {
    for (const statement& remove : remove_rows) {
      REPOKIT_TRYV(unit.execute(remove, std::array<param, 1>{std::string_view(pattern)}));
    }
    return success();
  });
}

struct round_result {
  double seconds = 0;
  std::int64_t failures = 0;
};

round_result run_round(const Database& db, const settings& config, int round) {
  std::atomic<std::int64_t> failures{0};
  const std::string job_type = std::string(prefix) + "job";
  const auto started = std::chrono::steady_clock::now();
  {
    std::vector<std::jthread> workers;
    for (int t = 0; t < config.threads; ++t) {
      workers.emplace_back([&, t] {
        std::mt19937 random(static_cast<unsigned>(42 + t + 1000 * round));
        const std::int64_t mine =
            config.ops / config.threads + (t < config.ops % config.threads ? 1 : 0);
        const auto video = [&](int below) {
          return video_id(static_cast<int>(random() % static_cast<unsigned>(below)));
        };
        if (config.workload == "hot-read") {
          auto read = video_repository(db, [&](VideoRepository& repo) -> result<void> {
            for (std::int64_t i = 0; i < mine && !interrupted(); ++i) {
              if (!repo.get_video_by_id(video(config.videos))) ++failures;
            }
            return success();
          });
          if (!read) failures += mine;
          return;
        }
        for (std::int64_t i = 0; i < mine && !interrupted(); ++i) {
          bool ok = false;
          if (config.workload == "scoped-read") {
            ok = static_cast<bool>(video_repository(db, [&](VideoRepository& repo) {
              return repo.get_video_by_id(video(config.videos));
            }));
          } else if (config.workload == "scoped-write") {
            const std::string id = std::string(prefix) + "W" + std::to_string(round) + "-" +
                                   std::to_string(t) + "-" + std::to_string(i);
            ok = static_cast<bool>(video_repository(db, [&](VideoRepository& repo) {
              return repo.create_video(id, channel_id(static_cast<int>(i % 100)), "Bench video",
                                       60);
            }));
          } else {
            ok = static_cast<bool>(job_repository(db, [&](JobRepository& jobs) {
              return jobs.create_if_not_exists(job_type, video(1000), R"({"q":1})");
            }));
          }
          if (!ok) ++failures;
        }
      });
    }
  }
  return {std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count(),
          failures.load()};
}

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  const std::size_t middle = values.size() / 2;
  return values.size() % 2 == 1 ? values[middle] : (values[middle - 1] + values[middle]) / 2;
}

// The value below which `share` (0 to 1) of the values fall: the nearest rank.
double percentile(std::vector<double> values, double share) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  const auto rank = static_cast<std::size_t>(share * static_cast<double>(values.size()) + 0.999999);
  return values[std::min(values.size(), std::max<std::size_t>(rank, 1)) - 1];
}

// The add-to-start workload: the same arrivals measured with the runtime listening for new jobs,
// then polling only.
struct latencies {
  add_to_start_latency listening;
  add_to_start_latency polling;
};

latencies measure_latencies(const Database& db, const settings& config, int gap_ms) {
  const std::string job_type = std::string(prefix) + "add-to-start";
  const std::chrono::milliseconds gap{gap_ms};
  latencies measured;
  if (auto migrated = migrate(db); !migrated) {
    measured.listening.failures = measured.polling.failures =
        static_cast<std::uint64_t>(config.ops);
    std::cerr << "repokit bench: migrating failed: " << migrated.error().describe() << '\n';
    return measured;
  }
  measured.listening = measure_add_to_start(db, job_type + "-listen", true, config.ops, gap, 1);
  measured.polling = measure_add_to_start(db, job_type + "-poll", false, config.ops, gap, 1);
  return measured;
}

void add_latencies(report& out, std::string_view mode, const add_to_start_latency& measured) {
  const std::string key(mode);
  out.add(key + "_p50_ms", percentile(measured.ms, 0.5));
  out.add(key + "_p90_ms", percentile(measured.ms, 0.9));
  out.add(key + "_p99_ms", percentile(measured.ms, 0.99));
  out.add(key + "_max_ms", percentile(measured.ms, 1.0));
  out.add(key + "_jobs", static_cast<std::int64_t>(measured.ms.size()));
  out.add(key + "_notified", measured.notified);
}

}  // namespace

int run_bench(const command_line& args) {
  settings config;
  config.workload = args.text("workload", "scoped-read");
  const bool add_to_start = config.workload == "add-to-start";
  config.ops = args.integer("ops", add_to_start ? 100 : 10'000, 1, 100'000'000);
  config.rounds = static_cast<int>(args.integer("rounds", 5, 1, 1000));
  config.threads = static_cast<int>(args.integer("threads", 1, 1, 256));
  config.videos = static_cast<int>(args.integer("videos", 10'000, 1000, 10'000'000));
  if (config.workload != "scoped-read" && config.workload != "hot-read" &&
      config.workload != "scoped-write" && config.workload != "create-job" && !add_to_start) {
    throw usage_error(
        "--workload must be scoped-read, hot-read, scoped-write, create-job or add-to-start");
  }
  const int gap_ms = static_cast<int>(args.integer("gap-ms", 500, 0, 60'000));
  const bool json = args.flag("json");
  watch_for_interrupt();

  std::optional<scratch_directory> scratch;
  std::string url;
  bool created_schema = false;
  std::optional<std::filesystem::path> created_file;  // an SQLite file bench made: deleted after
  if (auto given = args.url()) {
    url = *given;
    if (auto parsed = database_url::parse(url); parsed && parsed.value().kind == dialect::sqlite &&
                                                !parsed.value().in_memory() &&
                                                !std::filesystem::exists(parsed.value().path)) {
      created_file = parsed.value().path;
    }
    auto tables = count_tables(url);
    if (!tables) {
      std::cerr << "repokit bench: cannot open the database: " << tables.error().describe() << '\n';
      return 1;
    }
    if (tables.value() > 0 && !args.flag("allow-populated")) {
      std::cerr << "repokit bench: refusing to write into a database that already holds "
                << tables.value()
                << " table(s); run without a URL for a fresh temporary database, or pass "
                   "--allow-populated (rows bench writes are removed afterwards)\n";
      return exit_refused;
    }
    created_schema = tables.value() == 0;
  } else {
    scratch.emplace();
    url = "sqlite:///" + (scratch->path() / "bench.db").string();
  }

  // add-to-start: the producer and the worker each have a connection of their own.
  const int connections = add_to_start ? 2 : std::max(config.threads, 1);
  auto opened = Database::open(url, {.pool_size = static_cast<std::size_t>(connections)});
  if (!opened) {
    std::cerr << "repokit bench: cannot open the database: " << opened.error().describe() << '\n';
    return 1;
  }
  const Database& db = opened.value();
  int status = 0;
  std::vector<double> throughput;
  std::int64_t failures = 0;
  std::optional<latencies> latency;
  if (add_to_start) {
    latency = measure_latencies(db, config, gap_ms);
    failures = static_cast<std::int64_t>(latency->listening.failures + latency->polling.failures);
  } else if (auto ready = create_data_set(db, config.videos); !ready) {
    std::cerr << "repokit bench: preparing the data set failed: " << ready.error().describe()
              << '\n';
    status = 1;
  } else {
    // Round 0 warms the caches and the pool; only the rounds after it are measured.
    for (int round = 0; round <= config.rounds && !interrupted(); ++round) {
      const round_result measured = run_round(db, config, round);
      if (round == 0) continue;
      throughput.push_back(static_cast<double>(config.ops) / measured.seconds);
      failures += measured.failures;
    }
  }
  const std::int64_t retries = db.metrics().retries_total();
  const std::string shown_url = scratch ? std::string("temporary SQLite file") : db.url().masked();
  // The default database goes with its directory; a given one loses what bench wrote into it.
  if (created_file) {
    opened = failure(errc::misuse, "closed");  // closes every connection before the file goes
    for (const char* suffix : {"", "-wal", "-shm", "-journal"}) {
      std::error_code ignored;
      std::filesystem::remove(created_file->string() + suffix, ignored);
    }
  } else if (!scratch) {
    if (auto removed = remove_what_was_written(db, created_schema); !removed) {
      std::cerr << "repokit bench: removing the benchmark's rows failed: "
                << removed.error().describe() << '\n';
      status = 1;
    }
  }
  if (interrupted()) {
    std::cerr << "repokit bench: interrupted; what it wrote is removed\n";
    return exit_interrupted;
  }
  if (status != 0) return status;

  report out("repokit bench");
  out.add("impl", "repokit");
  out.add("database", shown_url);
  out.add("workload", config.workload);
  out.add("ops", config.ops);
  if (latency) {
    out.add("gap_ms_mean", static_cast<std::int64_t>(gap_ms));
    add_latencies(out, "listening", latency->listening);
    add_latencies(out, "polling", latency->polling);
    out.add("failures", failures);
    out.print(std::cout, json);
    return failures == 0 ? 0 : 1;
  }
  out.add("threads", config.threads);
  out.add("rounds", config.rounds);
  out.add("ops_per_s", median(throughput));
  out.add("ops_per_s_min", *std::min_element(throughput.begin(), throughput.end()));
  out.add("ops_per_s_max", *std::max_element(throughput.begin(), throughput.end()));
  out.add("failures", failures);
  out.add("retries", retries);
  out.print(std::cout, json);
  return failures == 0 ? 0 : 1;
}

}  // namespace repokit::cli
