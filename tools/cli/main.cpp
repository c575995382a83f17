// repokit: run the demo, migrate a database, inspect its jobs, benchmark the workloads.
#include <exception>
#include <iostream>
#include <set>
#include <span>
#include <string_view>

#include "commands.hpp"
#include "repokit/database_url.hpp"
#include "repokit/version.hpp"

namespace {

using namespace repokit::cli;

constexpr std::string_view overview = R"(usage: repokit <command> [options]

commands:
  demo      producers enqueue jobs, workers process them, retries absorb faults
  migrate   bring a database's schema to the latest version
  stats     jobs by type and status, and the one-active-job check
  bench     measure a workload (scoped-read, hot-read, scoped-write, create-job, add-to-start)
  help      repokit help <command> shows a command's options

-V, --version anywhere prints the version; -h, --help anywhere prints help.
Every command that takes --url also takes the URL as its first plain argument, as psql does,
and reads REPOKIT_DATABASE_URL when neither is given.
URLs: sqlite:///relative.db  sqlite:////absolute.db  sqlite::memory:
      postgresql://user:password@host:5432/dbname   mysql://user:password@host:3306/dbname

exit status:
  0    success
  1    the command ran and failed: a database error, a demo that lost or repeated a job,
       stats that found two active jobs for one target, a benchmark with failed operations
  2    usage error: unknown command or option, a missing or malformed value
  3    refused: bench was pointed at a database holding data it did not create
  130  interrupted (Ctrl-C): the demo closes its database cleanly, bench removes what it wrote
)";

constexpr std::string_view demo_help = R"(usage: repokit demo [URL] [options]

Ingests a catalogue, lets producer threads enqueue one job per target idempotently (they
overlap on purpose), lets worker threads claim and process the jobs in phases, and prints a
summary and a verdict. Exits 1 if any job was lost or processed twice.

  --url URL          database (default: REPOKIT_DATABASE_URL, else sqlite:///repokit-demo.db,
                     recreated each run)
  --producers P      producer threads (default 4)
  --workers W        worker threads (default 4)
  --targets N        videos that get a job (default 200)
  --videos V         videos in the catalogue (default 1000, or N when N is larger)
  --chaos RATE       inject busy, deadlock and dropped-connection faults into this share of
                     BEGINs, statements and COMMITs, 0 to 0.5 (default 0)
  --json             print the summary, every counter included, as one nested JSON object
  --verbose          log every retry, and show every counter in the summary
Colours follow NO_COLOR (https://no-color.org). repokit --help lists the exit statuses.
)";

constexpr std::string_view migrate_help =
    R"(usage: repokit migrate [URL] [--url URL] [--status] [--json]

Applies the schema migrations the database lacks, each in its own transaction, and records them
in repokit_schema_versions. Safe to run again and from several processes at once.
  --status   print the version applied and the steps pending, and change nothing
REPOKIT_DATABASE_URL stands in for --url.
repokit --help lists the exit statuses.
)";

constexpr std::string_view stats_help = R"(usage: repokit stats [URL] [--url URL] [--json]

Counts videos, channels and jobs by type and status, and checks that no (type, target) has two
active jobs (exit 1 if one has). Opens the database read-only: it never writes.
REPOKIT_DATABASE_URL stands in for --url.
repokit --help lists the exit statuses.
)";

constexpr std::string_view bench_help = R"(usage: repokit bench [URL] [options]

Measures one workload through repokit's public API. By default on a fresh temporary SQLite
database that it deletes afterwards. Given a database (--url, a positional URL or
REPOKIT_DATABASE_URL), it refuses one that holds data it did not create (exit 3, nothing
written) unless --allow-populated is given, and removes the rows it wrote.

  --workload NAME    scoped-read, hot-read, scoped-write, create-job or add-to-start
                     (default scoped-read)
  --ops N            operations per round (default 10000); for add-to-start, the jobs
                     added per mode (default 100; --rounds, --threads and --videos do not
                     apply)
  --gap-ms G         add-to-start: the mean gap between jobs, at random (default 500)
  --rounds R         measured rounds, after one warm-up round (default 5)
  --threads T        threads sharing each round's operations (default 1)
  --videos V         videos in the data set (default 10000)
  --url URL          database (default: a fresh temporary SQLite file)
  --allow-populated  run on a database that already holds videos, channels or jobs
  --json             one JSON object instead of the table
Reports the median throughput of the rounds and their spread (min, max). add-to-start adds
jobs one at a time to a worker runtime, listening for new jobs and then polling only, and
reports how long each took from its enqueue to its handler's start (percentiles, in ms).
repokit --help lists the exit statuses.
)";

struct command {
  std::string_view name;
  std::string_view help;
  int (*run)(const command_line&);
  std::set<std::string> options;
  std::set<std::string> flags;
};

}  // namespace

int main(int argc, char** argv) {
  const std::span<char* const> arguments(argv, static_cast<std::size_t>(argc));
  const auto is = [](const char* argument, std::string_view a, std::string_view b) {
    return std::string_view(argument) == a || std::string_view(argument) == b;
  };
  for (const char* argument : arguments.subspan(arguments.empty() ? 0 : 1)) {
    if (is(argument, "--version", "-V")) {
      std::cout << "repokit " << repokit::version << '\n';
      return 0;
    }
  }
  const command commands[] = {
      {"demo",
       demo_help,
       run_demo,
       {"url", "producers", "workers", "targets", "videos", "chaos"},
       {"json", "verbose"}},
      {"migrate", migrate_help, run_migrate, {"url"}, {"json", "status"}},
      {"stats", stats_help, run_stats, {"url"}, {"json"}},
      {"bench",
       bench_help,
       run_bench,
       {"url", "workload", "ops", "rounds", "threads", "videos", "gap-ms"},
       {"json", "allow-populated"}},
  };
  const auto find = [&](std::string_view name) -> const command* {
    for (const command& candidate : commands) {
      if (candidate.name == name) return &candidate;
    }
    return nullptr;
  };
  const auto unknown = [](std::string_view name) {
    std::cerr << "repokit: unknown command '" << repokit::mask_password(name) << "'\n\n"
              << overview;
    return 2;
  };
  if (arguments.size() < 2 || is(arguments[1], "--help", "-h")) {
    std::cout << overview;
    return arguments.size() < 2 ? 2 : 0;
  }
  const std::string_view name = arguments[1];
  if (name == "help") {
    if (arguments.size() < 3) {
      std::cout << overview;
      return 0;
    }
    const command* wanted = find(arguments[2]);
    if (wanted == nullptr) return unknown(arguments[2]);
    std::cout << wanted->help;
    return 0;
  }
  const command* chosen = find(name);
  if (chosen == nullptr) return unknown(name);
  const auto rest = arguments.subspan(2);
  for (const char* argument : rest) {
    if (is(argument, "--help", "-h")) {
      std::cout << chosen->help;
      return 0;
    }
  }
  // Messages may quote what was typed, a URL with its password included: mask them all.
  try {
    return chosen->run(command_line(name, rest, chosen->options, chosen->flags));
  } catch (const usage_error& e) {
    std::cerr << "repokit " << name << ": " << repokit::mask_password(e.what()) << "\n\n"
              << chosen->help;
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "repokit " << name << ": unexpected error: " << repokit::mask_password(e.what())
              << '\n';
    return 1;
  }
}
