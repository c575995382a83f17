// An observer of a Database's or pool's events that a test can wait on: for what another thread
// (the pool's housekeeper) does in its own time.
#pragma once

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <mutex>
#include <vector>

#include "repokit/metrics.hpp"

namespace repokit::testing {

class event_waiter final : public observer {
 public:
  void on_event(const event& what) noexcept override {
    {
      std::lock_guard lock(mutex_);
      seen_.push_back(what.kind);
    }
    changed_.notify_all();
  }

  // Whether `kind` happened at least `times` times within `timeout`.
  bool wait_for(event_kind kind, std::chrono::milliseconds timeout, std::size_t times = 1) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, timeout, [&] {
      return static_cast<std::size_t>(std::count(seen_.begin(), seen_.end(), kind)) >= times;
    });
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<event_kind> seen_;
};

}  // namespace repokit::testing
