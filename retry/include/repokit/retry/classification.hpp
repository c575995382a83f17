// The one table that maps each backend's raw error codes to a retry class. SOCI's own error
// categories cannot drive retries (deadlocks arrive as "unknown" everywhere), so the core hands
// the backend's code here.
#pragma once

#include <string_view>

#include "repokit/retry/retry_class.hpp"

namespace repokit {

// PostgreSQL SQLSTATE, e.g. "40P01".
retry_class classify_postgresql(std::string_view sqlstate) noexcept;

// MySQL / MariaDB client or server error number, e.g. 1213.
retry_class classify_mysql(int error_number) noexcept;

// SQLite result code, primary or extended (extended codes keep the primary one in the low byte).
retry_class classify_sqlite(int result_code) noexcept;

}  // namespace repokit
