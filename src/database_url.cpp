#include "repokit/database_url.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <string>

namespace repokit {
namespace {

constexpr std::string_view sqlite_scheme = "sqlite:";

// Where a secret in free text ends: a blank or a quote. The URL and keyword passes of
// mask_password share it, so that what one pass hides never moves where the other looks.
constexpr std::string_view text_ends = " \t\r\n'\"";
// A keyword value ends there too, and where the next pair starts: '&' in a URL, ';' in SOCI's
// connection strings.
constexpr std::string_view value_ends = " \t\r\n'\"&;";

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

result<std::string> percent_decode(std::string_view text, std::string_view what) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '%') {
      out += text[i];
      continue;
    }
    if (i + 2 >= text.size()) {
      return failure(errc::configuration,
                     "invalid database URL: truncated %-escape in the " + std::string(what));
    }
    const int high = hex_value(text[i + 1]);
    const int low = hex_value(text[i + 2]);
    if (high < 0 || low < 0) {
      return failure(errc::configuration, "invalid database URL: bad %-escape in the " +
                                              std::string(what) +
                                              " (expected % and two hex digits)");
    }
    const char decoded = static_cast<char>(high * 16 + low);
    if (decoded == '\0') {
      return failure(errc::configuration,
                     "invalid database URL: the " + std::string(what) + " contains a NUL byte");
    }
    out += decoded;
    i += 2;
  }
  return out;
}

// Treats all of `url` as one URL, however malformed: whatever stands between the scheme's ':'
// and the last '@' is credentials, and what follows their first ':' is a password.
std::string mask_url(std::string_view url) {
  std::string out(url);
  const std::size_t at = out.rfind('@');
  const std::size_t scheme_end = out.find(':');
  if (at == std::string::npos || scheme_end == std::string::npos || scheme_end > at) return out;
  const std::size_t colon = out.find(':', scheme_end + 1);
  if (colon != std::string::npos && colon < at) out.replace(colon + 1, at - colon - 1, "***");
  return out;
}

error bad_url(std::string_view url, std::string_view why) {
  // A connection string in libpq's keyword form ("host=h password=...") is no URL, but is
  // masked all the same.
  return make_error(errc::configuration, "invalid database URL '" + mask_password(mask_url(url)) +
                                             "': " + std::string(why));
}

result<database_url> parse_sqlite(std::string_view url) {
  database_url parsed;
  parsed.kind = dialect::sqlite;
  std::string_view rest = url.substr(sqlite_scheme.size());
  if (rest == ":memory:" || rest == "///:memory:") {
    parsed.path = ":memory:";
    return parsed;
  }
  if (!rest.starts_with("///")) {
    return failure(bad_url(url,
                           "expected sqlite:///relative.db, sqlite:////absolute.db or "
                           "sqlite::memory:"));
  }
  rest.remove_prefix(3);  // what remains is the path: "relative.db" or "/absolute.db"
  if (rest.find('?') != std::string_view::npos) {
    return failure(bad_url(url,
                           "SQLite URLs take no parameters; set options in "
                           "database_options instead"));
  }
  if (rest.empty() || rest.back() == '/') {
    return failure(bad_url(url, "the SQLite URL names no database file"));
  }
  REPOKIT_TRY(auto path, percent_decode(rest, "path"));
  if (path.find('\0') != std::string::npos) {
    return failure(bad_url(url, "the SQLite path contains a NUL byte"));
  }
  // SOCI hands the path to SQLite inside a double-quoted value that has no escape for a '"'
  // within it: such a path would open a different file, so it is refused here.
  if (path.find('"') != std::string::npos) {
    return failure(bad_url(url,
                           "the SQLite path contains '\"', which SOCI's SQLite backend "
                           "cannot pass on; rename the file or reach it through a "
                           "symbolic link without one"));
  }
  parsed.path = std::move(path);
  return parsed;
}

result<database_url::endpoint> parse_endpoint(std::string_view url, std::string_view text,
                                              int default_port) {
  database_url::endpoint result_endpoint;
  std::string_view host = text;
  std::string_view port;
  if (text.starts_with('[')) {  // [::1]:5432
    const auto close = text.find(']');
    if (close == std::string_view::npos) return failure(bad_url(url, "unclosed '[' in host"));
    host = text.substr(1, close - 1);
    const std::string_view after = text.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return failure(bad_url(url, "unexpected text after ']'"));
      port = after.substr(1);
    }
  } else if (const auto colon = text.rfind(':'); colon != std::string_view::npos) {
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
  }
  if (host.empty()) return failure(bad_url(url, "the host is missing"));
  result_endpoint.host = std::string(host);
  result_endpoint.port = default_port;
  if (!port.empty()) {
    int number = 0;
    const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), number);
    if (ec != std::errc{} || end != port.data() + port.size() || number < 1 || number > 65535) {
      return failure(bad_url(url, "the port must be a number from 1 to 65535"));
    }
    result_endpoint.port = number;
  }
  return result_endpoint;
}

