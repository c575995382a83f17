// The properties the fuzz targets check, shared with tests/reliability/fuzz_replay_test.cpp, which
// replays the seed corpus and every saved crash through them in the ordinary test suite.
// Each check answers nothing when the input behaved, or a description of what went wrong.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "repokit/database_url.hpp"
#include "repokit/repositories/records.hpp"
#include "repokit/repositories/validation.hpp"

namespace repokit::fuzzing {

using violation = std::optional<std::string>;

// A UTF-8 decoder written from the Unicode standard's table of well-formed byte sequences
// (Unicode 15, table 3-7), independent of repokit's: every byte range spelled out.
inline bool reference_utf8(std::string_view text) {
  const auto in = [](unsigned char b, unsigned lo, unsigned hi) { return b >= lo && b <= hi; };
  std::size_t i = 0;
  while (i < text.size()) {
    const auto b0 = static_cast<unsigned char>(text[i]);
    const std::size_t left = text.size() - i;
    const auto at = [&](std::size_t k) { return static_cast<unsigned char>(text[i + k]); };
    if (b0 <= 0x7F) {
      i += 1;
    } else if (in(b0, 0xC2, 0xDF)) {
      if (left < 2 || !in(at(1), 0x80, 0xBF)) return false;
      i += 2;
    } else if (b0 == 0xE0) {
      if (left < 3 || !in(at(1), 0xA0, 0xBF) || !in(at(2), 0x80, 0xBF)) return false;
      i += 3;
    } else if (in(b0, 0xE1, 0xEC) || in(b0, 0xEE, 0xEF)) {
      if (left < 3 || !in(at(1), 0x80, 0xBF) || !in(at(2), 0x80, 0xBF)) return false;
      i += 3;
    } else if (b0 == 0xED) {  // U+D000..U+D7FF: the surrogates D800..DFFF are excluded
      if (left < 3 || !in(at(1), 0x80, 0x9F) || !in(at(2), 0x80, 0xBF)) return false;
      i += 3;
    } else if (b0 == 0xF0) {
      if (left < 4 || !in(at(1), 0x90, 0xBF) || !in(at(2), 0x80, 0xBF) || !in(at(3), 0x80, 0xBF)) {
        return false;
      }
      i += 4;
    } else if (in(b0, 0xF1, 0xF3)) {
      if (left < 4 || !in(at(1), 0x80, 0xBF) || !in(at(2), 0x80, 0xBF) || !in(at(3), 0x80, 0xBF)) {
        return false;
      }
      i += 4;
    } else if (b0 == 0xF4) {  // up to U+10FFFF
      if (left < 4 || !in(at(1), 0x80, 0x8F) || !in(at(2), 0x80, 0xBF) || !in(at(3), 0x80, 0xBF)) {
        return false;
      }
      i += 4;
    } else {
      return false;  // 0x80..0xC1 and 0xF5..0xFF never start a character
    }
  }
  return true;
}

// Printable form of fuzz input for messages: bytes outside ASCII 0x20..0x7E as \xNN.
inline std::string printable(std::string_view bytes) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  for (const char c : bytes) {
    const auto b = static_cast<unsigned char>(c);
    if (b >= 0x20 && b < 0x7F && b != '\\') {
      out += c;
    } else {
      out += "\\x";
      out += digits[b >> 4];
      out += digits[b & 15];
    }
  }
  return out;
}

namespace detail {

inline bool unreserved(std::string_view text, std::string_view also = {}) {
  for (const char c : text) {
    const bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                       c == '-' || c == '.' || c == '_' || c == '~' ||
                       also.find(c) != std::string_view::npos;
    if (!plain) return false;
  }
  return true;
}

inline bool same(const database_url& a, const database_url& b) {
  if (a.kind != b.kind || a.path != b.path || a.user != b.user || a.password != b.password ||
      a.database != b.database || a.parameters != b.parameters ||
      a.hosts.size() != b.hosts.size()) {
    return false;
  }
  for (std::size_t i = 0; i < a.hosts.size(); ++i) {
    if (a.hosts[i].host != b.hosts[i].host || a.hosts[i].port != b.hosts[i].port) return false;
  }
  return true;
}

// Where the parser finds the password in a server URL: after the scheme and before any '?',
// credentials end at the last '@' and the password starts after their first ':'. Nothing for
// SQLite URLs and URLs without a password.
struct span {
  std::size_t begin = 0;
  std::size_t size = 0;
};
inline std::optional<span> raw_password(std::string_view url) {
  static constexpr std::array<std::string_view, 4> schemes{"postgresql://", "postgres://",
                                                           "mysql://", "mariadb://"};
  for (const std::string_view scheme : schemes) {
    if (!url.starts_with(scheme)) continue;
    const std::size_t start = scheme.size();
    const std::size_t query = url.find('?', start);
    const std::string_view rest =
        url.substr(start, query == std::string_view::npos ? std::string_view::npos : query - start);
    const std::size_t at = rest.rfind('@');
    if (at == std::string_view::npos) return std::nullopt;
    const std::size_t colon = rest.substr(0, at).find(':');
    if (colon == std::string_view::npos || colon + 1 == at) return std::nullopt;
    return span{start + colon + 1, at - colon - 1};
  }
  return std::nullopt;
}

}  // namespace detail

