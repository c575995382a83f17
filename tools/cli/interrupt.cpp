#include "interrupt.hpp"

#include <atomic>
#include <csignal>

namespace repokit::cli {
namespace {

std::atomic<bool> stop_requested{false};
static_assert(std::atomic<bool>::is_always_lock_free, "used from a signal handler");

extern "C" void on_interrupt(int signal_number) {
  if (stop_requested.exchange(true)) {
    // The second Ctrl-C: the user does not want to wait for the clean-up.
    std::signal(signal_number, SIG_DFL);
    std::raise(signal_number);
  }
}

}  // namespace

void watch_for_interrupt() {
  std::signal(SIGINT, on_interrupt);
  std::signal(SIGTERM, on_interrupt);
}

bool interrupted() noexcept { return stop_requested.load(); }

}  // namespace repokit::cli
