// SQLite: transactions through prepared BEGIN/COMMIT statements, statement limits through a
// progress handler, and each value's storage class checked against the type it is read as.
#include <soci/sqlite3/soci-sqlite3.h>

#include <array>
#include <chrono>
#include <filesystem>
#include <string>

#include "../error_translation.hpp"
#include "backends.hpp"
#include "soci_session.hpp"

namespace repokit::detail {
namespace {

namespace sqlite = ::sqlite_api;

std::string sqlite_connect_string(const database_url& url) {
  // SOCI splits "name=value" pairs on blanks; a quoted value may hold them. It knows no escape
  // for a '"' inside, which database_url::parse therefore refuses in SQLite paths.
  return "db=\"" + url.path + '"';
}

class sqlite_session final : public soci_session {
 public:
  explicit sqlite_session(std::unique_ptr<soci::session> sql)
      : soci_session(dialect::sqlite, std::move(sql)) {}

  ~sqlite_session() override {
    for (sqlite::sqlite3_stmt* statement : transaction_statements_) {
      sqlite::sqlite3_finalize(statement);
    }
  }

  result<void> begin(begin_mode mode) override {
    return mode != begin_mode::deferred ? sqlite_step(sqlite_begin_immediate, "BEGIN")
                                        : sqlite_step(sqlite_begin, "BEGIN");
  }
  result<void> commit() override { return sqlite_step(sqlite_commit, "COMMIT"); }
  result<void> rollback() override { return sqlite_step(sqlite_rollback, "ROLLBACK"); }

  result<void> execute_script(std::string_view sql) override {
    return sqlite_exec(std::string(sql).c_str(), "script");
  }

  // SQLite has no timeout of its own: a progress handler interrupts a statement past its
  // deadline, which each statement sets as it starts.
  result<void> limit_statements(std::optional<std::chrono::milliseconds> limit) override {
    statement_limit_ = limit;
    if (limit) {
      sqlite::sqlite3_progress_handler(handle(), 1000, &interrupt_if_late, this);
    } else {
      sqlite::sqlite3_progress_handler(handle(), 0, nullptr, nullptr);
    }
    return success();
  }

  bool ping() override { return true; }  // an embedded database cannot go away

  result<void> set_up(const database_options& options, bool wal) {
    sqlite::sqlite3_extended_result_codes(handle(), 1);
    const std::string pragmas =
        "PRAGMA busy_timeout=" + std::to_string(options.busy_timeout.count()) +
        "; PRAGMA foreign_keys=ON; PRAGMA synchronous=" + options.synchronous + ';' +
        (options.read_only ? " PRAGMA query_only=ON;" : "");
    REPOKIT_TRYV(sqlite_exec(pragmas.c_str(), "connection setup"));
    if (wal) REPOKIT_TRYV(sqlite_exec("PRAGMA journal_mode=WAL", "connection setup"));
    return success();
  }

 protected:
  void statement_starts(statement_kind) override {
    if (statement_limit_) deadline_ = steady::now() + *statement_limit_;
  }
  void statement_ends() override { deadline_ = steady::time_point::max(); }

  // SQLite keeps any value in any column, and SOCI reads text or bytes asked for as a number as
  // 0: for a 0, the value's storage class says what it really is. (Other numbers came from
  // numbers; booleans are read as text and checked as such.)
  bool value_fits(prepared& p, std::size_t i, column_value& column) const override {
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

 private:
  using steady = std::chrono::steady_clock;

  static int interrupt_if_late(void* self) {
    return steady::now() > static_cast<sqlite_session*>(self)->deadline_ ? 1 : 0;
  }

  sqlite::sqlite3* handle() {
    return static_cast<soci::sqlite3_session_backend*>(connection().get_backend())->conn_;
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
      const int rc = sqlite::sqlite3_prepare_v3(handle(), text[which], -1,
                                                SQLITE_PREPARE_PERSISTENT, &prepared, nullptr);
      if (rc != SQLITE_OK) {
        return failure(sqlite_error(sqlite::sqlite3_extended_errcode(handle()),
                                    sqlite::sqlite3_errmsg(handle()), operation));
      }
    }
    const int rc = sqlite::sqlite3_step(prepared);
    sqlite::sqlite3_reset(prepared);
    if (rc == SQLITE_DONE) return success();
    return failure(sqlite_error(sqlite::sqlite3_extended_errcode(handle()),
                                sqlite::sqlite3_errmsg(handle()), operation));
  }

  result<void> sqlite_exec(const char* sql, std::string_view operation) {
    char* message = nullptr;
    const int rc = sqlite::sqlite3_exec(handle(), sql, nullptr, nullptr, &message);
    if (rc == 0) return success();
    std::string text = message != nullptr ? message : sqlite::sqlite3_errmsg(handle());
    sqlite::sqlite3_free(message);
    return failure(sqlite_error(sqlite::sqlite3_extended_errcode(handle()), text, operation));
  }

  std::array<sqlite::sqlite3_stmt*, 4> transaction_statements_{};
  std::optional<std::chrono::milliseconds> statement_limit_;
  steady::time_point deadline_ = steady::time_point::max();
};

result<std::unique_ptr<Session>> connect(const database_url& url, const database_options& options) {
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
  auto session = std::make_unique<sqlite_session>(std::move(sql));
  REPOKIT_TRYV(session->set_up(options, options.wal && !options.read_only && !url.in_memory()));
  return std::unique_ptr<Session>(std::move(session));
}

}  // namespace

result<session_factory> sqlite_sessions(const database_url& url, const database_options& options) {
  return session_factory([url, options] { return connect(url, options); });
}

}  // namespace repokit::detail
