// What became of a COMMIT lost with its connection, asked on new connections of the pool.
#pragma once

#include <cstdint>

#include "repokit/session.hpp"

namespace repokit {
class Database;
}

namespace repokit::detail {

// Asks the server, on new connections of `db`'s pool, what became of transaction `id`: until it
// answers committed or aborted, or says it cannot tell, or commit_resolution_timeout has passed
// (unknown). A failover on the way is waited for: connections that cannot be had, or are lost,
// and a transaction still in progress, are asked about again after a growing pause.
commit_outcome resolve_lost_commit(const Database& db, std::int64_t id);

}  // namespace repokit::detail
