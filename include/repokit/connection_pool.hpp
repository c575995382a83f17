// A bounded pool of sessions. acquire() waits at most the acquire timeout, then fails with
// errc::pool_exhausted; a lease gives its session back when it goes away, or has it destroyed
// and replaced when discard() says its state is unknown. Leases keep the pool alive.
// When one connection is found lost (a server restart, a failover), the others that were idle
// then are suspect too: each is pinged before it is handed out again.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

#include "repokit/metrics.hpp"
#include "repokit/result.hpp"
#include "repokit/session.hpp"

namespace repokit {

using session_factory = std::function<result<std::unique_ptr<Session>>()>;

struct pool_status {
  std::size_t max_size = 0;
  std::size_t open = 0;     // connections that exist: idle + in use + being opened
  std::size_t in_use = 0;   // leased out right now
  std::size_t waiting = 0;  // threads in acquire() waiting for a connection to come free
};

class connection_pool;

class connection_lease {
 public:
  connection_lease(connection_lease&& other) noexcept = default;
  connection_lease& operator=(connection_lease&&) = delete;
  connection_lease(const connection_lease&) = delete;
  connection_lease& operator=(const connection_lease&) = delete;
  ~connection_lease();

  Session& session() const noexcept { return *session_; }
  // The connection's state is unknown (failed rollback), or it is gone (`lost`): destroy it
  // instead of reusing it.
  void discard(bool lost = false) noexcept {
    discard_ = true;
    lost_ = lost_ || lost;
  }

 private:
  friend class connection_pool;
  connection_lease(std::shared_ptr<connection_pool> pool, std::unique_ptr<Session> session,
                   std::uint64_t generation)
      : pool_(std::move(pool)),
        session_(std::move(session)),
        acquired_at_(std::chrono::steady_clock::now()),
        generation_(generation) {}

  std::shared_ptr<connection_pool> pool_;
  std::unique_ptr<Session> session_;
  std::chrono::steady_clock::time_point acquired_at_;
  std::uint64_t generation_;  // the pool's generation when the connection was handed out
  bool discard_ = false;
  bool lost_ = false;
};

class connection_pool : public std::enable_shared_from_this<connection_pool> {
 public:
  struct settings {
    std::size_t max_size = 8;
    std::chrono::milliseconds acquire_timeout{30'000};
    bool check_on_checkout = false;  // ping an idle connection before handing it out
  };

  static std::shared_ptr<connection_pool> create(session_factory factory, settings config,
                                                 std::shared_ptr<metrics> counters);

  result<connection_lease> acquire();
  pool_status status() const;

  // Only create() makes pools: leases need the pool to be owned by a shared_ptr.
  struct private_key {
    explicit private_key() = default;
  };
  connection_pool(private_key, session_factory factory, settings config,
                  std::shared_ptr<metrics> counters);

 private:
  friend class connection_lease;
  struct idle_session {
    std::unique_ptr<Session> session;
    std::uint64_t generation;  // the pool's generation when it was last handed out
  };

  void give_back(std::unique_ptr<Session> session, bool discard, bool lost,
                 std::chrono::steady_clock::time_point acquired_at,
                 std::uint64_t generation) noexcept;
  result<std::unique_ptr<Session>> open_new();
  result<connection_lease> acquire_until(std::chrono::steady_clock::time_point deadline);

  const session_factory factory_;
  const settings config_;
  const std::shared_ptr<metrics> counters_;

  mutable std::mutex mutex_;
  std::condition_variable freed_;
  std::vector<idle_session> idle_;
  std::uint64_t generation_ = 0;  // goes up whenever a connection is found lost
  std::size_t open_ = 0;
  std::size_t in_use_ = 0;
  std::size_t waiting_ = 0;
};

}  // namespace repokit
