// `repokit migrate` and `repokit stats`: the schema, and what the jobs table holds. Only
// `repokit migrate` without --status writes; the others open the database read-only.
#include <iostream>
#include <string>
#include <tuple>

#include "commands.hpp"
#include "repokit/repokit.hpp"
#include "report.hpp"

namespace repokit::cli {
namespace {

constexpr query<std::tuple<std::string, std::string, std::int64_t>()> jobs_by_type_and_status{
    "stats_jobs",
    "SELECT job_type, status, COUNT(*) FROM jobs GROUP BY job_type, status "
    "ORDER BY job_type, status"};
// The invariant create_if_not_exists keeps: never two active jobs for one type and target.
constexpr query<std::int64_t()> active_duplicates{
    "stats_active_duplicates",
    "SELECT COUNT(*) FROM (SELECT job_type, target_id FROM jobs WHERE status IN ('pending', "
    "'running') GROUP BY job_type, target_id HAVING COUNT(*) > 1) AS duplicated"};
constexpr query<std::int64_t()> video_count{"stats_videos", "SELECT COUNT(*) FROM videos"};
constexpr query<std::int64_t()> channel_count{"stats_channels", "SELECT COUNT(*) FROM channels"};

std::optional<Database> open_database(const command_line& args, std::string_view command,
                                      bool read_only) {
  const std::optional<std::string> url = args.url();
  if (!url) throw usage_error("--url is required (or set REPOKIT_DATABASE_URL)");
  auto db = Database::open(*url, {.read_only = read_only});
  if (!db) {
    std::cerr << "repokit " << command << ": cannot open the database: " << db.error().describe()
              << '\n';
    return std::nullopt;
  }
  return std::move(db).value();
}

// Per set: the version applied, the latest, and each pending step. Reads only.
int print_status(const Database& db, const command_line& args) {
  report out("repokit migrate --status");
  out.add("database", db.url().masked());
  for (const migration_set* set : {&repokit_schema()}) {
    auto where = status(db, *set);
    if (!where) {
      std::cerr << "repokit migrate: " << where.error().describe() << '\n';
      return 1;
    }
    report& section = out.section(std::string(set->name()), "set " + std::string(set->name()));
    section.add("version", where.value().version);
    section.add("latest_version", where.value().latest_version);
    section.add("pending", where.value().pending.size());
    for (const migration_step* step : where.value().pending) {
      section.add("pending_" + std::to_string(step->version), std::string(step->name));
    }
  }
  out.print(std::cout, args.flag("json"));
  return 0;
}

}  // namespace

int run_migrate(const command_line& args) {
  const bool status_only = args.flag("status");
  auto db = open_database(args, "migrate", status_only);
  if (!db) return 1;
  if (status_only) return print_status(*db, args);
  auto migrated = migrate(*db);
  if (!migrated) {
    std::cerr << "repokit migrate: " << migrated.error().describe() << '\n';
    return 1;
  }
  report out("repokit migrate");
  out.add("database", db->url().masked());
  out.add("from_version", migrated.value().from_version);
  out.add("to_version", migrated.value().to_version);
  out.add("applied", static_cast<std::int64_t>(migrated.value().applied.size()));
  out.print(std::cout, args.flag("json"));
  return 0;
}

int run_stats(const command_line& args) {
  auto db = open_database(args, "stats", /*read_only=*/true);
  if (!db) return 1;
  // An unmigrated database is told apart from one that cannot be read at all, so that only the
  // former gets the advice to migrate.
  auto version = schema_version(*db);
  if (!version) {
    std::cerr << "repokit stats: " << version.error().describe() << '\n';
    return 1;
  }
  if (version.value() < latest_schema_version) {
    std::cerr << "repokit stats: the database is at schema version " << version.value()
              << ", this repokit needs " << latest_schema_version
              << ": run 'repokit migrate --url ...' first\n";
    return 1;
  }
  report out("repokit stats");
  out.add("database", db->url().masked());
  std::int64_t duplicates = 0;
  auto read = lookup(*db, [&](Repositories& repos) -> result<void> {
    REPOKIT_TRY(auto videos, repos.unit.one(video_count));
    out.add("videos", videos.value_or(0));
    REPOKIT_TRY(auto channels, repos.unit.one(channel_count));
    out.add("channels", channels.value_or(0));
    REPOKIT_TRY(auto counts, repos.unit.all(jobs_by_type_and_status));
    for (const auto& [type, status, count] : counts) out.add("jobs." + type + "." + status, count);
    REPOKIT_TRY(auto duplicated, repos.unit.one(active_duplicates));
    duplicates = duplicated.value_or(0);
    out.add("active_duplicates", duplicates);
    return success();
  });
  if (!read) {
    std::cerr << "repokit stats: " << read.error().describe() << '\n';
    return 1;
  }
  out.print(std::cout, args.flag("json"));
  return duplicates == 0 ? 0 : 1;
}

}  // namespace repokit::cli
