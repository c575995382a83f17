// A statement as repositories declare it: its SQL, whether it writes, and the types of the
// columns it returns. Declared once with static storage, so sessions can cache the prepared
// form per connection keyed by its address.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

namespace repokit {

enum class column_type : std::uint8_t { integer, real, text };

enum class statement_kind : std::uint8_t {
  read,   // may run in a deferred (shared) transaction
  write,  // needs the write lock: on SQLite the unit begins IMMEDIATE
};

struct statement {
  std::string_view name;  // for logs and errors, e.g. "get_video_by_id"
  std::string_view sql;   // placeholders are :p1, :p2, ... on every backend
  statement_kind kind = statement_kind::read;
  std::span<const column_type> columns;  // what a query returns; empty for plain commands
};

}  // namespace repokit
