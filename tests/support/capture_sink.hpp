// A spdlog sink that keeps every formatted message, so tests can assert on log lines.
#pragma once

#include <spdlog/logger.h>
#include <spdlog/sinks/base_sink.h>

#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace repokit::testing {

class capture_sink final : public spdlog::sinks::base_sink<std::mutex> {
 public:
  std::vector<std::string> lines() {
    std::lock_guard lock(mutex_);
    return lines_;
  }
  // How many captured lines contain `fragment`.
  std::size_t count(const std::string& fragment) {
    std::size_t n = 0;
    for (const auto& line : lines()) n += line.find(fragment) != std::string::npos ? 1 : 0;
    return n;
  }

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    lines_.emplace_back(spdlog::level::to_string_view(msg.level).data(),
                        spdlog::level::to_string_view(msg.level).size());
    lines_.back() += ": ";
    lines_.back().append(msg.payload.data(), msg.payload.size());
  }
  void flush_() override {}

 private:
  std::vector<std::string> lines_;  // guarded by base_sink's mutex while logging
};

// A logger at trace level writing only to `sink`.
inline std::shared_ptr<spdlog::logger> capturing_logger(std::shared_ptr<capture_sink> sink) {
  auto logger = std::make_shared<spdlog::logger>("repokit-test", std::move(sink));
  logger->set_level(spdlog::level::trace);
  return logger;
}

}  // namespace repokit::testing