// The values of the parameters whose spelling is fixed are checked here, so that a typo is a
// configuration error at once rather than a connection that fails, and is retried, later.
result<void> check_parameter(std::string_view url, std::string_view name, std::string_view value) {
  const auto one_of = [&](std::initializer_list<std::string_view> allowed) -> result<void> {
    for (const auto candidate : allowed) {
      if (value == candidate) return success();
    }
    std::string list;
    for (const auto candidate : allowed)
      list += (list.empty() ? "" : ", ") + std::string(candidate);
    return failure(bad_url(url, std::string(name) + " must be one of " + list));
  };
  if (name == "sslmode") {
    return one_of({"disable", "allow", "prefer", "require", "verify-ca", "verify-full"});
  }
  if (name == "target_session_attrs") {
    return one_of({"any", "read-write", "read-only", "primary", "standby", "prefer-standby"});
  }
  if (name == "connect_timeout" || name == "read_timeout" || name == "write_timeout" ||
      name == "keepalives" || name == "keepalives_idle") {
    const bool digits =
        !value.empty() && value.size() <= 9 &&
        std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; });
    if (!digits)
      return failure(bad_url(url, std::string(name) + " must be a whole number of seconds"));
  }
  return success();
}

result<database_url> parse_server(std::string_view url, dialect kind, std::size_t scheme_length,
                                  int default_port) {
  database_url parsed;
  parsed.kind = kind;
  std::string_view rest = url.substr(scheme_length);

  std::string_view query;
  if (const auto mark = rest.find('?'); mark != std::string_view::npos) {
    query = rest.substr(mark + 1);
    rest = rest.substr(0, mark);
  }
  // The last '@' ends the credentials: an unescaped '@' or '/' in a password stays in it.
  if (const auto at = rest.rfind('@'); at != std::string_view::npos) {
    const std::string_view credentials = rest.substr(0, at);
    rest = rest.substr(at + 1);
    const auto colon = credentials.find(':');
    REPOKIT_TRY(parsed.user, percent_decode(credentials.substr(0, colon), "user name"));
    if (colon != std::string_view::npos) {
      REPOKIT_TRY(parsed.password, percent_decode(credentials.substr(colon + 1), "password"));
    }
  }
  const auto slash = rest.find('/');
  if (slash == std::string_view::npos || slash + 1 == rest.size()) {
    return failure(bad_url(url, "the database name is missing (…@host:port/dbname)"));
  }
  REPOKIT_TRY(parsed.database, percent_decode(rest.substr(slash + 1), "database name"));
  rest = rest.substr(0, slash);
  if (rest.empty()) return failure(bad_url(url, "the host is missing"));
  while (!rest.empty()) {
    const auto comma = rest.find(',');
    REPOKIT_TRY(auto endpoint, parse_endpoint(url, rest.substr(0, comma), default_port));
    parsed.hosts.push_back(std::move(endpoint));
    if (comma == std::string_view::npos) break;
    rest.remove_prefix(comma + 1);
    if (rest.empty()) return failure(bad_url(url, "a host is missing after ','"));
  }

  while (!query.empty()) {
    const auto amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    const auto equals = pair.find('=');
    if (equals == std::string_view::npos || equals == 0) {
      return failure(bad_url(url, "query parameters must be name=value"));
    }
    REPOKIT_TRY(auto name, percent_decode(pair.substr(0, equals), "parameter name"));
    REPOKIT_TRY(auto value, percent_decode(pair.substr(equals + 1), "parameter value"));
    REPOKIT_TRYV(check_parameter(url, name, value));
    parsed.parameters.emplace_back(std::move(name), std::move(value));
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  return parsed;
}

}  // namespace

