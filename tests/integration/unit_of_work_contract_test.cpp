// The unit-of-work contract on a real database: a unit commits if and only if its body succeeded
// and no statement in it failed; nested scopes join; independent scopes do not; units are bound
// to their thread.
#include <catch2/catch.hpp>

#include <array>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <typeinfo>

#include "contract_support.hpp"
#include "repokit/detail/database_state.hpp"

using namespace repokit;
using namespace repokit::contract;
using Catch::Contains;
using repokit::testing::test_database;

namespace {

// Statements for raw UnitOfWork calls. Static storage: sessions cache by address.
constexpr std::array<column_type, 1> integer_column{column_type::integer};
constexpr statement select_one{"select_one", "SELECT 1", statement_kind::read, integer_column};
constexpr statement delete_all_channels{
    "delete_all_channels", "DELETE FROM channels", statement_kind::write, {}};

class custom_failure : public std::logic_error {
 public:
  using std::logic_error::logic_error;
  int payload = 42;
};

}  // namespace

TEST_CASE("unit of work: a body that succeeds commits every repository's writes",
          "[contract][unit-of-work]") {
  test_database fixture;
  const Database& db = fixture.db();

  auto outcome = unit_of_work(db, [](Repositories& repos) -> result<std::int64_t> {
    REPOKIT_TRYV(repos.channels.create_channel("ch-uow", "unit channel"));
    REPOKIT_TRYV(repos.videos.create_video("vid-uow", "ch-uow", "unit video", 30));
    REPOKIT_TRY(auto job, repos.jobs.create_job("transcode", "vid-uow"));
    return job.id;
  });
  INFO(describe(outcome));
  REQUIRE(outcome);
  CHECK(counts(db) == table_counts{1, 1, 1});
  CHECK(read_channel(db, "ch-uow").value().name == "unit channel");
  CHECK(read_video(db, "vid-uow").value().channel_id == "ch-uow");
  CHECK(read_job(db, outcome.value()).value().target_id == "vid-uow");
  CHECK(db.pool().in_use == 0);
}

TEST_CASE("unit of work: a body that returns an error after writing leaves no row",
          "[contract][unit-of-work]") {
  test_database fixture;
  const Database& db = fixture.db();

  auto outcome = unit_of_work(db, [](Repositories& repos) -> result<void> {
    REPOKIT_TRYV(repos.channels.create_channel("ch-uow", "unit channel"));
    REPOKIT_TRYV(repos.videos.create_video("vid-uow", "ch-uow", "unit video", 30));
    REPOKIT_TRYV(repos.jobs.create_job("transcode", "vid-uow"));
    return failure(errc::invalid_state, "the body changed its mind");
  });
  INFO(describe(outcome));
  REQUIRE_FALSE(outcome);
  CHECK(outcome.error().kind == errc::invalid_state);
  CHECK(outcome.error().message == "the body changed its mind");
  CHECK(counts(db) == table_counts{0, 0, 0});
  CHECK(db.pool().in_use == 0);
}

TEST_CASE("unit of work: a body that throws rolls back, and the exception passes through unchanged",
          "[contract][unit-of-work]") {
  test_database fixture;
  const Database& db = fixture.db();

  bool caught = false;
  try {
    [[maybe_unused]] auto never = unit_of_work(db, [](Repositories& repos) -> result<void> {
      repos.channels.create_channel("ch-uow", "unit channel").value();
      repos.videos.create_video("vid-uow", "ch-uow", "unit video", 30).value();
      throw std::runtime_error("thrown by the body");
    });
  } catch (const std::exception& e) {
    caught = true;
    CHECK(typeid(e) == typeid(std::runtime_error));
    CHECK(std::string(e.what()) == "thrown by the body");
  }
  CHECK(caught);
  CHECK(counts(db) == table_counts{0, 0, 0});

  // A type of the caller's own comes through as itself, payload and all.
  bool caught_custom = false;
  try {
    [[maybe_unused]] auto never =
        video_repository(db, [&](VideoRepository& videos) -> result<void> {
          ChannelRepository(videos.unit()).create_channel("ch-2", "second").value();
          custom_failure thrown("custom");
          thrown.payload = 7;
          throw thrown;
        });
  } catch (const custom_failure& e) {
    caught_custom = true;
    CHECK(e.payload == 7);
    CHECK(std::string(e.what()) == "custom");
  }
  CHECK(caught_custom);
  CHECK(counts(db) == table_counts{0, 0, 0});
  CHECK(db.pool().in_use == 0);
}

