// `repokit bench`: the workloads of the benchmark suite through repokit's public API, one JSON
// object on the last line. Data set: 100 channels and --videos videos, created if missing.
#include <atomic>
#include <chrono>
#include <filesystem>
#include <iostream>
#include <random>
#include <thread>
#include <vector>

#include "commands.hpp"
#include "repokit/repokit.hpp"
#include "report.hpp"

namespace repokit::cli {
namespace {

constexpr std::array<column_type, 1> count_column{column_type::integer};
constexpr statement video_count{"bench_videos", "SELECT COUNT(*) FROM videos", statement_kind::read,
                                count_column};

result<void> ensure_data_set(const Database& db, int videos) {
  REPOKIT_TRYV(migrate(db));
  REPOKIT_TRY(const std::int64_t present,
              run_unit(db, [](UnitOfWork& unit) -> result<std::int64_t> {
                REPOKIT_TRY(auto counted, unit.query_one(video_count));
                return counted->integer(0);
              }));
  if (present >= videos) return success();
  REPOKIT_TRYV(channel_repository(db, [](ChannelRepository& channels) -> result<void> {
    for (int i = 0; i < 100; ++i) {
      REPOKIT_TRYV(
          channels.get_or_create_channel("CH" + std::to_string(i), "Channel " + std::to_string(i)));
    }
    return success();
  }));
  constexpr int batch = 1000;
  for (int first = static_cast<int>(present); first < videos; first += batch) {
    REPOKIT_TRYV(video_repository(db, [&](VideoRepository& repo) -> result<void> {
      for (int i = first; i < std::min(videos, first + batch); ++i) {
        REPOKIT_TRYV(repo.create_video("V" + std::to_string(i), "CH" + std::to_string(i % 100),
                                       "Video " + std::to_string(i), i % 600));
      }
      return success();
    }));
  }
  return success();
}

}  // namespace

int run_bench(const command_line& args) {
  const std::string workload = args.text("workload", "scoped-read");
  const std::int64_t ops = args.integer("ops", 10'000, 1, 100'000'000);
  const int threads = static_cast<int>(args.integer("threads", 1, 1, 256));
  const int videos = static_cast<int>(args.integer("videos", 10'000, 1000, 10'000'000));
  const std::string url = args.text("url", "sqlite:///repokit-bench.db");
  if (workload != "scoped-read" && workload != "hot-read" && workload != "scoped-write" &&
      workload != "create-job") {
    throw usage_error("--workload must be scoped-read, hot-read, scoped-write or create-job");
  }
  auto opened = Database::open(url, {.pool_size = static_cast<std::size_t>(std::max(threads, 1))});
  if (!opened) {
    std::cerr << "repokit bench: cannot open the database: " << opened.error().describe() << '\n';
    return 1;
  }
  const Database& db = opened.value();
  if (auto ready = ensure_data_set(db, videos); !ready) {
    std::cerr << "repokit bench: preparing the data set failed: " << ready.error().describe()
              << '\n';
    return 1;
  }

  std::atomic<std::int64_t> failures{0};
  const std::string run =
      std::to_string(std::chrono::steady_clock::now().time_since_epoch().count());
  const auto started = std::chrono::steady_clock::now();
  {
    std::vector<std::jthread> workers;
    for (int t = 0; t < threads; ++t) {
      workers.emplace_back([&, t] {
        std::mt19937 random(static_cast<unsigned>(42 + t));
        const std::int64_t mine = ops / threads + (t < ops % threads ? 1 : 0);
        const auto video = [&](int below) {
          return "V" + std::to_string(random() % static_cast<unsigned>(below));
        };
        if (workload == "hot-read") {
          auto read = video_repository(db, [&](VideoRepository& repo) -> result<void> {
            for (std::int64_t i = 0; i < mine; ++i) {
              if (!repo.get_video_by_id(video(videos))) ++failures;
            }
            return success();
          });
          if (!read) failures += mine;
          return;
        }
        for (std::int64_t i = 0; i < mine; ++i) {
          bool ok = false;
          if (workload == "scoped-read") {
            ok = static_cast<bool>(video_repository(
                db, [&](VideoRepository& repo) { return repo.get_video_by_id(video(videos)); }));
          } else if (workload == "scoped-write") {
            const std::string id = "B" + run + "-" + std::to_string(t) + "-" + std::to_string(i);
            ok = static_cast<bool>(video_repository(db, [&](VideoRepository& repo) {
              return repo.create_video(id, "CH" + std::to_string(i % 100), "Bench video", 60);
            }));
          } else {
            ok = static_cast<bool>(job_repository(db, [&](JobRepository& jobs) {
              return jobs.create_if_not_exists("video_process", video(1000), R"({"q":1})");
            }));
          }
          if (!ok) ++failures;
        }
      });
    }
  }
  const double elapsed =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();

  report out("repokit bench");
  out.add("impl", "repokit");
  out.add("workload", workload);
  out.add("ops", ops);
  out.add("threads", threads);
  out.add("seconds", elapsed);
  out.add("ops_per_s", static_cast<double>(ops) / elapsed);
  out.add("failures", failures.load());
  out.add("retries", db.metrics().retries_total());
  out.print(std::cout, true);
  return failures == 0 ? 0 : 1;
}

}  // namespace repokit::cli
