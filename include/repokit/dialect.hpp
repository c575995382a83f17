// The SQL dialects repokit speaks, and what differs between them where repositories care.
#pragma once

#include <cstdint>
#include <string_view>

namespace repokit {

enum class dialect : std::uint8_t { sqlite, postgresql, mysql };

std::string_view to_string(dialect value) noexcept;

}  // namespace repokit