TEST_CASE("unit of work: a failed statement rolls back the whole unit even if the body ignores it",
          "[contract][unit-of-work]") {
  test_database fixture;
  const Database& db = fixture.db();
  seed_channel(db, "ch-base");
  seed_video(db, "vid-taken", "ch-base");
  const table_counts before = counts(db);

  errc ignored = errc{0};
  auto outcome = unit_of_work(db, [&](Repositories& repos) -> result<void> {
    REPOKIT_TRYV(repos.channels.create_channel("ch-new", "new channel"));
    REPOKIT_TRYV(repos.videos.create_video("vid-fresh", "ch-new", "fine", 1));
    ignored = kind_of(repos.videos.create_video("vid-taken", "ch-new", "duplicate", 1));
    return success();  // as if nothing had happened
  });
  INFO(describe(outcome));
  CHECK(ignored == errc::integrity);
  REQUIRE_FALSE(outcome);
  CHECK(outcome.error().kind == errc::session_poisoned);
  CHECK_THAT(outcome.error().message, Contains("integrity") && Contains("create_video"));
  CHECK_FALSE(outcome.error().backend_code.empty());  // the first failure's own code
  CHECK_FALSE(outcome.error().retryable());
  CHECK(counts(db) == before);
  CHECK(kind_of(read_video(db, "vid-fresh")) == errc::not_found);
  CHECK(kind_of(read_channel(db, "ch-new")) == errc::not_found);
  CHECK(db.metrics().rollbacks_by(rollback_cause::poisoned) == 1);
}

TEST_CASE("unit of work: an integrity error the body returns rolls back the earlier writes",
          "[contract][unit-of-work]") {
  test_database fixture;
  const Database& db = fixture.db();
  seed_channel(db, "ch-base");
  seed_video(db, "vid-taken", "ch-base");
  const table_counts before = counts(db);

  auto outcome = video_repository(db, [](VideoRepository& videos) -> result<void> {
    REPOKIT_TRYV(videos.create_video("vid-first", "ch-base", "fine", 1));
    REPOKIT_TRYV(videos.create_video("vid-taken", "ch-base", "duplicate", 1));
    return success();
  });
  INFO(describe(outcome));
  CHECK(kind_of(outcome) == errc::integrity);
  CHECK(counts(db) == before);
  CHECK(kind_of(read_video(db, "vid-first")) == errc::not_found);
}

TEST_CASE("unit of work: after a failed statement the next one is not run",
          "[contract][unit-of-work]") {
  test_database fixture;
  const Database& db = fixture.db();
  seed_channel(db, "ch-base");
  const Video existing = seed_video(db, "vid-taken", "ch-base");

  result<Video> read_after = failure(errc::database, "not called");
  result<Video> write_after = failure(errc::database, "not called");
  result<std::vector<row>> raw_after = failure(errc::database, "not called");
  std::uint64_t statements_before = 0;
  std::uint64_t statements_after = 0;
  errc poison = errc{0};
  auto outcome = video_repository(db, [&](VideoRepository& videos) -> result<void> {
    auto duplicate = videos.create_video("vid-taken", "ch-base", "duplicate", 1);
    if (duplicate) return failure(errc::database, "the duplicate was accepted");
    statements_before = db.metrics().statements;
    read_after = videos.get_video_by_id("vid-taken");
    write_after = videos.create_video("vid-other", "ch-base", "would be fine", 1);
    raw_after = videos.unit().query(select_one);
    statements_after = db.metrics().statements;
    if (videos.unit().poison()) poison = videos.unit().poison()->kind;
    return success();
  });
  INFO("read: " << describe(read_after) << "; write: " << describe(write_after));
  CHECK(kind_of(read_after) == errc::session_poisoned);
  CHECK(kind_of(write_after) == errc::session_poisoned);
  CHECK(kind_of(raw_after) == errc::session_poisoned);
  if (!read_after) CHECK_THAT(read_after.error().message, Contains("create_video"));
  CHECK(statements_after == statements_before);  // nothing reached the database
  CHECK(poison == errc::integrity);              // the first failure is what the unit keeps
  CHECK(kind_of(outcome) == errc::session_poisoned);
  CHECK(kind_of(read_video(db, "vid-other")) == errc::not_found);
  CHECK(read_video(db, "vid-taken").value() == existing);
}

