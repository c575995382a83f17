// Leaks of connections, statements and file descriptors: once the last Database handle (and the
// last unit of work) is gone, every session it made has been destroyed, on mock sessions and on
// the real backend; and the process is back to the file descriptors and, on SQLite, to the bytes
// SQLite holds for connections and prepared statements (on PostgreSQL, the server back to the
// backends, which hold the prepared statements) it had before. Memory leaks are LeakSanitizer's
// (scripts/test-sanitizers.sh).
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <spdlog/logger.h>
#include <sqlite3.h>

#include "reliability_support.hpp"
#include "support/mock_session.hpp"
#include "support/unit_fixtures.hpp"

using namespace repokit;
using namespace repokit::reliability;
using repokit::testing::test_database;

namespace {

// A thread-safe stand-in for a connection: every call succeeds, except that now and then a
// statement reports the connection lost (the pool must discard it) or a rollback fails (its
// state is unknown: discarded too).
class flaky_target final : public Session {
 public:
  dialect kind() const noexcept override { return dialect::sqlite; }
  result<void> begin(begin_mode) override { return success(); }
  result<void> commit() override { return success(); }
  result<void> rollback() override {
    if (++rollbacks_ % 5 == 0) {
      return failure(testing::fake_error(errc::database, retry_class::permanent, "ROLLBACK"));
    }
    return success();
  }
  result<std::vector<row>> query(const statement&, std::span<const param>) override {
    if (++statements_ % 13 == 0) {
      return failure(testing::fake_error(errc::connection_lost, retry_class::reconnect_then_retry));
    }
    return testing::one_row({std::int64_t{1}});
  }
  result<std::uint64_t> execute(const statement&, std::span<const param>) override {
    if (++statements_ % 17 == 0) {
      return failure(testing::fake_error(errc::transient, retry_class::retry_transaction));
    }
    return std::uint64_t{1};
  }
  result<void> execute_script(std::string_view) override { return success(); }
  result<void> limit_statements(std::optional<std::chrono::milliseconds>) override {
    return success();
  }
  bool ping() override { return true; }

 private:
  std::atomic<int> rollbacks_{0};
  std::atomic<int> statements_{0};
};

// Owns a real session and counts itself: every one made must be destroyed.
class counted_session final : public Session {
 public:
  counted_session(std::unique_ptr<Session> inner, std::atomic<int>& alive, std::atomic<int>& made)
      : inner_(std::move(inner)), alive_(alive) {
    ++alive_;
    ++made;
  }
  ~counted_session() override { --alive_; }
  dialect kind() const noexcept override { return inner_->kind(); }
  result<void> begin(begin_mode mode) override { return inner_->begin(mode); }
  result<void> commit() override { return inner_->commit(); }
  result<void> rollback() override { return inner_->rollback(); }
  result<std::vector<row>> query(const statement& sql, std::span<const param> params) override {
    return inner_->query(sql, params);
  }
  result<std::uint64_t> execute(const statement& sql, std::span<const param> params) override {
    return inner_->execute(sql, params);
  }
  result<void> execute_script(std::string_view sql) override { return inner_->execute_script(sql); }
  result<void> limit_statements(std::optional<std::chrono::milliseconds> limit) override {
    return inner_->limit_statements(limit);
  }
  bool ping() override { return inner_->ping(); }

 private:
  std::unique_ptr<Session> inner_;
  std::atomic<int>& alive_;
};

constexpr std::array<column_type, 1> count_column{column_type::integer};
constexpr statement backends_named{
    "leak_backends_named", "SELECT COUNT(*) FROM pg_stat_activity WHERE application_name = :p1",
    statement_kind::read, count_column};

std::int64_t backends_of(const Database& db, const std::string& application) {
  return run_unit(db,
                  [&](UnitOfWork& unit) -> result<std::int64_t> {
                    REPOKIT_TRY(auto found,
                                unit.query_one(backends_named, std::array<param, 1>{
                                                                   std::string_view(application)}));
                    return found.value().integer(0);
                  })
      .value();
}

}  // namespace

