// UnitOfWork: one pooled connection and one transaction. It commits only if its body succeeded
// and no statement in it failed; otherwise it rolls back. A failed statement poisons it: every
// later statement fails fast naming the first failure. It belongs to the thread that opened it.
// The connection is taken from the pool at the first statement, not before, and given back
// clean (or discarded when its state is unknown) when the unit ends.
//
// Its states (unit_state):
//   idle ──first statement──> active ──commit()──> committed
//     │                         │   └──COMMIT lost──> in_doubt
//     │                         ├──a statement fails──> poisoned ──> rolled back
//     │                         └──mark_rollback_only()──> rollback-only ──> rolled back
//     └──commit() with nothing sent──> committed;  any open state ──rollback()──> rolled back
// A rollback-only unit still runs statements; a poisoned one runs none.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <source_location>
#include <span>
#include <string_view>
#include <thread>
#include <vector>

#include <boost/container/small_vector.hpp>

#include "repokit/connection_pool.hpp"
#include "repokit/database.hpp"
#include "repokit/metrics.hpp"
#include "repokit/query.hpp"
#include "repokit/result.hpp"
#include "repokit/session.hpp"
#include "repokit/statement.hpp"
#include "repokit/value.hpp"

namespace repokit {

enum class access_mode : std::uint8_t {
  automatic,   // BEGIN at the first statement; on SQLite IMMEDIATE if that statement writes
  read_write,  // BEGIN IMMEDIATE on SQLite from the start: for units that read, then write
  read_only,   // writes are refused
};

enum class isolation : std::uint8_t {
  database_default,  // PostgreSQL: READ COMMITTED, where a read-then-write can lose an update
  serializable,      // as if units ran one at a time; conflicts fail with 40001 and are retried
};                   // (SQLite's transactions are serializable either way)

enum class unit_state : std::uint8_t {
  idle,           // nothing sent yet: no connection taken, no transaction begun
  active,         // statements run
  poisoned,       // a statement failed: later ones are refused, and the unit can only roll back
  rollback_only,  // statements still run, but the unit rolls back at its end
  committed,
  rolled_back,
  in_doubt,  // the connection was lost during COMMIT: whether it committed is unknown
};
std::string_view to_string(unit_state state) noexcept;

namespace detail {
class root_run;
}  // namespace detail

class UnitOfWork {
 public:
  // `statement_timeout` limits each statement of the unit; a slower one fails with errc::timeout.
  // `where` is reported if the unit holds its connection past the leak detection threshold.
  explicit UnitOfWork(Database db, access_mode access = access_mode::automatic,
                      std::optional<std::chrono::milliseconds> statement_timeout = std::nullopt,
                      isolation level = isolation::database_default,
                      std::source_location where = std::source_location::current());
  // One attempt of a scope's retry loop (scope.hpp): opened as `run` says, and tells it at its
  // end whether it wrote.
  UnitOfWork(Database db, detail::root_run& run);
  ~UnitOfWork();  // rolls back if still open
  UnitOfWork(const UnitOfWork&) = delete;
  UnitOfWork& operator=(const UnitOfWork&) = delete;
  UnitOfWork(UnitOfWork&&) = delete;
  UnitOfWork& operator=(UnitOfWork&&) = delete;

  // Typed statements (query.hpp). Arguments convert to the statement's parameters, or the call
  // does not compile. A row that does not fit R is an errc::mapping error naming the column.

  // The only row, or nothing; a second row is an errc::mapping error.
  template <statement_kind K, class R, class... A, class... Given>
    requires(sizeof...(Given) == sizeof...(A) && (std::convertible_to<Given&&, A> && ...))
  result<std::optional<R>> one(const detail::typed_statement<K, R, A...>& statement,
                               Given&&... arguments);
  // Every row, in the order the database returned them.
  template <statement_kind K, class R, class... A, class... Given>
    requires(sizeof...(Given) == sizeof...(A) && (std::convertible_to<Given&&, A> && ...))
  result<std::vector<R>> all(const detail::typed_statement<K, R, A...>& statement,
                             Given&&... arguments);
  // A command that returns no rows; answers the number of rows it changed.
  template <class... A, class... Given>
    requires(sizeof...(Given) == sizeof...(A) && (std::convertible_to<Given&&, A> && ...))
  result<std::uint64_t> run(
      const detail::typed_statement<statement_kind::write, void, A...>& command,
      Given&&... arguments);

