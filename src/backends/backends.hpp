// The session backends: each makes the connections of one kind of database, sharing the
// statement layer of soci_session.hpp. Every connection gets the per-connection setup of
// `options`; a factory is refused for options its backend cannot take (an unknown URL
// parameter, say).
#pragma once

#include "repokit/connection_pool.hpp"
#include "repokit/database_options.hpp"
#include "repokit/database_url.hpp"

namespace repokit::detail {

result<session_factory> sqlite_sessions(const database_url& url, const database_options& options);
result<session_factory> postgresql_sessions(const database_url& url,
                                            const database_options& options);
// libpq's connection string for a PostgreSQL URL.
result<std::string> postgresql_conninfo(const database_url& url, const database_options& options);
result<session_factory> mariadb_sessions(const database_url& url, const database_options& options);

// The factory for the URL's kind of database.
result<session_factory> backend_sessions(const database_url& url, const database_options& options);

}  // namespace repokit::detail