TEST_CASE("unit of work: a nested scope joins the outer unit and shares its fate",
          "[contract][unit-of-work]") {
  test_database fixture;
  const Database& db = fixture.db();

  SECTION("the outer fails after the inner succeeded: both roll back") {
    bool same_unit = false;
    std::int64_t visible_outside = -1;
    result<Video> inner = failure(errc::database, "not called");
    auto outer = channel_repository(db, [&](ChannelRepository& channels) -> result<void> {
      REPOKIT_TRYV(channels.create_channel("ch-outer", "outer"));
      inner = video_repository(db, [&](VideoRepository& videos) -> result<Video> {
        same_unit = &videos.unit() == &channels.unit();
        // The outer's uncommitted channel is visible here, and satisfies the foreign key.
        REPOKIT_TRY(auto seen, ChannelRepository(videos.unit()).get_channel_by_id("ch-outer"));
        if (seen.name != "outer") return failure(errc::database, "saw " + seen.name);
        return videos.create_video("vid-inner", "ch-outer", "inner", 3);
      });
      // Not committed yet: a unit of its own sees nothing.
      visible_outside = rows_in(db, "channels") + rows_in(db, "videos");
      return failure(errc::invalid_state, "the outer fails after the inner succeeded");
    });
    INFO("inner: " << describe(inner) << "; outer: " << describe(outer));
    CHECK(same_unit);
    CHECK(inner);
    CHECK(visible_outside == 0);
    CHECK(kind_of(outer) == errc::invalid_state);
    CHECK(counts(db) == table_counts{0, 0, 0});
  }

  SECTION("both succeed: one commit makes both writes visible") {
    auto outer = channel_repository(db, [&](ChannelRepository& channels) -> result<void> {
      REPOKIT_TRYV(channels.create_channel("ch-outer", "outer"));
      return video_repository(db, [](VideoRepository& videos) -> result<void> {
        REPOKIT_TRYV(videos.create_video("vid-inner", "ch-outer", "inner", 3));
        return success();
      });
    });
    INFO(describe(outer));
    CHECK(outer);
    CHECK(counts(db) == table_counts{1, 1, 0});
    CHECK(db.metrics().commits >= 1);
  }

  SECTION("the inner fails and the outer ignores it: the outer still rolls back") {
    auto outer = channel_repository(db, [&](ChannelRepository& channels) -> result<void> {
      REPOKIT_TRYV(channels.create_channel("ch-outer", "outer"));
      auto inner = video_repository(db, [](VideoRepository& videos) -> result<void> {
        REPOKIT_TRYV(videos.create_video("vid-inner", "ch-outer", "inner", 3));
        return failure(errc::invalid_state, "the inner changed its mind");
      });
      if (inner) return failure(errc::database, "the inner's failure was lost");
      return success();  // ignores the inner's failure
    });
    INFO(describe(outer));
    REQUIRE_FALSE(outer);
    CHECK(outer.error().kind == errc::invalid_state);
    CHECK(outer.error().message == "the inner changed its mind");
    CHECK(counts(db) == table_counts{0, 0, 0});
  }
}

