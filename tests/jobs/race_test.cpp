// Two processes, sixteen threads each, asking create_if_not_exists for the same hundred targets
// fifty times per target and process: every target gets exactly one job, created exactly once,
// and every caller gets an answer rather than an error.
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "job_support.hpp"

using namespace repokit;
using namespace repokit::jobs_test;
using repokit::testing::test_database;

namespace {

constexpr int targets = 100;
constexpr int calls_per_target = 50;  // in each process
constexpr int threads_per_process = 16;
constexpr int processes = 2;

// "key value" lines into a map; a line that is not one is kept under its whole text, -1.
std::map<std::string, long long> parse_counts(const std::vector<std::string>& lines) {
  std::map<std::string, long long> counts;
  for (const std::string& line : lines) {
    std::istringstream in(line);
    std::string key;
    long long value = 0;
    if (in >> key >> value) {
      counts[key] = value;
    } else {
      counts[line] = -1;
    }
  }
  return counts;
}

}  // namespace

TEST_CASE("create_if_not_exists raced by two processes creates each job exactly once", "[race]") {
  test_database fixture;
  const Database& db = fixture.db();

  std::vector<std::unique_ptr<worker_process>> workers;
  for (int p = 0; p < processes; ++p) {
    workers.push_back(std::make_unique<worker_process>(std::vector<std::string>{
        "race", fixture.url(), std::to_string(targets), std::to_string(calls_per_target),
        std::to_string(threads_per_process)}));
  }
  // Both processes have their connections open before either starts: the calls overlap.
  for (auto& worker : workers) REQUIRE(worker->read_line() == "ready");
  for (auto& worker : workers) worker->go();

  long long created = 0;
  for (int p = 0; p < processes; ++p) {
    const std::vector<std::string> lines = workers[p]->read_lines();
    const int status = workers[p]->wait();
    auto counts = parse_counts(lines);
    INFO("process " << p << " wrote " << lines.size() << " lines, exit status " << status);
    CHECK(exited_cleanly(status));
    CHECK(counts.size() == 4);
    CHECK(counts["errors"] == 0);
    // Within one process, every answer for a target named the same job.
    CHECK(counts["consistent"] == targets);
    // The line is there and parsed (a missing one would read as 0 below); one process creates
    // at most every job, and the sum over both is checked after the loop.
    CHECK(counts.count("created") == 1);
    CHECK(counts["created"] <= targets);
    created += counts["created"];
    WARN("race process " << p << ": created " << counts["created"] << ", retries "
                         << counts["retries"]);
  }

  CHECK(created == targets);
  CHECK(count_jobs(db, "video_process", job_status::pending) == targets);
  CHECK(count_jobs(db, "video_process") == targets);  // no job in any other status either
}
