// The statement layer every backend shares: a Session over one SOCI connection, its prepared
// statements cached by SQL text for the connection's lifetime, values bound from the call's
// parameters and rows read in place. Each backend (sqlite_session.cpp, postgresql_session.cpp,
// mariadb_session.cpp) derives from it for its transactions, scripts, statement limits and what
// only it can tell about a column.
#pragma once

#include <soci/soci.h>

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "repokit/session.hpp"

namespace repokit::detail {

// Values are bound by reference when a statement is prepared; these slots hold them between
// executions of the cached statement. There is one slot per placeholder occurrence: a name used
// twice is sent twice, from the one parameter the caller bound.
struct param_slot {
  std::size_t type = 0;      // index into repokit::param of the bound C++ type
  std::uint32_t source = 0;  // the parameter this occurrence takes its value from
  std::string text;
  long long integer = 0;
  double real = 0;
  soci::indicator null = soci::i_ok;
};

struct column_slot {
  column_type type = column_type::text;
  std::string text;
  std::string decoded;  // bytes decoded from the text the driver gave, where they differ
  long long integer = 0;
  double real = 0;
  soci::indicator null = soci::i_ok;
};

struct prepared {
  explicit prepared(soci::session& sql) : st(sql) {}
  soci::statement st;
  std::size_t parameter_count = 0;
  std::vector<param_slot> params;
  std::vector<column_slot> columns;
  std::vector<column_value> row;  // the columns of the current row, as handed to consumers
};

// Quotes a value for a SOCI connection string ('...' with \ escapes).
std::string quote_conninfo(std::string_view value);

class soci_session : public Session {
 public:
  soci_session(dialect kind, std::unique_ptr<soci::session> sql);
  ~soci_session() override;

  dialect kind() const noexcept final { return kind_; }
  result<std::vector<row>> query(const statement& sql, std::span<const param> params) final;
  result<std::uint64_t> query_rows(const statement& sql, std::span<const param> params,
                                   row_consumer& consumer) final;
  result<std::uint64_t> execute(const statement& sql, std::span<const param> params) final;

 protected:
  soci::session& connection() noexcept { return *sql_; }

  // Around each statement: SQLite arms its statement deadline.
  virtual void statement_starts(statement_kind) {}
  virtual void statement_ends() {}
  // Told of every failure: a cluster backend rests a node whose connection was lost.
  virtual error watch(error failure) { return failure; }
  // Bytes to send for a blob parameter, and the bytes of a blob column as the driver gave them.
  virtual void encode_bytes(bytes_view data, std::string& out) const;
  virtual std::string_view decode_bytes(column_slot& slot) const { return slot.text; }
  // Asked for a number column the driver read as 0: false when the current row's column `i`
  // holds another type than the statement reads, with `column` saying what it holds (SQLite,
  // where any column takes any value).
  virtual bool value_fits(prepared& p, std::size_t i, column_value& column) const;
  // The type a server's result gives column `i`, for a conversion the driver refused; none
  // where the backend cannot tell.
  virtual std::optional<column_type> result_column_type(prepared& p, std::size_t i) const;

 private:
  class statement_scope;
  struct text_hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view text) const noexcept {
      return std::hash<std::string_view>{}(text);
    }
  };

  using statement_cache =
      std::unordered_map<std::string, std::unique_ptr<prepared>, text_hash, std::equal_to<>>;

  prepared& prepare(const statement& sql, std::span<const param> params);
  prepared* find(std::string_view sql);
  void erase(statement_cache::iterator cached);
  bool bind(prepared& p, std::span<const param> params) const;
  std::span<const column_value> read_row(prepared& p) const;
  std::optional<error> mismatched_column(prepared& p, std::string_view statement) const;
  void drop(std::string_view sql);
  error forget(const statement& sql) noexcept;

  dialect kind_;
  std::unique_ptr<soci::session> sql_;
  // Cached statements are found by their SQL text: only the same text finds the same statement.
  statement_cache cache_;
  // The statements found last, by the address of the text they were asked for with: found again
  // without hashing the text, once the text at that address proves to be theirs.
  struct recent_statement {
    const char* asked = nullptr;
    const std::string* text = nullptr;
    prepared* statement = nullptr;
  };
  std::array<recent_statement, 8> recent_{};
};

}  // namespace repokit::detail
