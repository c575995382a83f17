// Between rows and records: column lists, timestamps, and the checks shared by repositories.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <limits>
#include <string>

#include "repokit/repositories/records.hpp"
#include "repokit/statement.hpp"
#include "repokit/value.hpp"

namespace repokit::detail {

inline constexpr std::size_t max_page = 10'000;

inline timestamp now() {
  return std::chrono::time_point_cast<std::chrono::milliseconds>(std::chrono::system_clock::now());
}
inline std::int64_t to_millis(timestamp t) { return t.time_since_epoch().count(); }
inline timestamp from_millis(std::int64_t ms) { return timestamp{std::chrono::milliseconds{ms}}; }

inline result<void> check_page(std::size_t limit, std::size_t offset) {
  if (limit == 0 || limit > max_page) {
    return failure(errc::invalid_argument, "limit must be from 1 to " + std::to_string(max_page) +
                                               ", got " + std::to_string(limit));
  }
  // Databases take a signed 64-bit OFFSET: a larger one would wrap around to a negative number.
  if (offset > static_cast<std::size_t>(std::numeric_limits<std::int64_t>::max())) {
    return failure(errc::invalid_argument, "offset " + std::to_string(offset) + " is too large");
  }
  return success();
}

inline error not_found(std::string_view what, std::string_view id) {
  return make_error(errc::not_found,
                    std::string(what) + " '" + std::string(id) + "' does not exist");
}

}  // namespace repokit::detail
