// Two processes write one SQLite file at once with a 1 ms busy timeout: SQLITE_BUSY happens for
// real, and repokit's whole-unit retries must carry every insert through exactly once.
#include <catch2/catch.hpp>

#include <array>
#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "fault_support.hpp"
#include "support/child_process.hpp"

using namespace repokit;
using namespace repokit::testing;

namespace {

constexpr int rows_per_writer = 300;

constexpr std::array integer_column{column_type::integer};
constexpr statement rows_of_writer{
    "rows_of_writer", "SELECT COUNT(*) FROM fault_rows WHERE writer = :p1 AND id LIKE :p2",
    statement_kind::read, integer_column};

// A running sqlite_writer with its stdin and stdout connected to us: it prepares, waits for
// "go" on its stdin, inserts `count` rows named prefix-N, then prints its retry count.
class writer_process : public child_process {
 public:
  writer_process(const std::string& url, const std::string& prefix, int count)
      : child_process(REPOKIT_SQLITE_WRITER, {url, prefix, std::to_string(count)}) {}
};

// The retry count a writer printed last, or -1 when it printed none.
long long retries_of(const std::string& line) {
  if (line.empty() || line.find_first_not_of("0123456789") != std::string::npos) return -1;
  return std::stoll(line);
}

std::int64_t rows_written_by(const Database& db, std::string_view writer) {
  const std::string pattern = std::string(writer) + "-%";
  return run_unit(db, scope_options{.name = "rows of writer"},
                  [&](UnitOfWork& unit) -> result<std::int64_t> {
                    const std::array<param, 2> params{writer, std::string_view(pattern)};
                    REPOKIT_TRY(auto found, unit.query_one(rows_of_writer, params));
                    return found.value().integer(0);
                  })
      .value();
}

}  // namespace

TEST_CASE("two processes writing one SQLite file through SQLITE_BUSY: every row lands once",
          "[sqlite][busy]") {
  require_backend(dialect::sqlite);
  test_database fixture;
  const Database& db = fixture.db();
  execute_sql(db, "CREATE TABLE fault_rows (id TEXT PRIMARY KEY, writer TEXT NOT NULL)");

  // Declared first, destroyed last: a failed assertion releases the lock below before the
  // writers are waited for.
  std::optional<writer_process> first;
  std::optional<writer_process> second;
  // The write lock, held until both writers have met SQLITE_BUSY and retried: without it two
  // fast writers may take turns and never collide.
  std::optional<unit_guard> write_lock;
  write_lock.emplace(db, scope_options{.propagate = propagation::independent,
                                       .access = access_mode::read_write,
                                       .name = "hold write lock"});
  REQUIRE(write_lock->unit().query(
      rows_of_writer, std::array<param, 2>{std::string_view("none"), std::string_view("none")}));

  first.emplace(fixture.url(), "first", rows_per_writer);
  second.emplace(fixture.url(), "second", rows_per_writer);
  REQUIRE(first->read_line() == "ready");
  REQUIRE(second->read_line() == "ready");
  first->go();
  second->go();
  CHECK(first->read_line() == "retrying");
  CHECK(second->read_line() == "retrying");
  CHECK(write_lock->commit());
  write_lock.reset();

  const int first_status = first->wait();
  const int second_status = second->wait();
  const std::string first_retries = first->read_line();
  const std::string second_retries = second->read_line();
  std::printf("sqlite busy test: retries first=%s second=%s\n", first_retries.c_str(),
              second_retries.c_str());
  std::fflush(stdout);

  CHECK(exited_cleanly(first_status));
  CHECK(exited_cleanly(second_status));
  CHECK(rows_written_by(db, "first") == rows_per_writer);
  CHECK(rows_written_by(db, "second") == rows_per_writer);
  CHECK(count_rows(db, "fault_rows") == 2 * rows_per_writer);
  // Each writer retried at least its first insert, which met the held write lock.
  CHECK(retries_of(first_retries) >= 1);
  CHECK(retries_of(second_retries) >= 1);
}
