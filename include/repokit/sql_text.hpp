// SQL text as typed statements declare it: per-backend variants, named placeholders, and the
// parts a statement runs one after the other. Parsed by constexpr code, so a statement declared
// `constexpr` is checked while it compiles and one built at run time is checked before it runs.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "repokit/dialect.hpp"

namespace repokit {

// The SQL of a statement, for every backend or per backend:
//   sql_text{.sql = "UPDATE ... RETURNING id", .mariadb = "UPDATE ...; SELECT id FROM ..."}
// A backend without its own text runs `sql`; where `sql` is empty and a backend has no text of
// its own, the statement is a step that backend does not need, and running it does nothing.
//
// Placeholders are names, `:video_id`; a name may repeat and is bound once. The statement's
// arguments are given in the order the names first appear (in `sql`, then in the per-backend
// texts). Several statements may be joined with ';' and run in order on one connection: a part
// that begins with INSERT, UPDATE, DELETE or REPLACE and changes no row ends the statement
// there, with no rows. That is how a backend without `UPDATE ... RETURNING` reads a row back.
struct sql_text {
  std::string_view sql{};
  std::string_view sqlite{};
  std::string_view postgresql{};
  std::string_view mariadb{};

  constexpr std::string_view for_dialect(dialect kind) const noexcept {
    std::string_view own;
    switch (kind) {
      case dialect::sqlite: own = sqlite; break;
      case dialect::postgresql: own = postgresql; break;
      case dialect::mariadb: own = mariadb; break;
    }
    return own.empty() ? sql : own;
  }
};

// A piece of SQL usable as a template argument, so statements can share one column list
// without macros:
//   constexpr repokit::sql_fragment video_columns = "video_id, channel_id, title";
//   constexpr std::string_view sql =
//       repokit::sql_join<"SELECT ", video_columns, " FROM videos WHERE video_id = :id">;
template <std::size_t N>
struct sql_fragment {
  char text[N]{};
  consteval sql_fragment(const char (&literal)[N]) {
    for (std::size_t i = 0; i < N; ++i) text[i] = literal[i];
  }
  static constexpr std::size_t size = N - 1;
};

namespace detail {
template <sql_fragment... Parts>
struct joined_sql {
  static constexpr std::size_t size = (decltype(Parts)::size + ...);
  static constexpr std::array<char, size + 1> text = [] {
    std::array<char, size + 1> out{};
    std::size_t at = 0;
    const auto append = [&](const auto& part) {
      for (std::size_t i = 0; i < part.size; ++i) out[at++] = part.text[i];
    };
    (append(Parts), ...);
    return out;
  }();
};
}  // namespace detail

// The fragments one after the other, as one string with static storage.
template <sql_fragment... Parts>
inline constexpr std::string_view sql_join{detail::joined_sql<Parts...>::text.data(),
                                           detail::joined_sql<Parts...>::size};

inline constexpr std::size_t max_statement_parameters = 32;
inline constexpr std::size_t max_statement_parts = 4;

namespace detail {

// What can be wrong with a statement's text; none when it is sound.
enum class sql_problem : std::uint8_t {
  none,
  too_many_parts,
  too_many_placeholder_names,
  too_many_placeholders,
  placeholder_count_differs_from_parameters,
  a_query_that_writes,
  unterminated_quote,
};

constexpr std::string_view describe(sql_problem problem) noexcept {
  switch (problem) {
    case sql_problem::none: return "";
    case sql_problem::too_many_parts: return "more than 4 ';'-separated parts";
    case sql_problem::too_many_placeholder_names: return "more than 32 placeholder names";
    case sql_problem::too_many_placeholders: return "more than 48 placeholders in one part";
    case sql_problem::placeholder_count_differs_from_parameters:
      return "the number of placeholder names differs from the number of parameters";
    case sql_problem::a_query_that_writes:
      return "a query must only read (SELECT, WITH or VALUES); declare a command instead";
    case sql_problem::unterminated_quote: return "a quote or comment is not closed";
  }
  return "";
}

constexpr bool is_name_start(char c) noexcept {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}
constexpr bool is_name_char(char c) noexcept { return is_name_start(c) || (c >= '0' && c <= '9'); }
constexpr char upper(char c) noexcept { return c >= 'a' && c <= 'z' ? char(c - 'a' + 'A') : c; }
constexpr bool same_word(std::string_view word, std::string_view keyword) noexcept {
  if (word.size() != keyword.size()) return false;
  for (std::size_t i = 0; i < word.size(); ++i) {
    if (upper(word[i]) != keyword[i]) return false;
  }
  return true;
}

// Walks SQL text, skipping quoted strings, quoted identifiers and comments, and calls
// on(kind, position, length) for each word, placeholder and top-level ';'.
enum class sql_token : std::uint8_t { word, placeholder, separator };

template <class On>
constexpr sql_problem scan_sql(std::string_view text, On&& on) {
  std::size_t i = 0;
  const std::size_t n = text.size();
  int depth = 0;
  while (i < n) {
    const char c = text[i];
    if (c == '\'' || c == '"' || c == '`') {  // quoted: '' inside doubles the quote
      std::size_t j = i + 1;
      for (;;) {
        if (j >= n) return sql_problem::unterminated_quote;
        if (text[j] == c) {
          if (j + 1 < n && text[j + 1] == c) {
            j += 2;
            continue;
          }
          break;
        }
        ++j;
      }
      i = j + 1;
    } else if (c == '-' && i + 1 < n && text[i + 1] == '-') {
      while (i < n && text[i] != '\n') ++i;
    } else if (c == '/' && i + 1 < n && text[i + 1] == '*') {
      const std::size_t end = text.find("*/", i + 2);
      if (end == std::string_view::npos) return sql_problem::unterminated_quote;
      i = end + 2;
    } else if (c == ':' && i + 1 < n && text[i + 1] == ':') {
      i += 2;  // a PostgreSQL cast, x::bigint
    } else if (c == ':' && i + 1 < n && is_name_start(text[i + 1])) {
      std::size_t j = i + 1;
      while (j < n && is_name_char(text[j])) ++j;
      on(sql_token::placeholder, i, j - i);
      i = j;
    } else if (is_name_start(c)) {
      std::size_t j = i;
      while (j < n && is_name_char(text[j])) ++j;
      on(sql_token::word, i, j - i);
      i = j;
    } else {
      if (c == '(') ++depth;
      if (c == ')') --depth;
      if (c == ';' && depth == 0) on(sql_token::separator, i, std::size_t{1});
      ++i;
    }
  }
  return sql_problem::none;
}

inline constexpr std::size_t max_part_placeholders = 48;

struct sql_part;
// Whether a part binds all `count` arguments in their own order (then they are sent as given).
constexpr bool binds_in_order(const sql_part& part, std::size_t count) noexcept;

// Where a placeholder is used in a part's SQL, and the argument that binds it.
struct sql_placeholder {
  std::uint32_t at = 0;
  std::uint16_t length = 0;
  std::uint8_t parameter = 0;
};

// One statement of a text: its SQL, for each placeholder name it uses (in the order of first
// appearance) which of the statement's arguments binds it, and each use of a placeholder, so
// that an IN list is spelled out without reading the SQL again.
struct sql_part {
  std::string_view sql{};
  bool stops_when_unchanged = false;  // INSERT, UPDATE, DELETE or REPLACE
  std::uint8_t parameter_count = 0;
  std::array<std::uint8_t, max_statement_parameters> parameters{};
  std::uint8_t placeholder_count = 0;
  std::array<sql_placeholder, max_part_placeholders> placeholders{};
};

struct sql_plan {
  std::array<sql_part, max_statement_parts> parts{};
  std::uint8_t part_count = 0;
};

// The placeholder names of all of a statement's texts, in the order of first appearance.
struct sql_names {
  std::array<std::string_view, max_statement_parameters> names{};
  std::size_t count = 0;

