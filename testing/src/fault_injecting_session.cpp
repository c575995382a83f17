#include "repokit/testing/fault_injecting_session.hpp"

#include <random>

namespace repokit::testing {
namespace {

error lost_connection(std::string_view operation) {
  return error{errc::connection_lost, retry_class::reconnect_then_retry, "", std::string(operation),
               "injected fault: connection reset"};
}

bool is_in_doubt(fault kind) {
  return kind == fault::in_doubt_commit || kind == fault::in_doubt_abort;
}

}  // namespace

void fault_injector::fail_next(fault kind, std::string operation) {
  const std::lock_guard lock(mutex_);
  script_.push_back({kind, std::move(operation)});
  scripted_ = true;
}

std::function<std::unique_ptr<Session>(std::unique_ptr<Session>)> inject(
    std::shared_ptr<fault_injector> faults) {
  return [faults = std::move(faults)](std::unique_ptr<Session> inner) -> std::unique_ptr<Session> {
    return std::make_unique<fault_injecting_session>(std::move(inner), faults);
  };
}

std::optional<fault> fault_injector::draw(std::string_view operation) {
  if (scripted_) {
    const std::lock_guard lock(mutex_);
    for (auto it = script_.begin(); it != script_.end(); ++it) {
      const bool applies = !is_in_doubt(it->kind) || operation == "COMMIT";
      if (applies && (it->operation.empty() || it->operation == operation)) {
        const fault kind = it->kind;
        script_.erase(it);
        scripted_ = !script_.empty();
        return kind;
      }
    }
  }
  if (!armed_ || rate_ <= 0) return std::nullopt;
  thread_local std::minstd_rand engine{std::random_device{}()};
  if (std::uniform_real_distribution<double>{0.0, 1.0}(engine) >= rate_) return std::nullopt;
  return static_cast<fault>(std::uniform_int_distribution<int>{0, 2}(engine));
}

error fault_injector::report(fault injected, dialect kind, std::string_view operation) {
  const bool sqlite = kind == dialect::sqlite;
  const bool postgresql = kind == dialect::postgresql;
  switch (injected) {
    case fault::busy:
      ++busy_;
      return error{errc::transient, retry_class::retry_transaction,
                   sqlite ? "SQLITE 5" : (postgresql ? "55P03" : "MYSQL 1205"),
                   std::string(operation), "injected fault: database is locked"};
    case fault::deadlock:
      ++deadlocks_;
      return error{errc::transient, retry_class::retry_transaction,
                   sqlite ? "SQLITE 6" : (postgresql ? "40P01" : "MYSQL 1213"),
                   std::string(operation), "injected fault: deadlock detected"};
    case fault::dropped_connection: ++drops_; return lost_connection(operation);
    case fault::in_doubt_commit:
    case fault::in_doubt_abort:
      ++in_doubt_;
      return error{errc::in_doubt, retry_class::in_doubt, "", std::string(operation),
                   "injected fault: connection lost during COMMIT"};
  }
  return lost_connection(operation);
}

std::optional<error> fault_injecting_session::before(std::string_view operation) {
  if (dropped_) return lost_connection(operation);
  const std::optional<fault> injected = faults_->draw(operation);
  if (!injected) return std::nullopt;
  if (*injected == fault::dropped_connection) dropped_ = true;
  return faults_->report(*injected, inner_->kind(), operation);
}

result<void> fault_injecting_session::begin(begin_mode mode) {
  if (auto injected = before("BEGIN")) return failure(std::move(*injected));
  return inner_->begin(mode);
}

result<void> fault_injecting_session::commit() {
  if (dropped_) return failure(lost_connection("COMMIT"));
  const std::optional<fault> injected = faults_->draw("COMMIT");
  if (!injected) return inner_->commit();
  if (!is_in_doubt(*injected)) {
    // Before COMMIT is sent: the work is rolled back, never left in doubt.
    if (*injected == fault::dropped_connection) dropped_ = true;
    return failure(faults_->report(*injected, inner_->kind(), "COMMIT"));
  }
  // The COMMIT lands or not, and either way the answer is lost with the connection.
  if (*injected == fault::in_doubt_commit) {
    REPOKIT_TRYV(inner_->commit());
  } else {
    REPOKIT_TRYV(inner_->rollback());
  }
  dropped_ = true;
  return failure(faults_->report(fault::in_doubt_commit, inner_->kind(), "COMMIT"));
}

result<void> fault_injecting_session::rollback() {
  if (dropped_) return failure(lost_connection("ROLLBACK"));
  return inner_->rollback();
}

result<std::vector<row>> fault_injecting_session::query(const statement& sql,
                                                        std::span<const param> params) {
  if (auto injected = before(sql.name)) return failure(std::move(*injected));
  return inner_->query(sql, params);
}

result<std::uint64_t> fault_injecting_session::query_rows(const statement& sql,
                                                          std::span<const param> params,
                                                          row_consumer& consumer) {
  if (auto injected = before(sql.name)) return failure(std::move(*injected));
  return inner_->query_rows(sql, params, consumer);
}

result<std::uint64_t> fault_injecting_session::execute(const statement& sql,
                                                       std::span<const param> params) {
  if (auto injected = before(sql.name)) return failure(std::move(*injected));
  return inner_->execute(sql, params);
}

result<void> fault_injecting_session::execute_script(std::string_view sql) {
  if (dropped_) return failure(lost_connection("script"));
  return inner_->execute_script(sql);
}

}  // namespace repokit::testing
