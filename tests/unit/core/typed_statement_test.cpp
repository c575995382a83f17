// Typed statements against a mocked session: what the unit sends for them (SQL, bound values,
// transaction mode) and how it reads the rows that come back.
#include <catch2/catch.hpp>

#include <array>
#include <optional>
#include <span>
#include <string>
#include <tuple>

#include "repokit/scope.hpp"
#include "support/mock_session.hpp"
#include "support/unit_fixtures.hpp"

using namespace repokit;
using namespace repokit::testing;
using trompeloeil::_;

namespace {

struct mocked {
  explicit mocked(dialect kind = dialect::sqlite) : database(session, {}, kind) {
    kind_allowed = NAMED_ALLOW_CALL(session, kind()).RETURN(kind);
    commit_allowed = NAMED_ALLOW_CALL(session, commit()).RETURN(ok());
    rollback_allowed = NAMED_ALLOW_CALL(session, rollback()).RETURN(ok());
  }
  const Database& db() const { return database.db; }

  MockSession session;
  mocked_database database;
  std::unique_ptr<trompeloeil::expectation> kind_allowed, commit_allowed, rollback_allowed;
};

bool is_null(std::span<const param> params, std::size_t index) {
  return index < params.size() && std::holds_alternative<std::nullptr_t>(params[index]);
}

struct ticket {
  std::int64_t id = 0;
  std::string title;
  std::optional<std::int64_t> owner;
  bool operator==(const ticket&) const = default;
};

constexpr query<ticket(std::int64_t)> find_ticket{
    "find_ticket", "SELECT id, title, owner FROM tickets WHERE id = :id"};
constexpr command<void(std::string_view, std::int64_t)> rename_ticket{
    "rename_ticket", "UPDATE tickets SET title = :title WHERE id = :id"};

}  // namespace

TEST_CASE("a typed query begins deferred and a typed command immediate", "[typed]") {
  mocked m;
  trompeloeil::sequence order;
  REQUIRE_CALL(m.session, begin(begin_mode::deferred)).IN_SEQUENCE(order).RETURN(ok());
  REQUIRE_CALL(m.session, query(_, _))
      .WITH(_1.kind == statement_kind::read && _1.name == "find_ticket")
      .IN_SEQUENCE(order)
      .RETURN(rows_of({}));
  REQUIRE_CALL(m.session, begin(begin_mode::immediate)).IN_SEQUENCE(order).RETURN(ok());
  REQUIRE_CALL(m.session, execute(_, _))
      .WITH(_1.kind == statement_kind::write && _1.name == "rename_ticket")
      .IN_SEQUENCE(order)
      .RETURN(changed(1));

  REQUIRE(run_unit(m.db(), [](UnitOfWork& unit) { return unit.one(find_ticket, 1); }));
  auto renamed =
      run_unit(m.db(), [](UnitOfWork& unit) { return unit.run(rename_ticket, "new title", 1); });
  REQUIRE(renamed);
  CHECK(renamed.value() == 1);
}

TEST_CASE("arguments are bound in the order their names first appear", "[typed]") {
  mocked m;
  ALLOW_CALL(m.session, begin(_)).RETURN(ok());
  REQUIRE_CALL(m.session, execute(_, _))
      .WITH(_1.sql == "UPDATE tickets SET title = :title WHERE id = :id" && _2.size() == 2 &&
            param_is(_2, 0, "renamed") && param_is(_2, 1, std::int64_t{9}))
      .RETURN(changed(1));
  REQUIRE(run_unit(m.db(), [](UnitOfWork& unit) { return unit.run(rename_ticket, "renamed", 9); }));
}

TEST_CASE("a placeholder name used twice is bound once", "[typed]") {
  constexpr query<std::int64_t(std::string_view)> mentions{
      "mentions", "SELECT id FROM tickets WHERE title = :text OR body = :text"};
  mocked m;
  ALLOW_CALL(m.session, begin(_)).RETURN(ok());
  REQUIRE_CALL(m.session, query(_, _))
      .WITH(_2.size() == 1 && param_is(_2, 0, "needle"))
      .RETURN(rows_of({row({std::int64_t{4}})}));
  auto ids = run_unit(m.db(), [&](UnitOfWork& unit) { return unit.all(mentions, "needle"); });
  REQUIRE(ids);
  CHECK(ids.value() == std::vector<std::int64_t>{4});
}

