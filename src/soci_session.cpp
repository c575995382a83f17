#include "soci_session.hpp"

#include <soci/mysql/soci-mysql.h>
#include <soci/postgresql/soci-postgresql.h>
#include <soci/soci.h>
#include <soci/sqlite3/soci-sqlite3.h>

#include <libpq-fe.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "error_translation.hpp"
#include "node_selector.hpp"
#include "repokit/sql_text.hpp"

namespace repokit::detail {
namespace {

namespace sqlite = ::sqlite_api;

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
  std::string decoded;  // a PostgreSQL bytea column's bytes
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

// Cached statements are found by their SQL text: only the same text finds the same statement.
struct text_hash {
  using is_transparent = void;
  std::size_t operator()(std::string_view text) const noexcept {
    return std::hash<std::string_view>{}(text);
  }
};

// `sql` with each placeholder occurrence renamed :p1, :p2, ... for SOCI, which binds by
// position; `sources` gets the parameter each occurrence takes (names in order of first use).
std::string positional_sql(std::string_view sql, std::vector<std::uint32_t>& sources,
                           std::size_t& names) {
  // Not bounded by max_statement_parameters: an IN list arrives spelled out, a name per value.
  std::vector<std::string_view> seen;
  std::string out;
  out.reserve(sql.size() + 16);
  std::size_t copied = 0;
  const detail::sql_problem problem =
      detail::scan_sql(sql, [&](detail::sql_token token, std::size_t at, std::size_t length) {
        if (token != detail::sql_token::placeholder) return;
        const std::string_view name = sql.substr(at, length);
        const auto found = std::find(seen.begin(), seen.end(), name);
        const auto k = static_cast<std::uint32_t>(found - seen.begin());
        if (found == seen.end()) seen.push_back(name);
        sources.push_back(k);
        out.append(sql.substr(copied, at - copied));
        out.append(":p").append(std::to_string(sources.size()));
        copied = at + length;
      });
  if (problem != detail::sql_problem::none) {
    throw soci::soci_error(std::string(detail::describe(problem)));
  }
  out.append(sql.substr(copied));
  names = seen.size();
  return out;
}

constexpr char hex_digits[] = "0123456789abcdef";

// PostgreSQL takes and gives bytea as text in hex: \x0a1b...
void bytea_to_hex(bytes_view data, std::string& out) {
  out.assign("\\x");
  for (const std::byte b : data) {
    out += hex_digits[static_cast<unsigned>(b) >> 4];
    out += hex_digits[static_cast<unsigned>(b) & 0xf];
  }
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool bytea_from_hex(std::string_view text, std::string& out) {
  if (text.size() < 2 || text[0] != '\\' || text[1] != 'x' || text.size() % 2 != 0) return false;
  out.clear();
  for (std::size_t i = 2; i < text.size(); i += 2) {
    const int high = hex_value(text[i]);
    const int low = hex_value(text[i + 1]);
    if (high < 0 || low < 0) return false;
    out += static_cast<char>(high * 16 + low);
  }
  return true;
}

// Booleans arrive as text: PostgreSQL says t or f, the others 1 or 0.
bool boolean_from_text(std::string_view text, std::int64_t& out) {
  if (text == "t" || text == "true" || text == "1") {
    out = 1;
  } else if (text == "f" || text == "false" || text == "0") {
    out = 0;
  } else {
    return false;
  }
  return true;
}

constexpr std::size_t null_index = 0;
constexpr std::size_t integer_index = 1;
constexpr std::size_t real_index = 2;
constexpr std::size_t text_index = 3;
constexpr std::size_t bytes_index = 4;

std::string quote_conninfo(std::string_view value) {
  std::string out = "'";
  for (const char c : value) {
    if (c == '\'' || c == '\\') out += '\\';
    out += c;
  }
  out += '\'';
  return out;
}

std::string sqlite_connect_string(const database_url& url) {
  // SOCI splits "name=value" pairs on blanks; a quoted value may hold them. It knows no escape
  // for a '"' inside, which database_url::parse therefore refuses in SQLite paths.
  return "db=\"" + url.path + '"';
}

result<std::string> postgresql_conninfo(const database_url& url, const database_options& options) {
  static constexpr std::string_view allowed[] = {
      "sslmode",          "sslrootcert",          "sslcert", "sslkey",     "connect_timeout",
      "application_name", "target_session_attrs", "options", "keepalives", "keepalives_idle"};
  std::string hosts;
  std::string ports;
  for (const auto& endpoint : url.hosts) {
    if (!hosts.empty()) {
      hosts += ',';
      ports += ',';
    }
    hosts += endpoint.host;
    ports += std::to_string(endpoint.port);
  }
  std::string info = "host=" + quote_conninfo(hosts) + " port=" + quote_conninfo(ports) +
                     " dbname=" + quote_conninfo(url.database);
  if (!url.user.empty()) info += " user=" + quote_conninfo(url.user);
  if (!url.password.empty()) info += " password=" + quote_conninfo(url.password);
  bool named = false;
  for (const auto& [name, value] : url.parameters) {
    bool known = false;
    for (const auto candidate : allowed) known = known || name == candidate;
    if (!known) {
      return failure(errc::configuration,
                     "unknown PostgreSQL URL parameter '" + name +
                         "'; repokit passes on sslmode, sslrootcert, sslcert, sslkey, "
                         "connect_timeout, application_name, target_session_attrs, options, "
                         "keepalives and keepalives_idle");
    }
    named = named || name == "application_name";
    info += ' ' + name + '=' + quote_conninfo(value);
  }
  if (!named) info += " application_name=" + quote_conninfo(options.application_name);
  return info;
}

class soci_session final : public Session {
 public:
  // `on_lost` hears when this connection is found gone (a cluster node to avoid for a while).
  soci_session(dialect kind, std::unique_ptr<soci::session> sql, std::function<void()> on_lost = {})
      : kind_(kind), sql_(std::move(sql)), on_lost_(std::move(on_lost)) {}

  ~soci_session() override {
    cache_.clear();  // statements first: they refer to the connection
    for (sqlite::sqlite3_stmt* prepared : transaction_statements_) {
      sqlite::sqlite3_finalize(prepared);
    }
  }

  dialect kind() const noexcept override { return kind_; }

  result<void> begin(begin_mode mode) override {
    switch (kind_) {
      case dialect::sqlite:
        return mode == begin_mode::immediate ? sqlite_step(sqlite_begin_immediate, "BEGIN")
                                             : sqlite_step(sqlite_begin, "BEGIN");
      case dialect::postgresql: return postgresql_exec("BEGIN", "BEGIN", failure_point::statement);
      case dialect::mariadb:
        return mysql_exec("START TRANSACTION", "BEGIN", failure_point::statement);
    }
    return success();
  }

  result<void> commit() override {
    switch (kind_) {
      case dialect::sqlite: return sqlite_step(sqlite_commit, "COMMIT");
      case dialect::postgresql: return postgresql_exec("COMMIT", "COMMIT", failure_point::commit);
      case dialect::mariadb: return mysql_exec("COMMIT", "COMMIT", failure_point::commit);
    }
    return success();
  }

  result<void> rollback() override {
    switch (kind_) {
      case dialect::sqlite: return sqlite_step(sqlite_rollback, "ROLLBACK");
      case dialect::postgresql:
        return postgresql_exec("ROLLBACK", "ROLLBACK", failure_point::statement);
      case dialect::mariadb: return mysql_exec("ROLLBACK", "ROLLBACK", failure_point::statement);
    }
    return success();
  }

  result<std::vector<row>> query(const statement& sql, std::span<const param> params) override {
    struct keep_rows final : row_consumer {
      result<void> consume(std::span<const column_value> columns) override {
        std::vector<value> values;
        values.reserve(columns.size());
        for (const column_value& column : columns) {
          if (column.null) {
            values.emplace_back(std::monostate{});
          } else if (column.type == column_type::integer || column.type == column_type::boolean) {
            values.emplace_back(std::int64_t{column.integer});
          } else if (column.type == column_type::real) {
            values.emplace_back(column.real);
          } else {
            values.emplace_back(std::string(column.text));
          }
        }
        rows.emplace_back(std::move(values));
        return success();
      }
      std::vector<row> rows;
    } kept;
    REPOKIT_TRYV(query_rows(sql, params, kept));
    return std::move(kept.rows);
  }

  result<std::uint64_t> query_rows(const statement& sql, std::span<const param> params,
                                   row_consumer& consumer) override {
    const deadline_scope timed(*this);
    prepared* p = nullptr;
    std::uint64_t count = 0;
    try {
      p = &prepare(sql, params);
      bool has_row = p->st.execute(true);
      while (has_row) {
        ++count;
        auto consumed = consumer.consume(read_row(*p));
        if (!consumed) {
          drop(sql.sql);  // stopped half-way: not to be reused in that state
          return failure(std::move(consumed).error());
        }
        has_row = p->st.fetch();
      }
      return count;
    } catch (const soci::soci_error& refused) {
      // A value the driver could not convert: say which column, as a mapping error. Looked at
      // before forget() drops the statement and its result.
      std::optional<error> mismatch;
      if (p != nullptr && std::string_view(refused.what()).starts_with("Cannot convert data")) {
        mismatch = mismatched_column(*p, sql.name);
      }
      error failure = forget(sql);
      return repokit::failure(mismatch ? std::move(*mismatch) : std::move(failure));
    } catch (...) {
      return failure(forget(sql));
    }
  }

  result<std::uint64_t> execute(const statement& sql, std::span<const param> params) override {
    const deadline_scope timed(*this);
    try {
      prepared& p = prepare(sql, params);
      p.st.execute(true);
      const long long changed = p.st.get_affected_rows();
      return static_cast<std::uint64_t>(changed < 0 ? 0 : changed);
    } catch (...) {
      return failure(forget(sql));
    }
  }

  result<void> execute_script(std::string_view sql) override {
    switch (kind_) {
      case dialect::sqlite: return sqlite_exec(std::string(sql).c_str(), "script");
      case dialect::postgresql:
        return postgresql_exec(std::string(sql).c_str(), "script", failure_point::statement);
      case dialect::mariadb: {
        // The connection takes one statement per call: scripts are split at their ';'
        // (trusted SQL, with no ';' inside its literals).
        std::size_t from = 0;
        while (from < sql.size()) {
          const std::size_t end = std::min(sql.find(';', from), sql.size());
          const std::string_view one = sql.substr(from, end - from);
          if (one.find_first_not_of(" \t\r\n") != std::string_view::npos) {
            REPOKIT_TRYV(mysql_exec(std::string(one).c_str(), "script", failure_point::statement));
          }
          from = end + 1;
        }
        return success();
      }
    }
    return success();
  }

  result<void> limit_statements(std::optional<std::chrono::milliseconds> limit) override {
    if (kind_ == dialect::mariadb) {  // MariaDB's limit is per session, in seconds
      const std::string sql =
          "SET SESSION max_statement_time = " +
          std::to_string(limit ? static_cast<double>(limit->count()) / 1000 : 0.0);
      return mysql_exec(sql.c_str(), "statement timeout", failure_point::statement);
    }
    if (kind_ == dialect::postgresql) {
      if (!limit) return success();  // SET LOCAL ends with its transaction
      const std::string sql = "SET LOCAL statement_timeout = " + std::to_string(limit->count());
      return postgresql_exec(sql.c_str(), "statement timeout", failure_point::statement);
    }
    // SQLite has no timeout of its own: a progress handler interrupts a statement past its
    // deadline, which each statement sets as it starts.
    statement_limit_ = limit;
    if (limit) {
      sqlite::sqlite3_progress_handler(sqlite_handle(), 1000, &interrupt_if_late, this);
    } else {
      sqlite::sqlite3_progress_handler(sqlite_handle(), 0, nullptr, nullptr);
    }
    return success();
  }

  bool ping() override {
    if (kind_ == dialect::sqlite) return true;  // an embedded database cannot go away
    if (kind_ == dialect::mariadb) return mysql_ping(mysql_handle()) == 0;
    PGresult* res = PQexec(pg(), "SELECT 1");
    const bool alive = PQresultStatus(res) == PGRES_TUPLES_OK;
    PQclear(res);
    return alive;
  }

  result<void> setup_sqlite(const database_options& options) {
    sqlite::sqlite3_extended_result_codes(sqlite_handle(), 1);
    std::string pragmas = "PRAGMA busy_timeout=" + std::to_string(options.busy_timeout.count()) +
                          "; PRAGMA foreign_keys=ON; PRAGMA synchronous=" + options.synchronous +
                          ';';
    REPOKIT_TRYV(sqlite_exec(pragmas.c_str(), "connection setup"));
    return success();
  }

  result<void> enable_wal() { return sqlite_exec("PRAGMA journal_mode=WAL", "connection setup"); }

 private:
  using steady = std::chrono::steady_clock;

  // Arms the statement deadline for the statement under way, and only for it.
  struct deadline_scope {
    explicit deadline_scope(soci_session& session) : session_(session) {
      if (session_.statement_limit_)
        session_.deadline_ = steady::now() + *session_.statement_limit_;
    }
    ~deadline_scope() { session_.deadline_ = steady::time_point::max(); }
    soci_session& session_;
  };

  static int interrupt_if_late(void* self) {
    return steady::now() > static_cast<soci_session*>(self)->deadline_ ? 1 : 0;
  }

  sqlite::sqlite3* sqlite_handle() {
    return static_cast<soci::sqlite3_session_backend*>(sql_->get_backend())->conn_;
  }
  PGconn* pg() {
    return static_cast<soci::postgresql_session_backend*>(sql_->get_backend())->conn_;
  }
  MYSQL* mysql_handle() {
    return static_cast<soci::mysql_session_backend*>(sql_->get_backend())->conn_;
  }

  result<void> mysql_exec(const char* sql, std::string_view operation, failure_point where) {
    MYSQL* connection = mysql_handle();
    if (mysql_real_query(connection, sql, std::strlen(sql)) != 0) {
      return failure(
          watch(mysql_error(mysql_errno(connection), ::mysql_error(connection), operation, where)));
    }
    if (MYSQL_RES* rows = mysql_store_result(connection)) mysql_free_result(rows);
    return success();
  }

  // Tells the node selector when the connection turned out to be gone.
  error watch(error failure) {
    if (on_lost_ && (failure.kind == errc::connection_lost || failure.kind == errc::in_doubt)) {
      on_lost_();
    }
    return failure;
  }

  // BEGIN, COMMIT and ROLLBACK run once per unit of work: prepared once per connection instead
  // of parsed again each time (a third of a short read's instructions went to parsing them).
  enum transaction_statement : std::size_t {
    sqlite_begin,
    sqlite_begin_immediate,
    sqlite_commit,
    sqlite_rollback
  };

  result<void> sqlite_step(transaction_statement which, std::string_view operation) {
    static constexpr const char* text[] = {"BEGIN", "BEGIN IMMEDIATE", "COMMIT", "ROLLBACK"};
    sqlite::sqlite3_stmt*& prepared = transaction_statements_[which];
    if (prepared == nullptr) {
      const int rc = sqlite::sqlite3_prepare_v3(sqlite_handle(), text[which], -1,
                                                SQLITE_PREPARE_PERSISTENT, &prepared, nullptr);
      if (rc != SQLITE_OK) {
        return failure(sqlite_error(sqlite::sqlite3_extended_errcode(sqlite_handle()),
                                    sqlite::sqlite3_errmsg(sqlite_handle()), operation));
      }
    }
    const int rc = sqlite::sqlite3_step(prepared);
    sqlite::sqlite3_reset(prepared);
    if (rc == SQLITE_DONE) return success();
    return failure(sqlite_error(sqlite::sqlite3_extended_errcode(sqlite_handle()),
                                sqlite::sqlite3_errmsg(sqlite_handle()), operation));
  }

  result<void> sqlite_exec(const char* sql, std::string_view operation) {
    char* message = nullptr;
    const int rc = sqlite::sqlite3_exec(sqlite_handle(), sql, nullptr, nullptr, &message);
    if (rc == 0) return success();
    std::string text = message != nullptr ? message : sqlite::sqlite3_errmsg(sqlite_handle());
    sqlite::sqlite3_free(message);
    return failure(
        sqlite_error(sqlite::sqlite3_extended_errcode(sqlite_handle()), text, operation));
  }

  result<void> postgresql_exec(const char* sql, std::string_view operation, failure_point where) {
    PGresult* res = PQexec(pg(), sql);
    const ExecStatusType status = PQresultStatus(res);
    if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK) {
      // PostgreSQL answers COMMIT of an aborted transaction with ROLLBACK, not with an error.
      const bool rolled_back =
          where == failure_point::commit && std::string_view(PQcmdStatus(res)) == "ROLLBACK";
      PQclear(res);
      if (rolled_back) {
        return failure(error{errc::session_poisoned, retry_class::permanent, "", "COMMIT",
                             "PostgreSQL rolled the transaction back because a statement in it "
                             "had failed"});
      }
      return success();
    }
    // Copied before PQclear: the result owns the field's memory.
    const char* field = res != nullptr ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : nullptr;
    const std::string state = field != nullptr ? field : "";
    std::string message = res != nullptr ? PQresultErrorMessage(res) : "";
    if (message.empty()) message = PQerrorMessage(pg());
    PQclear(res);
    return failure(
        postgresql_error(state, message, operation, where, PQstatus(pg()) == CONNECTION_BAD));
  }

  prepared& prepare(const statement& sql, std::span<const param> params) {
    auto found = cache_.find(sql.sql);
    if (found != cache_.end()) {
      prepared& cached = *found->second;
      const bool same_columns = std::equal(
          cached.columns.begin(), cached.columns.end(), sql.columns.begin(), sql.columns.end(),
          [](const column_slot& slot, column_type type) { return slot.type == type; });
      if (same_columns && bind(cached, params)) return cached;
      cache_.erase(found);  // read into other types, or parameter types changed: prepare anew
    }

    auto p = std::make_unique<prepared>(*sql_);
    std::vector<std::uint32_t> sources;
    const std::string positional = positional_sql(sql.sql, sources, p->parameter_count);
    if (params.size() != p->parameter_count) {
      throw soci::soci_error("the SQL has " + std::to_string(p->parameter_count) +
                             " placeholder name(s) but " + std::to_string(params.size()) +
                             " parameter(s) were bound");
    }
    p->params.resize(sources.size());
    for (std::size_t i = 0; i < sources.size(); ++i) {
      param_slot& slot = p->params[i];
      slot.source = sources[i];
      // A first NULL is bound as text: any column type accepts a NULL text parameter.
      const std::size_t type = params[slot.source].index();
      slot.type = type == null_index ? text_index : type;
    }
    bind(*p, params);
    for (param_slot& slot : p->params) {
      switch (slot.type) {
        case integer_index: p->st.exchange(soci::use(slot.integer, slot.null)); break;
        case real_index: p->st.exchange(soci::use(slot.real, slot.null)); break;
        default: p->st.exchange(soci::use(slot.text, slot.null)); break;
      }
    }
    p->columns.resize(sql.columns.size());
    p->row.resize(sql.columns.size());
    for (std::size_t i = 0; i < sql.columns.size(); ++i) {
      column_slot& slot = p->columns[i];
      slot.type = sql.columns[i];
      switch (slot.type) {
        case column_type::integer: p->st.exchange(soci::into(slot.integer, slot.null)); break;
        case column_type::real: p->st.exchange(soci::into(slot.real, slot.null)); break;
        default: p->st.exchange(soci::into(slot.text, slot.null)); break;
      }
    }
    p->st.alloc();
    p->st.prepare(positional);
    p->st.define_and_bind();
    return *cache_.emplace(std::string(sql.sql), std::move(p)).first->second;
  }

  // Copies the call's values into the slots; false when a value's type differs from the bound one.
  bool bind(prepared& p, std::span<const param> params) const {
    if (params.size() != p.parameter_count) return false;
    for (param_slot& slot : p.params) {
      const param& value = params[slot.source];
      if (value.index() == null_index) {
        slot.null = soci::i_null;
        continue;
      }
      if (value.index() != slot.type) return false;
      slot.null = soci::i_ok;
      switch (slot.type) {
        case integer_index: slot.integer = std::get<std::int64_t>(value); break;
        case real_index: slot.real = std::get<double>(value); break;
        case bytes_index: {
          const bytes_view data = std::get<bytes_view>(value);
          if (kind_ == dialect::postgresql) {
            bytea_to_hex(data, slot.text);
          } else {
            slot.text.assign(reinterpret_cast<const char*>(data.data()), data.size());
          }
          break;
        }
        default: slot.text.assign(std::get<std::string_view>(value)); break;
      }
    }
    return true;
  }

  // The current row's columns, pointing into the slots: valid until the next fetch.
  std::span<const column_value> read_row(prepared& p) const {
    for (std::size_t i = 0; i < p.columns.size(); ++i) {
      column_slot& slot = p.columns[i];
      column_value& column = p.row[i];
      column.type = slot.type;
      column.null = slot.null == soci::i_null;
      if (column.null) continue;
      if (kind_ == dialect::sqlite && !sqlite_value_fits(p, i, column)) continue;
      switch (slot.type) {
        case column_type::integer: column.integer = slot.integer; break;
        case column_type::real: column.real = slot.real; break;
        case column_type::text: column.text = slot.text; break;
        case column_type::boolean:
          if (!boolean_from_text(slot.text, column.integer)) {
            column.type = column_type::text;  // reported as text that is not a boolean
            column.text = slot.text;
          }
          break;
        case column_type::blob:
          if (kind_ == dialect::postgresql && bytea_from_hex(slot.text, slot.decoded)) {
            column.text = slot.decoded;
          } else {
            column.text = slot.text;
          }
          break;
      }
    }
    return p.row;
  }

  // SQLite keeps any value in any column, and SOCI converts text read as a number to 0: the
  // value's storage class says what it really is. False when it is not what the statement
  // reads, with `column` describing what it is instead.
  bool sqlite_value_fits(prepared& p, std::size_t i, column_value& column) const {
    if (column.type != column_type::integer && column.type != column_type::real &&
        column.type != column_type::boolean) {
      return true;
    }
    auto* backend = static_cast<soci::sqlite3_statement_backend*>(p.st.get_backend());
    const int index = static_cast<int>(i);
    switch (sqlite::sqlite3_column_type(backend->stmt_, index)) {
      case SQLITE_TEXT: column.type = column_type::text; return false;
      case SQLITE_BLOB: column.type = column_type::blob; return false;
      case SQLITE_FLOAT:
        if (column.type == column_type::real) return true;
        column.type = column_type::real;
        column.real = sqlite::sqlite3_column_double(backend->stmt_, index);
        return false;
      default: return true;
    }
  }

  // The type a server's result gives column `i`, as repokit reads it.
  column_type server_column_type(prepared& p, std::size_t i) const {
    if (kind_ == dialect::postgresql) {
      auto* backend = static_cast<soci::postgresql_statement_backend*>(p.st.get_backend());
      const PGresult* result = backend->result_.get_result();
      if (result == nullptr || PQresultStatus(result) != PGRES_TUPLES_OK ||
          static_cast<int>(i) >= PQnfields(result)) {
        return column_type::text;
      }
      switch (PQftype(result, static_cast<int>(i))) {
        case 16: return column_type::boolean;  // bool
        case 17: return column_type::blob;     // bytea
        case 20:
        case 21:
        case 23:
        case 26: return column_type::integer;  // int8/2/4, oid
        case 700:
        case 701:
        case 1700: return column_type::real;  // float4/8, numeric
        default: return column_type::text;
      }
    }
    auto* backend = static_cast<soci::mysql_statement_backend*>(p.st.get_backend());
    if (backend->result_ == nullptr || i >= mysql_num_fields(backend->result_)) {
      return column_type::text;
    }
    const MYSQL_FIELD* field = mysql_fetch_field_direct(backend->result_, static_cast<unsigned>(i));
    switch (field->type) {
      case MYSQL_TYPE_TINY:
      case MYSQL_TYPE_SHORT:
      case MYSQL_TYPE_LONG:
      case MYSQL_TYPE_INT24:
      case MYSQL_TYPE_LONGLONG:
      case MYSQL_TYPE_YEAR:
      case MYSQL_TYPE_BIT: return column_type::integer;
      case MYSQL_TYPE_FLOAT:
      case MYSQL_TYPE_DOUBLE:
      case MYSQL_TYPE_DECIMAL:
      case MYSQL_TYPE_NEWDECIMAL: return column_type::real;
      default: return field->charsetnr == 63 ? column_type::blob : column_type::text;  // binary
    }
  }

  // After a read the driver refused: the first column whose type in the result cannot be read
  // as the statement declares it, as errc::mapping naming the statement and the column.
  std::optional<error> mismatched_column(prepared& p, std::string_view statement) const {
    if (kind_ == dialect::sqlite) return std::nullopt;
    static constexpr std::array<std::string_view, 5> names{"an integer", "a floating-point number",
                                                           "text", "a boolean", "bytes"};
    for (std::size_t i = 0; i < p.columns.size(); ++i) {
      const column_type wanted = p.columns[i].type;
      const column_type stored = server_column_type(p, i);
      const bool numeric = stored == column_type::integer || stored == column_type::boolean;
      const bool fits =
          wanted == column_type::text || wanted == column_type::blob ||
          (wanted == column_type::real && (numeric || stored == column_type::real)) ||
          ((wanted == column_type::integer || wanted == column_type::boolean) && numeric);
      if (fits) continue;
      error mismatch = make_error(
          errc::mapping, "column " + std::to_string(i + 1) + " holds " +
                             std::string(names[static_cast<std::size_t>(stored)]) + ", not " +
                             std::string(names[static_cast<std::size_t>(wanted)]));
      mismatch.operation = std::string(statement);
      return mismatch;
    }
    return std::nullopt;
  }

  void drop(std::string_view sql) {
    const auto found = cache_.find(sql);
    if (found != cache_.end()) cache_.erase(found);
  }

  // Classifies the exception in flight and drops the statement: its state is unknown now.
  error forget(const statement& sql) noexcept {
    error failure =
        translate_current_exception(kind_, sql.name, failure_point::statement, sql_.get());
    drop(sql.sql);
    return watch(std::move(failure));
  }

  dialect kind_;
  std::unique_ptr<soci::session> sql_;
  std::function<void()> on_lost_;
  std::array<sqlite::sqlite3_stmt*, 4> transaction_statements_{};
  std::optional<std::chrono::milliseconds> statement_limit_;
  steady::time_point deadline_ = steady::time_point::max();
  std::unordered_map<std::string, std::unique_ptr<prepared>, text_hash, std::equal_to<>> cache_;
};

result<std::unique_ptr<Session>> connect_sqlite(const database_url& url,
                                                const database_options& options) {
  // A read-only Database never creates the file. It opens it for writing all the same, with
  // query_only set: a connection opened read-only would leave a WAL database's -wal and -shm
  // files behind, having no right to remove them when it closes.
  std::error_code ignored;
  if (options.read_only && !url.in_memory() && !std::filesystem::exists(url.path, ignored)) {
    error absent = make_error(errc::configuration,
                              "the SQLite file does not exist, and a read-only Database never "
                              "creates it");
    absent.operation = "connect to " + url.masked();
    return failure(std::move(absent));
  }
  std::unique_ptr<soci::session> sql;
  try {
    sql = std::make_unique<soci::session>(soci::sqlite3, sqlite_connect_string(url));
  } catch (...) {
    return failure(translate_current_exception(dialect::sqlite, "connect to " + url.masked(),
                                               failure_point::connect, nullptr));
  }
  auto session = std::make_unique<soci_session>(dialect::sqlite, std::move(sql));
  REPOKIT_TRYV(session->setup_sqlite(options));
  if (options.read_only) REPOKIT_TRYV(session->execute_script("PRAGMA query_only = ON"));
  if (options.wal && !options.read_only && !url.in_memory()) {
    REPOKIT_TRYV(session->enable_wal());
  }
  return std::unique_ptr<Session>(std::move(session));
}

result<std::unique_ptr<Session>> connect_postgresql(const database_url& url,
                                                    const std::string& conninfo) {
  std::unique_ptr<soci::session> sql;
  try {
    sql = std::make_unique<soci::session>(soci::postgresql, conninfo);
  } catch (...) {
    return failure(translate_current_exception(dialect::postgresql, "connect to " + url.masked(),
                                               failure_point::connect, nullptr));
  }
  // NOTICEs ("relation already exists, skipping") are the server talking to a human: not ours
  // to print on the application's stderr.
  PQsetNoticeProcessor(
      static_cast<soci::postgresql_session_backend*>(sql->get_backend())->conn_,
      [](void*, const char*) {}, nullptr);
  return std::unique_ptr<Session>(
      std::make_unique<soci_session>(dialect::postgresql, std::move(sql)));
}

struct mysql_target {
  std::vector<std::string> connect_strings;  // one per node, in URL order
  std::shared_ptr<node_selector> selector;
};

result<mysql_target> mysql_connect_strings(const database_url& url) {
  static constexpr std::string_view passed_on[] = {
      "connect_timeout", "read_timeout", "write_timeout", "sslca", "sslcert", "sslkey"};
  std::string common = " db=" + quote_conninfo(url.database) + " charset='utf8mb4'";
  if (!url.user.empty()) common += " user=" + quote_conninfo(url.user);
  if (!url.password.empty()) common += " password=" + quote_conninfo(url.password);
  node_selection policy = node_selection::round_robin;
  bool connect_timeout_given = false;
  for (const auto& [name, value] : url.parameters) {
    if (name == "node_selection") {
      REPOKIT_TRY(policy, parse_node_selection(value));
      continue;
    }
    bool known = false;
    for (const auto candidate : passed_on) known = known || name == candidate;
    if (!known) {
      return failure(errc::configuration,
                     "unknown MySQL URL parameter '" + name +
                         "'; repokit takes node_selection and passes on connect_timeout, "
                         "read_timeout, write_timeout, sslca, sslcert and sslkey");
    }
    connect_timeout_given = connect_timeout_given || name == "connect_timeout";
    common += ' ' + name + '=' + quote_conninfo(value);
  }
  // A node that does not answer must not hold a connection attempt for minutes.
  if (!connect_timeout_given) common += " connect_timeout=5";
  mysql_target target;
  for (const auto& endpoint : url.hosts) {
    target.connect_strings.push_back("host=" + quote_conninfo(endpoint.host) +
                                     " port=" + std::to_string(endpoint.port) + common);
  }
  target.selector = std::make_shared<node_selector>(url.hosts.size(), policy);
  return target;
}

result<std::unique_ptr<Session>> connect_mysql(const database_url& url,
                                               const mysql_target& target) {
  std::optional<error> last;
  for (const std::size_t node : target.selector->order()) {
    const std::string where = "connect to " + url.hosts[node].host + ':' +
                              std::to_string(url.hosts[node].port) + " (" + url.masked() + ")";
    try {
      auto sql = std::make_unique<soci::session>(soci::mysql, target.connect_strings[node]);
      target.selector->mark_up(node);
      auto selector = target.selector;
      return std::unique_ptr<Session>(std::make_unique<soci_session>(
          dialect::mariadb, std::move(sql), [selector, node] { selector->mark_down(node); }));
    } catch (...) {
      last = translate_current_exception(dialect::mariadb, where, failure_point::connect, nullptr);
    }
    // One server's refusal (wrong password, unknown database) is final; in a cluster it may be a
    // node that has not caught up yet, so the others are tried before giving up.
    if (last->kind == errc::configuration && target.connect_strings.size() == 1) break;
    target.selector->mark_down(node);
  }
  return failure(std::move(*last));
}

// A server session of a read-only Database: every transaction on it is read-only, so the server
// itself refuses a write.
result<std::unique_ptr<Session>> only_reading(result<std::unique_ptr<Session>> session,
                                              bool read_only, std::string_view setting) {
  if (!session || !read_only) return session;
  REPOKIT_TRYV(session.value()->execute_script(setting));
  return session;
}

}  // namespace

result<session_factory> soci_session_factory(const database_url& url,
                                             const database_options& options) {
  switch (url.kind) {
    case dialect::sqlite:
      return session_factory([url, options] { return connect_sqlite(url, options); });
    case dialect::postgresql: {
      REPOKIT_TRY(auto conninfo, postgresql_conninfo(url, options));
      return session_factory([url, info = std::move(conninfo), read_only = options.read_only] {
        return only_reading(connect_postgresql(url, info), read_only,
                            "SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY");
      });
    }
    case dialect::mariadb: {
      REPOKIT_TRY(auto target, mysql_connect_strings(url));
      return session_factory([url, target = std::move(target), read_only = options.read_only] {
        return only_reading(connect_mysql(url, target), read_only,
                            "SET SESSION TRANSACTION READ ONLY");
      });
    }
  }
  return failure(errc::configuration, "unknown dialect for " + url.masked());
}

}  // namespace repokit::detail
