#include <array>
#include <string>

#include "repokit/repositories/job_repository.hpp"
#include "repokit/repositories/records.hpp"

namespace repokit {
namespace {

// At most 64 bytes of the unknown text, printable ASCII as it is and every other byte as \xHH:
// the message reaches logs, which must get neither control characters nor broken UTF-8.
std::string printable_excerpt(std::string_view text) {
  static constexpr char hex[] = "0123456789abcdef";
  std::string out;
  for (const char c : text.substr(0, 64)) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte >= 0x20 && byte < 0x7f && c != '\\') {
      out += c;
    } else {
      out += "\\x";
      out += hex[byte >> 4];
      out += hex[byte & 0xf];
    }
  }
  if (text.size() > 64) out += "...";
  return out;
}

}  // namespace

std::string_view to_string(job_status status) noexcept {
  switch (status) {
    case job_status::pending: return "pending";
    case job_status::running: return "running";
    case job_status::succeeded: return "succeeded";
    case job_status::failed: return "failed";
    case job_status::dead: return "dead";
  }
  return "unknown";
}

result<job_status> parse_job_status(std::string_view text) {
  for (const job_status status : all_job_statuses) {
    if (text == to_string(status)) return status;
  }
  return failure(errc::invalid_argument,
                 "unknown job status '" + printable_excerpt(text) +
                     "'; expected pending, running, succeeded, failed or dead");
}

bool is_allowed_transition(job_status from, job_status to) noexcept {
  using enum job_status;
  switch (to) {
    case running: return from == pending;
    case succeeded: return from == running;
    case failed: return from == pending || from == running;
    case dead: return from == running;
    case pending: return from == running || from == failed || from == dead;
  }
  return false;
}

}  // namespace repokit