TEST_CASE("leaks: every mock session a Database made is destroyed with its last handle",
          "[reliability][leaks]") {
  flaky_target target;
  std::atomic<int> opened{0};
  std::atomic<int> alive{0};
  const session_factory factory = [&]() -> result<std::unique_ptr<Session>> {
    ++opened;
    return std::unique_ptr<Session>(std::make_unique<testing::forwarding_session>(target, alive));
  };
  std::optional<unit_guard> outliving;
  std::atomic<int> failures{0};
  {
    // The injected failures are expected: a logger without sinks keeps them off stderr.
    auto db = Database::with_sessions(dialect::sqlite, factory,
                                      {.pool_size = 4,
                                       .retry = db_retry{.max_retries = 5,
                                                         .initial_delay = seconds{0.0001},
                                                         .max_delay = seconds{0.001}},
                                       .logger = std::make_shared<spdlog::logger>("quiet")})
                  .value();
    std::vector<std::thread> threads;
    for (int t = 0; t < 8; ++t) {
      threads.emplace_back([&db, &failures, t] {
        for (int i = 0; i < 200; ++i) {
          auto outcome = run_unit(db, [&](UnitOfWork& unit) -> result<void> {
            REPOKIT_TRYV(unit.query(testing::read_something));
            if ((t + i) % 3 == 0) REPOKIT_TRYV(unit.execute(testing::write_something));
            if ((t + i) % 7 == 0) return failure(errc::invalid_state, "the body says no");
            return success();
          });
          if (!outcome && outcome.error().kind != errc::invalid_state) ++failures;
        }
      });
    }
    for (auto& thread : threads) thread.join();
    CHECK(db.pool().in_use == 0);
    CHECK(alive == static_cast<int>(db.pool().open));
    // A unit still open when the last Database handle goes keeps its connection until it ends.
    outliving.emplace(db);
    REQUIRE(outliving->unit().execute_script("SELECT 1"));  // takes a connection
  }
  CHECK(failures == 0);
  CHECK(alive > 0);  // the open unit's own handle keeps the pool, and so its connections
  outliving.reset();
  CHECK(alive == 0);
  CHECK(opened > 4);  // lost and unknown connections were discarded and replaced
  WARN("mock leaks: " << opened << " sessions made, all destroyed");
}

TEST_CASE("leaks: real connections and file descriptors return to the baseline",
          "[reliability][leaks]") {
  test_database fixture;
  // The fixture's own connection is open before the baseline is taken.
  CHECK(testing::count_rows(fixture.db(), "videos") == 0);
  // SQLite keeps the descriptor of a closed connection open while another connection of the
  // process holds a lock on the same file (closing it would drop that lock): the SQLite rounds
  // use a file of their own, with no other connection to it.
  scratch_dir dir("leak_");
  std::string url = fixture.url();
  if (fixture.db().kind() == dialect::sqlite) {
    url = "sqlite:///" + dir.file("leak.db");
    migrate(Database::open(url).value()).value();
  }
  const std::size_t fds_before = open_fds();
  // SQLite counts every byte it holds: connections, their page caches and every prepared
  // statement. A statement never finalized would also keep its connection from closing.
  const sqlite3_int64 sqlite_bytes_before = sqlite3_memory_used();
  const std::string application = testing::unique_name("leak_");
  std::atomic<int> alive{0};
  std::atomic<int> made{0};
  database_options options{
      .pool_size = 4,
      .application_name = application,
      .retry = patient_retry(),
      .wrap_session = [&](std::unique_ptr<Session> inner) -> std::unique_ptr<Session> {
        return std::make_unique<counted_session>(std::move(inner), alive, made);
      }};

  std::size_t fds_during = 0;
  sqlite3_int64 sqlite_bytes_during = 0;
  for (int round = 0; round < 10; ++round) {
    Database db = Database::open(url, options).value();
    std::vector<std::thread> threads;
    std::atomic<int> failures{0};
    for (int t = 0; t < 6; ++t) {
      threads.emplace_back([&, t] {
        for (int i = 0; i < 10; ++i) {
          auto outcome = unit_of_work(db, [&](Repositories& r) -> result<void> {
            const std::string id =
                "ch-" + std::to_string(round) + "-" + std::to_string(t) + "-" + std::to_string(i);
            REPOKIT_TRYV(r.channels.create_channel(id, "leak test"));
            REPOKIT_TRY(auto listed, r.channels.list_channels(5));
            (void)listed;
            return success();
          });
          if (!outcome) ++failures;
        }
      });
    }
    for (auto& thread : threads) thread.join();
    CHECK(failures == 0);
    CHECK(db.pool().in_use == 0);
    fds_during = std::max(fds_during, open_fds());
    sqlite_bytes_during = std::max(sqlite_bytes_during, sqlite3_memory_used());
    if (db.kind() == dialect::postgresql && round == 0) {
      CHECK(backends_of(fixture.db(), application) == static_cast<std::int64_t>(db.pool().open));
    }
  }
  CHECK(alive == 0);
  CHECK(made >= 10);
  CHECK(fds_during > fds_before);
  CHECK(open_fds() == fds_before);
  if (fixture.db().kind() == dialect::sqlite) {
    CHECK(sqlite_bytes_during > sqlite_bytes_before);  // the pool's connections, while open
    CHECK(sqlite3_memory_used() == sqlite_bytes_before);
  }
  if (fixture.db().kind() == dialect::postgresql) {
    // A backend goes away just after its client closes the socket.
    std::int64_t left = -1;
    for (int tries = 0; tries < 100 && left != 0; ++tries) {
      left = backends_of(fixture.db(), application);
      if (left != 0) std::this_thread::sleep_for(std::chrono::milliseconds{50});
    }
    CHECK(left == 0);
  }
  WARN("real leaks (" << to_string(fixture.db().kind()) << "): " << made
                      << " connections made in 10 Databases, all closed; fds " << fds_before
                      << " before, up to " << fds_during << " during, " << open_fds() << " after"
                      << "; SQLite holds " << sqlite_bytes_before << " bytes before, up to "
                      << sqlite_bytes_during << " during, " << sqlite3_memory_used() << " after");
}
