// Record mapping: how C++ values become parameters and how result columns become C++ values.
// Scalars map through column_traits, which users specialise for their own types; std::optional
// stands for NULL; std::tuple and plain structs map their members to columns by position.
//
//   template <>
//   struct repokit::column_traits<priority> : repokit::stored_as<std::int64_t> {
//     static std::int64_t to_stored(priority p) noexcept { return static_cast<std::int64_t>(p); }
//     static repokit::result<priority> from_stored(std::int64_t n) { ... }
//   };
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "repokit/result.hpp"
#include "repokit/statement.hpp"
#include "repokit/value.hpp"

namespace repokit {

// Times are kept as milliseconds since the Unix epoch, in a BIGINT column.
using timestamp = std::chrono::time_point<std::chrono::system_clock, std::chrono::milliseconds>;

using bytes = std::vector<std::byte>;

// How one C++ type is bound and read. Specialise it for your own types, usually through
// stored_as: the value is stored as another supported type (an enum as text, say).
template <class T>
struct column_traits;

template <class Stored>
struct stored_as {
  using stored_type = Stored;
};

namespace detail {

error column_mismatch(const column_value& column, std::string_view wanted);
error column_out_of_range(const column_value& column, std::string_view wanted);

}  // namespace detail

template <>
struct column_traits<std::int64_t> {
  static constexpr column_type type = column_type::integer;
  static param to_param(std::int64_t value) noexcept { return value; }
  static result<std::int64_t> from_column(const column_value& column) {
    if (column.type != column_type::integer && column.type != column_type::boolean) {
      return failure(detail::column_mismatch(column, "an integer"));
    }
    return column.integer;
  }
};

template <>
struct column_traits<std::int32_t> {
  static constexpr column_type type = column_type::integer;
  static param to_param(std::int32_t value) noexcept { return std::int64_t{value}; }
  static result<std::int32_t> from_column(const column_value& column) {
    REPOKIT_TRY(const std::int64_t wide, column_traits<std::int64_t>::from_column(column));
    if (wide < std::numeric_limits<std::int32_t>::min() ||
        wide > std::numeric_limits<std::int32_t>::max()) {
      return failure(detail::column_out_of_range(column, "a 32-bit integer"));
    }
    return static_cast<std::int32_t>(wide);
  }
};

template <>
struct column_traits<bool> {
  static constexpr column_type type = column_type::boolean;
  static param to_param(bool value) noexcept { return std::int64_t{value ? 1 : 0}; }
  static result<bool> from_column(const column_value& column) {
    REPOKIT_TRY(const std::int64_t number, column_traits<std::int64_t>::from_column(column));
    if (number != 0 && number != 1) {
      return failure(detail::column_out_of_range(column, "a boolean (0 or 1)"));
    }
    return number == 1;
  }
};

template <>
struct column_traits<double> {
  static constexpr column_type type = column_type::real;
  static param to_param(double value) noexcept { return value; }
  static result<double> from_column(const column_value& column) {
    if (column.type == column_type::integer) return static_cast<double>(column.integer);
    if (column.type != column_type::real) {
      return failure(detail::column_mismatch(column, "a floating-point number"));
    }
    return column.real;
  }
};

template <>
struct column_traits<std::string> {
  static constexpr column_type type = column_type::text;
  static param to_param(const std::string& value) noexcept { return std::string_view(value); }
  static result<std::string> from_column(const column_value& column) {
    if (column.type != column_type::text) {
      return failure(detail::column_mismatch(column, "text"));
    }
    return std::string(column.text);
  }
};

// Parameters only: a view cannot outlive the row it would be read from.
template <>
struct column_traits<std::string_view> {
  static constexpr column_type type = column_type::text;
  static param to_param(std::string_view value) noexcept { return value; }
};

template <>
struct column_traits<bytes> {
  static constexpr column_type type = column_type::blob;
  static param to_param(const bytes& value) noexcept { return bytes_view(value); }
  static result<bytes> from_column(const column_value& column) {
    if (column.type != column_type::blob && column.type != column_type::text) {
      return failure(detail::column_mismatch(column, "bytes"));
    }
    const auto* first = reinterpret_cast<const std::byte*>(column.text.data());
    return bytes(first, first + column.text.size());
  }
};

template <>
struct column_traits<bytes_view> {
  static constexpr column_type type = column_type::blob;
  static param to_param(bytes_view value) noexcept { return value; }
};

// Any system_clock time point, stored as whole milliseconds since the epoch.
template <class Duration>
struct column_traits<std::chrono::time_point<std::chrono::system_clock, Duration>> {
  using time_type = std::chrono::time_point<std::chrono::system_clock, Duration>;
  static constexpr column_type type = column_type::integer;
  static param to_param(time_type value) noexcept {
    return std::int64_t{
        std::chrono::duration_cast<std::chrono::milliseconds>(value.time_since_epoch()).count()};
  }
  static result<time_type> from_column(const column_value& column) {
    REPOKIT_TRY(const std::int64_t ms, column_traits<std::int64_t>::from_column(column));
    return time_type(std::chrono::duration_cast<Duration>(std::chrono::milliseconds(ms)));
  }
};

namespace detail {

template <class T>
concept stored_through = requires { typename column_traits<T>::stored_type; };

template <class T>
concept bindable = stored_through<T> || requires(const T& value) {
  { column_traits<T>::to_param(value) } -> std::same_as<param>;
};

template <class T>
concept readable = stored_through<T> || requires(const column_value& column) {
  { column_traits<T>::from_column(column) } -> std::same_as<result<T>>;
};

template <class T>
struct is_optional : std::false_type {};
template <class T>
struct is_optional<std::optional<T>> : std::true_type {};

template <class T>
struct is_tuple : std::false_type {};
template <class... T>
struct is_tuple<std::tuple<T...>> : std::true_type {};

// An IN list: `status IN (:statuses)` bound to a span of values.
template <class T>
struct list_element {
  using type = void;
};
template <class T>
  requires(!std::is_same_v<std::remove_cv_t<T>, std::byte>)
struct list_element<std::span<T>> {
  using type = std::remove_cv_t<T>;
};
template <class T>
concept list_parameter = !std::is_void_v<typename list_element<T>::type>;

// What a statement can take as a parameter: a scalar, an optional one, or an IN list of them.
template <class T>
concept parameter_type = bindable<T> || std::is_same_v<T, std::nullptr_t> ||
                         (is_optional<T>::value && bindable<typename T::value_type>) ||
                         (list_parameter<T> && bindable<typename list_element<T>::type>);

template <class T>
constexpr column_type column_type_of() {
  if constexpr (is_optional<T>::value) {
    return column_type_of<typename T::value_type>();
  } else if constexpr (stored_through<T>) {
    return column_type_of<typename column_traits<T>::stored_type>();
  } else {
    return column_traits<T>::type;
  }
}

// A column type: a scalar with traits, or an optional one.
template <class T>
concept column = readable<T> || (is_optional<T>::value && readable<typename T::value_type>);

// What a parameter's view points into, kept alive for the length of one call.
template <class T>
struct argument {
  explicit argument(const T& value) : value_(value) {}
  param get() const { return column_traits<T>::to_param(value_); }

