#include "repokit/record.hpp"

#include "repokit/query.hpp"

namespace repokit::detail {
namespace {

std::string_view describe(column_type type) noexcept {
  switch (type) {
    case column_type::integer: return "an integer";
    case column_type::real: return "a floating-point number";
    case column_type::text: return "text";
    case column_type::boolean: return "a boolean";
    case column_type::blob: return "bytes";
  }
  return "a value";
}

}  // namespace

error column_mismatch(const column_value& column, std::string_view wanted) {
  return make_error(errc::mapping,
                    "holds " + std::string(describe(column.type)) + ", not " + std::string(wanted));
}

error column_out_of_range(const column_value& column, std::string_view wanted) {
  const std::string value = column.type == column_type::real ? std::to_string(column.real)
                                                             : std::to_string(column.integer);
  return make_error(errc::mapping, "holds " + value + ", which is not " + std::string(wanted));
}

error place_column_error(error failure, std::string_view statement, std::size_t column) {
  failure.operation = std::string(statement);
  failure.message = "column " + std::to_string(column + 1) + ' ' + failure.message;
  return failure;
}

error more_than_one_row(std::string_view statement) {
  error failure =
      make_error(errc::mapping, "returned more than one row where at most one was expected");
  failure.operation = std::string(statement);
  return failure;
}

error column_count_mismatch(std::string_view statement, std::size_t expected, std::size_t got) {
  error failure = make_error(errc::mapping, "returned " + std::to_string(got) +
                                                " column(s) where the result type reads " +
                                                std::to_string(expected));
  failure.operation = std::string(statement);
  return failure;
}

error invalid_statement(std::string_view name, sql_problem problem) {
  error failure = make_error(errc::invalid_argument, "the statement's SQL is not usable: " +
                                                         std::string(describe(problem)));
  failure.operation = std::string(name);
  return failure;
}

}  // namespace repokit::detail