TEST_CASE("unit of work: an independent scope commits on its own whatever the outer does",
          "[contract][unit-of-work]") {
  test_database fixture;
  const Database& db = fixture.db();
  const scope_options independent{.propagate = propagation::independent, .name = "independent"};

  // On SQLite a database has one writer at a time: an independent unit that writes while its
  // outer unit holds the write lock (the outer wrote, so it began IMMEDIATE) would wait on the
  // busy timeout for a lock its own thread holds, fail as busy, retry, and give up. So on SQLite
  // the independent write comes before the outer's first write, or while the outer only reads
  // (WAL lets a reader's snapshot and a writer coexist).
  SECTION("independent write before the outer writes, then the outer fails") {
    bool separate_unit = false;
    auto outer = unit_of_work(db, [&](Repositories& repos) -> result<void> {
      auto inner = channel_repository(db, independent, [&](ChannelRepository& channels) {
        separate_unit = &channels.unit() != &repos.unit;
        return channels.create_channel("ch-independent", "independent");
      });
      REPOKIT_TRYV(inner);
      REPOKIT_TRYV(repos.channels.create_channel("ch-outer", "outer"));
      return failure(errc::invalid_state, "the outer fails afterwards");
    });
    INFO(describe(outer));
    CHECK(separate_unit);
    CHECK(kind_of(outer) == errc::invalid_state);
    CHECK(read_channel(db, "ch-independent").value().name == "independent");
    CHECK(kind_of(read_channel(db, "ch-outer")) == errc::not_found);
    CHECK(rows_in(db, "channels") == 1);
  }

  SECTION("independent write while the outer has only read, then the outer fails") {
    seed_channel(db, "ch-seed", "seed");
    auto outer = unit_of_work(db, [&](Repositories& repos) -> result<void> {
      REPOKIT_TRY(auto listed, repos.channels.list_channels());
      if (listed.size() != 1) return failure(errc::database, "expected one channel");
      REPOKIT_TRYV(channel_repository(db, independent, [](ChannelRepository& channels) {
        return channels.create_channel("ch-independent", "independent");
      }));
      return failure(errc::invalid_state, "the outer fails afterwards");
    });
    INFO(describe(outer));
    CHECK(kind_of(outer) == errc::invalid_state);
    CHECK(read_channel(db, "ch-independent").value().name == "independent");
    CHECK(rows_in(db, "channels") == 2);
  }

  if (db.kind() == dialect::postgresql) {
    SECTION("PostgreSQL: independent write after the outer wrote, then the outer fails") {
      errc independent_saw_outer = errc{0};
      auto outer = unit_of_work(db, [&](Repositories& repos) -> result<void> {
        REPOKIT_TRYV(repos.channels.create_channel("ch-outer", "outer"));
        REPOKIT_TRYV(
            channel_repository(db, independent, [&](ChannelRepository& channels) -> result<void> {
              independent_saw_outer = kind_of(channels.get_channel_by_id("ch-outer"));
              REPOKIT_TRYV(channels.create_channel("ch-independent", "independent"));
              return success();
            }));
        return failure(errc::invalid_state, "the outer fails afterwards");
      });
      INFO(describe(outer));
      CHECK(kind_of(outer) == errc::invalid_state);
      CHECK(independent_saw_outer == errc::not_found);  // the outer's row was uncommitted
      CHECK(read_channel(db, "ch-independent").value().name == "independent");
      CHECK(kind_of(read_channel(db, "ch-outer")) == errc::not_found);
    }
  }
  CHECK(db.pool().in_use == 0);
}

TEST_CASE("unit of work: unit_guard commits on commit() and rolls back when dropped",
          "[contract][unit-of-work]") {
  test_database fixture;
  const Database& db = fixture.db();

  {
    unit_guard guard(db);
    auto created = ChannelRepository(guard.unit()).create_channel("ch-guarded", "guarded");
    INFO(describe(created));
    REQUIRE(created);
    CHECK(rows_in(db, "channels") == 0);  // not yet committed
    auto committed = guard.commit();
    INFO(describe(committed));
    CHECK(committed);
    CHECK(rows_in(db, "channels") == 1);
  }
  CHECK(read_channel(db, "ch-guarded").value().name == "guarded");

  {
    unit_guard guard(db);
    REQUIRE(ChannelRepository(guard.unit()).create_channel("ch-dropped", "dropped"));
    REQUIRE(VideoRepository(guard.unit()).create_video("vid-dropped", "ch-dropped", "t", 1));
  }  // no commit()
  CHECK(kind_of(read_channel(db, "ch-dropped")) == errc::not_found);
  CHECK(counts(db) == table_counts{1, 0, 0});
  CHECK(db.metrics().rollbacks_by(rollback_cause::abandoned) >= 1);
  CHECK(db.pool().in_use == 0);
}

