#include "soci_session.hpp"

#include <soci/mysql/soci-mysql.h>
#include <soci/postgresql/soci-postgresql.h>
#include <soci/soci.h>
#include <soci/sqlite3/soci-sqlite3.h>

#include <libpq-fe.h>

#include <array>
#include <chrono>
#include <cstring>
#include <functional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "error_translation.hpp"
#include "node_selector.hpp"

namespace repokit::detail {
namespace {

namespace sqlite = ::sqlite_api;

// Values are bound by reference when a statement is prepared; these slots hold them between
// executions of the cached statement.
struct param_slot {
  std::size_t type = 0;  // index into repokit::param of the bound C++ type
  std::string text;
  long long integer = 0;
  double real = 0;
  soci::indicator null = soci::i_ok;
};

struct column_slot {
  column_type type = column_type::text;
  std::string text;
  long long integer = 0;
  double real = 0;
  soci::indicator null = soci::i_ok;
};

struct prepared {
  explicit prepared(soci::session& sql) : st(sql) {}
  soci::statement st;
  std::vector<param_slot> params;
  std::vector<column_slot> columns;
};

constexpr std::size_t null_index = 0;
constexpr std::size_t integer_index = 1;
constexpr std::size_t real_index = 2;
constexpr std::size_t text_index = 3;

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
      case dialect::mysql:
        return mysql_exec("START TRANSACTION", "BEGIN", failure_point::statement);
    }
    return success();
  }

  result<void> commit() override {
    switch (kind_) {
      case dialect::sqlite: return sqlite_step(sqlite_commit, "COMMIT");
      case dialect::postgresql: return postgresql_exec("COMMIT", "COMMIT", failure_point::commit);
      case dialect::mysql: return mysql_exec("COMMIT", "COMMIT", failure_point::commit);
    }
    return success();
  }

  result<void> rollback() override {
    switch (kind_) {
      case dialect::sqlite: return sqlite_step(sqlite_rollback, "ROLLBACK");
      case dialect::postgresql:
        return postgresql_exec("ROLLBACK", "ROLLBACK", failure_point::statement);
      case dialect::mysql: return mysql_exec("ROLLBACK", "ROLLBACK", failure_point::statement);
    }
    return success();
  }

  result<std::vector<row>> query(const statement& sql, std::span<const param> params) override {
    const deadline_scope timed(*this);
    try {
      prepared& p = prepare(sql, params);
      std::vector<row> rows;
      bool has_row = p.st.execute(true);
      while (has_row) {
        rows.push_back(read_row(p));
        has_row = p.st.fetch();
      }
      return rows;
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
      case dialect::mysql: {
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
    if (kind_ == dialect::mysql) {  // MariaDB's limit is per session, in seconds
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
    if (kind_ == dialect::mysql) return mysql_ping(mysql_handle()) == 0;
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
    auto found = cache_.find(&sql);
    if (found != cache_.end() && bind(*found->second, params)) return *found->second;
    if (found != cache_.end()) cache_.erase(found);  // parameter types changed: prepare anew

    auto p = std::make_unique<prepared>(*sql_);
    p->params.resize(params.size());
    for (std::size_t i = 0; i < params.size(); ++i) {
      // A first NULL is bound as text: any column type accepts a NULL text parameter.
      p->params[i].type = params[i].index() == null_index ? text_index : params[i].index();
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
    for (std::size_t i = 0; i < sql.columns.size(); ++i) {
      column_slot& slot = p->columns[i];
      slot.type = sql.columns[i];
      switch (slot.type) {
        case column_type::integer: p->st.exchange(soci::into(slot.integer, slot.null)); break;
        case column_type::real: p->st.exchange(soci::into(slot.real, slot.null)); break;
        case column_type::text: p->st.exchange(soci::into(slot.text, slot.null)); break;
      }
    }
    p->st.alloc();
    p->st.prepare(std::string(sql.sql));
    p->st.define_and_bind();
    return *cache_.emplace(&sql, std::move(p)).first->second;
  }

  // Copies the call's values into the slots; false when a value's type differs from the bound one.
  static bool bind(prepared& p, std::span<const param> params) {
    if (params.size() != p.params.size()) return false;
    for (std::size_t i = 0; i < params.size(); ++i) {
      param_slot& slot = p.params[i];
      const param& value = params[i];
      if (value.index() == null_index) {
        slot.null = soci::i_null;
        continue;
      }
      if (value.index() != slot.type) return false;
      slot.null = soci::i_ok;
      switch (slot.type) {
        case integer_index: slot.integer = std::get<std::int64_t>(value); break;
        case real_index: slot.real = std::get<double>(value); break;
        default: slot.text.assign(std::get<std::string_view>(value)); break;
      }
    }
    return true;
  }

  static row read_row(prepared& p) {
    std::vector<value> values;
    values.reserve(p.columns.size());
    for (column_slot& slot : p.columns) {
      if (slot.null == soci::i_null) {
        values.emplace_back(std::monostate{});
        continue;
      }
      switch (slot.type) {
        case column_type::integer: values.emplace_back(std::int64_t{slot.integer}); break;
        case column_type::real: values.emplace_back(slot.real); break;
        case column_type::text: values.emplace_back(std::move(slot.text)); break;
      }
    }
    return row(std::move(values));
  }

  // Classifies the exception in flight and drops the statement: its state is unknown now.
  error forget(const statement& sql) noexcept {
    error failure =
        translate_current_exception(kind_, sql.name, failure_point::statement, sql_.get());
    cache_.erase(&sql);
    return watch(std::move(failure));
  }

  dialect kind_;
  std::unique_ptr<soci::session> sql_;
  std::function<void()> on_lost_;
  std::array<sqlite::sqlite3_stmt*, 4> transaction_statements_{};
  std::optional<std::chrono::milliseconds> statement_limit_;
  steady::time_point deadline_ = steady::time_point::max();
  std::unordered_map<const statement*, std::unique_ptr<prepared>> cache_;
};

result<std::unique_ptr<Session>> connect_sqlite(const database_url& url,
                                                const database_options& options) {
  std::unique_ptr<soci::session> sql;
  try {
    sql = std::make_unique<soci::session>(soci::sqlite3, sqlite_connect_string(url));
  } catch (...) {
    return failure(translate_current_exception(dialect::sqlite, "connect to " + url.masked(),
                                               failure_point::connect, nullptr));
  }
  auto session = std::make_unique<soci_session>(dialect::sqlite, std::move(sql));
  REPOKIT_TRYV(session->setup_sqlite(options));
  if (options.wal && !url.in_memory()) {
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
          dialect::mysql, std::move(sql), [selector, node] { selector->mark_down(node); }));
    } catch (...) {
      last = translate_current_exception(dialect::mysql, where, failure_point::connect, nullptr);
    }
    // One server's refusal (wrong password, unknown database) is final; in a cluster it may be a
    // node that has not caught up yet, so the others are tried before giving up.
    if (last->kind == errc::configuration && target.connect_strings.size() == 1) break;
    target.selector->mark_down(node);
  }
  return failure(std::move(*last));
}

}  // namespace

result<session_factory> soci_session_factory(const database_url& url,
                                             const database_options& options) {
  switch (url.kind) {
    case dialect::sqlite:
      return session_factory([url, options] { return connect_sqlite(url, options); });
    case dialect::postgresql: {
      REPOKIT_TRY(auto conninfo, postgresql_conninfo(url, options));
      return session_factory(
          [url, info = std::move(conninfo)] { return connect_postgresql(url, info); });
    }
    case dialect::mysql: {
      REPOKIT_TRY(auto target, mysql_connect_strings(url));
      return session_factory(
          [url, target = std::move(target)] { return connect_mysql(url, target); });
    }
  }
  return failure(errc::configuration, "unknown dialect for " + url.masked());
}

}  // namespace repokit::detail
