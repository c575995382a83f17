// repokit's own tests use the installed mock of the session seam (repokit/testing), with
// Catch2's trompeloeil adapter and a few fixtures of their own.
#pragma once

#include <catch2/catch.hpp>
#include <catch2/trompeloeil.hpp>

#include <memory>
#include <string>

#include "repokit/testing/mock_session.hpp"

namespace repokit::testing {

inline error fake_error(errc kind, retry_class retry, std::string operation = "statement",
                        std::string message = "injected failure") {
  return error{kind, retry, "TEST", std::move(operation), std::move(message)};
}

}  // namespace repokit::testing
