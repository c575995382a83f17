// Statements and results shared by the mocked unit tests.
#pragma once

#include <array>
#include <string>
#include <vector>

#include "repokit/result.hpp"
#include "repokit/retry/db_retry.hpp"
#include "repokit/statement.hpp"
#include "repokit/value.hpp"

namespace repokit::testing {

inline constexpr std::array<column_type, 1> one_integer{column_type::integer};
inline constexpr statement read_something{"read_something", "SELECT 1", statement_kind::read,
                                          one_integer};
inline constexpr statement write_something{
    "write_something", "UPDATE t SET x = 1", statement_kind::write, {}};

inline result<void> ok() { return success(); }
inline result<std::uint64_t> changed(std::uint64_t rows) { return rows; }
inline result<std::vector<row>> rows_of(std::vector<row> rows) { return rows; }
inline result<std::vector<row>> one_row(std::vector<value> columns) {
  return std::vector<row>{row(std::move(columns))};
}

// A retry policy that never sleeps and never draws: it records the delays it was asked for.
struct recorded_retry {
  std::vector<double> slept;
  db_retry policy(int max_retries = 3) {
    return db_retry{.max_retries = max_retries,
                    .jitter = jitter_mode::none,
                    .sleep = [this](seconds delay) { slept.push_back(delay.count()); }};
  }
};

}  // namespace repokit::testing
