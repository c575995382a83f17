#include <catch2/catch.hpp>

#include <string>
#include <string_view>
#include <tuple>

#include "repokit/retry/classification.hpp"
#include "repokit/retry/retry_class.hpp"

using repokit::retry_class;

namespace {
constexpr auto retry = retry_class::retry_transaction;
constexpr auto reconnect = retry_class::reconnect_then_retry;
constexpr auto permanent = retry_class::permanent;

// Compared by name, so a failure reads "permanent == retry_transaction"; a StringMaker
// specialisation here could clash with another file's in the same test program.
std::string_view name(retry_class value) { return repokit::to_string(value); }
}  // namespace

TEST_CASE("PostgreSQL SQLSTATEs are classified by the retry table", "[retry][classification]") {
  const auto [sqlstate, expected] = GENERATE(table<std::string, retry_class>({
      {"40001", retry},  // serialization_failure
      {"40P01", retry},  // deadlock_detected
      {"55P03", retry},  // lock_not_available
      {"08000", reconnect},
      {"08006", reconnect},
      {"08003", reconnect},
      {"57P01", reconnect},  // admin_shutdown
      {"57P02", reconnect},  // crash_shutdown
      {"57P03", reconnect},  // cannot_connect_now
      {"23505", permanent},  // unique_violation
      {"23503", permanent},  // foreign_key_violation
      {"42601", permanent},  // syntax_error
      {"42501", permanent},  // insufficient_privilege
      {"57014", permanent},  // query_canceled: a statement timeout must not loop
      {"25P02", permanent},  // in_failed_sql_transaction
      {"", permanent},
  }));
  INFO("SQLSTATE '" << sqlstate << "'");
  CHECK(name(repokit::classify_postgresql(sqlstate)) == name(expected));
}

TEST_CASE("MySQL error numbers are classified by the retry table", "[retry][classification]") {
  const auto [number, expected] = GENERATE(table<int, retry_class>({
      {1213, retry},  // ER_LOCK_DEADLOCK
      {1205, retry},  // ER_LOCK_WAIT_TIMEOUT
      {2002, reconnect},
      {2003, reconnect},
      {2006, reconnect},
      {2013, reconnect},
      {2055, reconnect},
      {1927, reconnect},
      {1047, reconnect},
      {1062, permanent},  // ER_DUP_ENTRY
      {1451, permanent},
      {1452, permanent},
      {1064, permanent},  // ER_PARSE_ERROR
      {0, permanent},
  }));
  INFO("MySQL error " << number);
  CHECK(name(repokit::classify_mysql(number)) == name(expected));
}

TEST_CASE("SQLite result codes, primary and extended, are classified by the retry table",
          "[retry][classification]") {
  const auto [code, expected] = GENERATE(table<int, retry_class>({
      {5, retry},         // SQLITE_BUSY
      {6, retry},         // SQLITE_LOCKED
      {517, retry},       // SQLITE_BUSY_SNAPSHOT
      {261, retry},       // SQLITE_BUSY_RECOVERY
      {262, retry},       // SQLITE_LOCKED_SHAREDCACHE
      {19, permanent},    // SQLITE_CONSTRAINT
      {2067, permanent},  // SQLITE_CONSTRAINT_UNIQUE
      {1555, permanent},  // SQLITE_CONSTRAINT_PRIMARYKEY
      {1, permanent},     // SQLITE_ERROR
      {26, permanent},    // SQLITE_NOTADB
  }));
  INFO("SQLite result code " << code);
  CHECK(name(repokit::classify_sqlite(code)) == name(expected));
}

TEST_CASE("Every retry class has its own name", "[retry][classification]") {
  CHECK(repokit::to_string(retry_class::permanent) == "permanent");
  CHECK(repokit::to_string(retry_class::retry_transaction) == "retry_transaction");
  CHECK(repokit::to_string(retry_class::reconnect_then_retry) == "reconnect_then_retry");
  CHECK(repokit::to_string(retry_class::in_doubt) == "in_doubt");
  CHECK(repokit::to_string(static_cast<retry_class>(200)) == "unknown");
}
