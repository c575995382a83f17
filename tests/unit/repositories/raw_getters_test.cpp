// The deprecated raw getters still work the old way: the caller commits and closes by hand, and
// a leaked transaction is rolled back with a warning that names where it was opened.
#include <catch2/catch.hpp>

#include "repokit/repositories/raw_getters.hpp"
#include "support/capture_sink.hpp"
#include "support/mock_session.hpp"
#include "support/unit_fixtures.hpp"

// These tests exercise the deprecated API on purpose.
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"

using namespace repokit;
using namespace repokit::testing;
using trompeloeil::_;

namespace {

row video_row(const char* id) {
  return row({std::string(id), std::string("CH1"), std::string("t"), std::int64_t{1},
              std::int64_t{1}, std::int64_t{1}});
}

}  // namespace

TEST_CASE("a raw repository commits when told to, and its next call opens a new transaction",
          "[raw-getters]") {
  MockSession session;
  ALLOW_CALL(session, kind()).RETURN(dialect::sqlite);
  REQUIRE_CALL(session, begin(_)).TIMES(2).RETURN(ok());
  REQUIRE_CALL(session, query(_, _)).TIMES(2).RETURN(rows_of({video_row("V1")}));
  REQUIRE_CALL(session, commit()).TIMES(1).RETURN(ok());
  REQUIRE_CALL(session, rollback()).TIMES(1).RETURN(ok());
  mocked_database database(session);

  auto videos = get_video_repository(database.db);
  REQUIRE(videos->get_video_by_id("V1"));
  REQUIRE(videos.commit());
  REQUIRE(videos->get_video_by_id("V1"));
  videos.close();  // the second transaction was never committed: close rolls it back
  CHECK(database.db.pool().in_use == 0);
  CHECK(database.db.metrics().commits == 1);
}

TEST_CASE(
    "a raw repository destroyed with an open transaction rolls back and says where it "
    "was created",
    "[raw-getters]") {
  MockSession session;
  ALLOW_CALL(session, kind()).RETURN(dialect::sqlite);
  REQUIRE_CALL(session, begin(_)).RETURN(ok());
  REQUIRE_CALL(session, query(_, _)).RETURN(rows_of({video_row("V1")}));
  REQUIRE_CALL(session, rollback()).RETURN(ok());
  auto sink = std::make_shared<capture_sink>();
  mocked_database database(session, {.logger = capturing_logger(sink)});

  const auto line = __LINE__ + 2;
  {
    auto leaked = get_video_repository(database.db);
    REQUIRE(leaked->get_video_by_id("V1"));
  }
  CHECK(sink->count("Leaked session: a raw repository created at") == 1);
  CHECK(sink->count("raw_getters_test.cpp:" + std::to_string(line)) == 1);
  CHECK(database.db.metrics().rollbacks_by(rollback_cause::abandoned) == 1);
  CHECK(database.db.pool().in_use == 0);
}

TEST_CASE("a raw repository that was committed and closed leaves no warning", "[raw-getters]") {
  MockSession session;
  ALLOW_CALL(session, kind()).RETURN(dialect::sqlite);
  REQUIRE_CALL(session, begin(_)).RETURN(ok());
  REQUIRE_CALL(session, query(_, _)).RETURN(rows_of({video_row("V1")}));
  REQUIRE_CALL(session, commit()).RETURN(ok());
  auto sink = std::make_shared<capture_sink>();
  mocked_database database(session, {.logger = capturing_logger(sink)});
  {
    auto jobs_then_videos = get_video_repository(database.db);
    REQUIRE(jobs_then_videos->get_video_by_id("V1"));
    REQUIRE(jobs_then_videos.commit());
    jobs_then_videos.close();
  }
  CHECK(sink->lines().empty());
}
