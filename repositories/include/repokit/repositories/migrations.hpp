// Versioned schema migrations for repokit's tables. Applied by an explicit migrate() call (and
// by `repokit migrate`), never behind the application's back. Idempotent: each migration runs
// once, in its own transaction, and concurrent callers wait for each other.
#pragma once

#include <vector>

#include "repokit/database.hpp"
#include "repokit/result.hpp"

namespace repokit {

inline constexpr int latest_schema_version = 3;

struct migration_report {
  int from_version = 0;
  int to_version = 0;
  std::vector<int> applied{};  // versions this call applied, in order
};

// Brings the schema to latest_schema_version.
result<migration_report> migrate(const Database& db);

// The highest applied version; 0 for an empty database.
result<int> schema_version(const Database& db);

}  // namespace repokit
