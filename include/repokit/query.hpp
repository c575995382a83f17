// Typed statements: the C++ type of a statement carries what it reads or writes, its parameters
// and the rows it returns. A query only reads; a command writes (and may return rows, with
// RETURNING). Declared once, checked while compiling, run by a unit of work:
//
//   constexpr repokit::query<Video(std::string_view)> find_video{
//       "find_video", "SELECT video_id, channel_id, title, duration_seconds, created_at, "
//                     "updated_at FROM videos WHERE video_id = :video_id"};
//   REPOKIT_TRY(std::optional<Video> video, unit.one(find_video, "V1"));
//
// A placeholder count that differs from the parameters, a query whose SQL writes, or an argument
// that does not convert to its parameter does not compile.
#pragma once

#include <string_view>
#include <type_traits>
#include <utility>

#include "repokit/record.hpp"
#include "repokit/result.hpp"
#include "repokit/sql_text.hpp"
#include "repokit/statement.hpp"

namespace repokit {
namespace detail {

template <statement_kind Kind, class R, class... A>
class typed_statement {
  static_assert(sizeof...(A) <= max_statement_parameters, "at most 32 parameters");
  static_assert((parameter_type<A> && ...),
                "every parameter type needs column_traits (see record.hpp)");

 public:
  using result_type = R;
  static constexpr statement_kind kind = Kind;
  static constexpr std::size_t parameter_count = sizeof...(A);

  constexpr std::string_view name() const noexcept { return name_; }
  constexpr const sql_text& text() const noexcept { return text_; }
  constexpr const sql_plan& plan(dialect kind) const noexcept {
    return plans_.by_dialect[static_cast<std::size_t>(kind)];
  }
  // The columns each returned row is read from, in order.
  static constexpr std::span<const column_type> columns() noexcept {
    return record_columns<R>::types;
  }

 protected:
  static constexpr bool reads_only = Kind == statement_kind::read;
  struct checked_at_run_time {};
  constexpr typed_statement(std::string_view name, sql_text text)
      : name_(name), text_(text), plans_(plan_statement(text, parameter_count, reads_only)) {}
  constexpr sql_problem problem() const noexcept { return plans_.problem; }

 private:
  std::string_view name_;
  sql_text text_;
  statement_plans plans_;
};

error invalid_statement(std::string_view name, sql_problem problem);

// Where a placeholder name's values are among a call's parameters: one, or an IN list's.
struct bound_name {
  std::uint32_t first = 0;
  std::uint32_t count = 1;
  bool list = false;
};

template <statement_kind Kind, class Signature>
class statement_of;

template <statement_kind Kind, class R, class... A>
class statement_of<Kind, R(A...)> : public typed_statement<Kind, R, A...> {
  static_assert(Kind == statement_kind::write || !std::is_void_v<R>,
                "a query returns rows: name their type");
  using base = typed_statement<Kind, R, A...>;

 public:
  consteval statement_of(std::string_view name, sql_text text) : base(name, text) {
    refuse_at_compile_time(this->problem());
  }
  consteval statement_of(std::string_view name, std::string_view sql)
      : statement_of(name, sql_text{.sql = sql}) {}

  // For SQL chosen while the program runs (an ORDER BY built from the caller's choice, say):
  // checked here, and `text` must outlive the statement. Never build SQL from untrusted input;
  // bind values as parameters.
  static result<statement_of> from_runtime_sql(std::string_view name, sql_text text) {
    statement_of checked(typename base::checked_at_run_time{}, name, text);
    if (checked.problem() != sql_problem::none) {
      return failure(invalid_statement(name, checked.problem()));
    }
    return checked;
  }

 private:
  constexpr statement_of(typename base::checked_at_run_time, std::string_view name, sql_text text)
      : base(name, text) {}
};

}  // namespace detail

// A statement that only reads, answering rows of R: a scalar, std::optional of one, a
// std::tuple, or a plain struct whose members are columns (in the SELECT's order).
template <class Signature>
using query = detail::statement_of<statement_kind::read, Signature>;

// A statement that writes. R is void when it returns no rows, else the type of the rows its
// RETURNING clause (or final SELECT part) returns.
template <class Signature>
using command = detail::statement_of<statement_kind::write, Signature>;

}  // namespace repokit
