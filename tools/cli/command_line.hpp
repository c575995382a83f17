// The repokit command's arguments: "--name value" options, "--flag" switches and, for commands
// that take --url, the URL as a positional argument, checked against what each command accepts,
// with errors that say what to type instead and never quote a password.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>

namespace repokit::cli {

// A mistake on the command line; main prints it with the command's usage and exits 2.
class usage_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class command_line {
 public:
  // `options` take a value, `flags` do not. Throws usage_error for anything else.
  command_line(std::string_view command, std::span<char* const> arguments,
               const std::set<std::string>& options, const std::set<std::string>& flags);

  bool flag(const std::string& name) const { return flags_.contains(name); }
  std::optional<std::string> text(const std::string& name) const;
  std::string text(const std::string& name, const std::string& fallback) const;
  // The database: --url, a positional URL, or else REPOKIT_DATABASE_URL when set.
  std::optional<std::string> url() const;
  // A whole number in [minimum, maximum]; usage_error otherwise.
  std::int64_t integer(const std::string& name, std::int64_t fallback, std::int64_t minimum,
                       std::int64_t maximum) const;
  double real(const std::string& name, double fallback, double minimum, double maximum) const;

 private:
  std::string command_;
  std::map<std::string, std::string> values_;
  std::set<std::string> flags_;
};

}  // namespace repokit::cli
