// Database: where units of work come from. Opened from a URL, it owns the connection pool, the
// logger, the metrics and the default retry policy. A cheap handle: copies share one database.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include <spdlog/fwd.h>

#include "repokit/connection_pool.hpp"
#include "repokit/database_options.hpp"
#include "repokit/database_url.hpp"
#include "repokit/dialect.hpp"
#include "repokit/metrics.hpp"
#include "repokit/result.hpp"
#include "repokit/retry/db_retry.hpp"

namespace repokit {

namespace detail {
struct database_state;
}

class Database {
 public:
  // Opens a database from a URL (see database_url.hpp). Connections are made lazily, but the
  // URL and options are checked now.
  static result<Database> open(std::string_view url, database_options options = {});
  // Opens the database named by the REPOKIT_DATABASE_URL environment variable.
  static result<Database> from_environment(database_options options = {});
  // A database whose sessions come from `factory`: tests pass mock sessions this way.
  static result<Database> with_sessions(dialect kind, session_factory factory,
                                        database_options options = {});

  dialect kind() const noexcept;
  const database_url& url() const noexcept;
  const database_options& options() const noexcept;
  spdlog::logger& logger() const noexcept;
  metrics_snapshot metrics() const noexcept;
  pool_status pool() const;

  detail::database_state& state() const noexcept { return *state_; }

 private:
  explicit Database(std::shared_ptr<detail::database_state> state) : state_(std::move(state)) {}
  std::shared_ptr<detail::database_state> state_;
};

}  // namespace repokit
