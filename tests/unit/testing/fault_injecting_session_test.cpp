// The fault-injecting session users test their own units with, on an embedded SQLite database:
// each fault is reported as the backend would, the unit is retried as a whole, and an in-doubt
// COMMIT lands but is not retried.
#include <catch2/catch.hpp>

#include <filesystem>

#include "repokit/repokit.hpp"
#include "repokit/testing/fault_injecting_session.hpp"
#include "support/outcome.hpp"
#include "support/test_database.hpp"
#include "support/unit_fixtures.hpp"

using namespace repokit;
using namespace repokit::testing;

namespace {

constexpr command<void(std::string_view)> add_note{"add_note",
                                                   "INSERT INTO notes (body) VALUES (:body)"};
constexpr query<std::int64_t()> count_notes{"count_notes", "SELECT COUNT(*) FROM notes"};

struct faulty_database {
  explicit faulty_database(db_retry retry)
      : path(std::filesystem::temp_directory_path() / (unique_name("faults") + ".db")),
        faults(std::make_shared<fault_injector>()),
        db(Database::open(
               "sqlite:///" + path.string(),
               {.pool_size = 1, .retry = std::move(retry), .wrap_session = inject(faults)})
               .value()) {
    execute_sql(db, "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL)");
  }
  ~faulty_database() {
    std::error_code ignored;
    for (const char* suffix : {"", "-wal", "-shm"}) {
      std::filesystem::remove(path.string() + suffix, ignored);
    }
  }
  std::int64_t notes() const {
    return run_unit(db, [](UnitOfWork& unit) { return unit.one(count_notes); }).value().value();
  }

  std::filesystem::path path;
  std::shared_ptr<fault_injector> faults;
  Database db;
};

result<std::uint64_t> write_note(const Database& db, int& attempts) {
  return run_unit(db, [&](UnitOfWork& unit) {
    ++attempts;
    return unit.run(add_note, "hello");
  });
}

}  // namespace

TEST_CASE("a scripted busy, deadlock or dropped connection is retried as a whole unit",
          "[testing][faults]") {
  const fault kind = GENERATE(fault::busy, fault::deadlock, fault::dropped_connection);
  const std::string operation = GENERATE(as<std::string>{}, "BEGIN", "add_note", "COMMIT");
  recorded_retry retry;
  faulty_database f(retry.policy());
  f.faults->fail_next(kind, operation);

  int attempts = 0;
  auto written = write_note(f.db, attempts);
  REQUIRE(written);
  CHECK(attempts == 2);
  CHECK(f.faults->injected() == 1);
  CHECK(retry.slept.size() == 1);
  CHECK(f.notes() == 1);  // the failed attempt left nothing behind
  CHECK(f.faults->busy() == (kind == fault::busy ? 1u : 0u));
  CHECK(f.faults->drops() == (kind == fault::dropped_connection ? 1u : 0u));
}

TEST_CASE("an in-doubt COMMIT lands, and the unit reports it instead of retrying",
          "[testing][faults]") {
  recorded_retry retry;
  faulty_database f(retry.policy());
  f.faults->fail_next(fault::in_doubt_commit);

  int attempts = 0;
  auto written = write_note(f.db, attempts);
  REQUIRE_FALSE(written);
  CHECK(written.error().kind == errc::in_doubt);
  CHECK(attempts == 1);
  CHECK(retry.slept.empty());
  CHECK(f.faults->in_doubt() == 1);
  CHECK(f.notes() == 1);  // it did land
}

TEST_CASE("faults are used once each, in the order asked for, and only where they apply",
          "[testing][faults]") {
  recorded_retry retry;
  faulty_database f(retry.policy(5));
  f.faults->fail_next(fault::in_doubt_commit);  // waits for a COMMIT
  f.faults->fail_next(fault::deadlock);         // the next operation of any kind: BEGIN

  int attempts = 0;
  auto written = write_note(f.db, attempts);
  CHECK(kind_of(written) == errc::in_doubt);
  CHECK(f.faults->deadlocks() == 1);
  CHECK(f.faults->in_doubt() == 1);
  CHECK(attempts == 2);
  CHECK(f.notes() == 1);

  // Nothing left to inject: the next unit runs untouched.
  REQUIRE(write_note(f.db, attempts));
  CHECK(f.faults->injected() == 2);
  CHECK(f.notes() == 2);
}

TEST_CASE("random faults start only once armed", "[testing][faults]") {
  recorded_retry retry;
  const auto always = std::make_shared<fault_injector>(1.0);
  const Database db =
      Database::open("sqlite::memory:", {.retry = retry.policy(2), .wrap_session = inject(always)})
          .value();
  REQUIRE(run_unit(db, [](UnitOfWork& unit) { return unit.execute_script("SELECT 1"); }));
  CHECK(always->injected() == 0);
  always->arm();
  auto refused = run_unit(db, [](UnitOfWork& unit) { return unit.one(count_notes); });
  REQUIRE_FALSE(refused);
  CHECK(always->injected() == 3);  // the first try and both retries
}
