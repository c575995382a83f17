// UnitOfWork: one pooled connection and one transaction. It commits only if its body succeeded
// and no statement in it failed; otherwise it rolls back. A failed statement poisons it: every
// later statement fails fast naming the first failure. It belongs to the thread that opened it.
// The connection is taken from the pool at the first statement, not before, and given back
// clean (or discarded when its state is unknown) when the unit ends.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <thread>
#include <vector>

#include "repokit/connection_pool.hpp"
#include "repokit/database.hpp"
#include "repokit/metrics.hpp"
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

class UnitOfWork {
 public:
  // `statement_timeout` limits each statement of the unit; a slower one fails with errc::timeout.
  explicit UnitOfWork(Database db, access_mode access = access_mode::automatic,
                      std::optional<std::chrono::milliseconds> statement_timeout = std::nullopt,
                      isolation level = isolation::database_default);
  ~UnitOfWork();  // rolls back if still open
  UnitOfWork(const UnitOfWork&) = delete;
  UnitOfWork& operator=(const UnitOfWork&) = delete;
  UnitOfWork(UnitOfWork&&) = delete;
  UnitOfWork& operator=(UnitOfWork&&) = delete;

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
  bool ended() const noexcept { return phase_ == phase::ended; }
  // Whether BEGIN was sent and the transaction has not ended yet.
  bool in_transaction() const noexcept { return phase_ == phase::in_transaction; }
  bool wrote() const noexcept { return wrote_; }
  // The first failed statement, which poisoned the unit.
  const std::optional<error>& poison() const noexcept { return poison_; }

  // The innermost open unit of this thread on `db`, if any: the one a nested scope joins.
  static UnitOfWork* current(const Database& db) noexcept;
  // Whether this thread has any unit open, on any Database.
  static bool open_on_this_thread() noexcept;

 private:
  enum class phase : std::uint8_t { idle, in_transaction, ended };

  result<Session*> prepare_for(statement_kind kind, std::string_view operation);
  template <class T>
  result<T> record(result<T> outcome);
  result<void> refuse_if_foreign_thread(std::string_view operation) const;
  void roll_back(rollback_cause cause, const error* reason) noexcept;
  void end(bool discard_connection, bool connection_lost = false) noexcept;

  Database db_;
  access_mode access_;
  std::optional<std::chrono::milliseconds> statement_timeout_;
  isolation isolation_;
  std::thread::id owner_;
  phase phase_ = phase::idle;
  bool wrote_ = false;
  std::optional<connection_lease> lease_;
  std::optional<error> poison_;
  std::optional<error> rollback_only_;
};

}  // namespace repokit
