#include "repokit/retry/classification.hpp"

namespace repokit {

retry_class classify_postgresql(std::string_view sqlstate) noexcept {
  // serialization_failure, deadlock_detected, lock_not_available: the server aborted the
  // transaction, so only a fresh run of the whole unit can succeed.
  if (sqlstate == "40001" || sqlstate == "40P01" || sqlstate == "55P03") {
    return retry_class::retry_transaction;
  }
  // Class 08 (connection exception) and admin_shutdown, crash_shutdown, cannot_connect_now.
  if (sqlstate.starts_with("08") || sqlstate == "57P01" || sqlstate == "57P02" ||
      sqlstate == "57P03") {
    return retry_class::reconnect_then_retry;
  }
  return retry_class::permanent;
}

retry_class classify_mysql(int error_number) noexcept {
  switch (error_number) {
    case 1213:  // ER_LOCK_DEADLOCK, also Galera's certification conflict
    case 1205:  // ER_LOCK_WAIT_TIMEOUT: only the statement was undone, the unit must roll back
      return retry_class::retry_transaction;
    case 1047:  // ER_UNKNOWN_COM_ERROR: Galera node not ready (WSREP has not yet prepared node)
    case 1927:  // ER_CONNECTION_KILLED
    case 2002:  // CR_CONNECTION_ERROR
    case 2003:  // CR_CONN_HOST_ERROR
    case 2006:  // CR_SERVER_GONE_ERROR
    case 2013:  // CR_SERVER_LOST
    case 2055:  // CR_SERVER_LOST_EXTENDED
      return retry_class::reconnect_then_retry;
    default: return retry_class::permanent;
  }
}

retry_class classify_sqlite(int result_code) noexcept {
  constexpr int busy = 5;    // SQLITE_BUSY and its extended codes (BUSY_SNAPSHOT is 517)
  constexpr int locked = 6;  // SQLITE_LOCKED (shared-cache conflicts)
  const int primary = result_code & 0xff;
  if (primary == busy || primary == locked) return retry_class::retry_transaction;
  return retry_class::permanent;
}

}  // namespace repokit
