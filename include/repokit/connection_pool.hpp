// A bounded pool of sessions. acquire() waits at most the acquire timeout, then fails with
// errc::pool_exhausted; a lease gives its session back when it goes away, or has it destroyed
// and replaced when discard() says its state is unknown. Leases keep the pool alive.
// When one connection is found lost (a server restart, a failover), the others that were idle
// then are suspect too: each is pinged before it is handed out again.
// Hygiene: a connection older than its maximum lifetime, or idle longer than the idle timeout, is
// closed instead of being handed out (never while it is leased out); a lease held longer than the
// leak threshold is logged once, with the call site that took it. A thread of the pool's own
// closes what expires while nobody asks and reports leases that are never given back.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <source_location>
#include <thread>
#include <vector>

#include <spdlog/fwd.h>

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
                   std::chrono::steady_clock::time_point acquired_at,
                   std::chrono::steady_clock::time_point expires_at, std::uint64_t generation,
                   std::size_t slot)
      : pool_(std::move(pool)),
        session_(std::move(session)),
        acquired_at_(acquired_at),
        expires_at_(expires_at),
        generation_(generation),
        slot_(slot) {}

  std::shared_ptr<connection_pool> pool_;
  std::unique_ptr<Session> session_;
  std::chrono::steady_clock::time_point acquired_at_;
  std::chrono::steady_clock::time_point expires_at_;  // the connection's maximum lifetime
  std::uint64_t generation_;  // the pool's generation when the connection was handed out
  std::size_t slot_;          // the connection's bookkeeping in the pool
  bool discard_ = false;
  bool lost_ = false;
};

class connection_pool : public std::enable_shared_from_this<connection_pool> {
 public:
  using clock = std::chrono::steady_clock;

  struct settings {
    std::size_t max_size = 8;
    std::chrono::milliseconds acquire_timeout{30'000};
    bool check_on_checkout = false;  // ping an idle connection before handing it out
    // Zero turns each of these three off.
    std::chrono::milliseconds max_lifetime{0};  // less up to 2.5 % per connection, to spread
    std::chrono::milliseconds idle_timeout{0};
    std::chrono::milliseconds leak_threshold{0};
    // Where leaks are reported. None: not logged, only counted.
    std::shared_ptr<spdlog::logger> logger{};
    // Where the pool reads the time. Tests give their own and call housekeep().
    clock::time_point (*now)() = &clock::now;
  };

  static std::shared_ptr<connection_pool> create(session_factory factory, settings config,
                                                 std::shared_ptr<metrics> counters);

  // `where` is reported if the lease is held past the leak threshold.
  result<connection_lease> acquire(std::source_location where = std::source_location::current());
  pool_status status() const;

  // Closes the idle connections that have expired and reports the leases held past the leak
  // threshold, now. The pool's own thread does this as deadlines fall due.
  void housekeep();

  // Only create() makes pools: leases need the pool to be owned by a shared_ptr.
  struct private_key {
    explicit private_key() = default;
  };
  connection_pool(private_key, session_factory factory, settings config,
                  std::shared_ptr<metrics> counters);
  ~connection_pool();
  connection_pool(const connection_pool&) = delete;
  connection_pool& operator=(const connection_pool&) = delete;

 private:
  friend class connection_lease;
  struct idle_session {
    std::unique_ptr<Session> session;
    std::uint64_t generation;  // the pool's generation when it was last handed out
    std::size_t slot;
    clock::time_point expires_at;
    clock::time_point idle_since;
  };
  // One per open connection, for its whole life: its leases, when leak detection is on.
  struct slot_state {
    clock::time_point acquired_at{};
    std::source_location where{};
    bool leased = false;
    bool reported = false;  // logged as a possible leak during this lease
  };
  enum class close_reason : std::uint8_t { max_lifetime, idle_timeout };

  void give_back(connection_lease& lease) noexcept;
  result<connection_lease> acquire_until(clock::time_point now, clock::time_point deadline,
                                         std::source_location where);
  // Under the lock: hands out a connection, noting the lease in its slot.
  connection_lease lease_out(std::unique_ptr<Session> session, clock::time_point now,
                             clock::time_point expires_at, std::size_t slot,
                             std::source_location where);
  // Under the lock: what leak detection needs to know of a lease.
  void note_lease(std::size_t slot, clock::time_point now, std::source_location where) noexcept;
  // Under the lock: why an idle connection must be closed rather than handed out, if it must.
  std::optional<close_reason> expiry(const idle_session& entry,
                                     clock::time_point now) const noexcept;
  std::size_t take_slot() noexcept;
  clock::time_point expiry_of_new(clock::time_point now);
  void free_slot(std::size_t slot) noexcept;
  // Under the lock, which it lets go while the connection closes.
  void close(std::unique_lock<std::mutex>& lock, std::unique_ptr<Session> session, std::size_t slot,
             close_reason why) noexcept;
  clock::time_point housekeep_once();  // answers when it next needs to run
  void run_housekeeper();

  const session_factory factory_;
  const settings config_;
  const std::shared_ptr<metrics> counters_;

  mutable std::mutex mutex_;
  std::condition_variable freed_;
  std::vector<idle_session> idle_;
  std::vector<slot_state> slots_;
  std::vector<std::size_t> free_slots_;
  std::minstd_rand jitter_;
  std::uint64_t generation_ = 0;  // goes up whenever a connection is found lost
  std::size_t open_ = 0;
  std::size_t in_use_ = 0;
  std::size_t waiting_ = 0;

  std::condition_variable housekeeper_wake_;
  bool stopping_ = false;
  std::thread housekeeper_;  // last: started once everything above exists
};

}  // namespace repokit
