// A command's results: printed as an aligned table for people, or as one JSON object on the
// last line for programs (--json). Sections group fields: a heading in the table, a nested object
// in JSON.
#pragma once

#include <cstdint>
#include <memory>
#include <ostream>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "repokit/metrics.hpp"

namespace repokit::cli {

class report {
 public:
  using value = std::variant<std::string, std::int64_t, double>;

  explicit report(std::string title) : title_(std::move(title)) {}

  void add(std::string key, std::string text) {
    fields_.emplace_back(std::move(key), std::move(text));
  }
  void add(std::string key, const char* text) { add(std::move(key), std::string(text)); }
  void add(std::string key, double number) { fields_.emplace_back(std::move(key), number); }
  template <class Integer>
    requires std::is_integral_v<Integer>
  void add(std::string key, Integer number) {
    fields_.emplace_back(std::move(key), static_cast<std::int64_t>(number));
  }
  // Rollbacks by cause, retries by class, give-ups, in-doubt, connections, pool, latencies.
  void add_metrics(const metrics_snapshot& m);

  // A group of fields: `key` in JSON, `heading` in the table. Stays valid as long as this one.
  report& section(std::string key, std::string heading);

  void print(std::ostream& out, bool json) const;

 private:
  struct section_entry {
    std::string key;
    std::unique_ptr<report> fields;
  };
  nlohmann::ordered_json to_json() const;
  void print_fields(std::ostream& out, std::size_t width) const;
  std::size_t key_width() const;

  std::string title_;
  std::vector<std::pair<std::string, value>> fields_;
  std::vector<section_entry> sections_;
};

}  // namespace repokit::cli
