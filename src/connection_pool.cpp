#include "repokit/connection_pool.hpp"

#include <algorithm>
#include <random>
#include <string>

#include <spdlog/logger.h>

namespace repokit {

namespace {

using clock = connection_pool::clock;

double seconds_of(clock::duration elapsed) {
  return std::chrono::duration<double>(elapsed).count();
}

}  // namespace

connection_lease::~connection_lease() {
  if (pool_ && session_) pool_->give_back(*this);
}

std::shared_ptr<connection_pool> connection_pool::create(session_factory factory, settings config,
                                                         std::shared_ptr<metrics> counters) {
  return std::make_shared<connection_pool>(private_key{}, std::move(factory), std::move(config),
                                           std::move(counters));
}

connection_pool::connection_pool(private_key, session_factory factory, settings config,
                                 std::shared_ptr<metrics> counters)
    : factory_(std::move(factory)),
      config_(std::move(config)),
      counters_(std::move(counters)),
      slots_(config_.max_size),
      jitter_(std::random_device{}()) {
  idle_.reserve(config_.max_size);  // so give_back never allocates
  free_slots_.reserve(config_.max_size);
  for (std::size_t slot = config_.max_size; slot-- > 0;) free_slots_.push_back(slot);
  if (config_.max_lifetime.count() > 0 || config_.idle_timeout.count() > 0 ||
      config_.leak_threshold.count() > 0) {
    housekeeper_ = std::thread([this] { run_housekeeper(); });
  }
}

connection_pool::~connection_pool() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  housekeeper_wake_.notify_all();
  if (housekeeper_.joinable()) housekeeper_.join();
}

result<connection_lease> connection_pool::acquire(std::source_location where) {
  // One clock read: for the lease's start, and for whether the idle connection has expired.
  const clock::time_point now = config_.now();
  {
    // The common case: an idle connection that needs no ping and has not expired.
    std::unique_lock lock(mutex_);
    if (!idle_.empty() && !config_.check_on_checkout && idle_.back().generation >= generation_ &&
        !expiry(idle_.back(), now)) {
      idle_session entry = std::move(idle_.back());
      idle_.pop_back();
      ++in_use_;
      note_lease(entry.slot, now, where);
      const std::uint64_t generation = generation_;
      lock.unlock();  // what is left touches nothing the lock guards, and all threads share it
      counters_->time_pool_wait(clock::duration::zero());
      return connection_lease(shared_from_this(), std::move(entry.session), now, entry.expires_at,
                              generation, entry.slot);
    }
  }
  // The acquire timeout is waited for on the real clock, whatever clock the pool reads.
  const auto started = std::chrono::steady_clock::now();
  auto lease = acquire_until(now, started + config_.acquire_timeout, where);
  counters_->time_pool_wait(std::chrono::steady_clock::now() - started);
  return lease;
}

