#include "repokit/session.hpp"

#include <variant>

namespace repokit {

result<std::uint64_t> Session::query_rows(const statement& sql, std::span<const param> params,
                                          row_consumer& consumer) {
  REPOKIT_TRY(auto rows, query(sql, params));
  std::vector<column_value> columns;
  for (const row& r : rows) {
    columns.assign(r.size(), column_value{});
    for (std::size_t i = 0; i < r.size(); ++i) {
      column_value& column = columns[i];
      const value& v = r.at(i);
      column.null = std::holds_alternative<std::monostate>(v);
      // The type a value really has, so that a row of the wrong shape is reported as such.
      if (const auto* integer = std::get_if<std::int64_t>(&v)) {
        column.type = column_type::integer;
        column.integer = *integer;
      } else if (const auto* real = std::get_if<double>(&v)) {
        column.type = column_type::real;
        column.real = *real;
      } else if (const auto* text = std::get_if<std::string>(&v)) {
        column.type = column_type::text;
        column.text = *text;
      } else if (i < sql.columns.size()) {
        column.type = sql.columns[i];
      }
    }
    REPOKIT_TRYV(consumer.consume(columns));
  }
  return static_cast<std::uint64_t>(rows.size());
}

result<commit_outcome> Session::transaction_outcome(std::int64_t) {
  return commit_outcome::unknown;
}

}  // namespace repokit
