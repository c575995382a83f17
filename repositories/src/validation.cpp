#include "repokit/repositories/validation.hpp"

#include <string>

namespace repokit {

bool is_valid_utf8(std::string_view text) noexcept {
  std::size_t i = 0;
  while (i < text.size()) {
    const auto lead = static_cast<unsigned char>(text[i]);
    std::size_t length = 0;
    std::uint32_t code = 0;
    if (lead < 0x80) {
      ++i;
      continue;
    } else if ((lead & 0xE0) == 0xC0) {
      length = 2;
      code = lead & 0x1F;
    } else if ((lead & 0xF0) == 0xE0) {
      length = 3;
      code = lead & 0x0F;
    } else if ((lead & 0xF8) == 0xF0) {
      length = 4;
      code = lead & 0x07;
    } else {
      return false;
    }
    if (i + length > text.size()) return false;
    for (std::size_t k = 1; k < length; ++k) {
      const auto next = static_cast<unsigned char>(text[i + k]);
      if ((next & 0xC0) != 0x80) return false;
      code = (code << 6) | (next & 0x3F);
    }
    // Overlong forms, UTF-16 surrogates and code points past U+10FFFF are not UTF-8.
    const bool overlong = (length == 2 && code < 0x80) || (length == 3 && code < 0x800) ||
                          (length == 4 && code < 0x10000);
    if (overlong || (code >= 0xD800 && code <= 0xDFFF) || code > 0x10FFFF) return false;
    i += length;
  }
  return true;
}

result<void> check_text(std::string_view field, std::string_view value, std::size_t max_bytes) {
  const std::string name(field);
  if (value.size() > max_bytes) {
    return failure(errc::invalid_argument, name + " is " + std::to_string(value.size()) +
                                               " bytes long; at most " + std::to_string(max_bytes) +
                                               " are allowed");
  }
  if (value.find('\0') != std::string_view::npos) {
    return failure(errc::invalid_argument, name + " contains a NUL byte, which cannot be stored");
  }
  if (!is_valid_utf8(value)) {
    return failure(errc::invalid_argument, name + " is not valid UTF-8");
  }
  return success();
}

result<void> check_id(std::string_view field, std::string_view value, std::size_t max_bytes) {
  if (value.empty()) {
    return failure(errc::invalid_argument, std::string(field) + " must not be empty");
  }
  return check_text(field, value, max_bytes);
}

result<void> check_non_negative(std::string_view field, std::int64_t value) {
  if (value >= 0) return success();
  return failure(errc::invalid_argument,
                 std::string(field) + " must not be negative (got " + std::to_string(value) + ")");
}

}  // namespace repokit
