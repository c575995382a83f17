// Database URLs, parsed and checked before any connection is tried:
//   sqlite:///relative/path.db   sqlite:////absolute/path.db   sqlite::memory:
//   postgresql://user:password@host:5432/dbname?sslmode=require   (postgres:// too)
//   mysql://user:password@host:3306/dbname   (mariadb:// too)
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "repokit/dialect.hpp"
#include "repokit/result.hpp"

namespace repokit {

struct database_url {
  struct endpoint {
    std::string host;
    int port = 0;
  };

  dialect kind = dialect::sqlite;
  std::string path;  // SQLite: a file path, or ":memory:"
  std::string user;
  std::string password;
  std::vector<endpoint> hosts;  // servers: one, or several for a cluster
  std::string database;
  std::vector<std::pair<std::string, std::string>> parameters;  // the query string, decoded

  static result<database_url> parse(std::string_view url);

  bool in_memory() const noexcept { return kind == dialect::sqlite && path == ":memory:"; }

  // The URL to show in logs and errors: the password, and the value of any parameter whose
  // name holds "password", are replaced by ***.
  std::string masked() const;
};

// Replaces the password of any URL-looking text with ***; for messages that quote input.
std::string mask_password(std::string_view text);

}  // namespace repokit
