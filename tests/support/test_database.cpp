#include "support/test_database.hpp"

#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <mutex>
#include <stdexcept>

#include "repokit/repositories/migrations.hpp"
#include "repokit/scope.hpp"

namespace repokit::testing {
namespace {

std::string environment(const char* name) {
  const char* value = std::getenv(name);
  return value == nullptr ? std::string() : std::string(value);
}

std::string required_url(const char* variable, const char* server) {
  std::string url = environment(variable);
  if (url.empty()) {
    throw std::runtime_error(std::string(variable) +
                             " is not set: run scripts/test.sh, which "
                             "starts " +
                             server + " for the tests");
  }
  return url;
}

std::string postgres_base_url() {
  return required_url("REPOKIT_TEST_POSTGRES_URL", "a PostgreSQL server");
}

// MariaDB: a single server, or the Galera cluster (REPOKIT_TEST_BACKEND=galera).
std::string mysql_base_url() {
  return environment("REPOKIT_TEST_BACKEND") == "galera"
             ? required_url("REPOKIT_TEST_GALERA_URL", "a MariaDB Galera cluster")
             : required_url("REPOKIT_TEST_MYSQL_URL", "a MariaDB server");
}

// The same server, another database: everything after the URL's last '/' is the database name.
std::string with_database(const std::string& base, const std::string& database) {
  return base.substr(0, base.rfind('/') + 1) + database;
}

Database open_or_throw(const std::string& url, database_options options) {
  auto db = Database::open(url, std::move(options));
  if (!db) throw std::runtime_error("cannot open test database: " + db.error().describe());
  return std::move(db).value();
}

std::string with_search_path(const std::string& base, const std::string& schema) {
  const char separator = base.find('?') == std::string::npos ? '?' : '&';
  return base + separator + "options=-c%20search_path%3D" + schema;
}

}  // namespace

dialect backend_under_test() {
  const std::string name = environment("REPOKIT_TEST_BACKEND");
  if (name.empty() || name == "sqlite") return dialect::sqlite;
  if (name == "postgresql") {
    postgres_base_url();  // fails loudly now rather than in every test
    return dialect::postgresql;
  }
  if (name == "mysql" || name == "galera") {
    mysql_base_url();
    return dialect::mariadb;
  }
  throw std::runtime_error(
      "REPOKIT_TEST_BACKEND must be sqlite, postgresql, mysql or galera, not " + name);
}

std::string unique_name(const std::string& prefix) {
  static std::atomic<int> counter{0};
  return prefix + std::to_string(::getpid()) + "_" + std::to_string(++counter);
}

test_database::test_database(database_options options, bool migrated)
    : db_([&] {
        const dialect backend = backend_under_test();
        if (backend == dialect::postgresql) {
          schema_ = unique_name("t_");
          const std::string base = postgres_base_url();
          execute_sql(open_or_throw(base, {.pool_size = 1}), "CREATE SCHEMA " + schema_);
          url_ = with_search_path(base, schema_);
        } else if (backend == dialect::mariadb) {
          mysql_database_ = unique_name("repokit_t");
          const std::string base = mysql_base_url();
          execute_sql(
              open_or_throw(base, {.pool_size = 1}),
              "CREATE DATABASE " + mysql_database_ + " CHARACTER SET utf8mb4 COLLATE utf8mb4_bin");
          url_ = with_database(base, mysql_database_);
        } else {
          const std::string dir = environment("REPOKIT_TEST_TMPDIR").empty()
                                      ? std::filesystem::temp_directory_path().string()
                                      : environment("REPOKIT_TEST_TMPDIR");
          file_ = dir + "/" + unique_name("repokit_test_") + ".db";
          url_ = "sqlite:///" + file_;
        }
        return open_or_throw(url_, options);
      }()) {
  if (migrated) migrate(db_).value();
}

test_database::~test_database() {
  if (!schema_.empty()) {
    try {
      execute_sql(open_or_throw(postgres_base_url(), {.pool_size = 1}),
                  "DROP SCHEMA " + schema_ + " CASCADE");
    } catch (...) {
      // A leftover schema in a throwaway server must not hide the test's own outcome.
    }
  }
  if (!mysql_database_.empty()) {
    try {
      execute_sql(open_or_throw(mysql_base_url(), {.pool_size = 1}),
                  "DROP DATABASE IF EXISTS " + mysql_database_);
    } catch (...) {
    }
  }
  if (!file_.empty()) {
    std::error_code ignored;
    for (const char* suffix : {"", "-wal", "-shm"}) {
      std::filesystem::remove(file_ + suffix, ignored);
    }
  }
}

Database test_database::open_another(database_options options) const {
  return open_or_throw(url_, std::move(options));
}

void execute_sql(const Database& db, const std::string& sql) {
  run_unit(db, scope_options{.propagate = propagation::independent, .name = "test sql"},
           [&](UnitOfWork& unit) { return unit.execute_script(sql); })
      .value();
}

std::int64_t count_rows(const Database& db, const std::string& table) {
  const std::string sql = "SELECT COUNT(*) FROM " + table;
  const auto counting =
      query<std::int64_t()>::from_runtime_sql("count_rows", sql_text{.sql = sql}).value();
  return run_unit(db, scope_options{.propagate = propagation::independent, .name = "count rows"},
                  [&](UnitOfWork& unit) -> result<std::int64_t> {
                    REPOKIT_TRY(auto found, unit.one(counting));
                    return found.value_or(0);
                  })
      .value();
}

}  // namespace repokit::testing
