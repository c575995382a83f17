// repokit's error model: what went wrong (an errc registered with std::error_code), the
// backend's own code, what the retry loop may do about it, and a message safe to log.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>

#include "repokit/retry/retry_class.hpp"

namespace repokit {

// 0 is success, as std::error_code expects.
enum class errc : int {
  not_found = 1,     // the row asked for does not exist
  integrity,         // a constraint refused the write (unique, foreign key, check)
  transient,         // deadlock, serialization conflict, lock timeout, SQLite busy
  connection_lost,   // the connection broke or could not be opened
  in_doubt,          // the connection broke during COMMIT: the work may or may not have landed
  pool_exhausted,    // no connection came free within the pool's acquire timeout
  session_poisoned,  // an earlier statement of this unit of work failed; it can only roll back
  invalid_argument,  // input refused before any SQL was sent
  invalid_state,     // a guarded update found the row in another state than required
  misuse,            // the API was used in a way it forbids (e.g. one unit from two threads)
  timeout,           // a statement ran past its time limit
  configuration,     // a bad URL or option
  database,          // any other error the database reported
  mapping,           // a column's value does not fit the C++ type it is read into
};

const std::error_category& error_category() noexcept;
std::error_code make_error_code(errc value) noexcept;
std::string_view to_string(errc value) noexcept;

struct error {
  errc kind = errc::database;
  retry_class retry = retry_class::permanent;
  std::string backend_code{};  // SQLSTATE, MySQL errno or SQLite result code, when there is one
  std::string operation{};     // what failed: a statement's name, "COMMIT", "connect", ...
  std::string message{};       // for people; never holds a password (see docs/errors.md)

  std::error_code code() const noexcept { return make_error_code(kind); }
  bool retryable() const noexcept { return retry != retry_class::permanent; }

  // "<kind>[ (backend code)][ in <operation>]: <message>"
  std::string describe() const;
};

error make_error(errc kind, std::string message);

// Thrown by result<T>::value() on failure, for callers who prefer exceptions.
class db_error : public std::runtime_error {
 public:
  explicit db_error(error failure);
  const error& failure() const noexcept { return failure_; }
  std::error_code code() const noexcept { return failure_.code(); }

 private:
  error failure_;
};

}  // namespace repokit

template <>
struct std::is_error_code_enum<repokit::errc> : std::true_type {};
