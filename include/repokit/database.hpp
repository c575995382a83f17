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
#include "repokit/database_url.hpp"
#include "repokit/dialect.hpp"
#include "repokit/metrics.hpp"
#include "repokit/result.hpp"
#include "repokit/retry/db_retry.hpp"

namespace repokit {

struct database_options {
  std::size_t pool_size = 8;  // forced to 1 for sqlite::memory: (each connection is its own db)
  std::chrono::milliseconds pool_timeout{30'000};
  bool check_on_checkout = false;  // ping idle connections before reuse
  // Only read: SQLite never creates the file nor switches it to WAL, and sets query_only; on a
  // server every transaction is READ ONLY; and units refuse writes with errc::misuse.
  bool read_only = false;

  // SQLite connection setup.
  std::chrono::milliseconds busy_timeout{5'000};
  bool wal = true;
  std::string synchronous = "NORMAL";  // OFF, NORMAL, FULL or EXTRA

  std::string application_name = "repokit";  // PostgreSQL: shown in pg_stat_activity

  db_retry retry{};  // default policy of root scopes

  // Wraps every new connection, e.g. to inject faults or trace statements. None: used as is.
  std::function<std::unique_ptr<Session>(std::unique_ptr<Session>)> wrap_session{};

  // Receives every commit, rollback, retry, give-up and connection event as it happens.
  std::shared_ptr<observer> events{};

  // Where repokit logs. None: a private logger that writes warnings and errors to stderr.
  // Never looked up in or added to spdlog's global registry.
  std::shared_ptr<spdlog::logger> logger{};
};

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
