// PostgreSQL: transactions and scripts through libpq, so COMMIT's true outcome is known (an
// aborted transaction answers COMMIT with ROLLBACK), bytea in hex, and the result's column
// types to name a column the driver could not convert. A transaction that writes learns its
// id in the round trip of its BEGIN (or of its COMMIT), so that a COMMIT lost with its connection
// can be resolved (txid_status) on another one.
#include <soci/postgresql/soci-postgresql.h>

#include <libpq-fe.h>

#include <memory>
#include <optional>
#include <string>

#include "../error_translation.hpp"
#include "backends.hpp"
#include "soci_session.hpp"

namespace repokit::detail {
namespace {

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

class postgresql_session final : public soci_session {
 public:
  explicit postgresql_session(std::unique_ptr<soci::session> sql)
      : soci_session(dialect::postgresql, std::move(sql)) {}

  // A unit that will write (begin_mode::immediate) learns its transaction's id with its BEGIN,
  // in the same round trip: its first write would take one anyway. Not on a standby, where no id
  // can be had (its writes fail as they always did). One that needs no id never learns it.
  result<void> begin(begin_mode mode) override {
    wrote_ = false;
    transaction_id_.reset();
    wants_id_ = mode != begin_mode::immediate_without_id;
    const char* standby = PQparameterStatus(pg(), "in_hot_standby");
    if (mode != begin_mode::immediate ||
        (standby != nullptr && std::string_view(standby) == "on")) {
      return postgresql_exec("BEGIN", "BEGIN", failure_point::statement);
    }
    const unique_result res(PQexec(pg(), "BEGIN; SELECT txid_current()"), &PQclear);
    if (PQresultStatus(res.get()) != PGRES_TUPLES_OK) {
      error refused = failed("BEGIN", res.get(), failure_point::statement);
      // BEGIN may have opened the transaction its query then failed in: not left open.
      if (PQstatus(pg()) == CONNECTION_OK && PQtransactionStatus(pg()) != PQTRANS_IDLE) {
        PQclear(PQexec(pg(), "ROLLBACK"));
      }
      return failure(std::move(refused));
    }
    if (PQntuples(res.get()) == 1 && !PQgetisnull(res.get(), 0, 0)) {
      transaction_id_ = std::stoll(PQgetvalue(res.get(), 0, 0));
    }
    return success();
  }
  // A transaction that wrote without knowing its id yet (it began with a read) learns it with its
  // COMMIT; the others send COMMIT alone.
  result<void> commit() override {
    if (transaction_id_ || !wrote_ || !wants_id_) {
      return postgresql_exec("COMMIT", "COMMIT", failure_point::commit);
    }
    return commit_learning_id();
  }
  result<void> rollback() override {
    return postgresql_exec("ROLLBACK", "ROLLBACK", failure_point::statement);
  }
  result<void> execute_script(std::string_view sql) override {
    wrote_ = true;  // a script may write
    return postgresql_exec(std::string(sql).c_str(), "script", failure_point::statement);
  }
  std::optional<std::int64_t> lost_transaction() const override { return transaction_id_; }
  result<commit_outcome> transaction_outcome(std::int64_t id) override {
    const std::string text = std::to_string(id);
    const char* values[] = {text.c_str()};
    const unique_result res(PQexecParams(pg(), "SELECT txid_status(CAST($1 AS BIGINT))", 1, nullptr,
                                         values, nullptr, nullptr, 0),
                            &PQclear);
    if (PQresultStatus(res.get()) != PGRES_TUPLES_OK) {
      return failure(failed("transaction status", res.get(), failure_point::statement));
    }
    if (PQntuples(res.get()) != 1 || PQgetisnull(res.get(), 0, 0)) return commit_outcome::unknown;
    const std::string_view status = PQgetvalue(res.get(), 0, 0);
    if (status == "committed") return commit_outcome::committed;
    if (status == "aborted") return commit_outcome::aborted;
    if (status == "in progress") return commit_outcome::in_progress;
    return commit_outcome::unknown;
  }
  result<void> limit_statements(std::optional<std::chrono::milliseconds> limit) override {
    if (!limit) return success();  // SET LOCAL ends with its transaction
    const std::string sql = "SET LOCAL statement_timeout = " + std::to_string(limit->count());
    return postgresql_exec(sql.c_str(), "statement timeout", failure_point::statement);
  }
  bool ping() override {
    PGresult* res = PQexec(pg(), "SELECT 1");
    const bool alive = PQresultStatus(res) == PGRES_TUPLES_OK;
    PQclear(res);
    return alive;
  }

