// The scoped factory functions: the primary way to use repokit. Each opens a unit of work,
// hands the body a repository on it, commits when the body succeeds, rolls back when it fails
// or throws, gives the connection back, and retries the whole body after transient failures:
//
//   auto title = repokit::video_repository(db, [&](repokit::VideoRepository& videos)
//                                                  -> repokit::result<std::string> {
//     REPOKIT_TRY(auto video, videos.get_video_by_id("V1"));
//     return video.title;
//   });
//
// Inside another scope on the same Database and thread they join its unit of work.
#pragma once

#include <source_location>
#include <utility>

#include "repokit/repositories/channel_repository.hpp"
#include "repokit/repositories/job_repository.hpp"
#include "repokit/repositories/video_repository.hpp"
#include "repokit/scope.hpp"

namespace repokit {

// Every repository on one unit of work: one session, one transaction.
struct Repositories {
  explicit Repositories(UnitOfWork& unit) noexcept
      : videos(unit), channels(unit), jobs(unit), unit(unit) {}
  // Repositories routed to different databases (routing.hpp); `primary` is the routes' default.
  Repositories(UnitOfWork& videos_unit, UnitOfWork& channels_unit, UnitOfWork& jobs_unit,
               UnitOfWork& primary) noexcept
      : videos(videos_unit), channels(channels_unit), jobs(jobs_unit), unit(primary) {}

  VideoRepository videos;
  ChannelRepository channels;
  JobRepository jobs;
  UnitOfWork& unit;
};

namespace detail {

template <class Repository, class Body>
auto run_with(const Database& db, scope_options options, Body& body) {
  return run_unit(db, options, [&body](UnitOfWork& unit) {
    Repository repository(unit);
    return invoke_body(body, repository);
  });
}

}  // namespace detail

template <class Body>
auto video_repository(const Database& db, scope_options options, Body&& body) {
  return detail::run_with<VideoRepository>(db, options, body);
}
template <class Body>
auto video_repository(const Database& db, Body&& body,
                      std::source_location where = std::source_location::current()) {
  return video_repository(db, scope_options{.name = "video_repository", .where = where}, body);
}

template <class Body>
auto channel_repository(const Database& db, scope_options options, Body&& body) {
  return detail::run_with<ChannelRepository>(db, options, body);
}
template <class Body>
auto channel_repository(const Database& db, Body&& body,
                        std::source_location where = std::source_location::current()) {
  return channel_repository(db, scope_options{.name = "channel_repository", .where = where}, body);
}

template <class Body>
auto job_repository(const Database& db, scope_options options, Body&& body) {
  return detail::run_with<JobRepository>(db, options, body);
}
template <class Body>
auto job_repository(const Database& db, Body&& body,
                    std::source_location where = std::source_location::current()) {
  return job_repository(db, scope_options{.name = "job_repository", .where = where}, body);
}

// body(Repositories&): several repositories sharing one session and one transaction.
template <class Body>
auto unit_of_work(const Database& db, scope_options options, Body&& body) {
  return detail::run_with<Repositories>(db, options, body);
}
template <class Body>
auto unit_of_work(const Database& db, Body&& body,
                  std::source_location where = std::source_location::current()) {
  return unit_of_work(db, scope_options{.name = "unit_of_work", .where = where}, body);
}

}  // namespace repokit
