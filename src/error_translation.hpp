// The single place where what SOCI and the client libraries report becomes a repokit::error:
// kind, backend code, retry class, and a message free of bound values and passwords.
#pragma once

#include <string_view>

#include "repokit/dialect.hpp"
#include "repokit/error.hpp"

namespace soci {
class session;
}

namespace repokit::detail {

enum class failure_point : unsigned char {
  statement,  // while running a statement
  commit,     // while COMMIT was under way: a lost connection makes the outcome unknown
  connect,    // while opening the connection
};

// Call from inside a catch block: classifies the exception being handled. `connection` may be
// null; when given it is asked for what the exception leaves out (extended codes, liveness).
error translate_current_exception(dialect kind, std::string_view operation, failure_point where,
                                  soci::session* connection) noexcept;

// The same, for an error read straight from the client library (native BEGIN/COMMIT).
error postgresql_error(std::string_view sqlstate, std::string_view message,
                       std::string_view operation, failure_point where, bool connection_bad);
error sqlite_error(int result_code, std::string_view message, std::string_view operation);
error mysql_error(unsigned int error_number, std::string_view message, std::string_view operation,
                  failure_point where);

}  // namespace repokit::detail
