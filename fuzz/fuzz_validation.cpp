// libFuzzer target: check_id, check_text and is_valid_utf8 against a reference UTF-8 decoder, and
// parse_job_status. The properties are in fuzz_checks.hpp; a violation prints the input and
// aborts, so libFuzzer saves it as a crash-* file.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "fuzz_checks.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  if (const auto broken = repokit::fuzzing::check_validation(input)) {
    std::fprintf(stderr, "fuzz_validation: %s\n  input: '%s'\n", broken->c_str(),
                 repokit::fuzzing::printable(input).c_str());
    std::abort();
  }
  return 0;
}
