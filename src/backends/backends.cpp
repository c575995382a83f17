#include "backends.hpp"

namespace repokit::detail {

result<session_factory> backend_sessions(const database_url& url, const database_options& options) {
  switch (url.kind) {
    case dialect::sqlite: return sqlite_sessions(url, options);
    case dialect::postgresql: return postgresql_sessions(url, options);
    case dialect::mariadb: return mariadb_sessions(url, options);
  }
  return failure(errc::configuration, "unknown dialect for " + url.masked());
}

}  // namespace repokit::detail
