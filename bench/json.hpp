// One JSON object on one line: the benchmark's output format, read by scripts/plot-benchmarks.sh.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

namespace repokit_bench {

class json_line {
 public:
  json_line& add(std::string_view key, std::string_view value) {
    name(key);
    quoted(value);
    return *this;
  }
  json_line& add(std::string_view key, const char* value) {
    return add(key, std::string_view(value));
  }
  json_line& add(std::string_view key, std::int64_t value) {
    name(key);
    text_ += std::to_string(value);
    return *this;
  }
  json_line& add(std::string_view key, int value) { return add(key, std::int64_t{value}); }
  json_line& add(std::string_view key, bool value) {
    name(key);
    text_ += value ? "true" : "false";
    return *this;
  }
  // `digits` after the decimal point.
  json_line& add(std::string_view key, double value, int digits) {
    name(key);
    number(value, digits);
    return *this;
  }
  json_line& add(std::string_view key, const std::vector<double>& values, int digits) {
    name(key);
    text_ += '[';
    for (std::size_t i = 0; i < values.size(); ++i) {
      if (i > 0) text_ += ", ";
      number(values[i], digits);
    }
    text_ += ']';
    return *this;
  }

  std::string str() const { return text_ + '}'; }

 private:
  void name(std::string_view key) {
    text_ += text_.size() == 1 ? "" : ", ";
    quoted(key);
    text_ += ": ";
  }
  void quoted(std::string_view value) {
    text_ += '"';
    for (const char c : value) {
      if (c == '"' || c == '\\') text_ += '\\';
      if (static_cast<unsigned char>(c) < 0x20) {
        char escaped[8];
        std::snprintf(escaped, sizeof escaped, "\\u%04x", c);
        text_ += escaped;
        continue;
      }
      text_ += c;
    }
    text_ += '"';
  }
  void number(double value, int digits) {
    if (!std::isfinite(value)) {
      text_ += "null";
      return;
    }
    char buffer[64];
    std::snprintf(buffer, sizeof buffer, "%.*f", digits, value);
    text_ += buffer;
  }

  std::string text_ = "{";
};

}  // namespace repokit_bench
