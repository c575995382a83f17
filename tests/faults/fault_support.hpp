// Helpers shared by the fault-injection tests.
#pragma once

#include <catch2/catch.hpp>

#include <cstdlib>
#include <string>

#include "repokit/repokit.hpp"
#include "support/test_database.hpp"

namespace repokit::testing {

// The backend a fault test was written for; a run against another one is a harness mistake
// and fails instead of testing the wrong thing.
inline void require_backend(dialect expected) {
  INFO("REPOKIT_TEST_BACKEND selects the backend; ctest sets it for faults.* tests");
  REQUIRE(backend_under_test() == expected);
}

// An environment variable the harness (scripts/test.sh, or pg-server.sh's env file) must set.
inline std::string required_environment(const char* name) {
  const char* value = std::getenv(name);
  INFO(name << " is not set: run the fault tests through scripts/test.sh or source the env "
               "file written by scripts/pg-server.sh");
  REQUIRE(value != nullptr);
  REQUIRE(*value != '\0');
  return value;
}

// A retry policy that does not keep a test waiting.
inline db_retry fast_retry() {
  return db_retry{.max_retries = 3, .initial_delay = seconds{0.05}, .max_delay = seconds{0.2}};
}

}  // namespace repokit::testing
