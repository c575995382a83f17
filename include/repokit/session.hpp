// Session: the one seam between repokit and a database connection. The real one wraps a SOCI
// session; tests put a trompeloeil mock in its place. Errors come back classified, never thrown.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "repokit/dialect.hpp"
#include "repokit/result.hpp"
#include "repokit/statement.hpp"
#include "repokit/value.hpp"

namespace repokit {

enum class begin_mode : std::uint8_t {
  deferred,   // plain BEGIN
  immediate,  // the unit will write. SQLite: BEGIN IMMEDIATE, taking the write lock now,
              // honouring the busy timeout; PostgreSQL: BEGIN, learning the transaction's id
  // The unit will write but needs no transaction id: it is idempotent (a lost COMMIT is simply
  // run again), or its first statement is a script that may set the transaction's
  // characteristics (SET TRANSACTION ISOLATION LEVEL), before which nothing may be queried.
  // SQLite: as immediate; PostgreSQL: plain BEGIN.
  immediate_without_id,
};

// What became of a transaction whose COMMIT was lost with its connection, as the server tells
// another connection.
enum class commit_outcome : std::uint8_t {
  committed,
  aborted,
  in_progress,  // its server process is still at work: ask again
  unknown,      // the server cannot tell (the transaction is too old, or this backend cannot ask)
};

// Receives the rows of a query one at a time, as they are read.
class row_consumer {
 public:
  // `columns` are valid during the call only. An error stops the query and is its answer.
  virtual result<void> consume(std::span<const column_value> columns) = 0;

 protected:
  ~row_consumer() = default;
};

class Session {
 public:
  virtual ~Session() = default;

  virtual dialect kind() const noexcept = 0;

  virtual result<void> begin(begin_mode mode) = 0;
  // A connection lost while COMMIT was under way reports errc::in_doubt.
  virtual result<void> commit() = 0;
  virtual result<void> rollback() = 0;

  // After commit() reported errc::in_doubt: the id of the lost transaction, when the session
  // learned it before sending COMMIT, for transaction_outcome() on another connection.
  // PostgreSQL's sessions learn it for transactions that wrote; the others never do.
  virtual std::optional<std::int64_t> lost_transaction() const { return std::nullopt; }
  // Asks the server what became of transaction `id`, lost with another connection.
  virtual result<commit_outcome> transaction_outcome(std::int64_t id);

  // Runs a statement that returns rows typed as `sql.columns` says.
  virtual result<std::vector<row>> query(const statement& sql, std::span<const param> params) = 0;
  // The same, handing each row to `consumer` as it is read instead of keeping it; answers the
  // number of rows. Sessions that can read in place override it; this one goes through query().
  virtual result<std::uint64_t> query_rows(const statement& sql, std::span<const param> params,
                                           row_consumer& consumer);
  // Runs a command; answers the number of rows it changed.
  virtual result<std::uint64_t> execute(const statement& sql, std::span<const param> params) = 0;
  // Runs trusted SQL with no parameters and no caching: schema changes, session settings.
  virtual result<void> execute_script(std::string_view sql) = 0;

  // Limits each later statement of the current transaction to `limit` (none: no limit). A
  // statement that runs longer fails with errc::timeout. Reset at the end of the transaction.
  virtual result<void> limit_statements(std::optional<std::chrono::milliseconds> limit) = 0;

  // A cheap round trip that tells whether the connection still works.
  virtual bool ping() = 0;
};

}  // namespace repokit
