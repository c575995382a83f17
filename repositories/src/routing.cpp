#include "repokit/repositories/routing.hpp"

#include <string>

#include "repokit/detail/database_state.hpp"

namespace repokit {

std::string_view database_routes::name_of(const Database& db) const noexcept {
  for (const auto& entry : routes_) {
    if (&entry.db.state() == &db.state()) return entry.name;
  }
  return "primary";
}

namespace detail {

routed_units::routed_units(const database_routes& routes, std::span<const Database* const> used,
                           root_run& run)
    : routes_(routes) {
  const auto open = [&](const Database& db) {
    for (const auto& unit : units_) {
      if (&unit->database().state() == &db.state()) return;
    }
    units_.push_back(std::make_unique<UnitOfWork>(db, run));
  };
  // In the order of the routes, so that commits follow it whatever order the scope names them.
  for (const database_routes::entry& route : routes.routes()) {
    for (const Database* db : used) {
      if (&db->state() == &route.db.state() && &db->state() != &routes.primary().state()) {
        open(*db);
      }
    }
  }
  units_.push_back(std::make_unique<UnitOfWork>(routes.primary(), run));
}

UnitOfWork& routed_units::unit_for(const Database& db) {
  for (const auto& unit : units_) {
    if (&unit->database().state() == &db.state()) return *unit;
  }
  return *units_.back();
}

result<bool> inside_routed_scope(const database_routes& routes,
                                 std::span<const Database* const> used) {
  std::size_t open = UnitOfWork::current(routes.primary()) != nullptr ? 1 : 0;
  for (const Database* db : used) open += UnitOfWork::current(*db) != nullptr ? 1 : 0;
  if (open == 0) return false;
  if (open == used.size() + 1) return true;
  return failure(errc::misuse,
                 "a routed scope opened inside scopes on only some of its databases: open it "
                 "outside them, or inside a routed scope over the same databases");
}

result<void> routed_units::commit_all() {
  std::string committed;
  for (std::size_t i = 0; i < units_.size(); ++i) {
    auto outcome = units_[i]->commit();
    if (outcome) {
      committed +=
          (committed.empty() ? "" : ", ") + std::string(routes_.name_of(units_[i]->database()));
      continue;
    }
    error failed = std::move(outcome).error();
    for (std::size_t later = i + 1; later < units_.size(); ++later) {
      units_[later]->rollback(rollback_cause::commit_failed, &failed);
    }
    if (committed.empty()) return failure(std::move(failed));  // nothing landed: retry as usual
    error partial = failed;
    partial.kind = errc::in_doubt;
    partial.retry = retry_class::in_doubt;
    partial.message = "a unit of work over several databases committed in part: committed on " +
                      committed + ", then failed on " +
                      std::string(routes_.name_of(units_[i]->database())) + " (" +
                      failed.describe() + "); it is not atomic across databases";
    return failure(std::move(partial));
  }
  return success();
}

void routed_units::rollback_all(rollback_cause cause, const error* reason) noexcept {
  for (const auto& unit : units_) unit->rollback(cause, reason);
}

}  // namespace detail
}  // namespace repokit
