#include "repokit/dialect.hpp"

namespace repokit {

std::string_view to_string(dialect value) noexcept {
  switch (value) {
    case dialect::sqlite: return "sqlite";
    case dialect::postgresql: return "postgresql";
    case dialect::mariadb: return "mariadb";
  }
  return "unknown";
}

}  // namespace repokit
