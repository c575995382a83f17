#include "node_selector.hpp"

#include <random>
#include <string>

namespace repokit::detail {

result<node_selection> parse_node_selection(std::string_view text) {
  if (text == "round_robin") return node_selection::round_robin;
  if (text == "first_healthy") return node_selection::first_healthy;
  return failure(errc::configuration, "node_selection must be round_robin or first_healthy, not '" +
                                          std::string(text) + "'");
}

node_selector::node_selector(std::size_t nodes, node_selection policy,
                             std::chrono::milliseconds rest)
    : policy_(policy),
      rest_(rest),
      down_until_(nodes),
      // Each Database starts at a node of its own: processes with small pools spread too.
      next_(std::random_device{}()) {}

std::vector<std::size_t> node_selector::order() {
  std::lock_guard lock(mutex_);
  const std::size_t count = down_until_.size();
  const std::size_t first = policy_ == node_selection::round_robin ? next_++ % count : 0;
  const auto now = clock::now();
  std::vector<std::size_t> healthy;
  std::vector<std::size_t> resting;
  for (std::size_t i = 0; i < count; ++i) {
    const std::size_t node = (first + i) % count;
    (down_until_[node] <= now ? healthy : resting).push_back(node);
  }
  healthy.insert(healthy.end(), resting.begin(), resting.end());
  return healthy;
}

void node_selector::mark_down(std::size_t node) {
  std::lock_guard lock(mutex_);
  down_until_.at(node) = clock::now() + rest_;
}

void node_selector::mark_up(std::size_t node) {
  std::lock_guard lock(mutex_);
  down_until_.at(node) = clock::time_point{};
}

}  // namespace repokit::detail
