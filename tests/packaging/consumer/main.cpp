// Opens an in-memory database, migrates it and writes and reads a video: enough to prove that
// headers, libraries and dependencies all came along.
#include <iostream>

#include <repokit/repokit.hpp>
#include <repokit/version.hpp>

int main() {
  const auto db = repokit::Database::open("sqlite::memory:").value();
  repokit::migrate(db).value();
  const auto title =
      repokit::unit_of_work(db, [](repokit::Repositories& repos) -> repokit::result<std::string> {
        REPOKIT_TRYV(repos.channels.create_channel("CH1", "Consumers"));
        REPOKIT_TRY(auto video, repos.videos.create_video("V1", "CH1", "Packaged", 42));
        return video.title;
      }).value();
  std::cout << "repokit " << repokit::version << ": " << title << '\n';
  return title == "Packaged" ? 0 : 1;
}