 protected:
  void statement_starts(statement_kind kind) override {
    if (kind == statement_kind::write) wrote_ = true;
  }
  void encode_bytes(bytes_view data, std::string& out) const override { bytea_to_hex(data, out); }
  std::string_view decode_bytes(column_slot& slot) const override {
    return bytea_from_hex(slot.text, slot.decoded) ? std::string_view(slot.decoded)
                                                   : std::string_view(slot.text);
  }

  std::optional<column_type> result_column_type(prepared& p, std::size_t i) const override {
    auto* backend = static_cast<soci::postgresql_statement_backend*>(p.st.get_backend());
    const PGresult* result = backend->result_.get_result();
    if (result == nullptr || PQresultStatus(result) != PGRES_TUPLES_OK ||
        static_cast<int>(i) >= PQnfields(result)) {
      return std::nullopt;
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

 private:
  using unique_result = std::unique_ptr<PGresult, decltype(&PQclear)>;

  PGconn* pg() {
    return static_cast<soci::postgresql_session_backend*>(connection().get_backend())->conn_;
  }

  // The error of a failed result (or of the connection, when there is none).
  error failed(std::string_view operation, const PGresult* res, failure_point where) {
    const char* field = res != nullptr ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : nullptr;
    std::string message = res != nullptr ? PQresultErrorMessage(res) : "";
    if (message.empty()) message = PQerrorMessage(pg());
    return postgresql_error(field != nullptr ? field : "", message, operation, where,
                            PQstatus(pg()) == CONNECTION_BAD);
  }

  result<void> postgresql_exec(const char* sql, std::string_view operation, failure_point where) {
    const unique_result res(PQexec(pg(), sql), &PQclear);
    const ExecStatusType status = PQresultStatus(res.get());
    if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK) {
      // PostgreSQL answers COMMIT of an aborted transaction with ROLLBACK, not with an error.
      if (where == failure_point::commit &&
          std::string_view(PQcmdStatus(res.get())) == "ROLLBACK") {
        return failure(rolled_back_at_commit());
      }
      return success();
    }
    return failure(failed(operation, res.get(), where));
  }

  static error rolled_back_at_commit() {
    return error{errc::session_poisoned, retry_class::permanent, "", "COMMIT",
                 "PostgreSQL rolled the transaction back because a statement in it had failed"};
  }

  // COMMIT of a transaction that wrote, in one round trip with the query of its id, pipelined:
  // the id's query, a flush request, then COMMIT. The server sends the id before it starts to
  // commit, so a connection lost during COMMIT leaves the id for lost_transaction(). A
  // transaction without an id changed nothing: its lost COMMIT lost nothing, and is reported as
  // a lost connection, to be run again.
  result<void> commit_learning_id() {
    PGconn* conn = pg();
    if (PQenterPipelineMode(conn) != 1) {
      return postgresql_exec("COMMIT", "COMMIT", failure_point::commit);
    }
    const bool sent =
        PQsendQueryParams(conn, "SELECT txid_current_if_assigned()", 0, nullptr, nullptr, nullptr,
                          nullptr, 0) == 1 &&
        PQsendFlushRequest(conn) == 1 &&
        PQsendQueryParams(conn, "COMMIT", 0, nullptr, nullptr, nullptr, nullptr, 0) == 1 &&
        PQpipelineSync(conn) == 1;
    bool id_read = false;      // the id's query answered (its value may be NULL)
    bool committed = false;    // COMMIT answered COMMIT
    bool rolled_back = false;  // COMMIT answered ROLLBACK
    std::optional<error> commit_failed;
    // The results: the id's and COMMIT's, each ended by a null, then the sync's.
    for (int ended = 0; sent && ended < 2 && PQstatus(conn) == CONNECTION_OK;) {
      const unique_result res(PQgetResult(conn), &PQclear);
      if (!res) {
        ++ended;
        continue;
      }
      switch (PQresultStatus(res.get())) {
        case PGRES_TUPLES_OK:
          id_read = PQntuples(res.get()) == 1;
          if (id_read && !PQgetisnull(res.get(), 0, 0)) {
            transaction_id_ = std::stoll(PQgetvalue(res.get(), 0, 0));
          }
          break;
        case PGRES_COMMAND_OK:
          rolled_back = std::string_view(PQcmdStatus(res.get())) == "ROLLBACK";
          committed = !rolled_back;
          break;
        case PGRES_PIPELINE_ABORTED: break;  // COMMIT skipped: the id's query failed
        default:
          if (ended == 1) commit_failed = failed("COMMIT", res.get(), failure_point::commit);
          break;
      }
    }
    bool synced = false;  // every result read, and the connection out of pipeline mode
    if (sent && PQstatus(conn) == CONNECTION_OK) {
      const unique_result sync(PQgetResult(conn), &PQclear);
      synced = PQresultStatus(sync.get()) == PGRES_PIPELINE_SYNC && PQexitPipelineMode(conn) == 1;
    }
    if (committed) {  // even when the connection went down just after
      transaction_id_.reset();
      return success();
    }
    if (synced) {
      if (rolled_back) return failure(rolled_back_at_commit());
      if (commit_failed) return failure(std::move(*commit_failed));
      // The id's query failed, and COMMIT was skipped: COMMIT alone says what became of it.
      return postgresql_exec("COMMIT", "COMMIT", failure_point::commit);
    }
    // The connection is gone, or its pipeline is in a state nobody can trust.
    if (id_read && !transaction_id_) {
      const error reason = failed("COMMIT", nullptr, failure_point::statement);
      return failure(error{errc::connection_lost, retry_class::reconnect_then_retry,
                           reason.backend_code, "COMMIT",
                           "connection lost during COMMIT of a transaction that had changed "
                           "nothing: " +
                               reason.message});
    }
    error lost = failed("COMMIT", nullptr, failure_point::commit);
    if (lost.kind != errc::in_doubt) {
      lost = error{errc::in_doubt, retry_class::in_doubt, lost.backend_code, "COMMIT",
                   "connection lost during COMMIT, the transaction may or may not have been "
                   "committed: " +
                       lost.message};
    }
    return failure(std::move(lost));
  }

  bool wrote_ = false;     // a statement of the transaction could write
  bool wants_id_ = false;  // its id is to be learned (not begin_mode::immediate_without_id)
  std::optional<std::int64_t> transaction_id_;  // of the transaction, once learned
};

result<std::unique_ptr<Session>> connect(const database_url& url, const std::string& conninfo,
                                         bool read_only) {
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
  auto session = std::make_unique<postgresql_session>(std::move(sql));
  // A read-only Database: every transaction is read-only, so the server itself refuses writes.
  if (read_only) {
    REPOKIT_TRYV(session->execute_script("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY"));
  }
  return std::unique_ptr<Session>(std::move(session));
}

}  // namespace

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

result<session_factory> postgresql_sessions(const database_url& url,
                                            const database_options& options) {
  REPOKIT_TRY(auto conninfo, postgresql_conninfo(url, options));
  return session_factory([url, info = std::move(conninfo), read_only = options.read_only] {
    return connect(url, info, read_only);
  });
}

}  // namespace repokit::detail
