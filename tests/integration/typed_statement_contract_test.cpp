// Typed statements on real databases: every mapped type round-trips, named placeholders bind
// once, IN lists bind spans, mismatches are errors naming the statement and column, and SQL
// chosen at run time runs as given.
#include <catch2/catch.hpp>

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <tuple>
#include <vector>

#include "contract_support.hpp"

using namespace repokit;
using namespace repokit::contract;

namespace {

struct item {
  std::int64_t id = 0;
  std::string label;
  std::int32_t rank = 0;
  bool flag = false;
  double ratio = 0;
  bytes payload;
  timestamp at{};
  std::optional<std::string> note;
  bool operator==(const item&) const = default;
};

constexpr sql_fragment item_columns = "id, label, item_rank, flag, ratio, payload, at_ms, note";

constexpr command<void(std::int64_t, std::string_view, std::int32_t, bool, double, bytes_view,
                       timestamp, std::optional<std::string_view>)>
    insert_item{"insert_item", sql_join<"INSERT INTO typed_items (", item_columns,
                                        ") VALUES (:id, :label, :item_rank, :flag, :ratio, "
                                        ":payload, :at_ms, :note)">};
constexpr query<item(std::int64_t)> find_item{
    "find_item", sql_join<"SELECT ", item_columns, " FROM typed_items WHERE id = :id">};
constexpr query<std::tuple<std::int64_t, std::string>(std::span<const std::int64_t>)> items_in{
    "items_in", "SELECT id, label FROM typed_items WHERE id IN (:ids) ORDER BY id"};

void create_items(const Database& db) {
  const std::string blob = db.kind() == dialect::postgresql ? "BYTEA" : "BLOB";
  testing::execute_sql(db,
                       "CREATE TABLE typed_items (id BIGINT PRIMARY KEY, label VARCHAR(64) NOT "
                       "NULL, item_rank INTEGER NOT NULL, flag BOOLEAN NOT NULL, ratio DOUBLE "
                       "PRECISION NOT NULL, payload " +
                           blob + " NOT NULL, at_ms BIGINT NOT NULL, note TEXT)");
}

item sample(std::int64_t id, std::string label) {
  item it;
  it.id = id;
  it.label = std::move(label);
  it.rank = -7;
  it.flag = true;
  it.ratio = 0.25;
  it.payload = {std::byte{0}, std::byte{0x5c}, std::byte{0xff}, std::byte{'x'}};
  it.at = timestamp{std::chrono::milliseconds{1'700'000'000'123}};
  return it;
}

result<void> store(UnitOfWork& unit, const item& it) {
  REPOKIT_TRY(
      const std::uint64_t changed,
      unit.run(insert_item, it.id, it.label, it.rank, it.flag, it.ratio, bytes_view(it.payload),
               it.at, it.note ? std::optional<std::string_view>(*it.note) : std::nullopt));
  if (changed != 1) return failure(errc::invalid_state, "insert changed no row");
  return success();
}

struct seeded {
  testing::test_database database;
  seeded() {
    create_items(database.db());
    REQUIRE(run_unit(database.db(), [](UnitOfWork& unit) -> result<void> {
      item with_note = sample(1, "alpha");
      with_note.note = "héllo";
      REPOKIT_TRYV(store(unit, with_note));
      REPOKIT_TRYV(store(unit, sample(2, "beta")));
      item third = sample(3, "gamma");
      third.flag = false;
      third.ratio = -1.5;
      third.payload.clear();
      return store(unit, third);
    }));
  }
  const Database& db() const { return database.db(); }
};

}  // namespace

TEST_CASE("typed statements: every mapped type round-trips, NULL as std::nullopt",
          "[contract][typed]") {
  seeded s;
  auto read = run_unit(s.db(), [](UnitOfWork& unit) -> result<std::vector<item>> {
    std::vector<item> found;
    for (std::int64_t id : {1, 2, 3}) {
      REPOKIT_TRY(std::optional<item> one, unit.one(find_item, id));
      if (!one) return failure(errc::not_found, "missing item");
      found.push_back(std::move(*one));
    }
    return found;
  });
  REQUIRE(read);
  item first = sample(1, "alpha");
  first.note = "héllo";
  item third = sample(3, "gamma");
  third.flag = false;
  third.ratio = -1.5;
  third.payload.clear();
  CHECK(read.value()[0] == first);
  CHECK(read.value()[1] == sample(2, "beta"));
  CHECK(read.value()[2] == third);
}

TEST_CASE("typed statements: one() answers nothing for no row and a mapping error for two",
          "[contract][typed]") {
  seeded s;
  constexpr query<std::string(std::int64_t)> labels_from{
      "labels_from", "SELECT label FROM typed_items WHERE id >= :from ORDER BY id"};
  auto none = run_unit(s.db(), [&](UnitOfWork& unit) { return unit.one(labels_from, 99); });
  REQUIRE(none);
  CHECK_FALSE(none.value().has_value());
  auto two = run_unit(s.db(), [&](UnitOfWork& unit) { return unit.one(labels_from, 2); });
  REQUIRE_FALSE(two);
  CHECK(two.error().kind == errc::mapping);
  CHECK(two.error().operation == "labels_from");
}

TEST_CASE("typed statements: a named placeholder used twice is bound once", "[contract][typed]") {
  seeded s;
  constexpr query<std::int64_t(std::string_view)> by_label_or_note{
      "by_label_or_note",
      "SELECT id FROM typed_items WHERE label = :text OR note = :text ORDER BY id"};
  auto ids = run_unit(s.db(), [&](UnitOfWork& unit) {
    return unit.all(by_label_or_note, std::string_view("héllo"));
  });
  REQUIRE(ids);
  CHECK(ids.value() == std::vector<std::int64_t>{1});
  auto by_label = run_unit(s.db(), [&](UnitOfWork& unit) {
    return unit.all(by_label_or_note, std::string_view("beta"));
  });
  REQUIRE(by_label);
  CHECK(by_label.value() == std::vector<std::int64_t>{2});
}

