// libFuzzer target: database_url::parse, masked() and mask_password on arbitrary bytes.
// The properties are in fuzz_checks.hpp; a violation prints the input and aborts, so libFuzzer
// saves it as a crash-* file.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "fuzz_checks.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  if (const auto broken = repokit::fuzzing::check_database_url(input)) {
    std::fprintf(stderr, "fuzz_database_url: %s\n  input: '%s'\n", broken->c_str(),
                 repokit::fuzzing::printable(input).c_str());
    std::abort();
  }
  return 0;
}