  // Untyped statements: SQL, a parameter per placeholder name, and rows read by position.
  result<std::vector<row>> query(const statement& sql, std::span<const param> params = {});
  // The first row, or nothing when the query returned none.
  result<std::optional<row>> query_one(const statement& sql, std::span<const param> params = {});
  result<std::uint64_t> execute(const statement& sql, std::span<const param> params = {});
  // Trusted SQL without parameters (schema changes); counts as a write.
  result<void> execute_script(std::string_view sql);

  // Ends the unit: COMMIT, or a rollback and the reason when it must not commit.
  result<void> commit();
  // Ends the unit with a rollback. `reason`, if any, is logged. Ignored (and logged) when
  // called from a thread that does not own the unit.
  void rollback(rollback_cause cause, const error* reason = nullptr) noexcept;
  // The unit may go on, but it will roll back at its end, reporting `reason`.
  void mark_rollback_only(const error& reason);

  dialect kind() const noexcept { return db_.kind(); }
  const Database& database() const noexcept { return db_; }
  unit_state state() const noexcept { return state_; }
  bool ended() const noexcept { return state_ >= unit_state::committed; }
  // Whether BEGIN was sent and the transaction has not ended yet.
  bool in_transaction() const noexcept { return transaction_open_; }
  bool wrote() const noexcept { return wrote_; }
  // The first failed statement, which poisoned the unit.
  const std::optional<error>& poison() const noexcept { return poison_; }

  // The innermost open unit of this thread on `db`, if any: the one a nested scope joins.
  static UnitOfWork* current(const Database& db) noexcept;
  // Whether this thread has any unit open, on any Database.
  static bool open_on_this_thread() noexcept;

 private:
  template <class R, class Rows>
  class record_reader;
  template <statement_kind K, class R, class... A, class... Given>
  result<std::uint64_t> run_typed(const detail::typed_statement<K, R, A...>& statement,
                                  row_consumer* consumer, Given&&... arguments);
  // Runs the parts of a typed statement's plan for this backend. `names` says where each
  // placeholder name's values are in `params`; empty when every name has exactly one.
  result<std::uint64_t> run_plan(std::string_view name, statement_kind kind,
                                 const detail::sql_plan& plan, std::span<const column_type> columns,
                                 std::span<const param> params,
                                 std::span<const detail::bound_name> names, row_consumer* consumer);

  // `script`: the statement is a script (execute_script).
  result<Session*> prepare_for(statement_kind kind, std::string_view operation,
                               bool script = false);
  // Why a statement of this kind cannot run now (the unit is poisoned or ended, or the statement
  // writes where writes are refused), or nothing.
  std::optional<error> refusal(statement_kind kind, std::string_view operation) const;
  result<void> begin(statement_kind kind, std::string_view operation, bool script);
  template <class T>
  result<T> record(result<T> outcome);
  bool owned_here() const noexcept { return owner_ == std::this_thread::get_id(); }
  // The refusal of a call from a thread that does not own the unit.
  error foreign_thread(std::string_view operation) const;
  void roll_back(rollback_cause cause, const error* reason) noexcept;
  void end(unit_state outcome, bool discard_connection, bool connection_lost = false) noexcept;
  result<void> resolve_lost_commit(error failed);

  Database db_;
  access_mode access_;
  std::optional<std::chrono::milliseconds> statement_timeout_;
  isolation isolation_;
  std::source_location where_;  // where the unit's scope was opened
  std::thread::id owner_;
  detail::root_run* run_ = nullptr;  // told at the end whether the unit wrote
  unit_state state_ = unit_state::idle;
  bool transaction_open_ = false;
  bool wrote_ = false;
  std::optional<connection_lease> lease_;
  std::optional<error> refused_options_;  // checked once, here; the first statement reports it
  std::optional<error> poison_;
  std::optional<error> rollback_only_;
};

// Reads each row in place into the record `Rows` makes room for (none: a row too many); a row
// that does not fit is taken back, and its error ends the query.
template <class R, class Rows>
class UnitOfWork::record_reader final : public row_consumer {
 public:
  record_reader(std::string_view statement, Rows& rows) : statement_(statement), rows_(rows) {}
  result<void> consume(std::span<const column_value> columns) override {
    R* record = rows_.make_room();
    if (record == nullptr) return failure(detail::more_than_one_row(statement_));
    auto read = detail::read_record(columns, statement_, *record);
    if (!read) rows_.take_back();
    return read;
  }