// database_url::parse, masked() and mask_password on any bytes:
//  - nothing crashes, and a parsed URL is well formed (hosts, ports, no NUL in decoded parts);
//  - masked() never depends on the password, and shows *** where one was given;
//  - mask_password is idempotent and leaves text with neither "://" nor '=' alone;
//  - swapping the password's bytes for others changes neither parse's error message nor
//    mask_password's output (so neither quotes it), whenever the password holds no character
//    that the URL's structure depends on;
//  - the same password stays hidden in the message that refuses the URL as an unexpected
//    positional argument, and in the keyword form (host=h password=... dbname=d);
//  - a URL whose parts are plain text reads back the same from masked() once the password is
//    put back.
inline violation check_database_url(std::string_view input) {
  const std::string masked_text = mask_password(input);
  if (mask_password(masked_text) != masked_text) {
    return "mask_password is not idempotent: '" + printable(masked_text) + "' -> '" +
           printable(mask_password(masked_text)) + "'";
  }
  if (input.find("://") == std::string_view::npos && input.find('=') == std::string_view::npos &&
      masked_text != input) {
    return "mask_password changed text with no URL in it: '" + printable(masked_text) + "'";
  }

  const auto parsed = database_url::parse(input);

  // The password's bytes must not reach any output.
  if (const auto secret = detail::raw_password(input)) {
    const std::string_view raw = input.substr(secret->begin, secret->size);
    // In free text a URL ends at a blank or a quote (mask_password's rule): only a URL whose
    // credentials hold none is one URL there.
    const bool one_url =
        input.substr(0, secret->begin + secret->size)
            .find_first_of(std::string_view(" \t\r\n'\"", 6)) == std::string_view::npos;
    if (one_url && raw.find_first_of(std::string_view(":@?%#\0", 6)) == std::string_view::npos) {
      std::string swapped(input);
      for (std::size_t k = 0; k < secret->size; ++k) {
        swapped[secret->begin + k] = raw[k] == 'Z' ? 'Y' : 'Z';
      }
      const std::string masked_swapped = mask_password(swapped);
      if (masked_swapped != masked_text) {
        return "mask_password's output depends on the password: '" + printable(masked_text) +
               "' vs '" + printable(masked_swapped) + "'";
      }
      // The repokit command's message for a URL given where none belongs.
      const auto refused = [](std::string_view argument) {
        return mask_password("unexpected argument '" + std::string(argument) +
                             "' for 'repokit migrate'");
      };
      if (refused(input) != refused(swapped)) {
        return "the message refusing a positional URL quotes its password: '" +
               printable(refused(input)) + "'";
      }
      if (raw.find_first_of(std::string_view(" \t\r\n'\"=&;", 10)) == std::string_view::npos) {
        const std::string keyword = mask_password("host=h password=" + std::string(raw) + " db=d");
        if (keyword != "host=h password=*** db=d") {
          return "the keyword form shows its password: '" + printable(keyword) + "'";
        }
      }
      const auto reparsed = database_url::parse(swapped);
      if (static_cast<bool>(reparsed) != static_cast<bool>(parsed)) {
        return std::string("whether the URL parses depends on the password's letters");
      }
      if (!parsed && parsed.error().describe() != reparsed.error().describe()) {
        return "the parse error quotes the password: '" + printable(parsed.error().describe()) +
               "' vs '" + printable(reparsed.error().describe()) + "'";
      }
    }
  }
  if (!parsed) {
    if (parsed.error().kind != errc::configuration) {
      return "a bad URL is not a configuration error: " + printable(parsed.error().describe());
    }
    return std::nullopt;
  }

  const database_url& url = parsed.value();
  const std::string masked = url.masked();
  for (const std::string* part : {&url.path, &url.user, &url.password, &url.database}) {
    if (part->find('\0') != std::string::npos) return "a decoded part holds a NUL byte";
  }
  for (const auto& [name, value] : url.parameters) {
    if (name.empty()) return std::string("an empty parameter name was accepted");
    if (name.find('\0') != std::string::npos || value.find('\0') != std::string::npos) {
      return "a parameter holds a NUL byte";
    }
  }
  if (url.kind == dialect::sqlite) {
    if (url.path.empty()) return std::string("an SQLite URL without a path was accepted");
  } else {
    if (url.hosts.empty()) return std::string("a server URL without a host was accepted");
    for (const auto& endpoint : url.hosts) {
      if (endpoint.host.empty()) return std::string("an empty host was accepted");
      if (endpoint.port < 1 || endpoint.port > 65535) {
        return "port " + std::to_string(endpoint.port) + " was accepted";
      }
    }
    if (url.database.empty()) return std::string("a server URL without a database was accepted");
    if (!url.password.empty() && masked.find(":***@") == std::string::npos) {
      return "masked() shows no *** for the password: '" + printable(masked) + "'";
    }
    database_url other = url;
    other.password = url.password.empty() ? std::string() : url.password + "x";
    if (other.masked() != masked) {
      return "masked() depends on the password: '" + printable(masked) + "' vs '" +
             printable(other.masked()) + "'";
    }
  }

  // Plain URLs survive masked() and back.
  bool plain =
      detail::unreserved(url.user) && detail::unreserved(url.password) &&
      detail::unreserved(url.database) &&
      (url.kind != dialect::sqlite || url.in_memory() || detail::unreserved(url.path, "/"));
  for (const auto& [name, value] : url.parameters) {
    // masked() hides such a parameter's value: checked here, and kept out of the round trip.
    if (name.find("password") != std::string::npos) {
      if (masked.find(name + "=***") == std::string::npos) {
        return "masked() shows the value of parameter " + printable(name) + ": '" +
               printable(masked) + "'";
      }
      plain = false;
    }
    plain = plain && detail::unreserved(name) && detail::unreserved(value);
  }
  for (const auto& endpoint : url.hosts) plain = plain && detail::unreserved(endpoint.host);
  if (plain) {
    std::string text = masked;
    if (!url.password.empty()) text.replace(text.find(":***@"), 5, ":" + url.password + "@");
    const auto again = database_url::parse(text);
    if (!again || !detail::same(again.value(), url)) {
      return "masked() of '" + printable(input) + "' reads back differently: '" + printable(text) +
             "'";
    }
  }
  return std::nullopt;
}

