// Which node of a cluster URL a new connection tries first.
#include <catch2/catch.hpp>

#include "node_selector.hpp"

using namespace repokit;
using namespace repokit::detail;

TEST_CASE("round robin starts each connection at the next node", "[node-selector]") {
  node_selector selector(3, node_selection::round_robin);
  const std::size_t first = selector.order().front();  // each selector starts somewhere of its own
  for (std::size_t i = 1; i <= 3; ++i) {
    const std::size_t start = (first + i) % 3;
    CHECK(selector.order() == std::vector<std::size_t>{start, (start + 1) % 3, (start + 2) % 3});
  }
}

TEST_CASE("a node marked down is tried last until it rests its time", "[node-selector]") {
  node_selector selector(3, node_selection::first_healthy, std::chrono::hours{1});
  selector.mark_down(0);
  CHECK(selector.order() == std::vector<std::size_t>{1, 2, 0});
  selector.mark_down(1);
  CHECK(selector.order() == std::vector<std::size_t>{2, 0, 1});
  selector.mark_up(0);
  CHECK(selector.order() == std::vector<std::size_t>{0, 2, 1});
}

TEST_CASE("a node's rest ends by itself", "[node-selector]") {
  node_selector selector(2, node_selection::first_healthy, std::chrono::milliseconds{0});
  selector.mark_down(0);
  CHECK(selector.order() == std::vector<std::size_t>{0, 1});
}

TEST_CASE("node_selection is round_robin or first_healthy", "[node-selector]") {
  CHECK(parse_node_selection("round_robin").value() == node_selection::round_robin);
  CHECK(parse_node_selection("first_healthy").value() == node_selection::first_healthy);
  auto unknown = parse_node_selection("random");
  REQUIRE_FALSE(unknown);
  CHECK(unknown.error().kind == errc::configuration);
}
