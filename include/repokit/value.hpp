// Values crossing the session seam: parameters bound to a statement (views, no copies), the
// columns of a row as a query reads it (views), and rows kept for later (owned).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "repokit/statement.hpp"

namespace repokit {

using bytes_view = std::span<const std::byte>;

// A bound parameter. Views must stay valid until the call that takes them returns.
using param = std::variant<std::nullptr_t, std::int64_t, double, std::string_view, bytes_view>;

// One column of the row a query is reading, valid only while that row is: nothing is copied.
struct column_value {
  column_type type = column_type::text;
  bool null = true;
  std::int64_t integer = 0;  // integer and boolean columns
  double real = 0;
  std::string_view text{};  // text columns, and the bytes of blob columns
};

// One column of a result row; monostate is SQL NULL.
using value = std::variant<std::monostate, std::int64_t, double, std::string>;

class row {
 public:
  row() = default;
  explicit row(std::vector<value> columns) : columns_(std::move(columns)) {}

  std::size_t size() const noexcept { return columns_.size(); }
  bool is_null(std::size_t column) const {
    return std::holds_alternative<std::monostate>(at(column));
  }

  // Typed reads; a wrong type or a NULL throws std::bad_variant_access (a mapping bug).
  std::int64_t integer(std::size_t column) const { return std::get<std::int64_t>(at(column)); }
  double real(std::size_t column) const { return std::get<double>(at(column)); }
  const std::string& text(std::size_t column) const { return std::get<std::string>(at(column)); }

  std::optional<std::int64_t> optional_integer(std::size_t column) const;
  std::optional<std::string> optional_text(std::size_t column) const;

  const value& at(std::size_t column) const { return columns_.at(column); }
  bool operator==(const row&) const = default;

 private:
  std::vector<value> columns_;
};

inline std::optional<std::int64_t> row::optional_integer(std::size_t column) const {
  if (is_null(column)) return std::nullopt;
  return integer(column);
}

inline std::optional<std::string> row::optional_text(std::size_t column) const {
  if (is_null(column)) return std::nullopt;
  return text(column);
}

}  // namespace repokit
