// Migration sets: a named, versioned list of schema steps. repokit's own tables are one set
// (repokit_schema() in repositories/migrations.hpp); an application declares its own and
// migrates them together:
//
//   constexpr std::array<repokit::migration_step, 1> order_steps{{
//       {1, "orders table", {.sql = "CREATE TABLE orders (...)"}},
//   }};
//   constexpr repokit::migration_set orders_schema{"orders", order_steps};
//   REPOKIT_TRY(auto reports, repokit::migrate(db, repokit::repokit_schema(), orders_schema));
//
// Each step runs once, in its own transaction, and is recorded in repokit_schema_versions
// (migration_set, version, name, applied_at); concurrent migrators wait for each other. Reading
// a version never writes. A database recorded at a newer version than its set knows is refused.
#pragma once

#include <array>
#include <concepts>
#include <cstddef>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "repokit/database.hpp"
#include "repokit/result.hpp"
#include "repokit/sql_text.hpp"

namespace repokit {

// One step of a set: trusted SQL (a script; statements separated by ';'), with per-backend text
// where the backends differ. A backend with no text skips the step but records it.
struct migration_step {
  int version = 0;
  std::string_view name{};
  sql_text sql{};
};

namespace detail {
// Called only when a set is malformed, to stop its constant evaluation with this name.
void migration_versions_must_count_up_from_1();
void migration_set_name_must_be_1_to_64_characters();
void migration_step_name_must_be_1_to_128_characters();
}  // namespace detail

class migration_set {
 public:
  // `steps` must have static storage (a constexpr array): the set keeps a view of it.
  template <std::size_t N>
  consteval migration_set(std::string_view name, const std::array<migration_step, N>& steps)
      : name_(name), steps_(steps.data()), count_(N) {
    if (name.empty() || name.size() > 64) detail::migration_set_name_must_be_1_to_64_characters();
    for (std::size_t i = 0; i < N; ++i) {
      if (steps[i].version != static_cast<int>(i) + 1) {
        detail::migration_versions_must_count_up_from_1();
      }
      if (steps[i].name.empty() || steps[i].name.size() > 128) {
        detail::migration_step_name_must_be_1_to_128_characters();
      }
    }
  }

  constexpr std::string_view name() const noexcept { return name_; }
  constexpr std::span<const migration_step> steps() const noexcept { return {steps_, count_}; }
  constexpr int latest_version() const noexcept { return static_cast<int>(count_); }

 private:
  std::string_view name_;
  const migration_step* steps_;
  std::size_t count_;
};

struct migration_report {
  std::string set{};
  int from_version = 0;
  int to_version = 0;
  std::vector<int> applied{};  // versions this call applied, in order
};

// Where a database stands for one set.
struct migration_status {
  std::string set{};
  int version = 0;                               // the highest version applied; 0 for none
  int latest_version = 0;                        // the highest version the set knows
  std::vector<const migration_step*> pending{};  // steps not yet applied, in order
};

// Brings `set` to its latest version. Refused with errc::invalid_state when the database is
// recorded at a newer version than the set knows (a newer program migrated it).
result<migration_report> migrate(const Database& db, const migration_set& set);

// Migrates each set in the order given, stopping at the first failure.
template <class... Sets>
  requires(sizeof...(Sets) > 0 && (std::same_as<Sets, migration_set> && ...))
result<std::vector<migration_report>> migrate(const Database& db, const Sets&... sets) {
  std::vector<migration_report> reports;
  for (const migration_set* set : {&sets...}) {
    REPOKIT_TRY(migration_report report, migrate(db, *set));
    reports.push_back(std::move(report));
  }
  return reports;
}

// The highest version of `set` applied; 0 when none is. Only reads: on a database repokit never
// migrated, nothing is created.
result<int> schema_version(const Database& db, const migration_set& set);

// Where the database stands for `set`, with the steps still to apply. Only reads.
result<migration_status> status(const Database& db, const migration_set& set);

}  // namespace repokit
