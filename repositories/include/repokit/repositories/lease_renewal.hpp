// Heartbeats for a claimed job while its work runs with no session held. One background thread
// per process renews every live renewal's lease a third of a lease after the last renewal, each
// in a unit of work of its own, so a job that runs for hours keeps its claim as long as its
// process lives, and loses it one lease after the process dies.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>

#include "repokit/repositories/job_repository.hpp"
#include "repokit/repositories/tasks.hpp"

namespace repokit {

class lease_renewal {
 public:
  // Starts renewing the lease of `claimed` (just claimed with this `lease`) until destruction.
  // `options` are those of each renewal's unit. When `renewals` is set, each renewal that
  // succeeds adds one to it; it must outlive this object.
  lease_renewal(const Database& db, const Job& claimed, std::chrono::milliseconds lease,
                const task_options& options = {}, std::atomic<std::uint64_t>* renewals = nullptr);
  // Stops renewing, after waiting for a renewal under way; the lease then runs out unless the
  // job's outcome is recorded first.
  ~lease_renewal();
  lease_renewal(const lease_renewal&) = delete;
  lease_renewal& operator=(const lease_renewal&) = delete;

  // Renews the lease now, in a unit of its own, as work between two phases may: errc::invalid_state
  // when the claim is lost (the job was cancelled, finished by someone else or taken over after
  // its lease expired), and the work should stop. Call it with no unit of work open.
  result<void> renew_now();
  // Whether a renewal found the claim lost (the job was claimed again after its lease expired,
  // or was finished or moved by someone else): this worker's outcome will be refused.
  bool claim_lost() const noexcept;
  // Whether the lease last obtained (by the claim or a renewal) has not run out yet.
  bool lease_live() const noexcept;

  struct entry;

 private:
  std::shared_ptr<entry> entry_;
};

}  // namespace repokit
