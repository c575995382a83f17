// repokit's own tables (channels, videos, jobs) as a migration set (see repokit/migration.hpp).
// Applied by an explicit migrate() call (and by `repokit migrate`), never behind the
// application's back.
#pragma once

#include "repokit/database.hpp"
#include "repokit/migration.hpp"
#include "repokit/result.hpp"

namespace repokit {

inline constexpr int latest_schema_version = 5;

// The set named "repokit": the catalogue and jobs tables and their indexes.
const migration_set& repokit_schema() noexcept;

// Brings repokit's own tables to latest_schema_version.
result<migration_report> migrate(const Database& db);

// The highest applied version of repokit's own set; 0 for an empty database. Only reads.
result<int> schema_version(const Database& db);

}  // namespace repokit
