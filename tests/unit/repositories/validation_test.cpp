#include <catch2/catch.hpp>

#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <tuple>

#include "repokit/repositories/job_repository.hpp"
#include "repokit/repositories/records.hpp"
#include "repokit/repositories/validation.hpp"

namespace {

using namespace std::string_literals;
using repokit::errc;
using repokit::job_status;

// The message of the invalid_argument error `checked` must hold. Called outside any assertion
// macro: its FAIL would otherwise surface as an unexpected exception.
std::string refusal(const repokit::result<void>& checked) {
  if (checked) FAIL("the value was accepted");
  CHECK(checked.error().kind == errc::invalid_argument);
  return checked.error().message;
}

}  // namespace

TEST_CASE("check_id refuses an empty id and names the field", "[validation]") {
  const std::string message = refusal(repokit::check_id("video_id", ""));
  CHECK_THAT(message, Catch::Contains("video_id") && Catch::Contains("empty"));
}

TEST_CASE("check_id accepts exactly the maximum length and refuses one byte more", "[validation]") {
  CHECK(repokit::check_id("video_id", std::string(repokit::max_id_length, 'v')));
  const std::string message =
      refusal(repokit::check_id("video_id", std::string(repokit::max_id_length + 1, 'v')));
  CHECK_THAT(message,
             Catch::Contains("video_id") && Catch::Contains("65") && Catch::Contains("64"));

  // A custom limit counts bytes, not characters: "é" is two.
  CHECK(repokit::check_id("target_id", "ab", 2));
  CHECK_FALSE(repokit::check_id("target_id", "\xC3\xA9x", 2));
  CHECK(repokit::check_id("target_id", std::string(repokit::max_target_id_length, 't'),
                          repokit::max_target_id_length));
  CHECK_FALSE(repokit::check_id("target_id", std::string(repokit::max_target_id_length + 1, 't'),
                                repokit::max_target_id_length));
}

TEST_CASE("check_id refuses a NUL byte anywhere in the id", "[validation]") {
  const std::string value = GENERATE("\0abc"s, "ab\0c"s, "abc\0"s, "\0"s);
  const std::string message = refusal(repokit::check_id("channel_id", value));
  CHECK_THAT(message, Catch::Contains("channel_id") && Catch::Contains("NUL"));
}

TEST_CASE("check_id refuses invalid UTF-8 and names the field", "[validation]") {
  const auto [label, value] = GENERATE(table<std::string, std::string>({
      {"lone continuation byte", "abc\x80"},
      {"continuation byte first", "\xBF"},
      {"overlong '/'", "\xC0\xAF"},
      {"overlong NUL", "\xC0\x80"},
      {"overlong three-byte form", "\xE0\x80\xAF"},
      {"overlong four-byte form", "\xF0\x80\x80\xAF"},
      {"UTF-16 high surrogate", "\xED\xA0\x80"},
      {"UTF-16 low surrogate", "\xED\xBF\xBF"},
      {"beyond U+10FFFF", "\xF4\x90\x80\x80"},
      {"F5 lead byte", "\xF5\x80\x80\x80"},
      {"FF byte", "a\xFF"},
      {"truncated two-byte sequence", "vid\xC3"},
      {"truncated three-byte sequence", "\xE5\x8B"},
      {"truncated four-byte sequence", "\xF0\x9F\x8E"},
      {"lead byte followed by ASCII", "\xC3("},
  }));
  INFO(label);
  const std::string message = refusal(repokit::check_id("video_id", value));
  CHECK_THAT(message, Catch::Contains("video_id") && Catch::Contains("UTF-8"));
  CHECK_FALSE(repokit::is_valid_utf8(value));
}

TEST_CASE("check_id accepts valid multi-byte UTF-8", "[validation]") {
  const std::string value = GENERATE(as<std::string>{}, "vidéo", "動画", "🎬 clip", "Ünïcödé-𝄞",
                                     "\x7F", "\xEF\xBF\xBF", "\xF4\x8F\xBF\xBF");
  INFO(value);
  CHECK(repokit::check_id("video_id", value));
  CHECK(repokit::is_valid_utf8(value));
}

TEST_CASE("SQL text in an id is accepted as data", "[validation]") {
  // Ids are bound as parameters, never spliced into SQL: refusing quotes would refuse
  // legitimate ids and protect nothing.
  for (const std::string_view value :
       {"'; DROP TABLE videos; --", "x' OR '1'='1", "\"; DELETE FROM jobs; /*", "Robert'); --"}) {
    CHECK(repokit::check_id("video_id", value));
  }
}

