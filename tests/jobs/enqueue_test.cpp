// enqueue: a COMMIT in doubt is resolved by reading the job back, whether it landed or not, and a
// job that existed before the call is never taken for the one in doubt.
#include <memory>
#include <string>

#include "job_support.hpp"
#include "repokit/testing/fault_injecting_session.hpp"

using namespace repokit;
using namespace repokit::jobs_test;
using repokit::testing::fault;
using repokit::testing::test_database;

namespace {

struct faulty_database {
  std::shared_ptr<testing::fault_injector> faults = std::make_shared<testing::fault_injector>();
  test_database fixture{{.pool_size = 2, .wrap_session = testing::inject(faults)}};
  const Database& db() const { return fixture.db(); }
};

}  // namespace

TEST_CASE("enqueue: a COMMIT that landed unseen is read back, not made again", "[enqueue]") {
  constexpr std::string_view job_type = "enqueue_landed";
  const faulty_database setup;
  setup.faults->fail_next(fault::in_doubt_commit);

  auto made = enqueue(setup.db(), {.job_type = job_type, .target_id = "t1"});
  INFO(describe(made));
  REQUIRE(made);
  CHECK(made.value().created);  // made again, it would answer the job it found: not created
  CHECK(made.value().record.target_id == "t1");
  CHECK(setup.faults->in_doubt() == 1);
  CHECK(count_jobs(setup.db(), job_type) == 1);
}

TEST_CASE("enqueue: a COMMIT that did not land is made again", "[enqueue]") {
  constexpr std::string_view job_type = "enqueue_lost";
  const faulty_database setup;
  setup.faults->fail_next(fault::in_doubt_abort);

  auto made = enqueue(setup.db(), {.job_type = job_type, .target_id = "t1"});
  INFO(describe(made));
  REQUIRE(made);
  CHECK(made.value().created);
  CHECK(setup.faults->in_doubt() == 1);
  CHECK(count_jobs(setup.db(), job_type, job_status::pending) == 1);
}

TEST_CASE("enqueue: a job that existed before the call is not taken for the one in doubt",
          "[enqueue]") {
  constexpr std::string_view job_type = "enqueue_existing";
  const faulty_database setup;
  const auto first = enqueue(setup.db(), {.job_type = job_type, .target_id = "t1"});
  REQUIRE(first);
  REQUIRE(first.value().created);
  setup.faults->fail_next(fault::in_doubt_commit);

  auto again = enqueue(setup.db(), {.job_type = job_type, .target_id = "t1"});
  INFO(describe(again));
  REQUIRE(again);
  CHECK_FALSE(again.value().created);
  CHECK(again.value().record.id == first.value().record.id);
  CHECK(setup.faults->in_doubt() == 1);
  CHECK(count_jobs(setup.db(), job_type) == 1);
}

TEST_CASE("enqueue: three COMMITs in doubt in a row, none landed, answer in_doubt", "[enqueue]") {
  constexpr std::string_view job_type = "enqueue_gives_up";
  const faulty_database setup;
  for (int i = 0; i < 3; ++i) setup.faults->fail_next(fault::in_doubt_abort);

  auto made = enqueue(setup.db(), {.job_type = job_type, .target_id = "t1"});
  CHECK(kind_of(made) == errc::in_doubt);
  CHECK(setup.faults->in_doubt() == 3);
  CHECK(count_jobs(setup.db(), job_type) == 0);
}

TEST_CASE("enqueue: bad input is refused before anything is written", "[enqueue]") {
  const faulty_database setup;
  auto made = enqueue(setup.db(), {.job_type = "", .target_id = "t1"});
  CHECK(kind_of(made) == errc::invalid_argument);
}
