#include "report.hpp"

#include <cstdio>
#include <iomanip>

namespace repokit::cli {

std::string json_quote(std::string_view text) {
  std::string out = "\"";
  for (const char c : text) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char escaped[8];
          std::snprintf(escaped, sizeof escaped, "\\u%04x", c);
          out += escaped;
        } else {
          out += c;
        }
    }
  }
  return out + '"';
}

void report::add_metrics(const metrics_snapshot& m) {
  add("attempts", m.attempts);
  for (std::size_t i = 0; i < rollback_cause_count; ++i) {
    add("rollbacks_" + std::string(to_string(static_cast<rollback_cause>(i))), m.rollbacks[i]);
  }
  for (std::size_t i = 0; i < retry_class_count; ++i) {
    add("retries_" + std::string(to_string(static_cast<retry_class>(i))), m.retries[i]);
  }
  add("give_ups", m.give_ups);
  add("in_doubt", m.in_doubt);
  add("sessions_opened", m.sessions_opened);
  add("sessions_discarded", m.sessions_discarded);
  add("statements", m.statements);
  add("session_lifetime_p50_ms", m.session_lifetime.quantile(0.5) * 1e3);
  add("session_lifetime_p99_ms", m.session_lifetime.quantile(0.99) * 1e3);
  add("pool_wait_p50_ms", m.pool_wait.quantile(0.5) * 1e3);
  add("pool_wait_p99_ms", m.pool_wait.quantile(0.99) * 1e3);
  add("pool_timeouts", m.pool_timeouts);
}

void report::print(std::ostream& out, bool json) const {
  if (json) {
    out << '{';
    for (std::size_t i = 0; i < fields_.size(); ++i) {
      if (i > 0) out << ", ";
      out << json_quote(fields_[i].first) << ": ";
      std::visit(
          [&](const auto& v) {
            using T = std::decay_t<decltype(v)>;
            if constexpr (std::is_same_v<T, std::string>) {
              out << json_quote(v);
            } else if constexpr (std::is_same_v<T, double>) {
              out << std::setprecision(6) << v;
            } else {
              out << v;
            }
          },
          fields_[i].second);
    }
    out << "}\n";
    return;
  }
  out << title_ << '\n';
  std::size_t width = 0;
  for (const auto& [key, unused] : fields_) width = std::max(width, key.size());
  for (const auto& [key, v] : fields_) {
    out << "  " << std::left << std::setw(static_cast<int>(width)) << key << "  ";
    std::visit(
        [&](const auto& x) {
          if constexpr (std::is_same_v<std::decay_t<decltype(x)>, double>) {
            out << std::fixed << std::setprecision(3) << x << std::defaultfloat;
          } else {
            out << x;
          }
        },
        v);
    out << '\n';
  }
}

}  // namespace repokit::cli
