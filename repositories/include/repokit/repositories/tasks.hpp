// Sessions for worker code. run_task gives each task a unit of work of its own and refuses to
// run inside an inherited one; lookup runs the short reads a dispatcher makes in a unit that is
// always rolled back. Both give the connection back whatever happens, exceptions included.
#pragma once

#include <chrono>
#include <optional>
#include <source_location>
#include <string_view>

#include "repokit/repositories/scoped.hpp"

namespace repokit {

struct task_options {
  std::optional<std::chrono::milliseconds> statement_timeout{};  // each statement of the task
  std::optional<db_retry> retry{};                               // the Database's default if empty
  std::string_view name = "task";
};

namespace detail {
result<void> refuse_inherited_unit(std::string_view task);
}  // namespace detail

// Runs body(Repositories&) as one unit of work of its own: commits when the body succeeds,
// rolls back otherwise, retries transient failures. errc::misuse when this thread already has a
// unit open: a task that inherits its caller's transaction would commit or lose the caller's work.
template <class Body>
auto run_task(const Database& db, Body&& body, task_options options = {},
              std::source_location where = std::source_location::current())
    -> detail::body_result_t<Body, Repositories> {
  if (auto refused = detail::refuse_inherited_unit(options.name); !refused) {
    return failure(std::move(refused).error());
  }
  return unit_of_work(db,
                      scope_options{.propagate = propagation::independent,
                                    .retry = std::move(options.retry),
                                    .name = options.name,
                                    .statement_timeout = options.statement_timeout,
                                    .where = where},
                      body);
}

// Runs body(Repositories&) read-only in a unit of its own that always ends with a rollback.
template <class Body>
auto lookup(const Database& db, Body&& body,
            std::source_location where = std::source_location::current()) {
  return unit_of_work(db,
                      scope_options{.propagate = propagation::independent,
                                    .access = access_mode::read_only,
                                    .name = "lookup",
                                    .on_success = scope_end::roll_back,
                                    .where = where},
                      body);
}

}  // namespace repokit
