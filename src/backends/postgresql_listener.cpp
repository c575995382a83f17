// notification_listener on PostgreSQL: a plain libpq connection that LISTENs, polled together
// with an eventfd that interrupt() writes to.
#include <libpq-fe.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdint>
#include <limits>

#include "backends.hpp"
#include "repokit/detail/database_state.hpp"
#include "repokit/notifications.hpp"

namespace repokit {

struct notification_listener::connection {
  PGconn* pg = nullptr;
  int wakeup = -1;
  std::string where;  // the masked URL, for messages

  connection() = default;
  connection(const connection&) = delete;
  connection& operator=(const connection&) = delete;
  ~connection() {
    if (pg != nullptr) PQfinish(pg);
    if (wakeup >= 0) ::close(wakeup);
  }

  error lost(std::string_view what) const {
    std::string message = pg != nullptr ? PQerrorMessage(pg) : "";
    while (!message.empty() && (message.back() == '\n' || message.back() == ' ')) {
      message.pop_back();
    }
    return error{errc::connection_lost, retry_class::reconnect_then_retry, "", "LISTEN on " + where,
                 std::string(what) + (message.empty() ? "" : ": " + message)};
  }

  void take_notifications(std::vector<std::string>& payloads) const {
    while (PGnotify* note = PQnotifies(pg)) {
      payloads.emplace_back(note->extra != nullptr ? note->extra : "");
      PQfreemem(note);
    }
  }
};

notification_listener::notification_listener(std::unique_ptr<connection> listening) noexcept
    : connection_(std::move(listening)) {}
notification_listener::notification_listener(notification_listener&&) noexcept = default;
notification_listener& notification_listener::operator=(notification_listener&&) noexcept = default;
notification_listener::~notification_listener() = default;

void notification_listener::interrupt() noexcept {
  if (!connection_) return;  // moved from
  const std::uint64_t one = 1;
  [[maybe_unused]] const auto written = ::write(connection_->wakeup, &one, sizeof one);
}

result<std::vector<std::string>> notification_listener::wait(std::chrono::milliseconds timeout) {
  connection& c = *connection_;
  std::vector<std::string> payloads;
  c.take_notifications(payloads);  // some may have come with an earlier answer
  if (!payloads.empty()) return payloads;
  std::array<pollfd, 2> fds{pollfd{PQsocket(c.pg), POLLIN, 0}, pollfd{c.wakeup, POLLIN, 0}};
  if (fds[0].fd < 0) return failure(c.lost("the connection is closed"));
  const auto ms = std::clamp<std::int64_t>(timeout.count(), 0, std::numeric_limits<int>::max());
  const int ready = ::poll(fds.data(), fds.size(), static_cast<int>(ms));
  if (ready < 0 && errno != EINTR) return failure(c.lost("poll failed"));
  if (ready <= 0) return payloads;
  if ((fds[1].revents & POLLIN) != 0) {
    std::uint64_t count = 0;
    [[maybe_unused]] const auto read = ::read(c.wakeup, &count, sizeof count);
  }
  if (fds[0].revents != 0) {
    if (PQconsumeInput(c.pg) == 0) return failure(c.lost("the connection broke"));
    c.take_notifications(payloads);
  }
  return payloads;
}

result<std::optional<notification_listener>> listen(const Database& db, std::string_view channel) {
  const detail::database_state& state = db.state();
  if (state.kind != dialect::postgresql || state.url.hosts.empty()) {
    return std::optional<notification_listener>{};
  }
  REPOKIT_TRY(auto conninfo, detail::postgresql_conninfo(state.url, state.options));
  auto c = std::make_unique<notification_listener::connection>();
  c->where = state.url.masked();
  c->wakeup = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (c->wakeup < 0) return failure(errc::database, "LISTEN: eventfd failed");
  c->pg = PQconnectdb(conninfo.c_str());
  if (PQstatus(c->pg) != CONNECTION_OK) return failure(c->lost("could not connect"));
  PQsetNoticeProcessor(
      c->pg, [](void*, const char*) {}, nullptr);
  char* quoted = PQescapeIdentifier(c->pg, channel.data(), channel.size());
  if (quoted == nullptr) return failure(c->lost("could not quote the channel"));
  const std::string sql = "LISTEN " + std::string(quoted);
  PQfreemem(quoted);
  PGresult* res = PQexec(c->pg, sql.c_str());
  const bool listening = PQresultStatus(res) == PGRES_COMMAND_OK;
  PQclear(res);
  if (!listening) return failure(c->lost("LISTEN failed"));
  return std::optional<notification_listener>{notification_listener(std::move(c))};
}

}  // namespace repokit
