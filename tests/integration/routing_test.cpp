// Jobs routed to a database of their own, on real databases.
#include <catch2/catch.hpp>

#include "contract_support.hpp"

using namespace repokit;
using namespace repokit::contract;

TEST_CASE("routed repositories write to their own database, one transaction on each",
          "[contract][routing]") {
  testing::test_database catalogue;
  testing::test_database jobs;
  database_routes routes(catalogue.db());
  routes.route<JobRepository>("jobs", jobs.db());

  REQUIRE(unit_of_work(routes, [](Repositories& repos) -> result<void> {
    REPOKIT_TRYV(repos.channels.create_channel("CH1", "one"));
    REPOKIT_TRYV(repos.videos.create_video("V1", "CH1", "routed", 1));
    REPOKIT_TRYV(repos.jobs.create_if_not_exists("video_process", "V1"));
    return success();
  }));
  CHECK(testing::count_rows(catalogue.db(), "videos") == 1);
  CHECK(testing::count_rows(catalogue.db(), "jobs") == 0);
  CHECK(testing::count_rows(jobs.db(), "jobs") == 1);
  CHECK(testing::count_rows(jobs.db(), "videos") == 0);

  auto failed = unit_of_work(routes, [](Repositories& repos) -> result<void> {
    REPOKIT_TRYV(repos.videos.create_video("V2", "CH1", "never", 1));
    REPOKIT_TRYV(repos.jobs.create_job("video_process", "V2"));
    return failure(errc::invalid_state, "the body gives up");
  });
  CHECK_FALSE(failed);
  CHECK(testing::count_rows(catalogue.db(), "videos") == 1);
  CHECK(testing::count_rows(jobs.db(), "jobs") == 1);

  auto job = job_repository(
      routes, [](JobRepository& repo) { return repo.job_exists("video_process", "V1"); });
  REQUIRE(job);
  CHECK(job.value());
}
