// A statement as it crosses the session seam: its name, the SQL for this backend with `:name`
// placeholders, whether it writes, and the types of the columns it returns. Repositories declare
// typed statements (query.hpp), which the unit of work turns into these.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

namespace repokit {

enum class column_type : std::uint8_t { integer, real, text, boolean, blob };

enum class statement_kind : std::uint8_t {
  read,   // may run in a deferred (shared) transaction
  write,  // needs the write lock: on SQLite the unit begins IMMEDIATE
};

// Sessions cache prepared statements by their SQL text: two statements with the same text share
// a prepared form, and different texts never do, whatever the statements' storage.
struct statement {
  std::string_view name;  // for logs and errors, e.g. "get_video_by_id"
  std::string_view sql;   // placeholders are :name; the parameters bind them in order of first use
  statement_kind kind = statement_kind::read;
  std::span<const column_type> columns;  // what a query returns; empty for plain commands
};

}  // namespace repokit
