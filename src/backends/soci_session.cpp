#include "soci_session.hpp"

#include <algorithm>
#include <array>
#include <string>
#include <utility>

#include "../error_translation.hpp"
#include "repokit/sql_text.hpp"

namespace repokit::detail {
namespace {

// `sql` with each placeholder occurrence renamed :p1, :p2, ... for SOCI, which binds by
// position; `sources` gets the parameter each occurrence takes (names in order of first use).
std::string positional_sql(std::string_view sql, std::vector<std::uint32_t>& sources,
                           std::size_t& names) {
  // Not bounded by max_statement_parameters: an IN list arrives spelled out, a name per value.
  std::vector<std::string_view> seen;
  std::string out;
  out.reserve(sql.size() + 16);
  std::size_t copied = 0;
  const detail::sql_problem problem =
      detail::scan_sql(sql, [&](detail::sql_token token, std::size_t at, std::size_t length) {
        if (token != detail::sql_token::placeholder) return;
        const std::string_view name = sql.substr(at, length);
        const auto found = std::find(seen.begin(), seen.end(), name);
        const auto k = static_cast<std::uint32_t>(found - seen.begin());
        if (found == seen.end()) seen.push_back(name);
        sources.push_back(k);
        out.append(sql.substr(copied, at - copied));
        out.append(":p").append(std::to_string(sources.size()));
        copied = at + length;
      });
  if (problem != detail::sql_problem::none) {
    throw soci::soci_error(std::string(detail::describe(problem)));
  }
  out.append(sql.substr(copied));
  names = seen.size();
  return out;
}

// Booleans arrive as text: PostgreSQL says t or f, the others 1 or 0.
bool boolean_from_text(std::string_view text, std::int64_t& out) {
  if (text == "t" || text == "true" || text == "1") {
    out = 1;
  } else if (text == "f" || text == "false" || text == "0") {
    out = 0;
  } else {
    return false;
  }
  return true;
}

constexpr std::size_t null_index = 0;
constexpr std::size_t integer_index = 1;
constexpr std::size_t real_index = 2;
constexpr std::size_t text_index = 3;
constexpr std::size_t bytes_index = 4;

}  // namespace

std::string quote_conninfo(std::string_view value) {
  std::string out = "'";
  for (const char c : value) {
    if (c == '\'' || c == '\\') out += '\\';
    out += c;
  }
  out += '\'';
  return out;
}

// Tells the backend that a statement starts, and that it ended, however it ends.
class soci_session::statement_scope {
 public:
  statement_scope(soci_session& session, statement_kind kind) : session_(session) {
    session_.statement_starts(kind);
  }
  ~statement_scope() { session_.statement_ends(); }
  statement_scope(const statement_scope&) = delete;
  statement_scope& operator=(const statement_scope&) = delete;

