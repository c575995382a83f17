// Fault injection for `repokit demo --chaos RATE`: a Session wrapper that, at the given rate,
// fails a BEGIN, statement or COMMIT before it reaches the database, the way a busy SQLite
// file, a deadlock or a dropped connection would. Nothing is ever half-sent, so every fault is
// one the retry loop must absorb without losing or doubling work.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>

#include "repokit/session.hpp"

namespace repokit::cli {

class chaos_source {
 public:
  explicit chaos_source(double rate) : rate_(rate) {}

  // Faults start once armed: set-up (migrations, the catalogue) runs undisturbed.
  void arm() noexcept { armed_ = true; }

  // A fault to report instead of running `operation`, or nothing.
  std::optional<error> draw(dialect kind, std::string_view operation);

  std::uint64_t busy() const noexcept { return busy_.load(); }
  std::uint64_t deadlocks() const noexcept { return deadlocks_.load(); }
  std::uint64_t drops() const noexcept { return drops_.load(); }
  std::uint64_t total() const noexcept { return busy() + deadlocks() + drops(); }

 private:
  double rate_;
  std::atomic<bool> armed_{false};
  std::atomic<std::uint64_t> busy_{0};
  std::atomic<std::uint64_t> deadlocks_{0};
  std::atomic<std::uint64_t> drops_{0};
};

class chaos_session final : public Session {
 public:
  chaos_session(std::unique_ptr<Session> inner, std::shared_ptr<chaos_source> source)
      : inner_(std::move(inner)), source_(std::move(source)) {}

  dialect kind() const noexcept override { return inner_->kind(); }
  result<void> begin(begin_mode mode) override;
  result<void> commit() override;
  result<void> rollback() override;
  result<std::vector<row>> query(const statement& sql, std::span<const param> params) override;
  result<std::uint64_t> execute(const statement& sql, std::span<const param> params) override;
  result<void> execute_script(std::string_view sql) override { return inner_->execute_script(sql); }
  result<void> limit_statements(std::optional<std::chrono::milliseconds> limit) override {
    return inner_->limit_statements(limit);
  }
  bool ping() override { return !dropped_ && inner_->ping(); }

 private:
  std::optional<error> fault(std::string_view operation);

  std::unique_ptr<Session> inner_;
  std::shared_ptr<chaos_source> source_;
  bool dropped_ = false;  // after an injected drop the connection acts dead until discarded
};

}  // namespace repokit::cli
