// Read-then-write units: under isolation::serializable no update is lost on any backend. Where
// the backend reports a conflict (a serialization failure, a deadlock, SQLITE_BUSY) the retry
// loop runs the unit again; how many conflicts a run meets depends on the scheduler, so the test
// asserts the outcome, not a count of conflicts. Conflicts made on purpose and their retries are
// asserted by tests/faults (PostgreSQL, SQLite) and tests/galera (certification conflicts).
#include <catch2/catch.hpp>

#include <thread>
#include <vector>

#include "contract_support.hpp"

using namespace repokit;
using namespace repokit::contract;

TEST_CASE("serializable read-then-write units lose no update", "[contract][isolation]") {
  testing::test_database fixture(
      {.pool_size = 8,
       // Not counted down: a unit waits for the others' commits however the scheduler runs
       // them; ctest's timeout catches one that never gets through.
       .retry = db_retry{
           .max_retries = 1'000'000, .initial_delay = seconds{0.001}, .max_delay = seconds{0.05}}});
  const Database& db = fixture.db();
  seed_channel(db, "CH1");
  seed_video(db, "V1", "CH1", "counter", 0);

  constexpr int threads = 8;
  constexpr int increments = 25;
  std::atomic<int> failures{0};
  {
    std::vector<std::jthread> workers;
    for (int t = 0; t < threads; ++t) {
      workers.emplace_back([&] {
        for (int i = 0; i < increments; ++i) {
          auto done = video_repository(
              db, {.isolation_level = isolation::serializable},
              [](VideoRepository& videos) -> result<Video> {
                REPOKIT_TRY(auto video, videos.get_video_by_id("V1"));
                return videos.update_video("V1", {.duration_seconds = video.duration_seconds + 1});
              });
          if (!done) ++failures;
        }
      });
    }
  }
  CHECK(failures == 0);
  CHECK(read_video(db, "V1").value().duration_seconds == threads * increments);
}