 private:
  soci_session& session_;
};

soci_session::soci_session(dialect kind, std::unique_ptr<soci::session> sql)
    : kind_(kind), sql_(std::move(sql)) {}

soci_session::~soci_session() = default;

void soci_session::encode_bytes(bytes_view data, std::string& out) const {
  out.assign(reinterpret_cast<const char*>(data.data()), data.size());
}

bool soci_session::value_fits(prepared&, std::size_t, column_value&) const { return true; }

std::optional<column_type> soci_session::result_column_type(prepared&, std::size_t) const {
  return std::nullopt;
}

result<std::vector<row>> soci_session::query(const statement& sql, std::span<const param> params) {
  struct keep_rows final : row_consumer {
    result<void> consume(std::span<const column_value> columns) override {
      std::vector<value> values;
      values.reserve(columns.size());
      for (const column_value& column : columns) {
        if (column.null) {
          values.emplace_back(std::monostate{});
        } else if (column.type == column_type::integer || column.type == column_type::boolean) {
          values.emplace_back(std::int64_t{column.integer});
        } else if (column.type == column_type::real) {
          values.emplace_back(column.real);
        } else {
          values.emplace_back(std::string(column.text));
        }
      }
      rows.emplace_back(std::move(values));
      return success();
    }
    std::vector<row> rows;
  } kept;
  REPOKIT_TRYV(query_rows(sql, params, kept));
  return std::move(kept.rows);
}

result<std::uint64_t> soci_session::query_rows(const statement& sql, std::span<const param> params,
                                               row_consumer& consumer) {
  const statement_scope timed(*this, sql.kind);
  prepared* p = nullptr;
  std::uint64_t count = 0;
  try {
    p = &prepare(sql, params);
    bool has_row = p->st.execute(true);
    while (has_row) {
      ++count;
      auto consumed = consumer.consume(read_row(*p));
      if (!consumed) {
        drop(sql.sql);  // stopped half-way: not to be reused in that state
        return failure(std::move(consumed).error());
      }
      has_row = p->st.fetch();
    }
    return count;
  } catch (const soci::soci_error& refused) {
    // A value the driver could not convert: say which column, as a mapping error. Looked at
    // before forget() drops the statement and its result.
    std::optional<error> mismatch;
    if (p != nullptr && std::string_view(refused.what()).starts_with("Cannot convert data")) {
      mismatch = mismatched_column(*p, sql.name);
    }
    error failure = forget(sql);
    return repokit::failure(mismatch ? std::move(*mismatch) : std::move(failure));
  } catch (...) {
    return failure(forget(sql));
  }
}

result<std::uint64_t> soci_session::execute(const statement& sql, std::span<const param> params) {
  const statement_scope timed(*this, sql.kind);
  try {
    prepared& p = prepare(sql, params);
    p.st.execute(true);
    const long long changed = p.st.get_affected_rows();
    return static_cast<std::uint64_t>(changed < 0 ? 0 : changed);
  } catch (...) {
    return failure(forget(sql));
  }
}

prepared* soci_session::find(std::string_view sql) {
  recent_statement& recent =
      recent_[(reinterpret_cast<std::uintptr_t>(sql.data()) >> 4) % recent_.size()];
  if (recent.asked == sql.data() && *recent.text == sql) return recent.statement;
  const auto found = cache_.find(sql);
  if (found == cache_.end()) return nullptr;
  recent = {sql.data(), &found->first, found->second.get()};
  return found->second.get();
}

void soci_session::erase(statement_cache::iterator cached) {
  for (recent_statement& recent : recent_) {
    if (recent.statement == cached->second.get()) recent = {};
  }
  cache_.erase(cached);
}

prepared& soci_session::prepare(const statement& sql, std::span<const param> params) {
  if (prepared* cached = find(sql.sql)) {
    const bool same_columns = std::equal(
        cached->columns.begin(), cached->columns.end(), sql.columns.begin(), sql.columns.end(),
        [](const column_slot& slot, column_type type) { return slot.type == type; });
    if (same_columns && bind(*cached, params)) return *cached;
    // Read into other types, or parameter types changed: prepared anew.
    erase(cache_.find(sql.sql));
  }

  auto p = std::make_unique<prepared>(*sql_);
  std::vector<std::uint32_t> sources;
  const std::string positional = positional_sql(sql.sql, sources, p->parameter_count);
  if (params.size() != p->parameter_count) {
    throw soci::soci_error("the SQL has " + std::to_string(p->parameter_count) +
                           " placeholder name(s) but " + std::to_string(params.size()) +
                           " parameter(s) were bound");
  }
  p->params.resize(sources.size());
  for (std::size_t i = 0; i < sources.size(); ++i) {
    param_slot& slot = p->params[i];
    slot.source = sources[i];
    // A first NULL is bound as text: any column type accepts a NULL text parameter.
    const std::size_t type = params[slot.source].index();
    slot.type = type == null_index ? text_index : type;
  }
  bind(*p, params);
  for (param_slot& slot : p->params) {
    switch (slot.type) {
      case integer_index: p->st.exchange(soci::use(slot.integer, slot.null)); break;
      case real_index: p->st.exchange(soci::use(slot.real, slot.null)); break;
      default: p->st.exchange(soci::use(slot.text, slot.null)); break;
    }
  }
  p->columns.resize(sql.columns.size());
  p->row.resize(sql.columns.size());
  for (std::size_t i = 0; i < sql.columns.size(); ++i) {
    column_slot& slot = p->columns[i];
    slot.type = sql.columns[i];
    switch (slot.type) {
      case column_type::integer: p->st.exchange(soci::into(slot.integer, slot.null)); break;
      case column_type::real: p->st.exchange(soci::into(slot.real, slot.null)); break;
      default: p->st.exchange(soci::into(slot.text, slot.null)); break;
    }
  }
  p->st.alloc();
  p->st.prepare(positional);
  p->st.define_and_bind();
  return *cache_.emplace(std::string(sql.sql), std::move(p)).first->second;
}

// Copies the call's values into the slots; false when a value's type differs from the bound one.
bool soci_session::bind(prepared& p, std::span<const param> params) const {
  if (params.size() != p.parameter_count) return false;
  for (param_slot& slot : p.params) {
    const param& value = params[slot.source];
    if (value.index() == null_index) {
      slot.null = soci::i_null;
      continue;
    }
    if (value.index() != slot.type) return false;
    slot.null = soci::i_ok;
    switch (slot.type) {
      case integer_index: slot.integer = std::get<std::int64_t>(value); break;
      case real_index: slot.real = std::get<double>(value); break;
      case bytes_index: {
        const bytes_view data = std::get<bytes_view>(value);
        encode_bytes(data, slot.text);
        break;
      }
      default: slot.text.assign(std::get<std::string_view>(value)); break;
    }
  }
  return true;
}

// The current row's columns, pointing into the slots: valid until the next fetch.
std::span<const column_value> soci_session::read_row(prepared& p) const {
  for (std::size_t i = 0; i < p.columns.size(); ++i) {
    column_slot& slot = p.columns[i];
    column_value& column = p.row[i];
    column.type = slot.type;
    column.null = slot.null == soci::i_null;
    if (column.null) continue;
    // A 0 may be what the driver made of a value that is no number: the backend says.
    const bool zero = (slot.type == column_type::integer && slot.integer == 0) ||
                      (slot.type == column_type::real && slot.real == 0);
    if (zero && !value_fits(p, i, column)) continue;
    switch (slot.type) {
      case column_type::integer: column.integer = slot.integer; break;
      case column_type::real: column.real = slot.real; break;
      case column_type::text: column.text = slot.text; break;
      case column_type::boolean:
        if (!boolean_from_text(slot.text, column.integer)) {
          column.type = column_type::text;  // reported as text that is not a boolean
          column.text = slot.text;
        }
        break;
      case column_type::blob: column.text = decode_bytes(slot); break;
    }
  }
  return p.row;
}

// After a read the driver refused: the first column whose type in the result cannot be read
// as the statement declares it, as errc::mapping naming the statement and the column.
std::optional<error> soci_session::mismatched_column(prepared& p,
                                                     std::string_view statement) const {
  static constexpr std::array<std::string_view, 5> names{"an integer", "a floating-point number",
                                                         "text", "a boolean", "bytes"};
  for (std::size_t i = 0; i < p.columns.size(); ++i) {
    const column_type wanted = p.columns[i].type;
    const std::optional<column_type> held = result_column_type(p, i);
    if (!held) return std::nullopt;
    const column_type stored = *held;
    const bool numeric = stored == column_type::integer || stored == column_type::boolean;
    const bool fits =
        wanted == column_type::text || wanted == column_type::blob ||
        (wanted == column_type::real && (numeric || stored == column_type::real)) ||
        ((wanted == column_type::integer || wanted == column_type::boolean) && numeric);
    if (fits) continue;
    error mismatch = make_error(
        errc::mapping, "column " + std::to_string(i + 1) + " holds " +
                           std::string(names[static_cast<std::size_t>(stored)]) + ", not " +
                           std::string(names[static_cast<std::size_t>(wanted)]));
    mismatch.operation = std::string(statement);
    return mismatch;
  }
  return std::nullopt;
}

void soci_session::drop(std::string_view sql) {
  const auto found = cache_.find(sql);
  if (found != cache_.end()) erase(found);
}

// Classifies the exception in flight and drops the statement: its state is unknown now.
error soci_session::forget(const statement& sql) noexcept {
  error failure =
      translate_current_exception(kind_, sql.name, failure_point::statement, sql_.get());
  drop(sql.sql);
  return watch(std::move(failure));
}

}  // namespace repokit::detail
