#include "repokit/scope.hpp"

#include <spdlog/logger.h>

#include <exception>

#include "repokit/detail/database_state.hpp"

namespace repokit::detail {
namespace {

thread_local int retry_owners = 0;

}  // namespace

bool retries_owned_by_caller() noexcept { return retry_owners > 0; }
retry_ownership::retry_ownership() noexcept { ++retry_owners; }
retry_ownership::~retry_ownership() { --retry_owners; }

error error_from_exception(std::string_view scope) noexcept try {
  error reason = make_error(errc::database, "the body threw");
  reason.operation = std::string(scope);
  try {
    throw;
  } catch (const std::exception& e) {
    reason.message += ": ";
    reason.message += e.what();
  } catch (...) {
  }
  return reason;
} catch (...) {
  return error{};
}

root_run::root_run(const Database& db, const scope_options& options)
    : db_(db),
      options_(options),
      state_(retries_owned_by_caller() ? db_retry::disabled()
                                       : options.retry.value_or(db.options().retry)),
      access_(options.access) {}

void root_run::unit_ended(bool wrote) noexcept {
  // The next attempt takes SQLite's write lock at BEGIN instead of failing to upgrade to it.
  if (wrote && access_ == access_mode::automatic) access_ = access_mode::read_write;
}

bool root_run::retry_after(const error& failure) {
  if (retries_owned_by_caller()) return false;  // perform() around us decides
  const retry_decision decision = state_.on_failure(failure.retry, options_.idempotent);
  const std::string_view operation =
      failure.operation.empty() ? options_.name : std::string_view(failure.operation);
  std::string_view reason = failure.message;  // the log line adds its own full stop
  while (!reason.empty() && (reason.back() == '.' || reason.back() == ' ')) reason.remove_suffix(1);
  switch (decision.verdict) {
    case retry_verdict::retry:
      db_.state().counters->count_retry(failure.retry);
      // Two decimals as users know the line ("Retrying in 0.50s"), more for delays under 10 ms,
      // which would otherwise all read "0.00s".
      db_.logger().warn(
          "Transient database error in {} (attempt {}/{}): {}. Retrying in {:.{}f}s...", operation,
          state_.attempt(), state_.max_attempts(), reason, decision.delay.count(),
          decision.delay.count() >= 0.01 || decision.delay.count() == 0 ? 2 : 4);
      state_.wait(decision);
      return true;
    case retry_verdict::not_retryable: return false;
    case retry_verdict::attempts_exhausted:
    case retry_verdict::deadline_exceeded:
      db_.state().counters->count_give_up(failure.retry);
      db_.logger().error("Giving up on {} after {} attempt(s) in {:.2f}s ({}): {}", operation,
                         state_.attempt(), state_.elapsed().count(),
                         decision.verdict == retry_verdict::deadline_exceeded
                             ? "retry deadline reached"
                             : "no retries left",
                         failure.describe());
      return false;
  }
  return false;
}

}  // namespace repokit::detail

namespace repokit {

unit_guard::unit_guard(const Database& db, scope_options options) {
  UnitOfWork* outer = options.propagate == propagation::join ? UnitOfWork::current(db) : nullptr;
  if (outer != nullptr) {
    unit_ = outer;
  } else {
    own_.emplace(db, options.access, options.statement_timeout, options.isolation_level,
                 options.where);
    unit_ = &*own_;
  }
}

unit_guard::~unit_guard() {
  if (committed_) return;
  if (own_) {
    own_->rollback(rollback_cause::abandoned);
  } else if (!unit_->ended()) {
    unit_->mark_rollback_only(make_error(
        errc::misuse, "a unit_guard joined to this unit of work ended without commit()"));
  }
}

result<void> unit_guard::commit() {
  if (own_) {
    auto committed = own_->commit();
    committed_ = static_cast<bool>(committed);
    return committed;
  }
  // Joined: the outer scope commits. Say now if that cannot happen.
  if (const auto& poison = unit_->poison()) return failure(*poison);
  committed_ = true;
  return success();
}

}  // namespace repokit
