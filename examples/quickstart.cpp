// The scoped repositories end to end: open a database, migrate it, write a channel, videos and
// a job in one unit of work, read them back in another. Runs on the embedded SQLite default or
// on the URL given as the first argument (or in REPOKIT_DATABASE_URL).
#include <cstdlib>
#include <iostream>
#include <string>

#include "repokit/repokit.hpp"

int main(int argc, char** argv) {
  const char* from_env = std::getenv("REPOKIT_DATABASE_URL");
  const std::string url = argc > 1   ? argv[1]
                          : from_env ? from_env
                                     : "sqlite:///repokit-quickstart.db";

  auto db = repokit::Database::open(url);
  if (!db) {
    std::cerr << "cannot open the database: " << db.error().describe() << '\n';
    return 2;
  }
  if (auto migrated = repokit::migrate(db.value()); !migrated) {
    std::cerr << "migration failed: " << migrated.error().describe() << '\n';
    return 1;
  }

  // One unit of work, several repositories: all of it lands, or none of it.
  auto written =
      repokit::unit_of_work(db.value(), [](repokit::Repositories& repos) -> repokit::result<int> {
        REPOKIT_TRYV(repos.channels.get_or_create_channel("CH-quickstart", "Quickstart channel"));
        int created = 0;
        for (int i = 0; i < 3; ++i) {
          const std::string id = "V-quickstart-" + std::to_string(i);
          if (repos.videos.get_video_by_id(id)) continue;  // already there from an earlier run
          REPOKIT_TRYV(
              repos.videos.create_video(id, "CH-quickstart", "Video " + std::to_string(i), 60 * i));
          ++created;
        }
        // One atomic upsert: checking job_exists first and then calling create_job would let
        // two concurrent runs both see "no job" and both create one.
        REPOKIT_TRYV(repos.jobs.create_if_not_exists("video_process", "V-quickstart-0",
                                                     R"({"quality":"hd"})"));
        return created;
      });
  if (!written) {
    std::cerr << "write failed: " << written.error().describe() << '\n';
    return 1;
  }

  auto listed = repokit::video_repository(db.value(), [](repokit::VideoRepository& videos) {
    return videos.list_videos_by_channel("CH-quickstart");
  });
  if (!listed) {
    std::cerr << "read failed: " << listed.error().describe() << '\n';
    return 1;
  }
  std::cout << "database: " << db.value().url().masked() << '\n'
            << "videos created now: " << written.value() << '\n';
  for (const repokit::Video& video : listed.value()) {
    std::cout << "  " << video.video_id << "  " << video.title << "  " << video.duration_seconds
              << " s\n";
  }
  const repokit::metrics_snapshot m = db.value().metrics();
  std::cout << "commits: " << m.commits << ", rollbacks: " << m.rollbacks_total()
            << ", connections opened: " << m.sessions_opened << '\n';
  return 0;
}
