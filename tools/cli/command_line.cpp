#include "command_line.hpp"

#include <charconv>
#include <cmath>
#include <cstdlib>

#include "repokit/database_url.hpp"

namespace repokit::cli {

command_line::command_line(std::string_view command, std::span<char* const> arguments,
                           const std::set<std::string>& options, const std::set<std::string>& flags)
    : command_(command) {
  for (std::size_t i = 0; i < arguments.size(); ++i) {
    std::string argument = arguments[i];
    if (!argument.starts_with("--")) {
      // As psql takes its connection string: `repokit migrate postgresql://...`.
      if (options.contains("url") && !values_.contains("url") && !argument.starts_with('-')) {
        values_["url"] = argument;
        continue;
      }
      // The argument may be a URL with a password in it: never echo it whole.
      throw usage_error("unexpected argument '" + mask_password(argument) + "' for 'repokit " +
                        command_ + "'");
    }
    std::string name = argument.substr(2);
    std::optional<std::string> inline_value;
    if (const auto equals = name.find('='); equals != std::string::npos) {
      inline_value = name.substr(equals + 1);
      name.resize(equals);
    }
    if (flags.contains(name) && !inline_value) {
      flags_.insert(name);
    } else if (options.contains(name)) {
      if (!inline_value && i + 1 >= arguments.size()) {
        throw usage_error("--" + name + " needs a value");
      }
      if (values_.contains(name)) throw usage_error("--" + name + " is given twice");
      values_[name] = inline_value ? *inline_value : std::string(arguments[++i]);
    } else {
      throw usage_error("unknown option --" + name + " for 'repokit " + command_ + "'");
    }
  }
}

std::optional<std::string> command_line::text(const std::string& name) const {
  const auto found = values_.find(name);
  if (found == values_.end()) return std::nullopt;
  return found->second;
}

std::optional<std::string> command_line::url() const {
  if (auto given = text("url")) return given;
  if (const char* from_environment = std::getenv("REPOKIT_DATABASE_URL");
      from_environment != nullptr && *from_environment != '\0') {
    return std::string(from_environment);
  }
  return std::nullopt;
}

std::string command_line::text(const std::string& name, const std::string& fallback) const {
  return text(name).value_or(fallback);
}

std::int64_t command_line::integer(const std::string& name, std::int64_t fallback,
                                   std::int64_t minimum, std::int64_t maximum) const {
  const auto given = text(name);
  if (!given) return fallback;
  std::int64_t value = 0;
  const auto [end, ec] = std::from_chars(given->data(), given->data() + given->size(), value);
  if (ec != std::errc{} || end != given->data() + given->size() || value < minimum ||
      value > maximum) {
    throw usage_error("--" + name + " takes a whole number from " + std::to_string(minimum) +
                      " to " + std::to_string(maximum) + ", not '" + mask_password(*given) + "'");
  }
  return value;
}

double command_line::real(const std::string& name, double fallback, double minimum,
                          double maximum) const {
  const auto given = text(name);
  if (!given) return fallback;
  double value = 0;
  const auto [end, ec] = std::from_chars(given->data(), given->data() + given->size(), value);
  if (ec != std::errc{} || end != given->data() + given->size() || !std::isfinite(value) ||
      value < minimum || value > maximum) {
    throw usage_error("--" + name + " takes a number from " + std::to_string(minimum) + " to " +
                      std::to_string(maximum) + ", not '" + mask_password(*given) + "'");
  }
  return value;
}

}  // namespace repokit::cli
