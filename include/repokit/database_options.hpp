// How a Database opens and runs its connections: the pool, SQLite's connection setup, the
// default retry policy, hooks and logging. Its own header, so that the session backends take
// their options without knowing Database.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>

#include <spdlog/fwd.h>

#include "repokit/metrics.hpp"
#include "repokit/retry/db_retry.hpp"
#include "repokit/session.hpp"

namespace repokit {

struct database_options {
  std::size_t pool_size = 8;  // forced to 1 for sqlite::memory: (each connection is its own db)
  std::chrono::milliseconds pool_timeout{30'000};
  bool check_on_checkout = false;  // ping idle connections before reuse
  // Pool hygiene; zero turns each off. A connection is closed once it is this old (less up to
  // 2.5 %), when next given back or found idle, never while leased: keep it a little under any
  // server, proxy or firewall limit on a connection's life.
  std::chrono::milliseconds max_lifetime{30 * 60'000};
  // An idle connection unused this long is closed; the pool opens another when needed.
  std::chrono::milliseconds idle_timeout{10 * 60'000};
  // A unit of work that holds its connection longer than this is logged as a possible leak, with
  // the place its scope was opened (scope_options::where). Off by default: long units are
  // legitimate in some programs.
  std::chrono::milliseconds leak_detection_threshold{0};
  // How long a COMMIT lost with its connection is asked about on new connections before it is
  // reported errc::in_doubt: long enough for a failover (PostgreSQL; see docs/retry.md).
  std::chrono::milliseconds commit_resolution_timeout{10'000};
  // Only read: SQLite never creates the file nor switches it to WAL, and sets query_only; on a
  // server every transaction is READ ONLY; and units refuse writes with errc::misuse.
  bool read_only = false;

  // SQLite connection setup.
  std::chrono::milliseconds busy_timeout{5'000};
  bool wal = true;
  std::string synchronous = "NORMAL";  // OFF, NORMAL, FULL or EXTRA

  std::string application_name = "repokit";  // PostgreSQL: shown in pg_stat_activity
  // The pool's name in metrics (label db_client_connection_pool_name). Empty: application_name.
  // Give each Database of a process its own.
  std::string pool_name{};

  db_retry retry{};  // default policy of root scopes

  // Wraps every new connection, e.g. to inject faults or trace statements. None: used as is.
  std::function<std::unique_ptr<Session>(std::unique_ptr<Session>)> wrap_session{};

  // Receives every commit, rollback, retry, give-up and connection event as it happens.
  std::shared_ptr<observer> events{};

  // Where repokit logs. None: a private logger that writes warnings and errors to stderr.
  // Never looked up in or added to spdlog's global registry.
  std::shared_ptr<spdlog::logger> logger{};
};

}  // namespace repokit