TEST_CASE("an IN list binds one placeholder per element, and NULL when empty", "[typed]") {
  constexpr query<std::int64_t(std::span<const std::int64_t>, std::string_view)> among{
      "among", "SELECT id FROM tickets WHERE id IN (:ids) AND title <> :title"};
  mocked m;
  ALLOW_CALL(m.session, begin(_)).RETURN(ok());
  trompeloeil::sequence order;
  REQUIRE_CALL(m.session, query(_, _))
      .WITH(_1.sql ==
                "SELECT id FROM tickets WHERE id IN (:ids__1, :ids__2, :ids__3) AND "
                "title <> :title" &&
            _2.size() == 4 && param_is(_2, 0, std::int64_t{5}) &&
            param_is(_2, 2, std::int64_t{7}) && param_is(_2, 3, "x"))
      .IN_SEQUENCE(order)
      .RETURN(rows_of({}));
  REQUIRE_CALL(m.session, query(_, _))
      .WITH(_1.sql == "SELECT id FROM tickets WHERE id IN (NULL) AND title <> :title" &&
            _2.size() == 1 && param_is(_2, 0, "x"))
      .IN_SEQUENCE(order)
      .RETURN(rows_of({}));
  const std::array<std::int64_t, 3> ids{5, 6, 7};
  REQUIRE(run_unit(m.db(), [&](UnitOfWork& unit) -> result<void> {
    REPOKIT_TRYV(unit.all(among, std::span<const std::int64_t>(ids), "x"));
    REPOKIT_TRYV(unit.all(among, std::span<const std::int64_t>(), "x"));
    return success();
  }));
}

TEST_CASE("values convert through their column traits", "[typed]") {
  constexpr command<void(std::int32_t, bool, timestamp, std::optional<std::string_view>, double)>
      store{"store", "INSERT INTO t (a, b, c, d, e) VALUES (:a, :b, :c, :d, :e)"};
  mocked m;
  ALLOW_CALL(m.session, begin(_)).RETURN(ok());
  REQUIRE_CALL(m.session, execute(_, _))
      .WITH(param_is(_2, 0, std::int64_t{-3}) && param_is(_2, 1, std::int64_t{1}) &&
            param_is(_2, 2, std::int64_t{1500}) && is_null(_2, 3) && std::get<double>(_2[4]) == 2.5)
      .RETURN(changed(1));
  REQUIRE(run_unit(m.db(), [&](UnitOfWork& unit) {
    return unit.run(store, -3, true, timestamp{std::chrono::milliseconds{1500}}, std::nullopt, 2.5);
  }));
}

TEST_CASE("rows map to structs, NULL to std::nullopt", "[typed]") {
  mocked m;
  ALLOW_CALL(m.session, begin(_)).RETURN(ok());
  REQUIRE_CALL(m.session, query(_, _))
      .RETURN(rows_of({row({std::int64_t{1}, std::string("first"), std::monostate{}})}));
  auto found = run_unit(m.db(), [](UnitOfWork& unit) { return unit.one(find_ticket, 1); });
  REQUIRE(found);
  CHECK(found.value() == ticket{1, "first", std::nullopt});
}

TEST_CASE("a column of the wrong type is a mapping error naming the statement and column",
          "[typed]") {
  mocked m;
  ALLOW_CALL(m.session, begin(_)).RETURN(ok());
  REQUIRE_CALL(m.session, query(_, _))
      .RETURN(rows_of({row({std::int64_t{1}, std::int64_t{2}, std::monostate{}})}));
  auto found = run_unit(m.db(), [](UnitOfWork& unit) { return unit.one(find_ticket, 1); });
  REQUIRE_FALSE(found);
  CHECK(found.error().kind == errc::mapping);
  CHECK(found.error().operation == "find_ticket");
  CHECK(found.error().message == "column 2 holds an integer, not text");
}

TEST_CASE("a NULL read into a value that cannot hold it is a mapping error", "[typed]") {
  mocked m;
  ALLOW_CALL(m.session, begin(_)).RETURN(ok());
  REQUIRE_CALL(m.session, query(_, _))
      .RETURN(rows_of({row({std::int64_t{1}, std::monostate{}, std::monostate{}})}));
  auto found = run_unit(m.db(), [](UnitOfWork& unit) { return unit.one(find_ticket, 1); });
  REQUIRE_FALSE(found);
  CHECK(found.error().kind == errc::mapping);
  CHECK(found.error().message == "column 2 is NULL; read it into a std::optional");
}

