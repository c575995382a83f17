// The server is down for longer than the retry budget: every connect is refused, the scope
// retries until its deadline, then gives up once with errc::connection_lost.
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdio>

#include "fault_support.hpp"
#include "support/capture_sink.hpp"

using namespace repokit;
using namespace repokit::testing;

namespace {

constexpr std::array integer_column{column_type::integer};
constexpr statement select_one{"select_one", "SELECT 1", statement_kind::read, integer_column};

// A TCP port on 127.0.0.1 that nothing listens on: bound by us, then released.
int closed_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;
  socklen_t length = sizeof address;
  const bool bound = ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0 &&
                     ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0;
  ::close(fd);
  REQUIRE(bound);
  return ntohs(address.sin_port);
}

}  // namespace

TEST_CASE("a server that stays down past the retry deadline: one give-up, connection_lost",
          "[postgresql][refused]") {
  require_backend(dialect::postgresql);
  auto sink = std::make_shared<capture_sink>();
  const std::string url =
      "postgresql://postgres:unused@127.0.0.1:" + std::to_string(closed_port()) +
      "/repokit_test?connect_timeout=2";
  const db_retry budget{
      .max_retries = 1000, .initial_delay = seconds{0.05}, .deadline = seconds{1.0}};
  auto opened = Database::open(url, {.retry = budget, .logger = capturing_logger(sink)});
  REQUIRE(opened);  // connections are made lazily: opening does not notice the server is down
  const Database db = std::move(opened).value();

  int attempts = 0;
  const auto started = std::chrono::steady_clock::now();
  auto outcome = run_unit(db, scope_options{.name = "refused unit"},
                          [&](UnitOfWork& unit) -> result<std::int64_t> {
                            ++attempts;
                            REPOKIT_TRY(auto found, unit.query_one(select_one));
                            return found.value().integer(0);
                          });
  const auto took = std::chrono::steady_clock::now() - started;
  std::printf(
      "refused test: %d attempts in %lld ms\n", attempts,
      static_cast<long long>(std::chrono::duration_cast<std::chrono::milliseconds>(took).count()));

  INFO("captured log:\n"
       << [&] {
            std::string all;
            for (const auto& line : sink->lines()) all += line + '\n';
            return all;
          }());
  REQUIRE_FALSE(outcome);
  INFO("outcome: " << outcome.error().describe());
  CHECK(outcome.error().kind == errc::connection_lost);
  CHECK(outcome.error().retry == retry_class::reconnect_then_retry);
  CHECK(attempts >= 2);

  const auto counted = db.metrics();
  CHECK(counted.give_ups == 1);
  CHECK(counted.retries_by(retry_class::reconnect_then_retry) ==
        static_cast<std::uint64_t>(attempts - 1));
  CHECK(counted.sessions_opened == 0);
  CHECK(counted.commits == 0);
  CHECK(db.pool().in_use == 0);
  CHECK(db.pool().open == 0);
  CHECK(sink->count("Giving up on") == 1);
  CHECK(sink->count("retry deadline reached") == 1);
  CHECK(sink->count("unused") == 0);  // the password never reaches the log
}