  constexpr int index_of(std::string_view name) const noexcept {
    for (std::size_t i = 0; i < count; ++i) {
      if (names[i] == name) return static_cast<int>(i);
    }
    return -1;
  }
};

constexpr sql_problem collect_names(std::string_view text, sql_names& into) {
  bool overflow = false;
  const sql_problem scanned = scan_sql(text, [&](sql_token kind, std::size_t at, std::size_t len) {
    if (kind != sql_token::placeholder) return;
    const std::string_view name = text.substr(at + 1, len - 1);
    if (into.index_of(name) >= 0) return;
    if (into.count == max_statement_parameters) {
      overflow = true;
      return;
    }
    into.names[into.count++] = name;
  });
  if (scanned != sql_problem::none) return scanned;
  return overflow ? sql_problem::too_many_placeholder_names : sql_problem::none;
}

constexpr bool is_blank(std::string_view text) noexcept {
  for (const char c : text) {
    if (c != ' ' && c != '\t' && c != '\r' && c != '\n') return false;
  }
  return true;
}

constexpr bool binds_in_order(const sql_part& part, std::size_t count) noexcept {
  if (part.parameter_count != count) return false;
  for (std::size_t p = 0; p < count; ++p) {
    if (part.parameters[p] != p) return false;
  }
  return true;
}

// Splits `text` into its parts and maps each part's placeholders onto `names`. `reads_only`:
// every part must be a read.
constexpr sql_problem plan_sql(std::string_view text, const sql_names& names, bool reads_only,
                               sql_plan& plan) {
  plan = sql_plan{};
  std::size_t part_start = 0;
  bool first_word = true;
  bool writes = false;
  std::string_view previous_word;
  sql_part current;
  const auto close_part = [&](std::size_t end) -> sql_problem {
    const std::string_view sql = text.substr(part_start, end - part_start);
    if (!is_blank(sql)) {
      if (plan.part_count == max_statement_parts) return sql_problem::too_many_parts;
      if (reads_only && writes) return sql_problem::a_query_that_writes;
      current.sql = sql;
      plan.parts[plan.part_count++] = current;
    }
    current = sql_part{};
    first_word = true;
    writes = false;
    previous_word = {};
    part_start = end + 1;
    return sql_problem::none;
  };
  sql_problem problem = sql_problem::none;
  const sql_problem scanned = scan_sql(text, [&](sql_token kind, std::size_t at, std::size_t len) {
    if (problem != sql_problem::none) return;
    if (kind == sql_token::separator) {
      problem = close_part(at);
      return;
    }
    const std::string_view token = text.substr(at, len);
    if (kind == sql_token::word) {
      const bool changes = same_word(token, "INSERT") || same_word(token, "UPDATE") ||
                           same_word(token, "DELETE") || same_word(token, "REPLACE");
      if (first_word) {
        current.stops_when_unchanged = changes;
        const bool reads =
            same_word(token, "SELECT") || same_word(token, "WITH") || same_word(token, "VALUES");
        writes = !reads;
        first_word = false;
      } else if (changes && !same_word(previous_word, "FOR") && !same_word(previous_word, "KEY")) {
        writes = true;  // a data-changing common table expression
      }
      previous_word = token;
      return;
    }
    const int index = names.index_of(token.substr(1));
    if (current.placeholder_count == max_part_placeholders) {
      problem = sql_problem::too_many_placeholders;
      return;
    }
    current.placeholders[current.placeholder_count++] = {
        static_cast<std::uint32_t>(at - part_start), static_cast<std::uint16_t>(len),
        static_cast<std::uint8_t>(index)};
    for (std::size_t i = 0; i < current.parameter_count; ++i) {
      if (current.parameters[i] == index) return;
    }
    current.parameters[current.parameter_count++] = static_cast<std::uint8_t>(index);
  });
  if (scanned != sql_problem::none) return scanned;
  if (problem != sql_problem::none) return problem;
  return close_part(text.size());
}

// The names and per-backend plans of a statement with `parameter_count` arguments.
struct statement_plans {
  sql_names names{};
  std::array<sql_plan, 3> by_dialect{};  // indexed by dialect
  sql_problem problem = sql_problem::none;
};

constexpr statement_plans plan_statement(const sql_text& text, std::size_t parameter_count,
                                         bool reads_only) {
  statement_plans out;
  for (const std::string_view part : {text.sql, text.sqlite, text.postgresql, text.mariadb}) {
    out.problem = collect_names(part, out.names);
    if (out.problem != sql_problem::none) return out;
  }
  if (out.names.count != parameter_count) {
    out.problem = sql_problem::placeholder_count_differs_from_parameters;
    return out;
  }
  for (const dialect kind : {dialect::sqlite, dialect::postgresql, dialect::mariadb}) {
    out.problem = plan_sql(text.for_dialect(kind), out.names, reads_only,
                           out.by_dialect[static_cast<std::size_t>(kind)]);
    if (out.problem != sql_problem::none) return out;
  }
  return out;
}

// Called only while compiling: the name of the function in the compiler's message says what is
// wrong with the statement.
void sql_has_more_than_4_parts();
void sql_has_more_than_32_placeholder_names();
void sql_has_more_than_48_placeholders_in_one_part();
void sql_placeholder_names_do_not_match_the_parameter_count();
void sql_of_a_query_writes_declare_a_command_instead();
void sql_has_an_unterminated_quote_or_comment();

consteval void refuse_at_compile_time(sql_problem problem) {
  switch (problem) {
    case sql_problem::none: return;
    case sql_problem::too_many_parts: sql_has_more_than_4_parts(); return;
    case sql_problem::too_many_placeholder_names: sql_has_more_than_32_placeholder_names(); return;
    case sql_problem::too_many_placeholders:
      sql_has_more_than_48_placeholders_in_one_part();
      return;
    case sql_problem::placeholder_count_differs_from_parameters:
      sql_placeholder_names_do_not_match_the_parameter_count();
      return;
    case sql_problem::a_query_that_writes:
      sql_of_a_query_writes_declare_a_command_instead();
      return;
    case sql_problem::unterminated_quote: sql_has_an_unterminated_quote_or_comment(); return;
  }
}

}  // namespace detail
}  // namespace repokit