TEST_CASE("a row with too few columns is a mapping error", "[typed]") {
  mocked m;
  ALLOW_CALL(m.session, begin(_)).RETURN(ok());
  REQUIRE_CALL(m.session, query(_, _)).RETURN(rows_of({row({std::int64_t{1}})}));
  auto found = run_unit(m.db(), [](UnitOfWork& unit) { return unit.one(find_ticket, 1); });
  REQUIRE_FALSE(found);
  CHECK(found.error().kind == errc::mapping);
  CHECK(found.error().operation == "find_ticket");
}

TEST_CASE("each backend runs its own SQL, and a backend with none runs nothing", "[typed]") {
  constexpr command<void(std::int64_t)> touch{
      "touch", sql_text{.sql = "UPDATE t SET n = n + 1 WHERE id = :id",
                        .postgresql = "UPDATE t SET n = n + 1 WHERE id = :id AND TRUE"}};
  constexpr command<void()> sqlite_only{"sqlite_only", sql_text{.sqlite = "PRAGMA optimize"}};
  SECTION("PostgreSQL") {
    mocked m(dialect::postgresql);
    ALLOW_CALL(m.session, begin(_)).RETURN(ok());
    REQUIRE_CALL(m.session, execute(_, _))
        .WITH(_1.sql == "UPDATE t SET n = n + 1 WHERE id = :id AND TRUE")
        .RETURN(changed(1));
    REQUIRE(run_unit(m.db(), [&](UnitOfWork& unit) -> result<void> {
      REPOKIT_TRYV(unit.run(touch, 1));
      REPOKIT_TRY(const std::uint64_t none, unit.run(sqlite_only));
      CHECK(none == 0);
      return success();
    }));
  }
  SECTION("MariaDB") {
    mocked m(dialect::mariadb);
    ALLOW_CALL(m.session, begin(_)).RETURN(ok());
    REQUIRE_CALL(m.session, execute(_, _))
        .WITH(_1.sql == "UPDATE t SET n = n + 1 WHERE id = :id")
        .RETURN(changed(1));
    REQUIRE(run_unit(m.db(), [&](UnitOfWork& unit) { return unit.run(touch, 1); }));
  }
}

TEST_CASE("a write part that changes nothing ends the statement before its read", "[typed]") {
  constexpr command<ticket(std::int64_t)> close_ticket{
      "close_ticket",
      "UPDATE tickets SET closed = 1 WHERE id = :id AND closed = 0; "
      "SELECT id, title, owner FROM tickets WHERE id = :id"};
  mocked m;
  ALLOW_CALL(m.session, begin(_)).RETURN(ok());
  REQUIRE_CALL(m.session, execute(_, _))
      .WITH(_1.sql == "UPDATE tickets SET closed = 1 WHERE id = :id AND closed = 0")
      .RETURN(changed(0));
  auto closed = run_unit(m.db(), [&](UnitOfWork& unit) { return unit.one(close_ticket, 3); });
  REQUIRE(closed);
  CHECK_FALSE(closed.value().has_value());
}

TEST_CASE("with<> opens any repository built from a unit of work, the user's own included",
          "[typed][scope]") {
  struct tickets {
    explicit tickets(UnitOfWork& unit) : unit_(unit) {}
    result<std::optional<ticket>> find(std::int64_t id) { return unit_.one(find_ticket, id); }
    UnitOfWork& unit_;
  };
  mocked m;
  REQUIRE_CALL(m.session, begin(begin_mode::deferred)).RETURN(ok());
  REQUIRE_CALL(m.session, query(_, _))
      .RETURN(rows_of({row({std::int64_t{2}, std::string("two"), std::int64_t{8}})}));
  auto found = with<tickets, tickets>(
      m.db(), [](tickets& first, tickets& second) -> result<std::optional<ticket>> {
        CHECK(&first.unit_ == &second.unit_);
        return first.find(2);
      });
  REQUIRE(found);
  CHECK(found.value() == ticket{2, "two", 8});
}
