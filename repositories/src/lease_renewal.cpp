#include "repokit/repositories/lease_renewal.hpp"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <spdlog/logger.h>

namespace repokit {

struct lease_renewal::entry {
  const Database* db = nullptr;
  Job claimed{};
  std::chrono::milliseconds lease{};
  task_options options{};
  std::chrono::steady_clock::time_point due{};
  bool renewing = false;  // guarded by the keeper's mutex
  std::atomic<bool> lost{false};
  std::atomic<std::int64_t> lease_end_ms{0};       // the lease last obtained, ms since the epoch
  std::atomic<std::uint64_t>* renewals = nullptr;  // counts the renewals made, when set
};

namespace {

using clock = std::chrono::steady_clock;

std::chrono::milliseconds renewal_period(std::chrono::milliseconds lease) {
  return std::max(lease / 3, std::chrono::milliseconds{1});
}

// Renews the lease once, in a unit of its own. A refusal (errc::invalid_state) means the claim
// is lost: the job was cancelled, finished by someone else or taken over after its lease expired.
result<void> renew(lease_renewal::entry& renewal) {
  auto renewed = run_task(
      *renewal.db,
      [&](Repositories& repos) { return repos.jobs.heartbeat(renewal.claimed, renewal.lease); },
      renewal.options);
  if (renewed) {
    if (renewed.value().lease_expires_at) {
      renewal.lease_end_ms = renewed.value().lease_expires_at->time_since_epoch().count();
    }
    if (renewal.renewals) renewal.renewals->fetch_add(1, std::memory_order_relaxed);
    return success();
  }
  if (renewed.error().kind == errc::invalid_state) {
    if (!renewal.lost.exchange(true)) {
      renewal.db->logger().warn("Job {} lost its claim: {}", renewal.claimed.id,
                                renewed.error().describe());
    }
  } else {
    renewal.db->logger().warn("Job {}: renewing its lease failed, trying again: {}",
                              renewal.claimed.id, renewed.error().describe());
  }
  return failure(std::move(renewed).error());
}

// The process's renewal thread, started with the first renewal and stopped at exit.
class keeper {
 public:
  static keeper& instance() {
    static keeper the_keeper;
    return the_keeper;
  }

  void add(std::shared_ptr<lease_renewal::entry> renewal) {
    std::lock_guard lock(mutex_);
    if (!thread_.joinable()) thread_ = std::thread([this] { run(); });
    // The thread is woken only when it sleeps past the new renewal's time: a lease claimed after
    // the others is renewed after them, so workers that claim and finish jobs one after another
    // do not wake it for each job.
    const bool sooner = renewal->due < sleeping_until_;
    idle_period_ = renewal_period(renewal->lease);
    entries_.push_back(std::move(renewal));
    if (sooner) changed_.notify_all();
  }

  void remove(const lease_renewal::entry* renewal) {
    std::unique_lock lock(mutex_);
    std::erase_if(entries_, [renewal](const auto& e) { return e.get() == renewal; });
    changed_.wait(lock, [renewal] { return !renewal->renewing; });
  }

  ~keeper() {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
      changed_.notify_all();
    }
    if (thread_.joinable()) thread_.join();
  }

 private:
  keeper() = default;

  void run() {
    std::unique_lock lock(mutex_);
    while (!stopping_) {
      const auto next =
          std::min_element(entries_.begin(), entries_.end(),
                           [](const auto& a, const auto& b) { return a->due < b->due; });
      if (next == entries_.end()) {
        // Nothing to renew. A lease added soon after is renewed a period later at the earliest,
        // so one period of sleep needs no wake-up; after an idle period, sleep until woken.
        if (idle_period_ > clock::duration::zero()) {
          sleep_until(lock, clock::now() + std::exchange(idle_period_, clock::duration::zero()));
        } else {
          sleep_until(lock, clock::time_point::max());
        }
        continue;
      }
      if (clock::now() < (*next)->due) {
        sleep_until(lock, (*next)->due);
        continue;
      }
      const std::shared_ptr<lease_renewal::entry> renewal = *next;
      renewal->renewing = true;
      lock.unlock();
      const bool renewed_ok = renew(*renewal).has_value();
      lock.lock();
      renewal->renewing = false;
      // A renewal that failed is tried again four times as soon: the lease is still running out.
      const auto period = renewal_period(renewal->lease);
      renewal->due = clock::now() + (renewed_ok ? period : period / 4);
      // A lost claim is not renewed again.
      if (renewal->lost) std::erase(entries_, renewal);
      changed_.notify_all();  // for remove(), waiting for this renewal to end
    }
  }

  // Sleeps until `until`, a new renewal due sooner, or stopping. Awake, the thread looks at every
  // renewal before it sleeps again, so add() need not wake it.
  void sleep_until(std::unique_lock<std::mutex>& lock, clock::time_point until) {
    sleeping_until_ = until;
    if (until == clock::time_point::max()) {
      changed_.wait(lock);
    } else {
      changed_.wait_until(lock, until);
    }
    sleeping_until_ = clock::time_point::min();
  }

  std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<std::shared_ptr<lease_renewal::entry>> entries_;
  clock::time_point sleeping_until_ = clock::time_point::min();  // min() while awake
  clock::duration idle_period_{};  // the renewal period of the lease added last
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace

lease_renewal::lease_renewal(const Database& db, const Job& claimed,
                             std::chrono::milliseconds lease, const task_options& options,
                             std::atomic<std::uint64_t>* renewals)
    : entry_(std::make_shared<entry>()) {
  entry_->renewals = renewals;
  entry_->db = &db;
  entry_->claimed = claimed;
  entry_->lease = lease;
  entry_->options = options;
  entry_->due = clock::now() + renewal_period(lease);
  const auto now =
      std::chrono::time_point_cast<std::chrono::milliseconds>(std::chrono::system_clock::now());
  entry_->lease_end_ms = claimed.lease_expires_at.value_or(now + lease).time_since_epoch().count();
  keeper::instance().add(entry_);
}

lease_renewal::~lease_renewal() { keeper::instance().remove(entry_.get()); }

result<void> lease_renewal::renew_now() {
  if (entry_->lost) {
    return failure(errc::invalid_state, "job " + std::to_string(entry_->claimed.id) +
                                            ": its claim is lost; its lease is not renewed");
  }
  return renew(*entry_);
}

bool lease_renewal::claim_lost() const noexcept { return entry_->lost; }

bool lease_renewal::lease_live() const noexcept {
  const auto now =
      std::chrono::time_point_cast<std::chrono::milliseconds>(std::chrono::system_clock::now());
  return now.time_since_epoch().count() < entry_->lease_end_ms;
}

}  // namespace repokit
