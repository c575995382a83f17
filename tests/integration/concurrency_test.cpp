// Many threads on one Database: every unit gets a connection of its own, transient conflicts are
// absorbed by the retry policy, nothing is lost or doubled, and every connection comes back.
//
// Catch2 assertions are not thread-safe: worker threads only record what happened, and the main
// thread checks it after joining them.
#include <catch2/catch.hpp>

#include <atomic>
#include <latch>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "contract_support.hpp"

using namespace repokit;
using namespace repokit::contract;
using repokit::testing::test_database;

namespace {

constexpr int thread_count = 100;
constexpr int operations_per_thread = 20;
constexpr int known_videos = 20;
constexpr int shared_channels = 10;

std::string known_video(int n) { return "known-" + std::to_string(n); }
std::string shared_channel(int n) { return "shared-" + std::to_string(n); }

struct tally {
  std::atomic<int> reads{0};
  std::atomic<int> videos_created{0};
  std::atomic<int> channels_created{0};
  std::atomic<int> channels_found{0};
  std::atomic<int> jobs_created{0};

  std::mutex mutex;
  std::vector<std::string> failures;
  std::map<std::string, std::set<std::string>> names_seen;  // shared channel -> names returned

  void fail(const std::string& what) {
    std::lock_guard lock(mutex);
    failures.push_back(what);
  }
};

void run_worker(const Database& db, int t, tally& out) {
  for (int i = 0; i < operations_per_thread; ++i) {
    const std::string tag = "t" + std::to_string(t) + "-" + std::to_string(i);
    switch ((t + i) % 4) {
      case 0: {
        const std::string id = known_video((t * 7 + i) % known_videos);
        auto read = video_repository(
            db, [&](VideoRepository& videos) { return videos.get_video_by_id(id); });
        if (!read) {
          out.fail(tag + " read " + id + ": " + describe(read));
        } else if (read.value().title != "title of " + id) {
          out.fail(tag + " read " + id + ": wrong title " + read.value().title);
        } else {
          ++out.reads;
        }
        break;
      }
      case 1: {
        auto created = video_repository(db, [&](VideoRepository& videos) {
          return videos.create_video("new-" + tag, "ch-home", "made by " + tag, i);
        });
        if (created) {
          ++out.videos_created;
        } else {
          out.fail(tag + " create video: " + describe(created));
        }
        break;
      }
      case 2: {
        // i / 4 numbers this thread's get_or_create calls 0..4 (one per block of four
        // operations), so together the threads touch every shared id.
        const std::string id = shared_channel((t + i / 4) % shared_channels);
        auto got = channel_repository(db, [&](ChannelRepository& channels) {
          return channels.get_or_create_channel(id, "named by " + tag);
        });
        if (!got) {
          out.fail(tag + " get_or_create " + id + ": " + describe(got));
          break;
        }
        ++(got.value().created ? out.channels_created : out.channels_found);
        std::lock_guard lock(out.mutex);
        out.names_seen[id].insert(got.value().record.name);
        break;
      }
      case 3: {
        auto job = job_repository(
            db, [&](JobRepository& jobs) { return jobs.create_job("concurrency", tag); });
        if (job && job.value().status == job_status::pending) {
          ++out.jobs_created;
        } else {
          out.fail(tag + " create job: " + describe(job));
        }
        break;
      }
    }
  }
}

}  // namespace

TEST_CASE("concurrency: 100 threads of mixed work on one database all succeed",
          "[contract][concurrency]") {
  test_database fixture({.pool_size = 8,
                         .retry = {.max_retries = 10,
                                   .initial_delay = repokit::seconds{0.01},
                                   .max_delay = repokit::seconds{0.2}}});
  const Database& db = fixture.db();
  seed_channel(db, "ch-home", "home");
  for (int n = 0; n < known_videos; ++n) {
    seed_video(db, known_video(n), "ch-home", "title of " + known_video(n), n);
  }

  tally out;
  {
    std::latch start(thread_count);
    std::vector<std::thread> threads;
    threads.reserve(thread_count);
    for (int t = 0; t < thread_count; ++t) {
      threads.emplace_back([&, t] {
        start.arrive_and_wait();
        run_worker(db, t, out);
      });
    }
    for (auto& thread : threads) thread.join();
  }

  {
    std::string first_failures;
    for (std::size_t k = 0; k < out.failures.size() && k < 10; ++k) {
      first_failures += out.failures[k] + "\n";
    }
    INFO(out.failures.size() << " failed operations, the first ones:\n" << first_failures);
    CHECK(out.failures.empty());
  }
  // (t + i) % 4 spreads each thread's 20 operations evenly over the four kinds.
  constexpr int per_kind = thread_count * operations_per_thread / 4;
  CHECK(out.reads == per_kind);
  CHECK(out.videos_created == per_kind);
  CHECK(out.jobs_created == per_kind);
  CHECK(out.channels_created + out.channels_found == per_kind);
  CHECK(out.channels_created == shared_channels);  // exactly one creator per shared id

  CHECK(rows_in(db, "videos") == known_videos + out.videos_created);
  CHECK(rows_in(db, "jobs") == out.jobs_created);
  CHECK(rows_in(db, "channels") == 1 + shared_channels);
  CHECK(out.names_seen.size() == static_cast<std::size_t>(shared_channels));
  for (const auto& [id, names] : out.names_seen) {
    INFO(id);
    CHECK(names.size() == 1);  // every caller got the stored name, not its own
    CHECK(read_channel(db, id).value().name == *names.begin());
  }

  CHECK(db.pool().in_use == 0);
  CHECK(db.pool().open <= 8);
  const metrics_snapshot seen = db.metrics();
  CHECK(seen.give_ups == 0);
  CHECK(seen.in_doubt == 0);
  INFO("retries: " << seen.retries_total());
  CHECK(seen.commits >= static_cast<std::uint64_t>(thread_count * operations_per_thread));
}

TEST_CASE("concurrency: a scope that gets no connection in time fails with pool_exhausted",
          "[contract][concurrency]") {
  test_database fixture({.pool_size = 1, .pool_timeout = std::chrono::milliseconds{50}});
  const Database& db = fixture.db();
  seed_channel(db, "ch-1");
  const std::int64_t videos_before = rows_in(db, "videos");

  result<Video> blocked = failure(errc::database, "the thread did not run");
  {
    unit_guard holder(db);
    // A statement makes the unit take the pool's only connection.
    auto listed = ChannelRepository(holder.unit()).list_channels();
    INFO(describe(listed));
    REQUIRE(listed);
    REQUIRE(db.pool().in_use == 1);

    std::thread other([&] {
      blocked = video_repository(db, [](VideoRepository& videos) {
        return videos.create_video("vid-blocked", "ch-1", "never written", 1);
      });
    });
    other.join();
    CHECK(holder.commit());
  }
  INFO(describe(blocked));
  CHECK(kind_of(blocked) == errc::pool_exhausted);
  CHECK(db.pool().in_use == 0);
  CHECK(db.metrics().pool_timeouts == 1);
  CHECK(rows_in(db, "videos") == videos_before);
  CHECK(kind_of(read_video(db, "vid-blocked")) == errc::not_found);

  // With the connection back, the same work goes through.
  auto later = video_repository(db, [](VideoRepository& videos) {
    return videos.create_video("vid-blocked", "ch-1", "written later", 1);
  });
  INFO(describe(later));
  CHECK(later);
}
