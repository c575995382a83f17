// The rows repokit's repositories read and write, as plain structs: no SOCI, no database types.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "repokit/record.hpp"
#include "repokit/result.hpp"

namespace repokit {

struct Channel {
  std::string channel_id{};
  std::string name{};
  timestamp created_at{};
  bool operator==(const Channel&) const = default;
};

struct Video {
  std::string video_id{};
  std::string channel_id{};
  std::string title{};
  std::int64_t duration_seconds = 0;
  timestamp created_at{};
  timestamp updated_at{};
  bool operator==(const Video&) const = default;
};

// The fields update_video changes; the ones left empty keep their stored value.
struct video_changes {
  std::optional<std::string> channel_id{};
  std::optional<std::string> title{};
  std::optional<std::int64_t> duration_seconds{};
};

// failed: its worker failed it (or it was cancelled); dead: it ran out of attempts. Both are
// kept with their last error, never claimed again, and can be requeued by hand.
enum class job_status : std::uint8_t { pending, running, succeeded, failed, dead };

inline constexpr std::array<job_status, 5> all_job_statuses{
    job_status::pending, job_status::running, job_status::succeeded, job_status::failed,
    job_status::dead};

std::string_view to_string(job_status status) noexcept;
// "pending", "running", "succeeded", "failed" or "dead"; anything else is errc::invalid_argument.
result<job_status> parse_job_status(std::string_view text);

}  // namespace repokit

// A job's status is stored as its name.
template <>
struct repokit::column_traits<repokit::job_status> : repokit::stored_as<std::string_view> {
  static std::string_view to_stored(job_status status) noexcept { return to_string(status); }
  static result<job_status> from_stored(std::string_view text) { return parse_job_status(text); }
};

namespace repokit {

struct Job {
  std::int64_t id = 0;
  std::string job_type{};
  std::string target_id{};
  job_status status = job_status::pending;
  std::string parameters{};  // opaque to repokit, typically JSON
  std::int64_t attempts = 0;
  std::optional<std::string> last_error{};
  std::optional<std::string> worker_id{};
  timestamp created_at{};
  timestamp updated_at{};
  std::optional<timestamp> started_at{};
  std::optional<timestamp> finished_at{};
  std::optional<timestamp> lease_expires_at{};  // while running: the claim holds until then
  timestamp run_at{};                           // not claimable before
  std::int32_t priority = 0;                    // claimed highest first
  bool operator==(const Job&) const = default;
};

// What get_or_create-style calls answer: the record, and whether this call created it.
template <class Record>
struct created_or_existing {
  Record record;
  bool created = false;
};

}  // namespace repokit
