#include "report.hpp"

#include <iomanip>

namespace repokit::cli {

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
  add("in_doubt_resolved_committed", m.in_doubt_committed);
  add("in_doubt_resolved_aborted", m.in_doubt_aborted);
  add("sessions_opened", m.sessions_opened);
  add("sessions_discarded", m.sessions_discarded);
  add("statements", m.statements);
  add("session_lifetime_p50_ms", m.session_lifetime.quantile(0.5) * 1e3);
  add("session_lifetime_p99_ms", m.session_lifetime.quantile(0.99) * 1e3);
  add("pool_wait_p50_ms", m.pool_wait.quantile(0.5) * 1e3);
  add("pool_wait_p99_ms", m.pool_wait.quantile(0.99) * 1e3);
  add("pool_timeouts", m.pool_timeouts);
}

report& report::section(std::string key, std::string heading) {
  sections_.push_back({std::move(key), std::make_unique<report>(std::move(heading))});
  return *sections_.back().fields;
}

nlohmann::ordered_json report::to_json() const {
  nlohmann::ordered_json object = nlohmann::ordered_json::object();
  for (const auto& [key, v] : fields_) {
    std::visit([&, &key = key](const auto& x) { object[key] = x; }, v);
  }
  for (const auto& [key, fields] : sections_) object[key] = fields->to_json();
  return object;
}

std::size_t report::key_width() const {
  std::size_t width = 0;
  for (const auto& [key, unused] : fields_) width = std::max(width, key.size());
  for (const auto& [unused, fields] : sections_) width = std::max(width, fields->key_width());
  return width;
}

void report::print_fields(std::ostream& out, std::size_t width) const {
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

void report::print(std::ostream& out, bool json) const {
  if (json) {
    // Text from outside (a URL, a server message) may not be UTF-8: replaced, never thrown on.
    out << to_json().dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace) << '\n';
    return;
  }
  out << title_ << '\n';
  const std::size_t width = key_width();
  print_fields(out, width);
  for (const auto& [unused, fields] : sections_) {
    out << fields->title_ << '\n';
    fields->print_fields(out, width);
  }
}

}  // namespace repokit::cli
