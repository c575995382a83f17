#include "commit_resolution.hpp"

#include <algorithm>
#include <chrono>
#include <thread>

#include <spdlog/logger.h>

#include "repokit/connection_pool.hpp"
#include "repokit/database.hpp"
#include "repokit/detail/database_state.hpp"

namespace repokit::detail {

commit_outcome resolve_lost_commit(const Database& db, std::int64_t id) {
  using steady = std::chrono::steady_clock;
  const steady::time_point deadline = steady::now() + db.options().commit_resolution_timeout;
  std::chrono::milliseconds pause{50};
  for (;;) {
    auto lease = db.state().pool->acquire();
    if (lease) {
      auto asked = lease.value().session().transaction_outcome(id);
      if (asked && asked.value() != commit_outcome::in_progress) return asked.value();
      if (!asked) {
        if (!asked.error().retryable()) {
          db.logger().warn("Asking what became of transaction {} failed: {}", id,
                           asked.error().describe());
          return commit_outcome::unknown;
        }
        lease.value().discard(asked.error().retry == retry_class::reconnect_then_retry);
      }
    }
    if (steady::now() + pause > deadline) return commit_outcome::unknown;
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, std::chrono::milliseconds{1'000});
  }
}

}  // namespace repokit::detail
