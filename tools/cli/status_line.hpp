// The demo's stderr, shared by its progress bar and its log lines so that neither breaks the
// other: on a terminal a log line first clears the bar, which is drawn again on its next tick;
// anywhere else both are plain lines.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include <spdlog/sinks/sink.h>

namespace repokit::cli {

class status_line {
 public:
  explicit status_line(bool terminal) : terminal_(terminal) {}

  bool terminal() const noexcept { return terminal_; }
  // The bar: redrawn in place on a terminal, a line of its own elsewhere.
  void show(std::string_view text);
  // A whole line above the bar.
  void print(std::string_view line);
  // Ends the bar's line, so that what follows starts on a fresh one.
  void finish();

 private:
  std::mutex mutex_;
  bool terminal_;
  bool shown_ = false;
};

// An spdlog sink that writes through `line`.
std::shared_ptr<spdlog::sinks::sink> status_line_sink(std::shared_ptr<status_line> line);

// Whether to colour what goes to `fd`: a terminal, and NO_COLOR unset or empty (no-color.org).
bool colour_wanted(int fd);

}  // namespace repokit::cli
