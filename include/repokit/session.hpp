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
  immediate,  // SQLite BEGIN IMMEDIATE: take the write lock now, honouring the busy timeout
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