 private:
  std::string_view statement_;
  Rows& rows_;
};

template <statement_kind K, class R, class... A, class... Given>
result<std::uint64_t> UnitOfWork::run_typed(const detail::typed_statement<K, R, A...>& statement,
                                            row_consumer* consumer, Given&&... arguments) {
  const detail::sql_plan& plan = statement.plan(kind());
  if (plan.part_count == 0) return std::uint64_t{0};  // a step this backend does not need
  const std::tuple<A...> converted(std::forward<Given>(arguments)...);
  return std::apply(
      [&](const A&... values) -> result<std::uint64_t> {
        const std::tuple<detail::argument<A>...> held(values...);
        return std::apply(
            [&](const auto&... argument) -> result<std::uint64_t> {
              if constexpr ((detail::list_parameter<A> || ...)) {
                boost::container::small_vector<param, 16> params;  // no allocation for short lists
                std::array<detail::bound_name, sizeof...(A)> names{};
                std::size_t index = 0;
                const auto bind = [&](const auto& one) {
                  detail::bound_name& name = names[index++];
                  name.first = static_cast<std::uint32_t>(params.size());
                  if constexpr (requires { one.size(); }) {
                    name.list = true;
                    name.count = static_cast<std::uint32_t>(one.size());
                    for (std::size_t i = 0; i < one.size(); ++i) params.push_back(one.get(i));
                  } else {
                    params.push_back(one.get());
                  }
                };
                (bind(argument), ...);
                return run_plan(statement.name(), K, plan, statement.columns(),
                                std::span<const param>(params.data(), params.size()), names,
                                consumer);
              } else {
                const std::array<param, sizeof...(A)> params{argument.get()...};
                return run_plan(statement.name(), K, plan, statement.columns(), params, {},
                                consumer);
              }
            },
            held);
      },
      converted);
}

template <statement_kind K, class R, class... A, class... Given>
  requires(sizeof...(Given) == sizeof...(A) && (std::convertible_to<Given&&, A> && ...))
result<std::optional<R>> UnitOfWork::one(const detail::typed_statement<K, R, A...>& statement,
                                         Given&&... arguments) {
  // The row is read straight into the answer, and the answer is returned by name from a single
  // return, so that it is built in the caller's place and never moved.
  result<std::optional<R>> answer{std::optional<R>{}};
  struct at_most_one {
    std::optional<R>& found;
    R* make_room() { return found ? nullptr : &found.emplace(); }  // none for a second row
    void take_back() { found.reset(); }
  } rows{answer.value()};
  record_reader<R, at_most_one> reader(statement.name(), rows);
  if (auto ran = run_typed(statement, &reader, std::forward<Given>(arguments)...); !ran) {
    answer = failure(std::move(ran).error());
  }
  return answer;
}

template <statement_kind K, class R, class... A, class... Given>
  requires(sizeof...(Given) == sizeof...(A) && (std::convertible_to<Given&&, A> && ...))
result<std::vector<R>> UnitOfWork::all(const detail::typed_statement<K, R, A...>& statement,
                                       Given&&... arguments) {
  struct every {
    std::vector<R> rows;
    R* make_room() { return &rows.emplace_back(); }
    void take_back() { rows.pop_back(); }
  } rows;
  record_reader<R, every> reader(statement.name(), rows);
  REPOKIT_TRYV(run_typed(statement, &reader, std::forward<Given>(arguments)...));
  return std::move(rows.rows);
}

template <class... A, class... Given>
  requires(sizeof...(Given) == sizeof...(A) && (std::convertible_to<Given&&, A> && ...))
result<std::uint64_t> UnitOfWork::run(
    const detail::typed_statement<statement_kind::write, void, A...>& command,
    Given&&... arguments) {
  return run_typed(command, nullptr, std::forward<Given>(arguments)...);
}

}  // namespace repokit
