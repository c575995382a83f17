#include "repokit/connection_pool.hpp"

#include <string>

namespace repokit {

connection_lease::~connection_lease() {
  if (pool_ && session_) {
    pool_->give_back(std::move(session_), discard_, lost_, acquired_at_, generation_);
  }
}

std::shared_ptr<connection_pool> connection_pool::create(session_factory factory, settings config,
                                                         std::shared_ptr<metrics> counters) {
  return std::make_shared<connection_pool>(private_key{}, std::move(factory), config,
                                           std::move(counters));
}

connection_pool::connection_pool(private_key, session_factory factory, settings config,
                                 std::shared_ptr<metrics> counters)
    : factory_(std::move(factory)), config_(config), counters_(std::move(counters)) {
  idle_.reserve(config_.max_size);  // so give_back never allocates
}

result<std::unique_ptr<Session>> connection_pool::open_new() {
  auto opened = factory_();
  if (opened) counters_->count_session_opened();
  return opened;
}

result<connection_lease> connection_pool::acquire() {
  {
    // The common case: an idle connection that needs no ping. It waited for nothing, so the
    // clock is not read for it (clock reads were most of a lease's cost).
    std::unique_lock lock(mutex_);
    if (!idle_.empty() && !config_.check_on_checkout && idle_.back().generation >= generation_) {
      std::unique_ptr<Session> session = std::move(idle_.back().session);
      idle_.pop_back();
      ++in_use_;
      counters_->time_pool_wait(std::chrono::steady_clock::duration::zero());
      return connection_lease(shared_from_this(), std::move(session), generation_);
    }
  }
  const auto started = std::chrono::steady_clock::now();
  auto lease = acquire_until(started + config_.acquire_timeout);
  counters_->time_pool_wait(std::chrono::steady_clock::now() - started);
  return lease;
}

result<connection_lease> connection_pool::acquire_until(
    std::chrono::steady_clock::time_point deadline) {
  std::unique_lock lock(mutex_);
  for (;;) {
    if (!idle_.empty()) {
      idle_session entry = std::move(idle_.back());
      idle_.pop_back();
      ++in_use_;
      std::unique_ptr<Session> session = std::move(entry.session);
      const bool suspect = config_.check_on_checkout || entry.generation < generation_;
      if (!suspect) return connection_lease(shared_from_this(), std::move(session), generation_);
      lock.unlock();  // a ping is a round trip: never hold the pool's lock over I/O
      if (session->ping()) {
        lock.lock();
        return connection_lease(shared_from_this(), std::move(session), generation_);
      }
      counters_->count_session_discarded();
      session.reset();
      lock.lock();
      --in_use_;
      --open_;
      continue;  // the slot is free again: take another idle one or open a new one
    }
    if (open_ < config_.max_size) {
      ++open_;  // reserve the slot, then connect without the lock
      ++in_use_;
      lock.unlock();
      auto opened = open_new();
      lock.lock();
      if (opened)
        return connection_lease(shared_from_this(), std::move(opened).value(), generation_);
      --open_;
      --in_use_;
      freed_.notify_one();
      return std::move(opened).error();
    }
    ++waiting_;
    const std::cv_status waited = freed_.wait_until(lock, deadline);
    --waiting_;
    if (waited == std::cv_status::timeout && idle_.empty() && open_ >= config_.max_size) {
      counters_->count_pool_timeout();
      return failure(errc::pool_exhausted,
                     "no database connection came free within " +
                         std::to_string(config_.acquire_timeout.count()) + " ms (pool size " +
                         std::to_string(config_.max_size) +
                         "); raise database_options::pool_size or pool_timeout, or shorten the "
                         "units of work that hold connections");
    }
  }
}

void connection_pool::give_back(std::unique_ptr<Session> session, bool discard, bool lost,
                                std::chrono::steady_clock::time_point acquired_at,
                                std::uint64_t generation) noexcept {
  counters_->time_session(std::chrono::steady_clock::now() - acquired_at);
  std::unique_lock lock(mutex_);
  --in_use_;
  if (lost) ++generation_;  // the connections idle now may have died with this one
  if (discard) {
    --open_;
    counters_->count_session_discarded();
    lock.unlock();
    session.reset();  // closing a connection may block: never under the lock
  } else {
    // A connection out on lease when another was found lost may be dead too: it keeps the
    // generation it was handed out in, and is pinged before its next use.
    idle_.push_back({std::move(session), generation});
    lock.unlock();
  }
  freed_.notify_one();
}

pool_status connection_pool::status() const {
  std::lock_guard lock(mutex_);
  return {config_.max_size, open_, in_use_, waiting_};
}

}  // namespace repokit
