// The fuzz targets' properties (fuzz/fuzz_checks.hpp) in the ordinary suite: every seed of
// fuzz/corpus, every input kept in fuzz_regressions/<target>/ (see its README), and 20 000
// deterministic mutations of the seeds per target. No libFuzzer needed, so it runs in every build.
#include <catch2/catch.hpp>

#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "fuzz_checks.hpp"
#include "reliability_support.hpp"

namespace {

using repokit::fuzzing::violation;

std::vector<std::string> inputs_of(const std::string& target) {
  std::vector<std::string> inputs;
  for (const std::filesystem::path& dir :
       {std::filesystem::path(REPOKIT_FUZZ_DIR) / "corpus" / target,
        std::filesystem::path(REPOKIT_FUZZ_REGRESSIONS) / target}) {
    if (!std::filesystem::is_directory(dir)) continue;
    for (const auto& entry : std::filesystem::directory_iterator(dir)) {
      if (entry.is_regular_file()) inputs.push_back(repokit::reliability::file_bytes(entry.path()));
    }
  }
  return inputs;
}

// Byte flips, insertions, deletions and splices of the seeds, the same on every run.
std::vector<std::string> mutations_of(const std::vector<std::string>& seeds, int count) {
  std::mt19937 rng(20240601);
  static constexpr std::string_view interesting[] = {
      "%",    "%00",          "@",        ":", "/", "?", "&", "=", "[", "]", ",", " ", "'", "\xc3",
      "\x80", "\xed\xa0\x80", "\xf4\x90", "\0"};
  std::vector<std::string> out;
  for (int k = 0; k < count && !seeds.empty(); ++k) {
    std::string s = seeds[rng() % seeds.size()];
    const int edits = 1 + static_cast<int>(rng() % 4);
    for (int e = 0; e < edits; ++e) {
      const std::size_t at = s.empty() ? 0 : rng() % (s.size() + 1);
      switch (rng() % 4) {
        case 0:
          if (!s.empty() && at < s.size()) s[at] = static_cast<char>(rng());
          break;
        case 1: {
          const auto word = interesting[rng() % std::size(interesting)];
          s.insert(at, word.empty() ? std::string_view("\0", 1) : word);
          break;
        }
        case 2:
          if (at < s.size()) s.erase(at, 1 + rng() % 3);
          break;
        default: {
          const std::string& other = seeds[rng() % seeds.size()];
          s = s.substr(0, at) + other.substr(other.empty() ? 0 : rng() % other.size());
          break;
        }
      }
    }
    out.push_back(std::move(s));
  }
  return out;
}

template <class Check>
void replay(const std::string& target, Check check) {
  const auto seeds = inputs_of(target);
  REQUIRE(seeds.size() >= 10);
  int checked = 0;
  for (const auto& batch : {seeds, mutations_of(seeds, 20000)}) {
    for (const std::string& input : batch) {
      const violation broken = check(input);
      ++checked;
      if (broken) {
        INFO("input: '" << repokit::fuzzing::printable(input) << "'");
        FAIL(*broken);
      }
    }
  }
  SUCCEED(target << ": " << checked << " inputs kept every property");
}

}  // namespace

TEST_CASE("fuzz replay: database_url parse, masked and mask_password keep their properties",
          "[reliability][fuzz]") {
  replay("fuzz_database_url", repokit::fuzzing::check_database_url);
}

TEST_CASE("fuzz replay: the validation functions agree with the reference UTF-8 decoder",
          "[reliability][fuzz]") {
  replay("fuzz_validation", repokit::fuzzing::check_validation);
}

TEST_CASE("fuzz replay: the reference decoder knows the classic cases", "[reliability][fuzz]") {
  using repokit::fuzzing::reference_utf8;
  CHECK(reference_utf8(""));
  CHECK(reference_utf8("plain ASCII"));
  CHECK(reference_utf8("\xc2\x80"));                // U+0080
  CHECK(reference_utf8("\xed\x9f\xbf"));            // U+D7FF
  CHECK(reference_utf8("\xee\x80\x80"));            // U+E000
  CHECK(reference_utf8("\xf4\x8f\xbf\xbf"));        // U+10FFFF
  CHECK_FALSE(reference_utf8("\xc1\xbf"));          // overlong
  CHECK_FALSE(reference_utf8("\xe0\x9f\xbf"));      // overlong
  CHECK_FALSE(reference_utf8("\xf0\x8f\xbf\xbf"));  // overlong
  CHECK_FALSE(reference_utf8("\xed\xa0\x80"));      // U+D800
  CHECK_FALSE(reference_utf8("\xf4\x90\x80\x80"));  // U+110000
  CHECK_FALSE(reference_utf8("\xf5\x80\x80\x80"));
  CHECK_FALSE(reference_utf8("\x80"));
  CHECK_FALSE(reference_utf8("\xe2\x82"));  // truncated
}
