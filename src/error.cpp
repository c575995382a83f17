#include "repokit/error.hpp"

namespace repokit {
namespace {

class repokit_category final : public std::error_category {
 public:
  const char* name() const noexcept override { return "repokit"; }
  std::string message(int value) const override {
    return std::string(to_string(static_cast<errc>(value)));
  }
};

}  // namespace

const std::error_category& error_category() noexcept {
  static const repokit_category category;
  return category;
}

std::error_code make_error_code(errc value) noexcept {
  return {static_cast<int>(value), error_category()};
}

std::string_view to_string(errc value) noexcept {
  switch (value) {
    case errc::not_found: return "not_found";
    case errc::integrity: return "integrity";
    case errc::transient: return "transient";
    case errc::connection_lost: return "connection_lost";
    case errc::in_doubt: return "in_doubt";
    case errc::pool_exhausted: return "pool_exhausted";
    case errc::session_poisoned: return "session_poisoned";
    case errc::invalid_argument: return "invalid_argument";
    case errc::invalid_state: return "invalid_state";
    case errc::misuse: return "misuse";
    case errc::timeout: return "timeout";
    case errc::configuration: return "configuration";
    case errc::database: return "database";
    case errc::mapping: return "mapping";
  }
  return "unknown";
}

std::string error::describe() const {
  std::string text(to_string(kind));
  if (!backend_code.empty()) text += " (" + backend_code + ")";
  if (!operation.empty()) text += " in " + operation;
  text += ": ";
  text += message;
  return text;
}

error make_error(errc kind, std::string message) {
  return error{.kind = kind, .message = std::move(message)};
}

db_error::db_error(error failure)
    : std::runtime_error(failure.describe()), failure_(std::move(failure)) {}

}  // namespace repokit
