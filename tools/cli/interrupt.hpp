// Ctrl-C for the commands that run for a while: the first SIGINT or SIGTERM asks them to stop, so
// that they can clean up, say so and exit 130; a second one ends the process at once.
#pragma once

namespace repokit::cli {

inline constexpr int exit_interrupted = 130;

// Installs the handlers; call once, before starting threads.
void watch_for_interrupt();

// True once a SIGINT or SIGTERM arrived.
bool interrupted() noexcept;

}  // namespace repokit::cli
