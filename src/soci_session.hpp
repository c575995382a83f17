// The real Session: one SOCI connection, its prepared statements cached for its own lifetime,
// transactions driven through the client library so COMMIT's true outcome is known.
#pragma once

#include <memory>

#include "repokit/connection_pool.hpp"
#include "repokit/database.hpp"

namespace repokit::detail {

// Makes connections for `url`; every one gets the per-connection setup of `options`.
// Fails on options the backend cannot take (e.g. an unknown URL parameter).
result<session_factory> soci_session_factory(const database_url& url,
                                             const database_options& options);

}  // namespace repokit::detail
