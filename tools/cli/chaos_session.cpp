#include "chaos_session.hpp"

#include <random>
#include <string>

namespace repokit::cli {

std::optional<error> chaos_source::draw(dialect kind, std::string_view operation) {
  thread_local std::minstd_rand engine{std::random_device{}()};
  std::uniform_real_distribution<double> unit{0.0, 1.0};
  if (!armed_ || rate_ <= 0 || unit(engine) >= rate_) return std::nullopt;
  const bool sqlite = kind == dialect::sqlite;
  switch (std::uniform_int_distribution<int>{0, 2}(engine)) {
    case 0:
      ++busy_;
      return error{errc::transient, retry_class::retry_transaction, sqlite ? "SQLITE 5" : "55P03",
                   std::string(operation), "injected by --chaos: database is locked"};
    case 1:
      ++deadlocks_;
      return error{errc::transient, retry_class::retry_transaction, sqlite ? "SQLITE 6" : "40P01",
                   std::string(operation), "injected by --chaos: deadlock detected"};
    default:
      ++drops_;
      return error{errc::connection_lost, retry_class::reconnect_then_retry, "",
                   std::string(operation), "injected by --chaos: connection reset"};
  }
}

std::optional<error> chaos_session::fault(std::string_view operation) {
  if (dropped_) {
    return error{errc::connection_lost, retry_class::reconnect_then_retry, "",
                 std::string(operation), "injected by --chaos: connection reset"};
  }
  auto injected = source_->draw(inner_->kind(), operation);
  if (injected && injected->kind == errc::connection_lost) dropped_ = true;
  return injected;
}

result<void> chaos_session::begin(begin_mode mode) {
  if (auto injected = fault("BEGIN")) return failure(std::move(*injected));
  return inner_->begin(mode);
}

result<void> chaos_session::commit() {
  // Injected before COMMIT is sent, never during it: a fault here must not leave work in doubt.
  if (auto injected = fault("COMMIT")) return failure(std::move(*injected));
  return inner_->commit();
}

result<void> chaos_session::rollback() {
  if (dropped_) return failure(errc::connection_lost, "injected by --chaos: connection reset");
  return inner_->rollback();
}

result<std::vector<row>> chaos_session::query(const statement& sql, std::span<const param> params) {
  if (auto injected = fault(sql.name)) return failure(std::move(*injected));
  return inner_->query(sql, params);
}

result<std::uint64_t> chaos_session::execute(const statement& sql, std::span<const param> params) {
  if (auto injected = fault(sql.name)) return failure(std::move(*injected));
  return inner_->execute(sql, params);
}

}  // namespace repokit::cli
