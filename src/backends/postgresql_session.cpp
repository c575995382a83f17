// PostgreSQL: transactions and scripts through libpq, so COMMIT's true outcome is known (an
// aborted transaction answers COMMIT with ROLLBACK), bytea in hex, and the result's column
// types to name a column the driver could not convert.
#include <soci/postgresql/soci-postgresql.h>

#include <libpq-fe.h>

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

  result<void> begin(begin_mode) override {
    return postgresql_exec("BEGIN", "BEGIN", failure_point::statement);
  }
  result<void> commit() override {
    return postgresql_exec("COMMIT", "COMMIT", failure_point::commit);
  }
  result<void> rollback() override {
    return postgresql_exec("ROLLBACK", "ROLLBACK", failure_point::statement);
  }
  result<void> execute_script(std::string_view sql) override {
    return postgresql_exec(std::string(sql).c_str(), "script", failure_point::statement);
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
  PGconn* pg() {
    return static_cast<soci::postgresql_session_backend*>(connection().get_backend())->conn_;
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
