#include "error_translation.hpp"

#include <soci/mysql/soci-mysql.h>
#include <soci/postgresql/soci-postgresql.h>
#include <soci/soci.h>
#include <soci/sqlite3/soci-sqlite3.h>

#include <libpq-fe.h>

#include <string>
#include <typeinfo>

#include "repokit/database_url.hpp"
#include "repokit/retry/classification.hpp"

namespace repokit::detail {
namespace {

std::string clean_message(std::string_view text) {
  // Server messages end with newlines and may quote connection strings: trim and mask them.
  // One line per error: libpq's messages span several ("...failed: FATAL: ...\n\tIs the...").
  std::string flat;
  flat.reserve(text.size());
  for (const char c : text) {
    const bool blank = c == '\n' || c == '\t' || c == '\r' || c == ' ';
    if (blank && (flat.empty() || flat.back() == ' ')) continue;
    flat += blank ? ' ' : c;
  }
  while (!flat.empty() && flat.back() == ' ') flat.pop_back();
  // SOCI's own preambles say nothing the error kind does not.
  for (const std::string_view preamble :
       {"Cannot execute query. Fatal error. ", "Cannot execute query. ",
        "Cannot establish connection to the database. "}) {
    if (std::string_view(flat).starts_with(preamble)) flat.erase(0, preamble.size());
  }
  // PostgreSQL's DETAIL line quotes row values ("Key (video_id)=(V1) already exists"): data
  // that has no place in logs. The constraint's name in the message itself says enough.
  if (const auto detail = flat.find(" DETAIL: "); detail != std::string::npos) flat.resize(detail);
  if (flat.starts_with("sqlite3_statement_backend::")) {  // which SOCI function noticed
    if (const auto colon = flat.find(": "); colon != std::string::npos) flat.erase(0, colon + 2);
  }
  // URLs and keyword pairs (password=...) alike.
  return mask_password(flat);
}

error make(errc kind, retry_class retry, std::string code, std::string_view operation,
           std::string_view message) {
  return error{kind, retry, std::move(code), std::string(operation), clean_message(message)};
}

errc kind_of_retry(retry_class retry) {
  switch (retry) {
    case retry_class::retry_transaction: return errc::transient;
    case retry_class::reconnect_then_retry: return errc::connection_lost;
    case retry_class::in_doubt: return errc::in_doubt;
    case retry_class::permanent: break;
  }
  return errc::database;
}

error lost_or_in_doubt(std::string code, std::string_view operation, std::string_view message,
                       failure_point where) {
  if (where == failure_point::commit) {
    return make(errc::in_doubt, retry_class::in_doubt, std::move(code), operation,
                std::string("connection lost during COMMIT, the transaction may or may not "
                            "have been committed: ") +
                    std::string(message));
  }
  return make(errc::connection_lost, retry_class::reconnect_then_retry, std::move(code), operation,
              message);
}

bool is_bad_credentials(std::string_view message) {
  return message.find("password authentication failed") != std::string_view::npos ||
         message.find("no password supplied") != std::string_view::npos ||
         (message.find("database \"") != std::string_view::npos &&
          message.find("does not exist") != std::string_view::npos) ||
         (message.find("role \"") != std::string_view::npos &&
          message.find("does not exist") != std::string_view::npos);
}

// A TLS setup one side refuses: a server certificate that does not verify or does not match the
// host, a client certificate missing or refused, TLS required by one side only. No retry can help.
// A connection cut during the handshake says none of these, and stays a lost connection.
bool is_tls_refusal(std::string_view message) {
  for (const std::string_view sign :
       {"certificate", "unknown ca", "does not support SSL", "doesn't support it"}) {
    if (message.find(sign) != std::string_view::npos) return true;
  }
  return false;
}

// libpq refuses a connection option before it tries the server ("invalid sslmode value:
// \"bogus\"", "invalid connection option", "invalid integer value"): no retry can help.
bool is_bad_option(std::string_view message) {
  return message.find("invalid connection option") != std::string_view::npos ||
         (message.find("invalid ") != std::string_view::npos &&
          message.find(" value") != std::string_view::npos &&
          message.find("could not") == std::string_view::npos);
}

// SOCI's backends export no type information: the dialect says which backend a session has.
bool postgresql_connection_bad(dialect kind, soci::session* connection) {
  if (kind != dialect::postgresql || connection == nullptr) return false;
  auto* backend = static_cast<soci::postgresql_session_backend*>(connection->get_backend());
  return backend != nullptr && backend->conn_ != nullptr &&
         PQstatus(backend->conn_) == CONNECTION_BAD;
}

int sqlite_extended_code(dialect kind, soci::session* connection, int fallback) {
  if (kind != dialect::sqlite || connection == nullptr) return fallback;
  auto* backend = static_cast<soci::sqlite3_session_backend*>(connection->get_backend());
  if (backend == nullptr || backend->conn_ == nullptr) return fallback;
  const int extended = sqlite_api::sqlite3_extended_errcode(backend->conn_);
  // Only trust the extended code when it refines the code SOCI reported.
  return (extended & 0xff) == (fallback & 0xff) ? extended : fallback;
}

}  // namespace

error postgresql_error(std::string_view sqlstate, std::string_view message,
                       std::string_view operation, failure_point where, bool connection_bad) {
  std::string code(sqlstate);
  if (where == failure_point::connect) {
    if (is_bad_option(message)) {
      return make(errc::configuration, retry_class::permanent, std::move(code), operation,
                  std::string(message) + " (check the parameters of the URL)");
    }
    if (is_bad_credentials(message)) {
      return make(
          errc::configuration, retry_class::permanent, std::move(code), operation,
          std::string(message) + " (check the user, password and database name in the URL)");
    }
    if (is_tls_refusal(message)) {
      return make(
          errc::configuration, retry_class::permanent, std::move(code), operation,
          std::string(message) + " (check sslmode, sslrootcert, sslcert and sslkey in the URL)");
    }
    return make(errc::connection_lost, retry_class::reconnect_then_retry, std::move(code),
                operation, message);
  }
  const retry_class retry = classify_postgresql(sqlstate);
  if (connection_bad || retry == retry_class::reconnect_then_retry) {
    return lost_or_in_doubt(std::move(code), operation, message, where);
  }
  if (sqlstate.starts_with("23")) {
    return make(errc::integrity, retry_class::permanent, std::move(code), operation, message);
  }
  if (sqlstate == "57014") {  // query_canceled: statement_timeout or a cancel request
    return make(errc::timeout, retry_class::permanent, std::move(code), operation, message);
  }
  return make(kind_of_retry(retry), retry, std::move(code), operation, message);
}

error sqlite_error(int result_code, std::string_view message, std::string_view operation) {
  constexpr int constraint = 19;  // SQLITE_CONSTRAINT
  constexpr int interrupt = 9;    // SQLITE_INTERRUPT: the per-task time limit fired
  std::string code = "SQLITE " + std::to_string(result_code);
  const int primary = result_code & 0xff;
  if (primary == constraint) {
    return make(errc::integrity, retry_class::permanent, std::move(code), operation, message);
  }
  if (primary == interrupt) {
    return make(errc::timeout, retry_class::permanent, std::move(code), operation, message);
  }
  const retry_class retry = classify_sqlite(result_code);
  return make(kind_of_retry(retry), retry, std::move(code), operation, message);
}

error mysql_error(unsigned int error_number, std::string_view message, std::string_view operation,
                  failure_point where) {
  std::string code = "MYSQL " + std::to_string(error_number);
  if (where == failure_point::connect) {
    // Access denied, unknown database, unknown host: retrying cannot help.
    if (error_number == 1044 || error_number == 1045 || error_number == 1049 ||
        error_number == 2005) {
      return make(
          errc::configuration, retry_class::permanent, std::move(code), operation,
          std::string(message) + " (check the user, password, host and database in the URL)");
    }
    constexpr unsigned int ssl_connection_error = 2026;  // CR_SSL_CONNECTION_ERROR
    if (error_number == ssl_connection_error && is_tls_refusal(message)) {
      return make(errc::configuration, retry_class::permanent, std::move(code), operation,
                  std::string(message) + " (check sslca, sslcert and sslkey in the URL)");
    }
    return make(errc::connection_lost, retry_class::reconnect_then_retry, std::move(code),
                operation, message);
  }
  switch (error_number) {
    case 1062:
    case 1451:
    case 1452:
    case 1216:
    case 1217:  // duplicate key, foreign keys
    case 1048:
    case 1364:  // NOT NULL, no default
    case 3819:
    case 4025:  // CHECK constraints
      return make(errc::integrity, retry_class::permanent, std::move(code), operation, message);
    case 1969:
    case 3024:
    case 1317:  // max_statement_time exceeded, query interrupted
      return make(errc::timeout, retry_class::permanent, std::move(code), operation, message);
    default: break;
  }
  const retry_class retry = classify_mysql(static_cast<int>(error_number));
  if (retry == retry_class::reconnect_then_retry) {
    return lost_or_in_doubt(std::move(code), operation, message, where);
  }
  return make(kind_of_retry(retry), retry, std::move(code), operation, message);
}

error translate_current_exception(dialect kind, std::string_view operation, failure_point where,
                                  soci::session* connection) noexcept try {
  try {
    throw;
  } catch (const soci::postgresql_soci_error& e) {
    return postgresql_error(e.sqlstate(), e.get_error_message(), operation, where,
                            postgresql_connection_bad(kind, connection));
  } catch (const soci::mysql_soci_error& e) {
    return mysql_error(e.err_num_, e.get_error_message(), operation, where);
  } catch (const soci::sqlite3_soci_error& e) {
    return sqlite_error(sqlite_extended_code(kind, connection, e.result()), e.get_error_message(),
                        operation);
  } catch (const soci::soci_error& e) {
    // No backend code: SOCI's own checks, or a connect that never reached the server.
    const bool lost = e.get_error_category() == soci::soci_error::connection_error ||
                      where == failure_point::connect ||
                      postgresql_connection_bad(kind, connection);
    if (lost) {
      if (kind == dialect::postgresql) {
        return postgresql_error("", e.get_error_message(), operation, where, true);
      }
      if (where == failure_point::connect && kind == dialect::sqlite) {
        return make(errc::configuration, retry_class::permanent, "", operation,
                    e.get_error_message());
      }
      return lost_or_in_doubt("", operation, e.get_error_message(), where);
    }
    return make(errc::database, retry_class::permanent, "", operation, e.get_error_message());
  } catch (const std::bad_cast&) {
    return make(errc::database, retry_class::permanent, "", operation,
                "a column's type does not match the type repokit reads it as");
  } catch (const std::exception& e) {
    return make(errc::database, retry_class::permanent, "", operation, e.what());
  } catch (...) {
    return make(errc::database, retry_class::permanent, "", operation, "unknown exception");
  }
} catch (...) {
  // Building the error itself failed (out of memory): still answer something true.
  return error{errc::database, retry_class::permanent, {}, {}, {}};
}

}  // namespace repokit::detail
