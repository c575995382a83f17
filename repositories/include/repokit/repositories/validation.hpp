// Input checks every repository method makes before any SQL is sent: clear errors
// (errc::invalid_argument) instead of a database error, a truncation or a stored surprise.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "repokit/result.hpp"

namespace repokit {

inline constexpr std::size_t max_id_length = 64;          // video, channel and job type ids
inline constexpr std::size_t max_target_id_length = 255;  // job targets
inline constexpr std::size_t max_text_length = 4096;      // titles, names, errors
inline constexpr std::size_t max_parameters_length = 65536;

// Non-empty, at most `max_bytes` bytes, valid UTF-8, no NUL byte (PostgreSQL cannot store one).
result<void> check_id(std::string_view field, std::string_view value,
                      std::size_t max_bytes = max_id_length);
// Like check_id, but may be empty.
result<void> check_text(std::string_view field, std::string_view value,
                        std::size_t max_bytes = max_text_length);
result<void> check_non_negative(std::string_view field, std::int64_t value);

bool is_valid_utf8(std::string_view text) noexcept;

}  // namespace repokit
