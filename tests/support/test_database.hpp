// A fresh database for each integration test, on the backend under test
// (REPOKIT_TEST_BACKEND=sqlite|postgresql|mysql|galera): a new SQLite file in WAL mode, a new
// schema on the PostgreSQL server of REPOKIT_TEST_POSTGRES_URL, or a new database on the MariaDB
// server (REPOKIT_TEST_MYSQL_URL) or Galera cluster (REPOKIT_TEST_GALERA_URL). Removed at the end.
#pragma once

#include <string>

#include "repokit/database.hpp"

namespace repokit::testing {

// The backend the integration suite runs against. Fails (throws) when it is PostgreSQL and
// REPOKIT_TEST_POSTGRES_URL is not set: such a run must fail, never skip.
dialect backend_under_test();

class test_database {
 public:
  // Migrated unless `migrated` is false.
  explicit test_database(database_options options = {}, bool migrated = true);
  ~test_database();
  test_database(const test_database&) = delete;
  test_database& operator=(const test_database&) = delete;

  const Database& db() const noexcept { return db_; }
  // The URL of this test's database (with its password): for other processes or pools.
  const std::string& url() const noexcept { return url_; }
  // Another Database on the same data, with its own pool.
  Database open_another(database_options options = {}) const;

 private:
  std::string url_;
  std::string schema_;          // PostgreSQL only
  std::string mysql_database_;  // MariaDB only
  std::string file_;            // SQLite only
  Database db_;
};

// Counts the rows of `table` (a trusted identifier) in a unit of its own.
std::int64_t count_rows(const Database& db, const std::string& table);

// Runs trusted SQL in a unit of its own; throws db_error on failure.
void execute_sql(const Database& db, const std::string& sql);

// A unique name for files, schemas and ids within this test process.
std::string unique_name(const std::string& prefix);

}  // namespace repokit::testing
