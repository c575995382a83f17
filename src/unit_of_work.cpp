#include "repokit/unit_of_work.hpp"

#include <spdlog/logger.h>
#include <boost/container/small_vector.hpp>

#include <algorithm>
#include <array>
#include <charconv>
#include <memory>
#include <sstream>
#include <type_traits>

#include "commit_resolution.hpp"
#include "repokit/detail/database_state.hpp"
#include "repokit/scope.hpp"

namespace repokit {
namespace {

struct open_unit {
  const detail::database_state* db;
  UnitOfWork* unit;
};

// The units this thread has open, innermost last: what a nested scope joins.
thread_local std::vector<open_unit> open_units;

bool is_business_outcome(errc kind) {
  // Answers a caller branches on, not faults: not worth a warning when they roll a unit back.
  return kind == errc::not_found || kind == errc::invalid_argument || kind == errc::invalid_state;
}

// Room for an expanded statement and its parameters without a heap allocation, as long as they
// are short: an IN list of a few values, as most are.
using expanded_sql = boost::container::small_vector<char, 512>;
using expanded_params = boost::container::small_vector<param, 16>;

void append(expanded_sql& sql, std::string_view text) {
  sql.insert(sql.end(), text.begin(), text.end());
}

// Writes `part` with each IN-list placeholder spelled out, `:ids` becoming `:ids__1, :ids__2`
// (NULL for an empty list, which matches nothing), and its parameters in the order the session
// binds them: one per distinct name, in the order of first appearance.
void expand_lists(const detail::sql_part& part, std::span<const param> params,
                  std::span<const detail::bound_name> names, expanded_sql& sql,
                  expanded_params& bound) {
  sql.reserve(part.sql.size() + 8 * params.size());
  std::uint64_t seen = 0;  // the arguments bound already, one bit each
  std::size_t copied = 0;
  for (std::size_t u = 0; u < part.placeholder_count; ++u) {
    const detail::sql_placeholder& use = part.placeholders[u];
    const std::string_view placeholder = part.sql.substr(use.at, use.length);
    const detail::bound_name& name = names[use.parameter];
    const std::uint64_t bit = std::uint64_t{1} << use.parameter;
    const bool first = (seen & bit) == 0;
    seen |= bit;
    append(sql, part.sql.substr(copied, use.at - copied));
    copied = use.at + use.length;
    if (!name.list) {
      append(sql, placeholder);
      if (first) bound.push_back(params[name.first]);
      continue;
    }
    if (name.count == 0) append(sql, "NULL");
    for (std::uint32_t i = 0; i < name.count; ++i) {
      if (i > 0) append(sql, ", ");
      append(sql, placeholder);
      append(sql, "__");
      std::array<char, 12> digits{};
      const auto [end, ec] = std::to_chars(digits.data(), digits.data() + digits.size(), i + 1);
      append(sql, std::string_view(digits.data(), static_cast<std::size_t>(end - digits.data())));
      if (first) bound.push_back(params[name.first + i]);
    }
  }
  append(sql, part.sql.substr(copied));
}

std::string thread_name(std::thread::id id) {
  std::ostringstream out;
  out << id;
  return out.str();
}

}  // namespace

std::string_view to_string(unit_state state) noexcept {
  switch (state) {
    case unit_state::idle: return "idle";
    case unit_state::active: return "active";
    case unit_state::poisoned: return "poisoned";
    case unit_state::rollback_only: return "rollback-only";
    case unit_state::committed: return "committed";
    case unit_state::rolled_back: return "rolled back";
    case unit_state::in_doubt: return "in doubt";
  }
  return "unknown";
}

UnitOfWork::UnitOfWork(Database db, access_mode access,
                       std::optional<std::chrono::milliseconds> statement_timeout, isolation level,
                       std::source_location where)
    : db_(std::move(db)),
      access_(access),
      statement_timeout_(statement_timeout),
      isolation_(level),
      where_(where),
      owner_(std::this_thread::get_id()) {
  if (statement_timeout_ && statement_timeout_->count() <= 0) {
    // 0 means "no limit" to PostgreSQL and MariaDB: a silent surprise, so it is refused.
    refused_options_ =
        make_error(errc::invalid_argument, "statement_timeout must be positive (got " +
                                               std::to_string(statement_timeout_->count()) +
                                               " ms); leave it empty for no limit");
  }
  open_units.push_back({&db_.state(), this});
  db_.state().counters->count_attempt();
}

UnitOfWork::UnitOfWork(Database db, detail::root_run& run)
    : UnitOfWork(std::move(db), run.access(), run.options().statement_timeout,
                 run.options().isolation_level, run.options().where) {
  run_ = &run;
}

UnitOfWork::~UnitOfWork() {
  // Whichever thread destroys it, nobody can use the unit any more: roll back.
  if (!ended()) roll_back(rollback_cause::abandoned, nullptr);
  const auto found = std::find_if(open_units.rbegin(), open_units.rend(),
                                  [this](const open_unit& open) { return open.unit == this; });
  if (found != open_units.rend()) open_units.erase(std::next(found).base());
}

UnitOfWork* UnitOfWork::current(const Database& db) noexcept {
  for (auto it = open_units.rbegin(); it != open_units.rend(); ++it) {
    if (it->db == &db.state() && !it->unit->ended()) return it->unit;
  }
  return nullptr;
}

bool UnitOfWork::open_on_this_thread() noexcept {
  return std::any_of(open_units.begin(), open_units.end(),
                     [](const open_unit& open) { return !open.unit->ended(); });
}

error UnitOfWork::foreign_thread(std::string_view operation) const {
  error refused = make_error(
      errc::misuse, "this unit of work was opened on thread " + thread_name(owner_) +
                        " and used from thread " + thread_name(std::this_thread::get_id()) +
                        "; a connection must never serve two threads: open a unit of work in "
                        "each thread");
  refused.operation = std::string(operation);
  return refused;
}

std::optional<error> UnitOfWork::refusal(statement_kind kind, std::string_view operation) const {
  std::optional<error> refused;
  if (ended()) {
    refused = make_error(errc::misuse,
                         "this unit of work has already ended; open a new scope for more work");
  } else if (state_ == unit_state::poisoned) {
    refused = *poison_;  // keeps the first failure's code and retry class
    refused->kind = errc::session_poisoned;
    refused->message = "not run: an earlier statement of this unit of work failed (" +
                       poison_->describe() + "); the unit can only roll back";
  } else if (kind == statement_kind::write && db_.state().options.read_only) {
    refused = make_error(errc::misuse, "a write on a Database opened read_only");
  } else if (kind == statement_kind::write && access_ == access_mode::read_only) {
    refused = make_error(errc::misuse,
                         "a write in a read-only unit of work; open the scope with "
                         "access_mode::automatic or read_write");
  } else {
    return std::nullopt;
  }
  refused->operation = std::string(operation);
  return refused;
}

result<Session*> UnitOfWork::prepare_for(statement_kind kind, std::string_view operation,
                                         bool script) {
  if (!owned_here()) return failure(foreign_thread(operation));
  if (auto refused = refusal(kind, operation)) return failure(std::move(*refused));
  if (!transaction_open_) REPOKIT_TRYV(begin(kind, operation, script));
  if (kind == statement_kind::write) wrote_ = true;
  return &lease_->session();
}

result<void> UnitOfWork::begin(statement_kind kind, std::string_view operation, bool script) {
  if (refused_options_) {
    refused_options_->operation = std::string(operation);
    return record(result<void>(failure(std::move(*refused_options_))));
  }
  if (!lease_) {
    auto lease = db_.state().pool->acquire(where_);
    if (!lease) return record(result<void>(failure(std::move(lease).error())));
    lease_.emplace(std::move(lease).value());
  }
  // SQLite upgrades a deferred transaction to writing without waiting for the busy timeout,
  // so a unit that will write takes the write lock at BEGIN. PostgreSQL learns its transaction's
  // id there, to resolve a lost COMMIT; not for an idempotent unit, which runs again instead,
  // nor for one that starts with a script (its own, or the isolation set below), which may set
  // the transaction's characteristics: those must come before any query.
  const bool writes = access_ == access_mode::read_write ||
                      (access_ == access_mode::automatic && kind == statement_kind::write);
  const bool needs_no_id =
      script || (run_ != nullptr && run_->options().idempotent) ||
      (isolation_ == isolation::serializable && db_.kind() == dialect::postgresql);
  const begin_mode mode = !writes       ? begin_mode::deferred
                          : needs_no_id ? begin_mode::immediate_without_id
                                        : begin_mode::immediate;
  // MySQL takes the isolation of the next transaction before it starts; PostgreSQL inside it.
  if (isolation_ == isolation::serializable && db_.kind() == dialect::mariadb) {
    REPOKIT_TRYV(
        record(lease_->session().execute_script("SET TRANSACTION ISOLATION LEVEL SERIALIZABLE")));
  }
  auto begun = lease_->session().begin(mode);
  if (!begun) {
    begun.error().operation = std::string(operation) + " (BEGIN)";
    return record(std::move(begun));
  }
  transaction_open_ = true;
  if (state_ == unit_state::idle) state_ = unit_state::active;
  if (isolation_ == isolation::serializable && db_.kind() == dialect::postgresql) {
    REPOKIT_TRYV(
        record(lease_->session().execute_script("SET TRANSACTION ISOLATION LEVEL SERIALIZABLE")));
  }
  if (statement_timeout_) {
    REPOKIT_TRYV(record(lease_->session().limit_statements(statement_timeout_)));
  }
  return success();
}

template <class T>
result<T> UnitOfWork::record(result<T> outcome) {
  if (!outcome && !poison_) {
    poison_ = outcome.error();
    state_ = unit_state::poisoned;
  }
  return outcome;
}

result<std::vector<row>> UnitOfWork::query(const statement& sql, std::span<const param> params) {
  REPOKIT_TRY(Session * session, prepare_for(sql.kind, sql.name));
  db_.state().counters->count_statement();
  return record(session->query(sql, params));
}

result<std::uint64_t> UnitOfWork::run_plan(std::string_view name, statement_kind kind,
                                           const detail::sql_plan& plan,
                                           std::span<const column_type> columns,
                                           std::span<const param> params,
                                           std::span<const detail::bound_name> names,
                                           row_consumer* consumer) {
  static_assert(std::is_trivially_destructible_v<param>);
  std::uint64_t changed = 0;
  for (std::size_t i = 0; i < plan.part_count; ++i) {
    const detail::sql_part& part = plan.parts[i];
    const bool last = i + 1 == plan.part_count;
    REPOKIT_TRY(Session * session, prepare_for(kind, name));
    db_.state().counters->count_statement();
    // The part's own parameters, when it does not bind all the arguments in their order (the
    // common case, sent as they are): only those it needs are made.
    union part_params {
      part_params() {}
      param values[max_statement_parameters];
    } picked;
    expanded_sql expanded;
    expanded_params listed;
    std::string_view sql = part.sql;
    std::span<const param> bound = params;
    if (!names.empty()) {
      expand_lists(part, params, names, expanded, listed);
      sql = std::string_view(expanded.data(), expanded.size());
      bound = std::span<const param>(listed.data(), listed.size());
    } else if (!detail::binds_in_order(part, params.size())) {
      for (std::size_t p = 0; p < part.parameter_count; ++p) {
        std::construct_at(&picked.values[p], params[part.parameters[p]]);
      }
      bound = std::span<const param>(picked.values, part.parameter_count);
    }
    const bool reads_rows = last && consumer != nullptr;
    const statement sent{name, sql, kind, reads_rows ? columns : std::span<const column_type>{}};
    // Results are looked at where they are, not passed through record(): moving one moves the
    // error object it always carries.
    if (reads_rows) {
      auto read = session->query_rows(sent, bound, *consumer);
      if (!read) return record(std::move(read));
      return read.value();
    }
    auto executed = session->execute(sent, bound);
    if (!executed) return record(std::move(executed));
    changed = executed.value();
    // A write that changed nothing ends the statement: there is no row to read back.
    if (part.stops_when_unchanged && changed == 0) return std::uint64_t{0};
  }
  return changed;
}

result<std::optional<row>> UnitOfWork::query_one(const statement& sql,
                                                 std::span<const param> params) {
  REPOKIT_TRY(auto rows, query(sql, params));
  if (rows.empty()) return std::optional<row>{};
  return std::optional<row>{std::move(rows.front())};
}

result<std::uint64_t> UnitOfWork::execute(const statement& sql, std::span<const param> params) {
  REPOKIT_TRY(Session * session, prepare_for(sql.kind, sql.name));
  db_.state().counters->count_statement();
  return record(session->execute(sql, params));
}

result<void> UnitOfWork::execute_script(std::string_view sql) {
  REPOKIT_TRY(Session * session, prepare_for(statement_kind::write, "script", true));
  db_.state().counters->count_statement();
  return record(session->execute_script(sql));
}

void UnitOfWork::mark_rollback_only(const error& reason) {
  if (!owned_here()) {
    db_.logger().error(
        "mark_rollback_only() from a thread that does not own the unit of work "
        "was ignored: {}",
        reason.describe());
    return;
  }
  if (!rollback_only_) rollback_only_ = reason;
  if (state_ == unit_state::idle || state_ == unit_state::active) {
    state_ = unit_state::rollback_only;
  }
}

result<void> UnitOfWork::commit() {
  if (!owned_here()) return failure(foreign_thread("COMMIT"));
  switch (state_) {
    case unit_state::committed:
    case unit_state::rolled_back:
    case unit_state::in_doubt:
      return failure(errc::misuse, "commit() on a unit of work that has already ended");
    case unit_state::poisoned: {
      error refused = *refusal(statement_kind::read, "COMMIT");
      rollback(rollback_cause::poisoned, &*poison_);
      return failure(std::move(refused));
    }
    case unit_state::rollback_only: {
      error reason = *rollback_only_;
      rollback(rollback_cause::body_error, &reason);
      return failure(std::move(reason));
    }
    case unit_state::idle:
    case unit_state::active: break;
  }
  auto& counters = *db_.state().counters;
  if (!transaction_open_) {  // nothing was sent: nothing to commit
    end(unit_state::committed, false);
    counters.count_commit();
    return success();
  }
  auto committed = lease_->session().commit();
  if (committed) {
    end(unit_state::committed, false);
    counters.count_commit();
    return success();
  }
  error failed = std::move(committed).error();
  if (failed.kind == errc::in_doubt) return resolve_lost_commit(std::move(failed));
  // The transaction may still be open (SQLite busy at COMMIT): close it before giving it back.
  const bool lost = failed.retry == retry_class::reconnect_then_retry;
  const bool discard = lost || !lease_->session().rollback();
  counters.count_rollback(rollback_cause::commit_failed);
  db_.logger().warn("Database session error, rolling back: {}", failed.describe());
  end(unit_state::rolled_back, discard, lost);
  return failure(std::move(failed));
}

// The connection was lost during COMMIT. When the session learned the transaction's id, the
// server is asked on a new connection what became of it: committed is a success, aborted a lost
// connection (retried like one). Otherwise the outcome stays unknown: errc::in_doubt.
result<void> UnitOfWork::resolve_lost_commit(error failed) {
  auto& counters = *db_.state().counters;
  const std::optional<std::int64_t> lost = lease_->session().lost_transaction();
  end(unit_state::in_doubt, true, true);
  const commit_outcome outcome =
      lost ? detail::resolve_lost_commit(db_, *lost) : commit_outcome::unknown;
  if (outcome == commit_outcome::committed) {
    counters.count_in_doubt_committed();
    counters.count_commit();
    state_ = unit_state::committed;
    db_.logger().warn(
        "The connection was lost during COMMIT; asked afterwards, transaction {} "
        "had committed: {}",
        *lost, failed.describe());
    return success();
  }
  if (outcome == commit_outcome::aborted) {
    counters.count_in_doubt_aborted();
    counters.count_rollback(rollback_cause::commit_failed);
    state_ = unit_state::rolled_back;
    db_.logger().warn(
        "The connection was lost during COMMIT; asked afterwards, transaction {} "
        "had not committed: {}",
        *lost, failed.describe());
    return failure(error{errc::connection_lost, retry_class::reconnect_then_retry,
                         failed.backend_code, "COMMIT",
                         "connection lost during COMMIT; the transaction did not commit (asked "
                         "on a new connection)"});
  }
  counters.count_in_doubt();
  db_.logger().error("Commit outcome unknown, the connection was lost during COMMIT: {}",
                     failed.describe());
  return failure(std::move(failed));
}

void UnitOfWork::rollback(rollback_cause cause, const error* reason) noexcept {
  // Another thread must not end the owner's unit, nor send ROLLBACK down its connection while
  // the owner may be using it.
  if (owner_ != std::this_thread::get_id()) {
    try {
      db_.logger().error(
          "rollback() from a thread that does not own the unit of work was "
          "ignored; the owning thread ends its unit");
    } catch (...) {
    }
    return;
  }
  roll_back(cause, reason);
}

void UnitOfWork::roll_back(rollback_cause cause, const error* reason) noexcept try {
  if (ended()) return;
  const auto lost = [](const error* e) {
    return e != nullptr &&
           (e->retry == retry_class::reconnect_then_retry || e->kind == errc::in_doubt);
  };
  const bool connection_lost = lost(poison_ ? &*poison_ : nullptr) || lost(reason);
  bool discard = connection_lost;
  if (transaction_open_ && !discard) {
    auto undone = lease_->session().rollback();
    if (!undone) {
      discard = true;
      db_.logger().error("Rollback failed, discarding the connection: {}",
                         undone.error().describe());
    }
  }
  const bool was_open = transaction_open_;
  if (was_open && reason != nullptr && !is_business_outcome(reason->kind)) {
    db_.logger().warn("Database session error, rolling back: {}", reason->describe());
  } else if (was_open && cause == rollback_cause::abandoned) {
    db_.logger().warn("Unit of work ended without commit, rolling back");
  }
  // Only a transaction that began can be rolled back; a unit that failed before is not counted.
  if (was_open) db_.state().counters->count_rollback(cause);
  end(unit_state::rolled_back, discard, connection_lost);
} catch (...) {
  // Logging failed (out of memory): still never reuse a connection in doubt.
  end(unit_state::rolled_back, true);
}

void UnitOfWork::end(unit_state outcome, bool discard_connection, bool connection_lost) noexcept {
  if (lease_) {
    // The limit belongs to this unit, not to the connection's next user.
    if (statement_timeout_ && !discard_connection &&
        !lease_->session().limit_statements(std::nullopt)) {
      discard_connection = true;
    }
    if (discard_connection) lease_->discard(connection_lost);
    lease_.reset();
  }
  transaction_open_ = false;
  state_ = outcome;
  if (run_ != nullptr) run_->unit_ended(wrote_);
}

}  // namespace repokit
