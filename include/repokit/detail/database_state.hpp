// What a Database handle shares. Internal: reached through Database::state().
#pragma once

#include <memory>

#include "repokit/connection_pool.hpp"
#include "repokit/database.hpp"
#include "repokit/metrics.hpp"

namespace repokit::detail {

struct database_state {
  database_url url;
  database_options options;
  dialect kind = dialect::sqlite;
  std::shared_ptr<repokit::metrics> counters;
  std::shared_ptr<connection_pool> pool;
  std::shared_ptr<spdlog::logger> logger;
};

}  // namespace repokit::detail