TEST_CASE("typed statements: an IN list binds a span of any length, empty matching nothing",
          "[contract][typed]") {
  seeded s;
  const std::array<std::int64_t, 3> wanted{3, 1, 42};
  auto some = run_unit(s.db(), [&](UnitOfWork& unit) {
    return unit.all(items_in, std::span<const std::int64_t>(wanted));
  });
  REQUIRE(some);
  using pair = std::tuple<std::int64_t, std::string>;
  CHECK(some.value() == std::vector<pair>{{1, "alpha"}, {3, "gamma"}});

  auto none = run_unit(s.db(), [&](UnitOfWork& unit) {
    return unit.all(items_in, std::span<const std::int64_t>());
  });
  REQUIRE(none);
  CHECK(none.value().empty());

  std::vector<std::int64_t> many(40);
  for (std::size_t i = 0; i < many.size(); ++i) many[i] = static_cast<std::int64_t>(i);
  auto all = run_unit(s.db(), [&](UnitOfWork& unit) {
    return unit.all(items_in, std::span<const std::int64_t>(many));
  });
  REQUIRE(all);
  CHECK(all.value().size() == 3);
}

TEST_CASE("typed statements: a column that does not fit is a mapping error naming it",
          "[contract][typed]") {
  seeded s;
  constexpr query<std::int64_t(std::int64_t)> label_as_number{
      "label_as_number", "SELECT label FROM typed_items WHERE id = :id"};
  auto wrong_type =
      run_unit(s.db(), [&](UnitOfWork& unit) { return unit.one(label_as_number, 1); });
  REQUIRE_FALSE(wrong_type);
  CHECK(wrong_type.error().kind == errc::mapping);
  CHECK(wrong_type.error().operation == "label_as_number");
  CHECK_THAT(wrong_type.error().message, Catch::Contains("column 1"));

  constexpr query<std::string(std::int64_t)> note_required{
      "note_required", "SELECT note FROM typed_items WHERE id = :id"};
  auto null = run_unit(s.db(), [&](UnitOfWork& unit) { return unit.one(note_required, 2); });
  REQUIRE_FALSE(null);
  CHECK(null.error().kind == errc::mapping);
  CHECK(null.error().operation == "note_required");
  CHECK_THAT(null.error().message, Catch::Contains("NULL"));
}

TEST_CASE("typed statements: SQL chosen at run time runs the SQL it was given",
          "[contract][typed]") {
  seeded s;
  std::vector<std::string> orders;
  for (const char* direction : {"ASC", "DESC", "ASC"}) {
    // Built on the stack each time, at the same address, with different text.
    const std::string sql =
        std::string("SELECT label FROM typed_items ORDER BY label ") + direction;
    auto listing = query<std::string()>::from_runtime_sql("list_labels", sql_text{.sql = sql});
    REQUIRE(listing);
    auto labels = run_unit(s.db(), [&](UnitOfWork& unit) { return unit.all(listing.value()); });
    REQUIRE(labels);
    std::string joined;
    for (const std::string& label : labels.value()) joined += label + " ";
    orders.push_back(joined);
  }
  CHECK(orders ==
        std::vector<std::string>{"alpha beta gamma ", "gamma beta alpha ", "alpha beta gamma "});
}

TEST_CASE("typed statements: SQL checked at run time refuses what does not fit its type",
          "[contract][typed]") {
  const std::string writes = "DELETE FROM typed_items";
  auto as_query = query<std::int64_t()>::from_runtime_sql("sneaky", sql_text{.sql = writes});
  REQUIRE_FALSE(as_query);
  CHECK(as_query.error().kind == errc::invalid_argument);
  CHECK(as_query.error().operation == "sneaky");

  const std::string two_placeholders = "SELECT id FROM typed_items WHERE id = :a OR id = :b";
  auto miscounted = query<std::int64_t(std::int64_t)>::from_runtime_sql(
      "miscounted", sql_text{.sql = two_placeholders});
  REQUIRE_FALSE(miscounted);
  CHECK(miscounted.error().kind == errc::invalid_argument);
}

TEST_CASE("typed statements: a write part that changes nothing ends a multi-part statement",
          "[contract][typed]") {
  seeded s;
  constexpr command<std::string(std::string_view, std::int64_t)> relabel{
      "relabel",
      "UPDATE typed_items SET label = :label WHERE id = :id; "
      "SELECT label FROM typed_items WHERE id = :id"};
  auto changed = run_unit(
      s.db(), [&](UnitOfWork& unit) { return unit.one(relabel, std::string_view("b2"), 2); });
  REQUIRE(changed);
  CHECK(changed.value() == std::optional<std::string>("b2"));
  auto missing = run_unit(
      s.db(), [&](UnitOfWork& unit) { return unit.one(relabel, std::string_view("x"), 9); });
  REQUIRE(missing);
  CHECK_FALSE(missing.value().has_value());
}

TEST_CASE("typed statements: a failed statement rolls the unit back", "[contract][typed]") {
  seeded s;
  auto duplicate = run_unit(s.db(), [](UnitOfWork& unit) -> result<void> {
    REPOKIT_TRYV(store(unit, sample(4, "delta")));
    return store(unit, sample(1, "again"));
  });
  REQUIRE_FALSE(duplicate);
  CHECK(duplicate.error().kind == errc::integrity);
  CHECK(testing::count_rows(s.db(), "typed_items") == 3);
}
