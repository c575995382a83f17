#include "repokit/retry/retry_class.hpp"

namespace repokit {

std::string_view to_string(retry_class value) noexcept {
  switch (value) {
    case retry_class::permanent: return "permanent";
    case retry_class::retry_transaction: return "retry_transaction";
    case retry_class::reconnect_then_retry: return "reconnect_then_retry";
    case retry_class::in_doubt: return "in_doubt";
  }
  return "unknown";
}

}  // namespace repokit