TEST_CASE("unit of work: a unit_guard inside a scope joins it", "[contract][unit-of-work]") {
  test_database fixture;
  const Database& db = fixture.db();
  seed_channel(db, "ch-base");
  seed_video(db, "vid-taken", "ch-base");
  const table_counts before = counts(db);

  SECTION("committed: the outer commits the guard's writes with its own") {
    auto outer = channel_repository(db, [&](ChannelRepository& channels) -> result<void> {
      REPOKIT_TRYV(channels.create_channel("ch-outer", "outer"));
      unit_guard guard(db);
      if (&guard.unit() != &channels.unit()) return failure(errc::database, "did not join");
      REPOKIT_TRYV(VideoRepository(guard.unit()).create_video("vid-guard", "ch-outer", "g", 1));
      REPOKIT_TRYV(guard.commit());
      // Joined: nothing is visible outside before the outer commits.
      if (rows_in(db, "channels") != before.channels) {
        return failure(errc::database, "the joined guard's commit() committed the outer unit");
      }
      return success();
    });
    INFO(describe(outer));
    CHECK(outer);
    CHECK(counts(db) == table_counts{before.channels + 1, before.videos + 1, 0});
  }

  SECTION("after a failed statement: the guard's commit() reports it") {
    result<void> guard_commit = success();
    auto outer = channel_repository(db, [&](ChannelRepository& channels) -> result<void> {
      REPOKIT_TRYV(channels.create_channel("ch-outer", "outer"));
      unit_guard guard(db);
      auto duplicate = VideoRepository(guard.unit()).create_video("vid-taken", "ch-outer", "d", 1);
      if (duplicate) return failure(errc::database, "the duplicate was accepted");
      guard_commit = guard.commit();
      return success();
    });
    INFO("guard: " << describe(guard_commit) << "; outer: " << describe(outer));
    CHECK(kind_of(guard_commit) == errc::integrity);
    CHECK(kind_of(outer) == errc::session_poisoned);
    CHECK(counts(db) == before);
  }

  SECTION("dropped without commit(): the outer rolls back even if its body succeeds") {
    auto outer = channel_repository(db, [&](ChannelRepository& channels) -> result<void> {
      REPOKIT_TRYV(channels.create_channel("ch-outer", "outer"));
      {
        unit_guard guard(db);
        REPOKIT_TRYV(VideoRepository(guard.unit()).create_video("vid-guard", "ch-outer", "g", 1));
      }
      return success();
    });
    INFO(describe(outer));
    CHECK(kind_of(outer) == errc::misuse);
    CHECK(counts(db) == before);
  }
}

TEST_CASE("unit of work: a unit used from another thread refuses with misuse",
          "[contract][unit-of-work]") {
  test_database fixture;
  const Database& db = fixture.db();

  struct from_other_thread {
    errc query = errc{0};
    errc execute = errc{0};
    errc script = errc{0};
    errc repository = errc{0};
    errc commit = errc{0};
    std::string message;
  } other;
  auto outcome = unit_of_work(db, [&](Repositories& repos) -> result<void> {
    REPOKIT_TRYV(repos.channels.create_channel("ch-owner", "owner"));
    UnitOfWork& unit = repos.unit;
    std::thread intruder([&unit, &other] {
      auto queried = unit.query(select_one);
      other.query = kind_of(queried);
      if (!queried) other.message = queried.error().message;
      // Would delete the owner's channel if it ran.
      other.execute = kind_of(unit.execute(delete_all_channels));
      other.script = kind_of(unit.execute_script("DELETE FROM channels"));
      other.repository = kind_of(ChannelRepository(unit).create_channel("ch-intruder", "x"));
      other.commit = kind_of(unit.commit());
    });
    intruder.join();
    // The owner carries on and commits.
    REPOKIT_TRYV(repos.videos.create_video("vid-owner", "ch-owner", "owner's video", 1));
    return success();
  });
  INFO(describe(outcome) << "; from the other thread: " << other.message);
  CHECK(other.query == errc::misuse);
  CHECK(other.execute == errc::misuse);
  CHECK(other.script == errc::misuse);
  CHECK(other.repository == errc::misuse);
  CHECK(other.commit == errc::misuse);
  CHECK_THAT(other.message, Contains("thread"));
  REQUIRE(outcome);
  CHECK(read_channel(db, "ch-owner").value().name == "owner");
  CHECK(read_video(db, "vid-owner").value().channel_id == "ch-owner");
  CHECK(kind_of(read_channel(db, "ch-intruder")) == errc::not_found);
  CHECK(counts(db) == table_counts{1, 1, 0});
}

