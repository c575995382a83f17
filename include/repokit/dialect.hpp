// The SQL dialects repokit speaks: one per backend it connects to.
#pragma once

#include <cstdint>
#include <string_view>

namespace repokit {

enum class dialect : std::uint8_t {
  sqlite,
  postgresql,
  mariadb,  // MariaDB and MySQL servers, and Galera clusters
  mysql [[deprecated("use dialect::mariadb")]] = mariadb,
};

std::string_view to_string(dialect value) noexcept;

}  // namespace repokit
