// Faults injected into real sessions, for tests of an application's own units of work: a Session
// wrapper that fails a BEGIN, a statement or a COMMIT the way a busy SQLite file, a deadlock, a
// dropped connection or a connection lost during COMMIT would. Link repokit::testing.
//
//   auto faults = std::make_shared<repokit::testing::fault_injector>();
//   auto db = repokit::Database::open(url, {.wrap_session = repokit::testing::inject(faults)});
//   faults->fail_next(repokit::testing::fault::deadlock, "place_order");  // once, then passes
//   ... run the unit: it is retried as a whole, and faults->injected() == 1 ...
//
// Busy, deadlock and dropped-connection faults are reported before anything reaches the
// database, so the retry loop must absorb them without losing or doubling work. An in-doubt
// fault lets the COMMIT through, then reports the connection lost: the work landed, and the
// unit answers errc::in_doubt unless it was declared idempotent.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "repokit/session.hpp"

namespace repokit::testing {

enum class fault : std::uint8_t {
  busy,
  deadlock,
  dropped_connection,
  in_doubt_commit,  // the COMMIT lands, and its answer is lost with the connection
  in_doubt_abort,   // the connection is lost before the COMMIT lands; the client cannot tell
};

class fault_injector {
 public:
  // No random faults: only those asked for with fail_next().
  fault_injector() = default;
  // Random busy, deadlock and dropped-connection faults in `rate` (0 to 1) of the BEGINs,
  // statements and COMMITs, once armed.
  explicit fault_injector(double rate) : rate_(rate) {}

  // Random faults start once armed: set-up (migrations, seed data) runs undisturbed.
  void arm() noexcept { armed_ = true; }

  // The next operation named `operation` ("BEGIN", "COMMIT" or a statement's name; empty for
  // any) fails with `kind`, once. Scripted faults are used in the order they were asked for.
  // In-doubt faults apply to a COMMIT only.
  void fail_next(fault kind, std::string operation = {});

  std::uint64_t busy() const noexcept { return busy_.load(); }
  std::uint64_t deadlocks() const noexcept { return deadlocks_.load(); }
  std::uint64_t drops() const noexcept { return drops_.load(); }
  std::uint64_t in_doubt() const noexcept { return in_doubt_.load(); }
  std::uint64_t injected() const noexcept { return busy() + deadlocks() + drops() + in_doubt(); }

  // The fault to inject instead of running `operation` now, or nothing. For sessions.
  std::optional<fault> draw(std::string_view operation);
  // The error a backend of `kind` reports for `injected` during `operation`; counts it.
  error report(fault injected, dialect kind, std::string_view operation);

 private:
  struct scripted {
    fault kind;
    std::string operation;
  };
  double rate_ = 0;
  std::atomic<bool> armed_{false};
  std::mutex mutex_;
  std::deque<scripted> script_;
  std::atomic<bool> scripted_{false};  // script_ is not empty: checked without the lock
  std::atomic<std::uint64_t> busy_{0};
  std::atomic<std::uint64_t> deadlocks_{0};
  std::atomic<std::uint64_t> drops_{0};
  std::atomic<std::uint64_t> in_doubt_{0};
};

class fault_injecting_session final : public Session {
 public:
  fault_injecting_session(std::unique_ptr<Session> inner, std::shared_ptr<fault_injector> faults)
      : inner_(std::move(inner)), faults_(std::move(faults)) {}

  dialect kind() const noexcept override { return inner_->kind(); }
  result<void> begin(begin_mode mode) override;
  result<void> commit() override;
  result<void> rollback() override;
  // lost_transaction() is not passed on: an injected in-doubt COMMIT cannot be resolved, and
  // stays errc::in_doubt.
  result<std::vector<row>> query(const statement& sql, std::span<const param> params) override;
  result<std::uint64_t> query_rows(const statement& sql, std::span<const param> params,
                                   row_consumer& consumer) override;
  result<std::uint64_t> execute(const statement& sql, std::span<const param> params) override;
  result<void> execute_script(std::string_view sql) override;
  result<void> limit_statements(std::optional<std::chrono::milliseconds> limit) override {
    return inner_->limit_statements(limit);
  }
  bool ping() override { return !dropped_ && inner_->ping(); }

 private:
  // The error to answer instead of running `operation`, or nothing.
  std::optional<error> before(std::string_view operation);

  std::unique_ptr<Session> inner_;
  std::shared_ptr<fault_injector> faults_;
  bool dropped_ = false;  // after a dropped connection it acts dead until discarded
};

// For database_options::wrap_session: every connection of the Database goes through `faults`.
std::function<std::unique_ptr<Session>(std::unique_ptr<Session>)> inject(
    std::shared_ptr<fault_injector> faults);

}  // namespace repokit::testing