result<connection_lease> connection_pool::acquire_until(clock::time_point now,
                                                        clock::time_point deadline,
                                                        std::source_location where) {
  std::unique_lock lock(mutex_);
  for (;;) {
    if (!idle_.empty()) {
      idle_session entry = std::move(idle_.back());
      idle_.pop_back();
      if (const auto why = expiry(entry, now)) {
        close(lock, std::move(entry.session), entry.slot, *why);
        continue;  // its slot is free: take another idle one or open a new one
      }
      ++in_use_;
      const bool suspect = config_.check_on_checkout || entry.generation < generation_;
      if (!suspect) {
        return lease_out(std::move(entry.session), now, entry.expires_at, entry.slot, where);
      }
      lock.unlock();  // a ping is a round trip: never hold the pool's lock over I/O
      if (entry.session->ping()) {
        lock.lock();
        return lease_out(std::move(entry.session), config_.now(), entry.expires_at, entry.slot,
                         where);
      }
      counters_->count_session_discarded();
      entry.session.reset();
      lock.lock();
      --in_use_;
      --open_;
      free_slot(entry.slot);
      continue;
    }
    if (open_ < config_.max_size) {
      ++open_;  // reserve the slot, then connect without the lock
      ++in_use_;
      const std::size_t slot = take_slot();
      const clock::time_point expires_at = expiry_of_new(now);
      lock.unlock();
      auto opened = factory_();
      lock.lock();
      if (opened) {
        counters_->count_session_opened();
        return lease_out(std::move(opened).value(), config_.now(), expires_at, slot, where);
      }
      --open_;
      --in_use_;
      free_slot(slot);
      freed_.notify_one();
      return std::move(opened).error();
    }
    ++waiting_;
    const std::cv_status waited = freed_.wait_until(lock, deadline);
    --waiting_;
    now = config_.now();
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

connection_lease connection_pool::lease_out(std::unique_ptr<Session> session, clock::time_point now,
                                            clock::time_point expires_at, std::size_t slot,
                                            std::source_location where) {
  note_lease(slot, now, where);
  return connection_lease(shared_from_this(), std::move(session), now, expires_at, generation_,
                          slot);
}

void connection_pool::note_lease(std::size_t slot, clock::time_point now,
                                 std::source_location where) noexcept {
  if (config_.leak_threshold.count() > 0) slots_[slot] = {now, where, true, false};
}

std::optional<connection_pool::close_reason> connection_pool::expiry(
    const idle_session& entry, clock::time_point now) const noexcept {
  if (now >= entry.expires_at) return close_reason::max_lifetime;
  if (config_.idle_timeout.count() > 0 && now - entry.idle_since >= config_.idle_timeout) {
    return close_reason::idle_timeout;
  }
  return std::nullopt;
}

std::size_t connection_pool::take_slot() noexcept {
  const std::size_t slot = free_slots_.back();  // one is free for every connection not open
  free_slots_.pop_back();
  slots_[slot] = slot_state{};
  return slot;
}

clock::time_point connection_pool::expiry_of_new(clock::time_point now) {
  if (config_.max_lifetime.count() == 0) return clock::time_point::max();
  // Up to 2.5 % less, so that connections opened together do not all close together.
  std::uniform_int_distribution<std::int64_t> spread(0, config_.max_lifetime.count() / 40);
  return now + config_.max_lifetime - std::chrono::milliseconds(spread(jitter_));
}

void connection_pool::free_slot(std::size_t slot) noexcept {
  slots_[slot].leased = false;
  free_slots_.push_back(slot);  // never allocates: reserved for every slot
}

void connection_pool::close(std::unique_lock<std::mutex>& lock, std::unique_ptr<Session> session,
                            std::size_t slot, close_reason why) noexcept {
  --open_;
  free_slot(slot);
  lock.unlock();
  session.reset();  // closing a connection may block: never under the lock
  if (why == close_reason::max_lifetime) {
    counters_->count_session_expired();
  } else {
    counters_->count_session_idle_closed();
  }
  lock.lock();
}

void connection_pool::give_back(connection_lease& lease) noexcept {
  const clock::time_point now = config_.now();
  counters_->time_session(now - lease.acquired_at_);
  std::unique_ptr<Session> session = std::move(lease.session_);
  const std::size_t slot = lease.slot_;
  std::unique_lock lock(mutex_);
  --in_use_;
  if (lease.lost_) ++generation_;  // the connections idle now may have died with this one
  bool reported = false;
  std::source_location where;
  if (config_.leak_threshold.count() > 0) {
    slot_state& state = slots_[slot];
    state.leased = false;
    reported = state.reported;
    where = state.where;
  }
  if (lease.discard_) {
    --open_;
    free_slot(slot);
    counters_->count_session_discarded();
    lock.unlock();
    session.reset();
  } else if (now >= lease.expires_at_) {
    close(lock, std::move(session), slot, close_reason::max_lifetime);
    lock.unlock();
  } else {
    // A connection out on lease when another was found lost may be dead too: it keeps the
    // generation it was handed out in, and is pinged before its next use.
    idle_.push_back({std::move(session), lease.generation_, slot, lease.expires_at_, now});
    lock.unlock();
  }
  freed_.notify_one();
  if (reported && config_.logger) {
    try {
      config_.logger->info(
          "The database connection leased at {}:{} in {}, reported as a possible leak, came "
          "back after {:.1f} s",
          where.file_name(), where.line(), where.function_name(),
          seconds_of(now - lease.acquired_at_));
    } catch (...) {  // logging must not fail a lease's return
    }
  }
}

void connection_pool::housekeep() { housekeep_once(); }

clock::time_point connection_pool::housekeep_once() {
  struct leak {
    std::source_location where;
    clock::duration held;
  };
  std::vector<std::pair<idle_session, close_reason>> closing;
  std::vector<leak> leaks;
  const clock::time_point now = config_.now();
  clock::time_point next = clock::time_point::max();
  {
    std::lock_guard lock(mutex_);
    for (auto entry = idle_.begin(); entry != idle_.end();) {
      if (const auto why = expiry(*entry, now)) {
        --open_;
        free_slot(entry->slot);
        closing.emplace_back(std::move(*entry), *why);
        entry = idle_.erase(entry);
        continue;
      }
      next = std::min(next, entry->expires_at);
      if (config_.idle_timeout.count() > 0) {
        next = std::min(next, entry->idle_since + config_.idle_timeout);
      }
      ++entry;
    }
    for (slot_state& state : slots_) {  // leased only while leak detection is on
      if (!state.leased || state.reported) continue;
      if (now - state.acquired_at >= config_.leak_threshold) {
        state.reported = true;
        leaks.push_back({state.where, now - state.acquired_at});
      } else {
        next = std::min(next, state.acquired_at + config_.leak_threshold);
      }
    }
    // Connections given back, leased or opened after this pass have deadlines it cannot see:
    // it runs again within the shortest setting, so that none is late by more than that (and
    // an acquire never hands out an expired connection).
    if (config_.idle_timeout.count() > 0) next = std::min(next, now + config_.idle_timeout);
    if (config_.leak_threshold.count() > 0) next = std::min(next, now + config_.leak_threshold);
    if (config_.max_lifetime.count() > 0) {
      next = std::min(next, now + config_.max_lifetime - config_.max_lifetime / 40);
    }
  }
  for (auto& [entry, why] : closing) {
    entry.session.reset();
    if (why == close_reason::max_lifetime) {
      counters_->count_session_expired();
    } else {
      counters_->count_session_idle_closed();
    }
  }
  for (const leak& each : leaks) {
    // Logged before it is counted: whoever sees the count can read the line.
    if (config_.logger) {
      try {
        config_.logger->warn(
            "A database connection has been leased for {:.1f} s, past the leak detection "
            "threshold of {} ms; it was taken at {}:{} in {}. A lease never given back starves "
            "the pool",
            seconds_of(each.held), config_.leak_threshold.count(), each.where.file_name(),
            each.where.line(), each.where.function_name());
      } catch (...) {  // a failed log line must not stop the housekeeping
      }
    }
    counters_->count_lease_leaked();
  }
  return next;
}

void connection_pool::run_housekeeper() {
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    lock.unlock();
    const clock::time_point next = housekeep_once();
    lock.lock();
    if (stopping_) break;
    // Waited for as a duration: a test's own clock gives deadlines the real clock never reaches
    // or has long passed.
    const clock::duration left = next - config_.now();
    housekeeper_wake_.wait_for(lock, std::clamp(left, clock::duration{std::chrono::milliseconds(1)},
                                                clock::duration{std::chrono::hours(24)}));
  }
}

pool_status connection_pool::status() const {
  std::lock_guard lock(mutex_);
  return {config_.max_size, open_, in_use_, waiting_};
}

}  // namespace repokit
