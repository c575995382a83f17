// Which server of a cluster URL the next connection goes to. A node whose connection failed is
// left alone for a while, so retries go to the others; when every node is down, all are tried.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <mutex>
#include <string_view>
#include <vector>

#include "repokit/result.hpp"

namespace repokit::detail {

enum class node_selection : unsigned char {
  round_robin,    // spread connections over the healthy nodes
  first_healthy,  // always the first healthy node in URL order: one writer node, the others standby
};

result<node_selection> parse_node_selection(std::string_view text);

class node_selector {
 public:
  node_selector(std::size_t nodes, node_selection policy,
                std::chrono::milliseconds rest = std::chrono::seconds{5});

  // The nodes to try for the next connection, in order: healthy ones first, then the resting.
  std::vector<std::size_t> order();
  void mark_down(std::size_t node);
  void mark_up(std::size_t node);

 private:
  using clock = std::chrono::steady_clock;
  const node_selection policy_;
  const std::chrono::milliseconds rest_;
  std::mutex mutex_;
  std::vector<clock::time_point> down_until_;
  std::size_t next_ = 0;
};

}  // namespace repokit::detail
