// Routing: repository types, repokit's and users' own, bound to named databases, e.g. jobs kept in
// a database of their own, behind the same scoped API. A unit of work over repositories of several
// databases holds one transaction on each and commits them one after the other: it is NOT atomic
// across databases.
//
//   repokit::database_routes routes(catalogue);
//   routes.route<repokit::JobRepository>("jobs", jobs_db);
//   repokit::job_repository(routes, body);   // runs on jobs_db
//   repokit::unit_of_work(routes, body);     // a transaction on each database
#pragma once

#include <array>
#include <memory>
#include <source_location>
#include <span>
#include <string>
#include <string_view>
#include <typeindex>
#include <vector>

#include "repokit/repositories/scoped.hpp"

namespace repokit {

class database_routes {
 public:
  // Repositories that are not routed elsewhere live in `primary`.
  explicit database_routes(Database primary) : primary_(std::move(primary)) {}

  template <class Repository>
  database_routes& route(std::string name, Database db) {
    routes_.push_back({std::type_index(typeid(Repository)), std::move(name), std::move(db)});
    return *this;
  }

  template <class Repository>
  const Database& database_for() const noexcept {
    for (const auto& entry : routes_) {
      if (entry.type == std::type_index(typeid(Repository))) return entry.db;
    }
    return primary_;
  }

  const Database& primary() const noexcept { return primary_; }
  // The name a database was routed under ("primary" for the default), for messages.
  std::string_view name_of(const Database& db) const noexcept;

  struct entry {
    std::type_index type;
    std::string name;
    Database db;
  };
  // In the order they were added.
  const std::vector<entry>& routes() const noexcept { return routes_; }

 private:
  Database primary_;
  std::vector<entry> routes_;
};

namespace detail {

// One unit of work per database a routed scope uses. Commit order: the routed databases in the
// order their first route was added, the primary last, so that the primary (usually the system
// of record) commits only when every other database already has.
class routed_units {
 public:
  routed_units(const database_routes& routes, std::span<const Database* const> used, root_run& run);

  UnitOfWork& unit_for(const Database& db);
  UnitOfWork& primary() { return *units_.back(); }
  // Commits each unit in order. A failure after an earlier commit means the work landed in part:
  // errc::in_doubt naming what committed and what did not (retried only for idempotent bodies).
  result<void> commit_all();
  void rollback_all(rollback_cause cause, const error* reason) noexcept;

 private:
  const database_routes& routes_;
  std::vector<std::unique_ptr<UnitOfWork>> units_;  // in commit order
};

// Inside scopes already open on every database `used` names (and the primary): true, and the
// routed scope joins them. Inside scopes on some of them only: errc::misuse, as one scope cannot
// both join a unit and commit on its own.
result<bool> inside_routed_scope(const database_routes& routes,
                                 std::span<const Database* const> used);

// The engine of every routed scope: invoke(unit_for) runs the body with its repositories made on
// unit_for(database); retried as a whole while nothing has committed yet.
template <class Outcome, class Invoke>
Outcome run_routed(const database_routes& routes, const scope_options& options,
                   std::span<const Database* const> used, Invoke&& invoke) {
  if (options.propagate == propagation::join) {
    REPOKIT_TRY(const bool joined, inside_routed_scope(routes, used));
    if (joined) {
      Outcome outcome =
          invoke([](const Database& db) -> UnitOfWork& { return *UnitOfWork::current(db); });
      if (!outcome) {
        for (const Database* db : used)
          UnitOfWork::current(*db)->mark_rollback_only(outcome.error());
        UnitOfWork::current(routes.primary())->mark_rollback_only(outcome.error());
      }
      return outcome;
    }
  }
  return retry_root<Outcome>(routes.primary(), options, [&](root_run& run) {
    routed_units units(routes, used, run);
    try {
      Outcome outcome =
          invoke([&units](const Database& db) -> UnitOfWork& { return units.unit_for(db); });
      if (!outcome) {
        units.rollback_all(rollback_cause::body_error, &outcome.error());
        return outcome;
      }
      if (auto committed = units.commit_all(); !committed) {
        return Outcome(failure(std::move(committed).error()));
      }
      return outcome;
    } catch (const db_error& thrown) {
      units.rollback_all(rollback_cause::exception, &thrown.failure());
      throw;
    } catch (...) {
      const error reason = error_from_exception(options.name);
      units.rollback_all(rollback_cause::exception, &reason);
      throw;
    }
  });
}

}  // namespace detail

// with<Repos...>, routed: each repository on a unit of its own database's transaction.
template <repository... Repos, class Body>
auto with(const database_routes& routes, scope_options options, Body&& body)
    -> detail::body_result_t<Body, Repos...> {
  const std::array<const Database*, sizeof...(Repos)> used{&routes.database_for<Repos>()...};
  return detail::run_routed<detail::body_result_t<Body, Repos...>>(
      routes, options, used, [&](auto&& unit_for) {
        std::tuple<Repos...> repositories{unit_for(routes.database_for<Repos>())...};
        return std::apply([&](Repos&... each) { return detail::invoke_body(body, each...); },
                          repositories);
      });
}
template <repository... Repos, class Body>
auto with(const database_routes& routes, Body&& body,
          std::source_location where = std::source_location::current())
    -> detail::body_result_t<Body, Repos...> {
  return with<Repos...>(routes, scope_options{.where = where}, std::forward<Body>(body));
}

// The scoped factories, routed.
template <class Body>
auto video_repository(const database_routes& routes, Body&& body,
                      std::source_location where = std::source_location::current()) {
  return with<VideoRepository>(routes, scope_options{.name = "video_repository", .where = where},
                               std::forward<Body>(body));
}
template <class Body>
auto channel_repository(const database_routes& routes, Body&& body,
                        std::source_location where = std::source_location::current()) {
  return with<ChannelRepository>(routes,
                                 scope_options{.name = "channel_repository", .where = where},
                                 std::forward<Body>(body));
}
template <class Body>
auto job_repository(const database_routes& routes, Body&& body,
                    std::source_location where = std::source_location::current()) {
  return with<JobRepository>(routes, scope_options{.name = "job_repository", .where = where},
                             std::forward<Body>(body));
}

// body(Repositories&) with each repository on its own database's transaction.
template <class Body>
auto unit_of_work(const database_routes& routes, scope_options options, Body&& body)
    -> detail::body_result_t<Body, Repositories> {
  const std::array<const Database*, 3> used{&routes.database_for<VideoRepository>(),
                                            &routes.database_for<ChannelRepository>(),
                                            &routes.database_for<JobRepository>()};
  return detail::run_routed<detail::body_result_t<Body, Repositories>>(
      routes, options, used, [&](auto&& unit_for) {
        Repositories repositories(unit_for(*used[0]), unit_for(*used[1]), unit_for(*used[2]),
                                  unit_for(routes.primary()));
        return detail::invoke_body(body, repositories);
      });
}
template <class Body>
auto unit_of_work(const database_routes& routes, Body&& body,
                  std::source_location where = std::source_location::current()) {
  return unit_of_work(routes, scope_options{.name = "unit_of_work", .where = where},
                      std::forward<Body>(body));
}

}  // namespace repokit
