#include "status_line.hpp"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>

#include <spdlog/sinks/base_sink.h>

namespace repokit::cli {
namespace {

constexpr std::string_view clear_line = "\r\033[K";

class sink final : public spdlog::sinks::base_sink<std::mutex> {
 public:
  explicit sink(std::shared_ptr<status_line> line) : line_(std::move(line)) {}

 protected:
  void sink_it_(const spdlog::details::log_msg& message) override {
    spdlog::memory_buf_t formatted;
    formatter_->format(message, formatted);
    line_->print(std::string_view(formatted.data(), formatted.size()));
  }
  void flush_() override { std::fflush(stderr); }

 private:
  std::shared_ptr<status_line> line_;
};

}  // namespace

void status_line::show(std::string_view text) {
  const std::lock_guard lock(mutex_);
  if (terminal_) {
    std::fprintf(stderr, "%.*s%.*s", static_cast<int>(clear_line.size()), clear_line.data(),
                 static_cast<int>(text.size()), text.data());
    shown_ = true;
  } else {
    std::fprintf(stderr, "%.*s\n", static_cast<int>(text.size()), text.data());
  }
  std::fflush(stderr);
}

void status_line::print(std::string_view line) {
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.remove_suffix(1);
  const std::lock_guard lock(mutex_);
  if (terminal_ && shown_) {
    std::fprintf(stderr, "%.*s", static_cast<int>(clear_line.size()), clear_line.data());
    shown_ = false;  // the next tick draws it again, below this line
  }
  std::fprintf(stderr, "%.*s\n", static_cast<int>(line.size()), line.data());
  std::fflush(stderr);
}

void status_line::finish() {
  const std::lock_guard lock(mutex_);
  if (terminal_ && shown_) std::fprintf(stderr, "\n");
  shown_ = false;
  std::fflush(stderr);
}

std::shared_ptr<spdlog::sinks::sink> status_line_sink(std::shared_ptr<status_line> line) {
  return std::make_shared<sink>(std::move(line));
}

bool colour_wanted(int fd) {
  const char* no_colour = std::getenv("NO_COLOR");
  return ::isatty(fd) == 1 && (no_colour == nullptr || *no_colour == '\0');
}

}  // namespace repokit::cli
