// `repokit migrate` and `repokit stats`: the schema, and what the jobs table holds.
#include <cstdlib>
#include <iostream>

#include "commands.hpp"
#include "repokit/repokit.hpp"
#include "report.hpp"

namespace repokit::cli {
namespace {

constexpr std::array<column_type, 3> status_columns{column_type::text, column_type::text,
                                                    column_type::integer};
constexpr statement jobs_by_type_and_status{
    "stats_jobs",
    "SELECT job_type, status, COUNT(*) FROM jobs GROUP BY job_type, status "
    "ORDER BY job_type, status",
    statement_kind::read, status_columns};

constexpr std::array<column_type, 1> count_column{column_type::integer};
// The invariant create_if_not_exists keeps: never two active jobs for one type and target.
constexpr statement active_duplicates{
    "stats_active_duplicates",
    "SELECT COUNT(*) FROM (SELECT job_type, target_id FROM jobs WHERE status IN ('pending', "
    "'running') GROUP BY job_type, target_id HAVING COUNT(*) > 1) AS duplicated",
    statement_kind::read, count_column};
constexpr statement video_count{"stats_videos", "SELECT COUNT(*) FROM videos", statement_kind::read,
                                count_column};
constexpr statement channel_count{"stats_channels", "SELECT COUNT(*) FROM channels",
                                  statement_kind::read, count_column};

std::string url_of(const command_line& args) {
  if (auto url = args.text("url")) return *url;
  if (const char* from_environment = std::getenv("REPOKIT_DATABASE_URL")) return from_environment;
  throw usage_error("--url is required (or set REPOKIT_DATABASE_URL)");
}

std::optional<Database> open_database(const command_line& args, std::string_view command) {
  auto db = Database::open(url_of(args));
  if (!db) {
    std::cerr << "repokit " << command << ": cannot open the database: " << db.error().describe()
              << '\n';
    return std::nullopt;
  }
  return std::move(db).value();
}

}  // namespace

int run_migrate(const command_line& args) {
  auto db = open_database(args, "migrate");
  if (!db) return 1;
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
  auto db = open_database(args, "stats");
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
    REPOKIT_TRY(auto version_rows, repos.unit.query_one(video_count));
    out.add("videos", version_rows->integer(0));
    REPOKIT_TRY(auto channels, repos.unit.query_one(channel_count));
    out.add("channels", channels->integer(0));
    REPOKIT_TRY(auto rows, repos.unit.query(jobs_by_type_and_status));
    for (const row& r : rows) out.add("jobs." + r.text(0) + "." + r.text(1), r.integer(2));
    REPOKIT_TRY(auto duplicated, repos.unit.query_one(active_duplicates));
    duplicates = duplicated->integer(0);
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
