// sqlite_writer URL PREFIX COUNT
//
// The second process of the SQLite busy test: opens URL with a 1 ms busy timeout (so that
// SQLITE_BUSY really happens and repokit's retries, not SQLite's waiting, carry the load), writes
// "ready" on stdout once its connection is open, waits for a line (or end of file) on stdin,
// then inserts COUNT rows with ids PREFIX-0 ... into fault_rows, each in its own unit of work.
// Writes "retrying" on stdout when its first insert runs a second time (the test holds the write
// lock until both writers have said so), and at the end the number of retries the Database
// made. Exits 0 only if every insert committed.
#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <iostream>
#include <memory>
#include <string>
#include <string_view>

#include <spdlog/logger.h>
#include <spdlog/sinks/stdout_sinks.h>

#include "repokit/repokit.hpp"

namespace {

constexpr std::array integer_column{repokit::column_type::integer};
constexpr repokit::statement insert_row{"insert_fault_row",
                                        "INSERT INTO fault_rows (id, writer) VALUES (:p1, :p2)",
                                        repokit::statement_kind::write,
                                        {}};
constexpr repokit::statement count_all{"count_fault_rows", "SELECT COUNT(*) FROM fault_rows",
                                       repokit::statement_kind::read, integer_column};

int run(const std::string& url, const std::string& prefix, int count) {
  // Retry warnings would be one line per SQLITE_BUSY: only errors (a give-up) go to stderr.
  auto logger = std::make_shared<spdlog::logger>("sqlite_writer",
                                                 std::make_shared<spdlog::sinks::stderr_sink_mt>());
  logger->set_level(spdlog::level::err);
  // The insert waits for the other writer's COMMIT, however long the scheduler leaves that
  // writer off the CPU: retries are not counted down (a count would give up after about a second
  // of 0.05 s waits), and ctest's timeout catches a writer that never gets the lock.
  auto opened = repokit::Database::open(
      url, {.busy_timeout = std::chrono::milliseconds{1},
            .retry = repokit::db_retry{.max_retries = 1'000'000,
                                       .initial_delay = repokit::seconds{0.001},
                                       .max_delay = repokit::seconds{0.05}},
            .logger = logger});
  if (!opened) {
    std::cerr << "sqlite_writer: " << opened.error().describe() << '\n';
    return 1;
  }
  const repokit::Database db = std::move(opened).value();

  // Open the connection before saying ready, so both writers start inserting together.
  auto warm = repokit::run_unit(db, repokit::scope_options{.name = "warm up"},
                                [](repokit::UnitOfWork& unit) -> repokit::result<void> {
                                  REPOKIT_TRYV(unit.query(count_all));
                                  return repokit::success();
                                });
  if (!warm) {
    std::cerr << "sqlite_writer: " << warm.error().describe() << '\n';
    return 1;
  }
  std::cout << "ready" << std::endl;
  std::string go;
  std::getline(std::cin, go);

  int failed = 0;
  for (int i = 0; i < count; ++i) {
    const std::string id = prefix + "-" + std::to_string(i);
    const std::array<repokit::param, 2> params{std::string_view(id), std::string_view(prefix)};
    int attempts = 0;
    auto inserted = repokit::run_unit(db, repokit::scope_options{.name = "writer insert"},
                                      [&](repokit::UnitOfWork& unit) -> repokit::result<void> {
                                        if (++attempts == 2 && i == 0) {
                                          std::cout << "retrying" << std::endl;
                                        }
                                        REPOKIT_TRYV(unit.execute(insert_row, params));
                                        return repokit::success();
                                      });
    if (!inserted) {
      ++failed;
      std::cerr << "sqlite_writer: " << id << ": " << inserted.error().describe() << '\n';
    }
  }
  const auto counted = db.metrics();
  std::cout << counted.retries_total() << std::endl;
  std::cerr << "sqlite_writer " << prefix << ": " << count - failed << "/" << count
            << " committed, retries " << counted.retries_total() << " (retry_transaction "
            << counted.retries_by(repokit::retry_class::retry_transaction) << "), give-ups "
            << counted.give_ups << ", rollbacks " << counted.rollbacks_total() << '\n';
  return failed == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) try {
  if (argc != 4) {
    std::cerr << "usage: sqlite_writer URL PREFIX COUNT\n";
    return 2;
  }
  const int count = std::stoi(argv[3]);
  return run(argv[1], argv[2], count);
} catch (const std::exception& e) {
  std::cerr << "sqlite_writer: " << e.what() << '\n';
  return 1;
}
