// What a failed unit of work may do next. Every backend error is sorted into one of these
// classes by classification.hpp; the retry loop decides from the class alone.
#pragma once

#include <cstdint>
#include <string_view>

namespace repokit {

enum class retry_class : std::uint8_t {
  permanent,             // never retried: integrity, syntax, permissions, the caller's own errors
  retry_transaction,     // roll back, then run the whole unit of work again
  reconnect_then_retry,  // the connection is gone: replace it, then run the whole unit again
  in_doubt,              // lost during COMMIT: the work may have landed; retried only if idempotent
};

std::string_view to_string(retry_class value) noexcept;

}  // namespace repokit