// A regression test (fixed): UnitOfWork::rollback() did not check the thread, so another thread
// could send ROLLBACK on the owner's connection and end the owner's unit (the owner's next
// statement then failed with misuse "already ended"). With the owner busy at the same moment,
// that is two threads on one connection: the very thing the unit's thread check prevents.
TEST_CASE("unit of work: rollback() from another thread does not touch the owner's unit",
          "[contract][unit-of-work][bug]") {
  test_database fixture;
  const Database& db = fixture.db();

  errc owner_after = errc{0};
  auto outcome = unit_of_work(db, [&](Repositories& repos) -> result<void> {
    REPOKIT_TRYV(repos.channels.create_channel("ch-owner", "owner"));
    UnitOfWork& unit = repos.unit;
    std::thread intruder([&unit] { unit.rollback(rollback_cause::abandoned); });
    intruder.join();
    auto video = repos.videos.create_video("vid-owner", "ch-owner", "owner's video", 1);
    owner_after = kind_of(video);
    REPOKIT_TRYV(video);
    return success();
  });
  INFO(describe(outcome));
  CHECK(owner_after == errc{0});
  CHECK(outcome);
  CHECK(counts(db) == table_counts{1, 1, 0});
}

TEST_CASE("unit of work: a read-only unit reads, and refuses a write with misuse",
          "[contract][unit-of-work]") {
  test_database fixture;
  const Database& db = fixture.db();
  seed_channel(db, "ch-ro", "read only");
  const scope_options read_only{.access = access_mode::read_only, .name = "read-only"};

  std::string seen;
  auto outcome = unit_of_work(db, read_only, [&](Repositories& repos) -> result<void> {
    REPOKIT_TRY(auto channel, repos.channels.get_channel_by_id("ch-ro"));
    seen = channel.name;
    REPOKIT_TRYV(repos.videos.create_video("vid-ro", "ch-ro", "refused", 1));
    return success();
  });
  INFO(describe(outcome));
  CHECK(seen == "read only");
  CHECK(kind_of(outcome) == errc::misuse);

  auto script = run_unit(
      db, read_only, [](UnitOfWork& unit) { return unit.execute_script("DELETE FROM channels"); });
  CHECK(kind_of(script) == errc::misuse);
  auto job =
      job_repository(db, read_only, [](JobRepository& jobs) { return jobs.create_job("t", "x"); });
  CHECK(kind_of(job) == errc::misuse);
  CHECK(counts(db) == table_counts{1, 0, 0});
}

// The session itself, below UnitOfWork: a lease of the pool with a transaction open on it.
namespace {
Session& session_in_transaction(const Database& db, std::optional<connection_lease>& lease) {
  auto acquired = db.state().pool->acquire();
  INFO(describe(acquired));
  REQUIRE(acquired);
  lease.emplace(std::move(acquired).value());
  Session& session = lease->session();
  REQUIRE(session.begin(begin_mode::deferred));
  return session;
}
}  // namespace

// Registered for PostgreSQL only (tests/integration/CMakeLists.txt).
TEST_CASE("unit of work: a session notices when COMMIT ends a transaction the database aborted",
          "[contract][unit-of-work][postgresql-only]") {
  test_database fixture;
  const Database& db = fixture.db();
  REQUIRE(db.kind() == dialect::postgresql);
  std::optional<connection_lease> lease;
  Session& session = session_in_transaction(db, lease);
  auto failed = session.execute_script("SELECT 1/0");
  INFO(describe(failed));
  CHECK_FALSE(failed);
  // PostgreSQL answers this COMMIT with "ROLLBACK", not an error: the session must say so.
  auto committed = session.commit();
  INFO(describe(committed));
  CHECK(kind_of(committed) == errc::session_poisoned);
  // The transaction is over either way; the connection works again.
  REQUIRE(session.begin(begin_mode::deferred));
  CHECK(session.execute_script("SELECT 1"));
  CHECK(session.commit());
}

// Registered for every backend but PostgreSQL. SQLite and MariaDB keep a transaction usable after
// a failed statement and commit it: this is why UnitOfWork itself refuses to commit after a
// failure instead of trusting the backend.
TEST_CASE("unit of work: a session's COMMIT after a failed statement commits on SQLite and MariaDB",
          "[contract][unit-of-work][not-postgresql]") {
  test_database fixture;
  const Database& db = fixture.db();
  REQUIRE(db.kind() != dialect::postgresql);
  std::optional<connection_lease> lease;
  Session& session = session_in_transaction(db, lease);
  auto failed = session.execute_script("SELECT * FROM no_such_table");
  INFO(describe(failed));
  CHECK_FALSE(failed);
  auto committed = session.commit();
  INFO(describe(committed));
  CHECK(committed);
}
