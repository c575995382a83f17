// Scopes: how units of work are opened. run_unit(db, options, body) runs body(UnitOfWork&),
// commits when it succeeds, rolls back otherwise and, at the outermost scope only, runs the whole
// body again on a fresh unit after a transient failure. A scope opened inside another on the same
// Database and thread joins it. unit_guard is the same for code that cannot be a callable.
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <source_location>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>

#include "repokit/database.hpp"
#include "repokit/result.hpp"
#include "repokit/retry/db_retry.hpp"
#include "repokit/retry/retry_state.hpp"
#include "repokit/unit_of_work.hpp"

namespace repokit {

enum class propagation : std::uint8_t {
  join,         // inside another scope on this Database and thread: be part of its unit
  independent,  // always a unit of its own, with its own connection and transaction
};

enum class scope_end : std::uint8_t {
  commit,     // a successful body commits
  roll_back,  // always roll back: look-ups that must leave nothing behind
};

struct scope_options {
  propagation propagate = propagation::join;
  access_mode access = access_mode::automatic;
  std::optional<db_retry> retry{};  // the root scope's policy; the Database's default if empty
  bool idempotent = false;          // the body may land twice: retry even after an in-doubt commit
  std::string_view name = "unit_of_work";  // names the scope in logs when no statement failed
  std::optional<std::chrono::milliseconds> statement_timeout{};  // per statement, root scopes only
  isolation isolation_level = isolation::database_default;       // root scopes only
  scope_end on_success = scope_end::commit;
  // Where the scope was opened, named if it holds its connection past
  // database_options::leak_detection_threshold: where these options were written, or where an
  // overload without options was called.
  std::source_location where = std::source_location::current();
};

namespace detail {

template <class R>
struct as_result {
  using type = result<R>;
};
template <class T>
struct as_result<result<T>> {
  using type = result<T>;
};
template <>
struct as_result<void> {
  using type = result<void>;
};

template <class Body, class... Args>
using body_result_t = typename as_result<std::invoke_result_t<Body&, Args&...>>::type;

// Runs the body, turning "returns void" and "returns a plain value" into results.
template <class Body, class... Args>
body_result_t<Body, Args...> invoke_body(Body& body, Args&... args) {
  if constexpr (std::is_void_v<std::invoke_result_t<Body&, Args&...>>) {
    body(args...);
    return success();
  } else {
    return body(args...);
  }
}

// The bookkeeping of one root scope's retry loop; kept out of the templates.
class root_run {
 public:
  root_run(const Database& db, const scope_options& options);
  root_run(const root_run&) = delete;
  root_run& operator=(const root_run&) = delete;

  // How the next attempt's units begin: after an attempt that wrote, ready to write.
  access_mode access() const noexcept { return access_; }
  const scope_options& options() const noexcept { return options_; }
  // After a failed attempt: logs, counts, sleeps and answers true when the body must run again.
  bool retry_after(const error& failure);

 private:
  friend class repokit::UnitOfWork;  // tells, as each unit of the attempt ends, whether it wrote
  void unit_ended(bool wrote) noexcept;

