// Six workers drain 600 jobs through the cluster URL while node 2 is killed with SIGKILL a third
// of the way through. Their connections to node 2 break; units retried after a lost connection go
// to the survivors, which go on as the cluster once they have declared node 2 gone. A claim whose
// COMMIT was cut off is in doubt: its job may be left running, so after the queue looks empty
// reconcile_stale gives such jobs back and the workers drain again. In the end every job has
// succeeded, each was reported finished exactly once and none is lost, and the failover is
// asserted: connections to node 2 were discarded and the workers finished jobs after the kill.
// Work that ran twice for one job (only possible behind an in-doubt commit, whose first outcome
// is never reported as finished) is reported, not failed. Node 2 rejoins at the end.
//
// Run alone (ctest RUN_SERIAL): it takes a node away from every other Galera test.
#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <latch>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "galera_support.hpp"

using namespace repokit;
using namespace repokit::galera_test;
using repokit::testing::test_database;

namespace {

constexpr int job_count = 600;
constexpr int workers_per_node = 2;
constexpr int worker_count = workers_per_node * node_count;
constexpr int kill_after_jobs = job_count / 3;
// Workers that got this far before the kill has happened wait for it, so it always lands while
// most of the queue is still to do.
constexpr int gate_at_jobs = job_count / 2;
constexpr int killed_node = 2;
constexpr std::string_view job_type = "galera_failover";

constexpr std::array text_column{column_type::text};
constexpr statement node_name{"node_name", "SELECT @@wsrep_node_name", statement_kind::read,
                              text_column};
constexpr std::array job_columns{column_type::integer, column_type::text, column_type::integer};
constexpr statement jobs_of_type{
    "jobs_of_type", "SELECT id, status, attempts FROM jobs WHERE job_type = :p1 ORDER BY id",
    statement_kind::read, job_columns};

constexpr std::array lease_column{column_type::integer};
constexpr statement latest_lease{
    "latest_lease",
    "SELECT COALESCE(MAX(lease_expires_at), 0) FROM jobs WHERE job_type = :p1 AND "
    "status = 'running'",
    statement_kind::read, lease_column};
// The workers' lease: longer than the survivors' pause after the kill (3 to 4 s), so that no
// live claim is taken over, and short enough that a claim the kill left in doubt runs out soon.
constexpr std::chrono::milliseconds worker_lease{10'000};

db_retry failover_retry() {
  return db_retry{.max_retries = 40, .initial_delay = seconds{0.01}, .max_delay = seconds{0.5}};
}

struct job_row {
  std::string status;
  std::int64_t attempts = 0;
};

// Every job of the test's type, read through a connection of the cluster URL once its node has
// caught up with the others.
std::map<std::int64_t, job_row> read_jobs(const std::string& url) {
  const Database db = causal_database(url);
  auto rows = lookup(db, [&](Repositories& repos) {
    return repos.unit.query(jobs_of_type, std::array<param, 1>{job_type});
  });
  INFO((rows ? std::string() : rows.error().describe()));
  REQUIRE(rows);
  std::map<std::int64_t, job_row> jobs;
  for (const row& r : rows.value()) jobs.emplace(r.integer(0), job_row{r.text(1), r.integer(2)});
  return jobs;
}

struct worker_record {
  std::vector<std::int64_t> worked;    // ids handed to work()
  std::vector<std::int64_t> finished;  // jobs whose outcome work_on_next_job recorded
  int finished_after_kill = 0;         // of those, recorded once the kill had happened
  std::map<std::string, int> errors;   // errc of failed calls -> how many
  std::vector<std::string> error_messages;
};

// Rejoins a killed node when the test ends early, so later tests still find three nodes.
class rejoin_guard {
 public:
  explicit rejoin_guard(int node) : node_(node) {}
  rejoin_guard(const rejoin_guard&) = delete;
  rejoin_guard& operator=(const rejoin_guard&) = delete;
  ~rejoin_guard() {
    if (armed_) rejoin();
  }
  void arm() { armed_ = true; }
  // galera-cluster.sh start DIR N: returns once the node is synced; its exit status.
  int rejoin() {
    armed_ = false;
    return cluster_script("start " + required_environment("REPOKIT_TEST_GALERA_DIR") + " " +
                          std::to_string(node_));
  }

 private:
  int node_;
  bool armed_ = false;
};

}  // namespace

TEST_CASE("killing a node while six workers drain 600 jobs loses no job and finishes each once",
          "[galera][node_failure]") {
  require_galera();
  const std::string cluster_dir = required_environment("REPOKIT_TEST_GALERA_DIR");
  require_full_cluster();

  test_database fixture({.pool_size = 2, .retry = failover_retry(), .logger = quiet_logger()});
  // The workers' Database: the cluster URL, connections spread round-robin over the nodes.
  auto retries = std::make_shared<retry_counting_sink>();
  const Database workers_db = open_database(
      fixture.url(),
      {.pool_size = worker_count, .retry = failover_retry(), .logger = quiet_logger(retries)});

  std::vector<std::int64_t> seeded;
  for (int first = 0; first < job_count; first += 100) {
    auto made =
        job_repository(fixture.db(), [&](JobRepository& jobs) -> result<std::vector<std::int64_t>> {
          std::vector<std::int64_t> ids;
          for (int n = first; n < first + 100; ++n) {
            REPOKIT_TRY(auto job, jobs.create_job(job_type, "T" + std::to_string(n)));
            ids.push_back(job.id);
          }
          return ids;
        });
    INFO((made ? std::string() : made.error().describe()));
    REQUIRE(made);
    seeded.insert(seeded.end(), made.value().begin(), made.value().end());
  }
  REQUIRE(seeded.size() == static_cast<std::size_t>(job_count));
  catch_up_all();  // every node has the database and the jobs before a worker connects to it

  std::vector<worker_record> records(worker_count);
  std::vector<std::string> worker_nodes(worker_count);
  std::latch connected(worker_count);  // all six connections are open at once: one per worker
  std::atomic<int> done{0};
  std::atomic<int> kill_due{0};   // 1 once kill_after_jobs jobs are done
  std::atomic<int> kill_over{0};  // 1 once the kill has happened (or failed)

  auto work_loop = [&](int worker, worker_record& record) {
    const std::string worker_id = "worker-" + std::to_string(worker);
    for (;;) {
      auto finished =
          work_on_next_job(workers_db, job_type, worker_id,
                           [&record](const Job& job) { record.worked.push_back(job.id); },
                           {.claim = {.lease = worker_lease}});
      if (!finished) {
        // Reported, and the worker goes on: a claim in doubt leaves its job for reconcile_stale.
        ++record.errors[std::string(to_string(finished.error().kind))];
        record.error_messages.push_back(finished.error().describe());
        if (record.error_messages.size() > 50) return;  // something is badly wrong: stop
        continue;
      }
      if (!finished.value()) return;  // nothing pending
      record.finished.push_back(finished.value()->id);
      if (kill_over.load() == 1) ++record.finished_after_kill;
      const int now_done = ++done;
      if (now_done == kill_after_jobs) {
        kill_due = 1;
        kill_due.notify_all();
      }
      if (now_done >= gate_at_jobs) kill_over.wait(0);
    }
  };

  auto worker_thread = [&](int worker) {
    worker_record& record = records[static_cast<std::size_t>(worker)];
    // Hold a connection until every worker has one: the pool opens six, round-robin.
    bool arrived = false;
    auto where = lookup(workers_db, [&](Repositories& repos) -> result<std::string> {
      REPOKIT_TRY(auto name, repos.unit.query_one(node_name));
      if (!arrived) {
        arrived = true;
        connected.arrive_and_wait();
      }
      return name.value().text(0);
    });
    if (!arrived) connected.arrive_and_wait();
    worker_nodes[static_cast<std::size_t>(worker)] =
        where ? where.value() : "error: " + where.error().describe();
    work_loop(worker, record);
  };

  rejoin_guard node_back(killed_node);
  int kill_status = -1;
  using clock = std::chrono::steady_clock;
  const auto started = clock::now();
  clock::time_point killed_at{};
  {
    std::vector<std::jthread> threads;
    for (int worker = 0; worker < worker_count; ++worker) {
      threads.emplace_back(worker_thread, worker);
    }
    // Also woken when every worker stopped early: then the kill finds nothing to hit, and the
    // checks below fail on the jobs left.
    std::jthread watcher([&] {
      for (std::jthread& thread : threads) thread.join();
      kill_due = 1;
      kill_due.notify_all();
    });
    kill_due.wait(0);
    node_back.arm();
    kill_status = cluster_script("kill " + cluster_dir + " " + std::to_string(killed_node));
    killed_at = clock::now();
    kill_over = 1;
    kill_over.notify_all();
  }
  const auto first_drain_over = clock::now();
  const int done_at_first_drain = done.load();

  // Jobs whose claim was cut off during COMMIT may be running with nobody working on them:
  // once their leases have run out, give them back and drain again until nothing is running or
  // pending.
  std::uint64_t requeued = 0;
  std::uint64_t failed_for_good = 0;
  int rounds = 0;
  for (; rounds < 5; ++rounds) {
    auto lease_end = lookup(workers_db, [&](Repositories& repos) -> result<std::int64_t> {
      REPOKIT_TRY(auto found, repos.unit.query_one(latest_lease, std::array<param, 1>{job_type}));
      return found.value().integer(0);
    });
    INFO((lease_end ? std::string() : lease_end.error().describe()));
    REQUIRE(lease_end);
    std::this_thread::sleep_until(
        std::chrono::system_clock::time_point(std::chrono::milliseconds{lease_end.value() + 1}));
    auto report = job_repository(workers_db, [](JobRepository& jobs) {
      return jobs.reconcile_stale(std::chrono::milliseconds{0});
    });
    INFO((report ? std::string() : report.error().describe()));
    REQUIRE(report);
    requeued += report.value().requeued;
    failed_for_good += report.value().dead;
    work_loop(worker_count, records.emplace_back());
    std::int64_t open_jobs = 0;
    for (const auto& [id, job] : read_jobs(fixture.url())) {
      open_jobs += job.status == "pending" || job.status == "running" ? 1 : 0;
    }
    if (open_jobs == 0) break;
  }
  const double drain_seconds = std::chrono::duration<double>(clock::now() - started).count();

  // The database: every seeded job is there, succeeded, and there is nothing else.
  const auto jobs = read_jobs(fixture.url());
  std::set<std::int64_t> in_database;
  std::map<std::string, int> by_status;
  std::int64_t claimed_more_than_once = 0;
  for (const auto& [id, job] : jobs) {
    in_database.insert(id);
    ++by_status[job.status];
    if (job.status != "succeeded") FAIL_CHECK("job " << id << " ended " << job.status);
    if (job.attempts > 1) ++claimed_more_than_once;
  }
  CHECK(in_database == std::set<std::int64_t>(seeded.begin(), seeded.end()));
  CHECK(by_status["succeeded"] == job_count);

  // The workers: how often the work ran per job.
  std::map<std::int64_t, int> runs;
  std::map<std::string, int> errors;
  std::vector<std::string> messages;
  for (const worker_record& record : records) {
    for (const std::int64_t id : record.worked) ++runs[id];
    for (const auto& [kind, count] : record.errors) errors[kind] += count;
    messages.insert(messages.end(), record.error_messages.begin(), record.error_messages.end());
  }
  std::vector<std::int64_t> never_worked;
  std::vector<std::int64_t> worked_twice;
  for (const std::int64_t id : seeded) {
    const int count = runs[id];
    if (count == 0) never_worked.push_back(id);
    if (count > 1) worked_twice.push_back(id);
  }
  CHECK(never_worked == std::vector<std::int64_t>{});         // succeeded without its work: a bug
  CHECK(runs.size() == static_cast<std::size_t>(job_count));  // no work for a job not seeded
  std::string twice;
  for (const std::int64_t id : worked_twice) twice += " " + std::to_string(id);

  // Every job reported finished exactly once: counted, not collected in a set, so that a job
  // finished twice shows.
  std::map<std::int64_t, int> finishes;
  int finished_after_kill = 0;
  for (const worker_record& record : records) {
    for (const std::int64_t id : record.finished) ++finishes[id];
    finished_after_kill += record.finished_after_kill;
  }
  std::set<std::int64_t> finished_ids;
  std::string finished_twice;
  for (const auto& [id, count] : finishes) {
    finished_ids.insert(id);
    if (count != 1) finished_twice += " " + std::to_string(id) + "x" + std::to_string(count);
  }
  INFO("jobs finished more than once:" << finished_twice);
  CHECK(finished_twice.empty());
  CHECK(finished_ids == std::set<std::int64_t>(seeded.begin(), seeded.end()));

  // Round-robin gave each node two of the six connections: the kill hit workers.
  std::map<std::string, int> spread;
  for (const std::string& node : worker_nodes) ++spread[node];
  std::string spread_text;
  for (const auto& [node, count] : spread) spread_text += " " + node + "=" + std::to_string(count);
  INFO("connections per node:" << spread_text);
  CHECK(spread.size() == static_cast<std::size_t>(node_count));
  for (const auto& [node, count] : spread) CHECK(count == workers_per_node);

  const metrics_snapshot seen = workers_db.metrics();
  std::string error_text;
  for (const auto& [kind, count] : errors) error_text += " " + kind + "=" + std::to_string(count);
  INFO("errors answered by work_on_next_job:" << error_text);
  for (const std::string& message : messages) UNSCOPED_INFO(message);
  CHECK(kill_status == 0);
  CHECK(done_at_first_drain >= kill_after_jobs);
  // The failover happened: the killed node's connections were thrown away (when a unit failed
  // on them, or at checkout), and the workers went on finishing jobs on the survivors.
  CHECK(seen.sessions_discarded > 0);
  CHECK(finished_after_kill > 0);
  CHECK(workers_db.pool().in_use == 0);
  CHECK(failed_for_good == 0);
  CHECK(rounds < 5);

  WARN("galera node failure: "
       << job_count << " jobs in " << drain_seconds << " s, node " << killed_node
       << " killed after " << std::chrono::duration<double>(killed_at - started).count()
       << " s; first drain " << done_at_first_drain << " jobs in "
       << std::chrono::duration<double>(first_drain_over - started).count()
       << " s; jobs finished after the kill " << finished_after_kill
       << "; connections per node at start:" << spread_text << "; certification conflicts "
       << seen.retries_by(retry_class::retry_transaction) << " (" << retries->deadlocks()
       << " error 1213, " << retries->lock_wait_timeouts()
       << " lock wait timeouts 1205), failovers (reconnect retries) "
       << seen.retries_by(retry_class::reconnect_then_retry) << ", in-doubt retries "
       << seen.retries_by(retry_class::in_doubt) << ", sessions discarded "
       << seen.sessions_discarded << ", in-doubt commits " << seen.in_doubt << ", give-ups "
       << seen.give_ups << "; errors answered:" << (error_text.empty() ? " none" : error_text)
       << "; requeued by reconcile_stale " << requeued << " in " << rounds + 1
       << " round(s); jobs claimed more than once " << claimed_more_than_once
       << "; work ran twice for " << worked_twice.size() << " job(s)" << twice);

  // Leave three nodes behind for the next test.
  CHECK(node_back.rejoin() == 0);
  require_full_cluster();
}
