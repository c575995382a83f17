// Routing: repository types bound to named databases, e.g. jobs kept in a database of their own,
// behind the same scoped API. A unit of work over repositories of several databases holds one
// transaction on each and commits them one after the other: it is NOT atomic across databases.
//
//   repokit::database_routes routes(catalogue);
//   routes.route<repokit::JobRepository>("jobs", jobs_db);
//   repokit::job_repository(routes, body);   // runs on jobs_db
//   repokit::unit_of_work(routes, body);     // a transaction on each database
#pragma once

#include <memory>
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

 private:
  struct entry {
    std::type_index type;
    std::string name;
    Database db;
  };
  Database primary_;
  std::vector<entry> routes_;
};

namespace detail {

// One unit of work per database the routes use, and the Repositories over them. Commit order:
// the routed databases in the order their first route was added, the primary last, so that the
// primary (usually the system of record) commits only when every other database already has.
class routed_units {
 public:
  routed_units(const database_routes& routes, const scope_options& options, access_mode access);

  Repositories repositories();
  // Commits each unit in order. A failure after an earlier commit means the work landed in part:
  // errc::in_doubt naming what committed and what did not (retried only for idempotent bodies).
  result<void> commit_all(root_run& run);
  void rollback_all(rollback_cause cause, const error* reason, root_run& run) noexcept;

 private:
  UnitOfWork& unit_for(const Database& db);

  const database_routes& routes_;
  std::vector<std::unique_ptr<UnitOfWork>> units_;  // in commit order
};

}  // namespace detail

// The scoped factories, routed.
template <class Body>
auto video_repository(const database_routes& routes, Body&& body) {
  return video_repository(routes.database_for<VideoRepository>(), std::forward<Body>(body));
}
template <class Body>
auto channel_repository(const database_routes& routes, Body&& body) {
  return channel_repository(routes.database_for<ChannelRepository>(), std::forward<Body>(body));
}
template <class Body>
auto job_repository(const database_routes& routes, Body&& body) {
  return job_repository(routes.database_for<JobRepository>(), std::forward<Body>(body));
}

// body(Repositories&) with each repository on its own database's transaction; retried as a
// whole while nothing has committed yet.
template <class Body>
auto unit_of_work(const database_routes& routes, scope_options options, Body&& body)
    -> detail::body_result_t<Body, Repositories> {
  using outcome_type = detail::body_result_t<Body, Repositories>;
  return detail::retry_root<outcome_type>(routes.primary(), options, [&](detail::root_run& run) {
    detail::routed_units units(routes, options, run.access());
    Repositories repositories = units.repositories();
    try {
      outcome_type outcome = detail::invoke_body(body, repositories);
      if (!outcome) {
        units.rollback_all(rollback_cause::body_error, &outcome.error(), run);
        return outcome;
      }
      if (auto committed = units.commit_all(run); !committed) {
        return outcome_type(failure(std::move(committed).error()));
      }
      return outcome;
    } catch (const db_error& thrown) {
      units.rollback_all(rollback_cause::exception, &thrown.failure(), run);
      throw;
    } catch (...) {
      const error reason = detail::error_from_exception(options.name);
      units.rollback_all(rollback_cause::exception, &reason, run);
      throw;
    }
  });
}
template <class Body>
auto unit_of_work(const database_routes& routes, Body&& body) {
  return unit_of_work(routes, scope_options{.name = "unit_of_work"}, std::forward<Body>(body));
}

}  // namespace repokit