// check_id, check_text and is_valid_utf8 against the reference decoder; parse_job_status against
// the four names. The first byte of the input picks the size limit, the rest is the value.
inline violation check_validation(std::string_view input) {
  static constexpr std::array<std::size_t, 8> limits{
      0, 1, 4, max_id_length, max_target_id_length, max_text_length, 3, 16};
  const std::size_t limit =
      input.empty() ? max_id_length : limits[static_cast<unsigned char>(input[0]) % limits.size()];
  const std::string_view value = input.empty() ? input : input.substr(1);

  for (const std::string_view text : {input, value}) {
    const bool expected = reference_utf8(text);
    if (is_valid_utf8(text) != expected) {
      return "is_valid_utf8('" + printable(text) + "') is " + (expected ? "false" : "true") +
             ", the reference decoder says " + (expected ? "true" : "false");
    }
  }

  const bool fits =
      value.size() <= limit && value.find('\0') == std::string_view::npos && reference_utf8(value);
  const auto text = check_text("field_name", value, limit);
  const auto id = check_id("field_name", value, limit);
  if (static_cast<bool>(text) != fits) {
    return "check_text('" + printable(value) + "', " + std::to_string(limit) + ") " +
           (fits ? "refused" : "accepted") + " it";
  }
  if (static_cast<bool>(id) != (fits && !value.empty())) {
    return "check_id('" + printable(value) + "', " + std::to_string(limit) + ") " +
           (id ? "accepted" : "refused") + " it";
  }
  for (const auto* outcome : {&text, &id}) {
    if (*outcome) continue;
    const error& e = outcome->error();
    if (e.kind != errc::invalid_argument)
      return "a refusal is not invalid_argument: " + e.describe();
    if (e.message.find("field_name") == std::string::npos) {
      return "a refusal does not name the field: " + e.message;
    }
    if (!reference_utf8(e.message) || e.message.find('\0') != std::string::npos) {
      return "a refusal's message is not clean UTF-8: " + printable(e.message);
    }
  }

  const auto status = parse_job_status(value);
  bool known = false;
  for (const job_status s : {job_status::pending, job_status::running, job_status::succeeded,
                             job_status::failed, job_status::dead}) {
    known = known || value == to_string(s);
  }
  if (static_cast<bool>(status) != known) {
    return "parse_job_status('" + printable(value) + "') " + (known ? "refused" : "accepted") +
           " it";
  }
  if (status && to_string(status.value()) != value) {
    return "parse_job_status('" + printable(value) + "') does not print back the same";
  }
  if (!status && status.error().kind != errc::invalid_argument) {
    return "an unknown status is not invalid_argument: " + status.error().describe();
  }
  if (!status) {
    for (const char c : status.error().message) {
      if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) >= 0x7f) {
        return "parse_job_status('" + printable(value) +
               "') quotes a byte that is not printable ASCII in its message";
      }
    }
  }
  return std::nullopt;
}

}  // namespace repokit::fuzzing