 private:
  const T& value_;
};

template <stored_through T>
struct argument<T> {
  using traits = column_traits<T>;
  using stored_type = std::decay_t<decltype(traits::to_stored(std::declval<const T&>()))>;
  explicit argument(const T& value) : stored_(traits::to_stored(value)) {}
  param get() const { return argument<stored_type>(stored_).get(); }

 private:
  stored_type stored_;
};

template <class T>
struct argument<std::optional<T>> {
  explicit argument(const std::optional<T>& value) {
    if (value) inner_.emplace(*value);
  }
  param get() const { return inner_ ? inner_->get() : param{nullptr}; }

 private:
  std::optional<argument<T>> inner_;
};

template <>
struct argument<std::nullptr_t> {
  explicit argument(std::nullptr_t) {}
  param get() const { return nullptr; }
};

template <list_parameter T>
struct argument<T> {
  using element = typename list_element<T>::type;
  explicit argument(const T& values) {
    elements_.reserve(values.size());
    for (const auto& value : values) elements_.emplace_back(value);
  }
  std::size_t size() const noexcept { return elements_.size(); }
  param get(std::size_t i) const { return elements_[i].get(); }

 private:
  std::vector<argument<element>> elements_;
};

// Reads one column into T; an error says what did not fit, for the caller to place.
template <class T>
result<T> read_column(const column_value& column) {
  if constexpr (is_optional<T>::value) {
    if (column.null) return T{};
    REPOKIT_TRY(auto inner, read_column<typename T::value_type>(column));
    return T{std::move(inner)};
  } else {
    if (column.null) {
      return failure(errc::mapping, "is NULL; read it into a std::optional");
    }
    if constexpr (stored_through<T>) {
      using stored_type = typename column_traits<T>::stored_type;
      result<T> converted = [&]() -> result<T> {
        if constexpr (std::is_same_v<stored_type, std::string_view>) {
          if (column.type != column_type::text) return failure(column_mismatch(column, "text"));
          return column_traits<T>::from_stored(column.text);
        } else {
          REPOKIT_TRY(auto stored, read_column<stored_type>(column));
          return column_traits<T>::from_stored(std::move(stored));
        }
      }();
      // The stored value is of the right type, but T does not know it: what the database holds
      // is at fault, not the mapping.
      if (!converted && converted.error().kind != errc::mapping) {
        error refused = std::move(converted).error();
        refused.kind = errc::database;
        refused.message = "holds a value repokit cannot read: " + refused.message;
        return failure(std::move(refused));
      }
      return converted;
    } else {
      return column_traits<T>::from_column(column);
    }
  }
}

// --- plain structs, member by member -------------------------------------------------------

struct any_member {
  template <class T>
  operator T&() const&& noexcept;  // never defined: only for counting members
};

template <class T, std::size_t... I>
constexpr bool brace_constructible(std::index_sequence<I...>) {
  return requires { T{(void(I), any_member{})...}; };
}

inline constexpr std::size_t max_record_members = 24;

template <class T, std::size_t N = max_record_members>
constexpr std::size_t member_count() {
  if constexpr (N == 0) {
    return 0;
  } else if constexpr (brace_constructible<T>(std::make_index_sequence<N>{})) {
    return N;
  } else {
    return member_count<T, N - 1>();
  }
}

// The members of a plain struct as a tuple of references.
template <class T>
auto members_of(T& record) {
  constexpr std::size_t n = member_count<T>();
  static_assert(n > 0, "a record needs at least one member");
  // clang-format off
  if constexpr (n == 1) { auto& [a] = record; return std::tie(a); }
  else if constexpr (n == 2) { auto& [a, b] = record; return std::tie(a, b); }
  else if constexpr (n == 3) { auto& [a, b, c] = record; return std::tie(a, b, c); }
  else if constexpr (n == 4) { auto& [a, b, c, d] = record; return std::tie(a, b, c, d); }
  else if constexpr (n == 5) { auto& [a, b, c, d, e] = record; return std::tie(a, b, c, d, e); }
  else if constexpr (n == 6) { auto& [a, b, c, d, e, f] = record; return std::tie(a, b, c, d, e, f); }
  else if constexpr (n == 7) { auto& [a, b, c, d, e, f, g] = record; return std::tie(a, b, c, d, e, f, g); }
  else if constexpr (n == 8) { auto& [a, b, c, d, e, f, g, h] = record; return std::tie(a, b, c, d, e, f, g, h); }
  else if constexpr (n == 9) { auto& [a, b, c, d, e, f, g, h, i] = record; return std::tie(a, b, c, d, e, f, g, h, i); }
  else if constexpr (n == 10) { auto& [a, b, c, d, e, f, g, h, i, j] = record; return std::tie(a, b, c, d, e, f, g, h, i, j); }
  else if constexpr (n == 11) { auto& [a, b, c, d, e, f, g, h, i, j, k] = record; return std::tie(a, b, c, d, e, f, g, h, i, j, k); }
  else if constexpr (n == 12) { auto& [a, b, c, d, e, f, g, h, i, j, k, l] = record; return std::tie(a, b, c, d, e, f, g, h, i, j, k, l); }
  else if constexpr (n == 13) { auto& [a, b, c, d, e, f, g, h, i, j, k, l, m] = record; return std::tie(a, b, c, d, e, f, g, h, i, j, k, l, m); }
  else if constexpr (n == 14) { auto& [a, b, c, d, e, f, g, h, i, j, k, l, m, o] = record; return std::tie(a, b, c, d, e, f, g, h, i, j, k, l, m, o); }
  else if constexpr (n == 15) { auto& [a, b, c, d, e, f, g, h, i, j, k, l, m, o, p] = record; return std::tie(a, b, c, d, e, f, g, h, i, j, k, l, m, o, p); }
  else if constexpr (n == 16) { auto& [a, b, c, d, e, f, g, h, i, j, k, l, m, o, p, q] = record; return std::tie(a, b, c, d, e, f, g, h, i, j, k, l, m, o, p, q); }
  else if constexpr (n == 17) { auto& [a, b, c, d, e, f, g, h, i, j, k, l, m, o, p, q, r] = record; return std::tie(a, b, c, d, e, f, g, h, i, j, k, l, m, o, p, q, r); }
  else if constexpr (n == 18) { auto& [a, b, c, d, e, f, g, h, i, j, k, l, m, o, p, q, r, s] = record; return std::tie(a, b, c, d, e, f, g, h, i, j, k, l, m, o, p, q, r, s); }
  else if constexpr (n == 19) { auto& [a, b, c, d, e, f, g, h, i, j, k, l, m, o, p, q, r, s, t] = record; return std::tie(a, b, c, d, e, f, g, h, i, j, k, l, m, o, p, q, r, s, t); }
  else if constexpr (n == 20) { auto& [a, b, c, d, e, f, g, h, i, j, k, l, m, o, p, q, r, s, t, u] = record; return std::tie(a, b, c, d, e, f, g, h, i, j, k, l, m, o, p, q, r, s, t, u); }
  else if constexpr (n == 21) { auto& [a, b, c, d, e, f, g, h, i, j, k, l, m, o, p, q, r, s, t, u, v] = record; return std::tie(a, b, c, d, e, f, g, h, i, j, k, l, m, o, p, q, r, s, t, u, v); }
  else if constexpr (n == 22) { auto& [a, b, c, d, e, f, g, h, i, j, k, l, m, o, p, q, r, s, t, u, v, w] = record; return std::tie(a, b, c, d, e, f, g, h, i, j, k, l, m, o, p, q, r, s, t, u, v, w); }
  else if constexpr (n == 23) { auto& [a, b, c, d, e, f, g, h, i, j, k, l, m, o, p, q, r, s, t, u, v, w, x] = record; return std::tie(a, b, c, d, e, f, g, h, i, j, k, l, m, o, p, q, r, s, t, u, v, w, x); }
  else { auto& [a, b, c, d, e, f, g, h, i, j, k, l, m, o, p, q, r, s, t, u, v, w, x, y] = record; return std::tie(a, b, c, d, e, f, g, h, i, j, k, l, m, o, p, q, r, s, t, u, v, w, x, y); }
  // clang-format on
}

template <class T>
concept plain_record = std::is_aggregate_v<T> && !column<T> && !is_tuple<T>::value &&
                       std::is_default_constructible_v<T>;

template <class T>
struct member_types;
template <class... M>
struct member_types<std::tuple<M&...>> {
  using type = std::tuple<M...>;
};

// The columns a result type reads, in order.
template <class R>
struct record_columns;

template <column R>
struct record_columns<R> {
  static constexpr std::array<column_type, 1> types{column_type_of<R>()};
};

template <class... T>
struct record_columns<std::tuple<T...>> {
  static_assert((column<T> && ...), "every member of a result tuple must be a column type");
  static constexpr std::array<column_type, sizeof...(T)> types{column_type_of<T>()...};
};

template <plain_record R>
struct record_columns<R>
    : record_columns<typename member_types<decltype(members_of(std::declval<R&>()))>::type> {};

template <>
struct record_columns<void> {
  static constexpr std::array<column_type, 0> types{};
};

template <class T>
struct is_system_time_point : std::false_type {};
template <class Duration>
struct is_system_time_point<std::chrono::time_point<std::chrono::system_clock, Duration>>
    : std::true_type {};

// The common cases of read_column without building a result: true when `column` was read into
// `out`. False leaves the reading, and the error, to read_column. Agrees with column_traits.
template <class T>
bool read_fast(const column_value& column, T& out) {
  const bool integral = column.type == column_type::integer || column.type == column_type::boolean;
  if constexpr (is_optional<T>::value) {
    if (column.null) {
      out.reset();
      return true;
    }
    typename T::value_type inner{};
    if (!read_fast(column, inner)) return false;
    out = std::move(inner);
    return true;
  } else if constexpr (std::is_same_v<T, std::int64_t>) {
    if (column.null || !integral) return false;
    out = column.integer;
    return true;
  } else if constexpr (std::is_same_v<T, std::string>) {
    if (column.null || column.type != column_type::text) return false;
    out.assign(column.text);
    return true;
  } else if constexpr (is_system_time_point<T>::value) {
    if (column.null || !integral) return false;
    out = T(std::chrono::duration_cast<typename T::duration>(
        std::chrono::milliseconds(column.integer)));
    return true;
  } else if constexpr (std::is_same_v<T, double>) {
    if (column.null || (column.type != column_type::real && column.type != column_type::integer)) {
      return false;
    }
    out = column.type == column_type::real ? column.real : static_cast<double>(column.integer);
    return true;
  } else {
    return false;  // everything else goes through column_traits
  }
}

// Names the statement and the column (counting from 1) in an error from read_column.
error place_column_error(error failure, std::string_view statement, std::size_t column);

template <class Tuple, std::size_t... I>
result<void> read_members(Tuple&& members, std::span<const column_value> columns,
                          std::string_view statement, std::index_sequence<I...>) {
  result<void> outcome = success();
  const auto read_one = [&](auto& member, std::size_t index) {
    if (!outcome || read_fast(columns[index], member)) return;
    auto value = read_column<std::remove_cvref_t<decltype(member)>>(columns[index]);
    if (!value) {
      outcome = failure(place_column_error(std::move(value).error(), statement, index));
      return;
    }
    member = std::move(value).value();
  };
  (read_one(std::get<I>(members), I), ...);
  return outcome;
}

error more_than_one_row(std::string_view statement);
error column_count_mismatch(std::string_view statement, std::size_t expected, std::size_t got);

// Reads one row into `record`, in place.
template <class R>
result<void> read_record(std::span<const column_value> columns, std::string_view statement,
                         R& record) {
  constexpr std::size_t expected = record_columns<R>::types.size();
  if (columns.size() != expected) {
    return failure(column_count_mismatch(statement, expected, columns.size()));
  }
  if constexpr (column<R>) {
    if (read_fast(columns[0], record)) return success();
    auto value = read_column<R>(columns[0]);
    if (!value) return failure(place_column_error(std::move(value).error(), statement, 0));
    record = std::move(value).value();
    return success();
  } else if constexpr (is_tuple<R>::value) {
    return read_members(std::apply([](auto&... m) { return std::tie(m...); }, record), columns,
                        statement, std::make_index_sequence<expected>{});
  } else {
    return read_members(members_of(record), columns, statement,
                        std::make_index_sequence<expected>{});
  }
}

}  // namespace detail
}  // namespace repokit