result<database_url> database_url::parse(std::string_view url) {
  if (url.empty()) {
    return failure(errc::configuration,
                   "empty database URL: pass one such as sqlite:///app.db or set "
                   "REPOKIT_DATABASE_URL");
  }
  if (url.find('\0') != std::string_view::npos) {
    return failure(errc::configuration, "invalid database URL: it contains a NUL byte");
  }
  if (url.starts_with(sqlite_scheme)) return parse_sqlite(url);
  struct scheme {
    std::string_view prefix;
    dialect kind;
    int default_port;
  };
  static constexpr std::array<scheme, 4> servers{{
      {"postgresql://", dialect::postgresql, 5432},
      {"postgres://", dialect::postgresql, 5432},
      {"mysql://", dialect::mariadb, 3306},
      {"mariadb://", dialect::mariadb, 3306},
  }};
  for (const scheme& candidate : servers) {
    if (url.starts_with(candidate.prefix)) {
      return parse_server(url, candidate.kind, candidate.prefix.size(), candidate.default_port);
    }
  }
  return failure(bad_url(url, "unknown scheme; use sqlite:, postgresql:// or mysql://"));
}

std::string database_url::masked() const {
  if (kind == dialect::sqlite) {
    return in_memory() ? "sqlite::memory:" : "sqlite:///" + path;
  }
  std::string text(kind == dialect::postgresql ? "postgresql://" : "mysql://");
  if (!user.empty() || !password.empty()) {
    text += user;
    if (!password.empty()) text += ":***";
    text += '@';
  }
  for (std::size_t i = 0; i < hosts.size(); ++i) {
    if (i > 0) text += ',';
    const bool ipv6 = hosts[i].host.find(':') != std::string::npos;
    text +=
        (ipv6 ? '[' + hosts[i].host + ']' : hosts[i].host) + ':' + std::to_string(hosts[i].port);
  }
  text += '/' + database;
  for (std::size_t i = 0; i < parameters.size(); ++i) {
    // Database::open refuses a password parameter, but a parsed URL may still hold one.
    const bool secret = parameters[i].first.find("password") != std::string::npos;
    text += (i == 0 ? '?' : '&') + parameters[i].first + '=' +
            (secret ? std::string("***") : parameters[i].second);
  }
  return text;
}

namespace {

bool is_name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

// Masks the values of keyword pairs that carry a secret, as libpq's conninfo and SOCI's connect
// strings spell them: `password=...`, `pass=...`, `password = '...'` (a quoted value may hold
// blanks and \' escapes), in any case.
void mask_keyword_values(std::string& out) {
  std::string lower(out);
  std::transform(lower.begin(), lower.end(), lower.begin(), [](char c) {
    return static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  });
  for (const std::string_view key : {"password", "passwd", "pass", "pwd"}) {
    for (std::size_t at = lower.find(key); at != std::string::npos; at = lower.find(key, at + 1)) {
      if (at > 0 && is_name_char(lower[at - 1])) continue;  // "old_password=" is another key
      std::size_t i = at + key.size();
      while (i < lower.size() && lower[i] == ' ') ++i;
      if (i >= lower.size() || lower[i] != '=') continue;
      ++i;
      while (i < lower.size() && lower[i] == ' ') ++i;
      std::size_t begin = i;
      std::size_t end = i;
      if (i < lower.size() && (lower[i] == '\'' || lower[i] == '"')) {
        const char quote = lower[i];
        begin = ++end;
        while (end < lower.size() && lower[end] != quote) end += lower[end] == '\\' ? 2 : 1;
        end = std::min(end, lower.size());
      } else {
        end = std::min(lower.find_first_of(value_ends, end), lower.size());
      }
      if (end == begin) continue;
      out.replace(begin, end - begin, "***");
      lower.replace(begin, end - begin, "***");
    }
  }
}

}  // namespace

std::string mask_password(std::string_view text) {
  // Each URL in free text ends at a blank or a quote; within it the credentials run from the
  // scheme to the last '@', so a password holding '/' or '@' is still hidden whole.
  std::string out(text);
  for (std::size_t from = out.find("://"); from != std::string::npos;
       from = out.find("://", from + 3)) {
    const std::size_t start = from + 3;
    std::size_t end = out.find_first_of(text_ends, start);
    if (end == std::string::npos) end = out.size();
    const std::size_t at = out.rfind('@', end - 1);
    if (at == std::string::npos || at < start) continue;
    const std::size_t colon = out.find(':', start);
    if (colon != std::string::npos && colon < at) out.replace(colon + 1, at - colon - 1, "***");
  }
  mask_keyword_values(out);
  return out;
}

}  // namespace repokit