  const Database& db_;
  const scope_options& options_;
  retry_state state_;
  access_mode access_;
};

// An error for a body that threw something other than db_error, for the rollback's log line.
error error_from_exception(std::string_view scope) noexcept;

// Within perform(): root scopes leave retrying to it.
bool retries_owned_by_caller() noexcept;

class retry_ownership {
 public:
  retry_ownership() noexcept;
  ~retry_ownership();
  retry_ownership(const retry_ownership&) = delete;
  retry_ownership& operator=(const retry_ownership&) = delete;
};

template <class Body, class... Args>
auto run_joined(UnitOfWork& unit, Body& body, Args&... args) {
  // No retry here: a transient error must reach the root, which alone can start over.
  auto outcome = invoke_body(body, unit, args...);
  if (!outcome) unit.mark_rollback_only(outcome.error());
  return outcome;
}

}  // namespace detail

namespace detail {

// The retry loop of every root scope. attempt(run) runs the work once on fresh units and
// returns its result, having rolled back what failed; a db_error it throws is classified like
// an error result, and rethrown when it is not retried. One return of one named outcome, so that
// the compiler builds it in the caller's place: the answer is never moved on its way out (a
// result always carries an error object beside its value, so each move costs the moves of both).
template <class Outcome, class Attempt>
Outcome retry_root(const Database& db, const scope_options& options, Attempt&& attempt) {
  root_run run(db, options);
  for (;;) {
    try {
      Outcome outcome = attempt(run);
      // The attempt's units have ended and their connections are back in the pool before any
      // wait.
      if (outcome || !run.retry_after(outcome.error())) return outcome;
    } catch (const db_error& thrown) {
      if (!run.retry_after(thrown.failure())) throw;
    }
  }
}

// Ends one attempt on `unit`: commit after success (or roll back for look-ups), roll back after
// an error result. Leaves in `outcome` what to return, or the error to retry on.
template <class Outcome>
void finish_attempt(UnitOfWork& unit, const scope_options& options, Outcome& outcome) {
  if (!outcome) {
    unit.rollback(rollback_cause::body_error, &outcome.error());
  } else if (options.on_success == scope_end::roll_back && !unit.poison()) {
    unit.rollback(rollback_cause::lookup);
  } else if (auto committed = unit.commit(); !committed) {
    // A look-up whose body ignored a failed statement comes here too: commit() refuses and
    // reports the poisoning.
    outcome = failure(std::move(committed).error());
  }
}

// For the rollback's log line when the body threw; rethrows after rolling back.
template <class Unit>
[[noreturn]] void roll_back_and_rethrow(Unit& unit, std::string_view scope) {
  try {
    throw;
  } catch (const db_error& thrown) {
    unit.rollback(rollback_cause::exception, &thrown.failure());
    throw;
  } catch (...) {
    const error reason = error_from_exception(scope);
    unit.rollback(rollback_cause::exception, &reason);
    throw;
  }
}

}  // namespace detail

// Runs body(UnitOfWork&) in a unit of work. body returns result<T>, T or void; run_unit
// returns result<T> (result<void> for void). Exceptions from body roll back and pass through,
// except db_error (a failed result's .value()), which is classified and retried like an error.
template <class Body>
auto run_unit(const Database& db, const scope_options& options, Body&& body)
    -> detail::body_result_t<Body, UnitOfWork> {
  using outcome_type = detail::body_result_t<Body, UnitOfWork>;
  if (options.propagate == propagation::join) {
    if (UnitOfWork* outer = UnitOfWork::current(db)) return detail::run_joined(*outer, body);
  }
  return detail::retry_root<outcome_type>(db, options, [&](detail::root_run& run) {
    UnitOfWork unit(db, run);
    try {
      outcome_type outcome = detail::invoke_body(body, unit);
      detail::finish_attempt(unit, options, outcome);
      return outcome;
    } catch (...) {
      detail::roll_back_and_rethrow(unit, options.name);
    }
  });
}

template <class Body>
auto run_unit(const Database& db, Body&& body,
              std::source_location where = std::source_location::current()) {
  return run_unit(db, scope_options{.where = where}, std::forward<Body>(body));
}

// A repository is any type made on a unit of work: repokit's own, and the ones users write for
// their own tables.
template <class T>
concept repository = std::constructible_from<T, UnitOfWork&>;

// Runs body(Repos&...) with each repository on one unit of work, like run_unit:
//   repokit::with<Orders, repokit::JobRepository>(db, [](Orders& orders, repokit::JobRepository&
//   jobs) { ... });
template <repository... Repos, class Body>
auto with(const Database& db, scope_options options, Body&& body)
    -> detail::body_result_t<Body, Repos...> {
  return run_unit(db, options, [&body](UnitOfWork& unit) {
    std::tuple<Repos...> repositories{(void(sizeof(Repos)), unit)...};
    return std::apply([&](Repos&... each) { return detail::invoke_body(body, each...); },
                      repositories);
  });
}
template <repository... Repos, class Body>
auto with(const Database& db, Body&& body,
          std::source_location where = std::source_location::current())
    -> detail::body_result_t<Body, Repos...> {
  return with<Repos...>(db, scope_options{.where = where}, std::forward<Body>(body));
}

// Runs fn() again as a whole after a transient failure, like libpqxx's perform or a Python
// @db_retry decorator. Scopes inside fn do not retry on their own: fn is the unit that is
// repeated, so whatever fn commits before failing must be safe to do twice.
template <class Fn>
auto perform(const Database& db, Fn&& fn, std::optional<db_retry> policy = std::nullopt)
    -> detail::body_result_t<Fn> {
  const scope_options options{.retry = std::move(policy), .name = "perform"};
  return detail::retry_root<detail::body_result_t<Fn>>(db, options, [&](detail::root_run&) {
    const detail::retry_ownership owned;
    return detail::invoke_body(fn);
  });
}

// A unit of work for code that cannot be a callable. Rolls back when destroyed unless commit()
// succeeded; commit() reports failures; never retries. Inside another scope it joins it: then
// commit() leaves the commit to the outer scope, and a guard left uncommitted makes it roll back.
class unit_guard {
 public:
  unit_guard(const Database& db, scope_options options);
  explicit unit_guard(const Database& db,
                      std::source_location where = std::source_location::current())
      : unit_guard(db, scope_options{.where = where}) {}
  ~unit_guard();
  unit_guard(const unit_guard&) = delete;
  unit_guard& operator=(const unit_guard&) = delete;
  unit_guard(unit_guard&&) = delete;
  unit_guard& operator=(unit_guard&&) = delete;

  UnitOfWork& unit() noexcept { return *unit_; }
  result<void> commit();

 private:
  std::optional<UnitOfWork> own_;
  UnitOfWork* unit_;
  bool committed_ = false;
};

}  // namespace repokit
