// Notifications between processes, where the database has them: PostgreSQL's LISTEN and NOTIFY.
// A listener holds a connection of its own, outside the pool, subscribed to one channel; a
// transaction that runs pg_notify(channel, payload) reaches it when, and only if, it commits.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "repokit/database.hpp"
#include "repokit/result.hpp"

namespace repokit {

class notification_listener {
 public:
  struct connection;  // the backend's side
  explicit notification_listener(std::unique_ptr<connection> listening) noexcept;
  notification_listener(notification_listener&&) noexcept;
  notification_listener& operator=(notification_listener&&) noexcept;
  ~notification_listener();

  // Waits until notifications arrive, interrupt() is called or `timeout` passes, and answers the
  // payloads that arrived, oldest first (none after a timeout or an interrupt).
  // errc::connection_lost when the connection broke: listen again, and look for what was
  // missed meanwhile.
  result<std::vector<std::string>> wait(std::chrono::milliseconds timeout);
  // Makes the wait under way, or else the next one, return at once. Safe from any thread. The
  // listener must not be a moved-from one, which waits for nothing.
  void interrupt() noexcept;

 private:
  std::unique_ptr<connection> connection_;
};

// A listener on `channel` over a new connection; nothing when the database has no
// notifications (SQLite, MariaDB, or sessions a test supplies).
result<std::optional<notification_listener>> listen(const Database& db, std::string_view channel);

}  // namespace repokit