TEST_CASE("check_text allows empty text but applies the other checks", "[validation]") {
  CHECK(repokit::check_text("title", ""));
  CHECK(repokit::check_text("title", "A title with ünïcode"));
  CHECK(repokit::check_text("title", std::string(repokit::max_text_length, 'x')));
  const std::string too_long =
      refusal(repokit::check_text("title", std::string(repokit::max_text_length + 1, 'x')));
  CHECK_THAT(too_long, Catch::Contains("title"));
  const std::string nul = refusal(repokit::check_text("title", "a\0b"s));
  CHECK_THAT(nul, Catch::Contains("title") && Catch::Contains("NUL"));
  const std::string not_utf8 = refusal(repokit::check_text("title", "\xC0\xAF"));
  CHECK_THAT(not_utf8, Catch::Contains("title") && Catch::Contains("UTF-8"));
}

TEST_CASE("check_non_negative accepts zero and up and names the field otherwise", "[validation]") {
  CHECK(repokit::check_non_negative("duration_seconds", 0));
  CHECK(repokit::check_non_negative("duration_seconds", 1));
  CHECK(repokit::check_non_negative("duration_seconds", std::numeric_limits<std::int64_t>::max()));
  const std::string minus_one = refusal(repokit::check_non_negative("duration_seconds", -1));
  CHECK_THAT(minus_one, Catch::Contains("duration_seconds") && Catch::Contains("-1"));
  const std::string lowest = refusal(
      repokit::check_non_negative("duration_seconds", std::numeric_limits<std::int64_t>::min()));
  CHECK_THAT(lowest, Catch::Contains("duration_seconds"));
}

TEST_CASE("The five job statuses parse from and print as their names", "[validation][jobs]") {
  const auto [text, status] = GENERATE(table<std::string, job_status>({
      {"pending", job_status::pending},
      {"running", job_status::running},
      {"succeeded", job_status::succeeded},
      {"failed", job_status::failed},
      {"dead", job_status::dead},
  }));
  const auto parsed = repokit::parse_job_status(text);
  REQUIRE(parsed);
  CHECK(parsed.value() == status);
  CHECK(repokit::to_string(status) == text);
}

TEST_CASE("Any other job status text is refused as invalid_argument", "[validation][jobs]") {
  const std::string text = GENERATE(as<std::string>{}, "PENDING", "", "done", "pending ",
                                    " running", "fail", "succeeded\0"s);
  INFO("'" << text << "'");
  const auto parsed = repokit::parse_job_status(text);
  REQUIRE_FALSE(parsed);
  CHECK(parsed.error().kind == errc::invalid_argument);
  CHECK_THAT(parsed.error().message, Catch::Contains("job status"));
}

TEST_CASE(
    "An unknown job status is quoted with its unprintable bytes escaped and cut at 64 "
    "bytes",
    "[validation][jobs]") {
  // A status read from a row or a request reaches the logs through this message.
  const auto newline = repokit::parse_job_status("run\nning\x1b[31m\xc3");
  REQUIRE_FALSE(newline);
  CHECK_THAT(newline.error().message, Catch::Contains("'run\\x0aning\\x1b[31m\\xc3'"));
  const auto backslash = repokit::parse_job_status("a\\b");
  REQUIRE_FALSE(backslash);
  CHECK_THAT(backslash.error().message, Catch::Contains("'a\\x5cb'"));
  const auto long_text = repokit::parse_job_status(std::string(64, 'p') + "ending");
  REQUIRE_FALSE(long_text);
  CHECK_THAT(long_text.error().message, Catch::Contains("'" + std::string(64, 'p') + "...'"));
}

TEST_CASE("Job status transitions follow the documented table", "[validation][jobs]") {
  using enum job_status;
  // pending -> running -> succeeded | failed, running | failed -> pending (requeue),
  // pending -> failed (cancel); nothing else, staying put included.
  const auto [from, to, allowed] = GENERATE(table<job_status, job_status, bool>({
      {pending, pending, false},
      {pending, running, true},
      {pending, succeeded, false},
      {pending, failed, true},
      {running, pending, true},
      {running, running, false},
      {running, succeeded, true},
      {running, failed, true},
      {succeeded, pending, false},
      {succeeded, running, false},
      {succeeded, succeeded, false},
      {succeeded, failed, false},
      {failed, pending, true},
      {failed, running, false},
      {failed, succeeded, false},
      {failed, failed, false},
  }));
  INFO(repokit::to_string(from) << " -> " << repokit::to_string(to));
  CHECK(repokit::is_allowed_transition(from, to) == allowed);
}
