// repokit: run the demo, migrate a database, inspect its jobs, benchmark the workloads.
#include <exception>
#include <iostream>
#include <set>
#include <span>
#include <string_view>

#include "commands.hpp"
#include "repokit/version.hpp"

namespace {

using namespace repokit::cli;

constexpr std::string_view overview = R"(usage: repokit <command> [options]

commands:
  demo      producers enqueue jobs, workers process them, retries absorb faults
  migrate   bring a database's schema to the latest version
  stats     jobs by type and status, and the one-active-job check
  bench     measure a workload (scoped-read, hot-read, scoped-write, create-job)

repokit <command> --help shows a command's options; repokit --version its version.
URLs: sqlite:///relative.db  sqlite:////absolute.db  sqlite::memory:
      postgresql://user:password@host:5432/dbname
)";

constexpr std::string_view demo_help = R"(usage: repokit demo [options]

Ingests a catalogue, lets producer threads enqueue one job per target idempotently (they
overlap on purpose), lets worker threads claim and process the jobs in phases, and prints a
summary. Exits 1 if any job was lost or processed twice.

  --url URL          database (default: sqlite:///repokit-demo.db, recreated each run)
  --producers P      producer threads (default 4)
  --workers W        worker threads (default 4)
  --targets N        videos that get a job (default 200)
  --videos V         videos in the catalogue (default max(1000, N))
  --chaos RATE       inject busy, deadlock and dropped-connection faults into this share of
                     BEGINs, statements and COMMITs, 0 to 0.5 (default 0)
  --json             print the summary as one JSON object
  --verbose          log every retry
)";

constexpr std::string_view migrate_help = R"(usage: repokit migrate --url URL [--json]

Applies the schema migrations the database lacks, each in its own transaction. Safe to run
again and from several processes at once. REPOKIT_DATABASE_URL stands in for --url.
)";

constexpr std::string_view stats_help = R"(usage: repokit stats --url URL [--json]

Counts videos, channels and jobs by type and status, and checks that no (type, target) has two
active jobs (exit 1 if one has). REPOKIT_DATABASE_URL stands in for --url.
)";

constexpr std::string_view bench_help = R"(usage: repokit bench [options]

  --workload NAME    scoped-read, hot-read, scoped-write or create-job (default scoped-read)
  --ops N            operations in all (default 10000)
  --threads T        threads sharing them (default 1)
  --videos V         videos in the data set (default 10000)
  --url URL          database (default: sqlite:///repokit-bench.db)
Prints one JSON object: impl, workload, ops, threads, seconds, ops_per_s, failures, retries.
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
  if (arguments.size() < 2 || std::string_view(arguments[1]) == "--help" ||
      std::string_view(arguments[1]) == "-h") {
    std::cout << overview;
    return arguments.size() < 2 ? 2 : 0;
  }
  if (std::string_view(arguments[1]) == "--version") {
    std::cout << "repokit " << repokit::version << '\n';
    return 0;
  }
  const command commands[] = {
      {"demo",
       demo_help,
       run_demo,
       {"url", "producers", "workers", "targets", "videos", "chaos"},
       {"json", "verbose"}},
      {"migrate", migrate_help, run_migrate, {"url"}, {"json"}},
      {"stats", stats_help, run_stats, {"url"}, {"json"}},
      {"bench", bench_help, run_bench, {"url", "workload", "ops", "threads", "videos"}, {}},
  };
  const std::string_view name = arguments[1];
  for (const command& candidate : commands) {
    if (candidate.name != name) continue;
    const auto rest = arguments.subspan(2);
    for (const char* argument : rest) {
      if (std::string_view(argument) == "--help" || std::string_view(argument) == "-h") {
        std::cout << candidate.help;
        return 0;
      }
    }
    try {
      return candidate.run(command_line(name, rest, candidate.options, candidate.flags));
    } catch (const usage_error& e) {
      std::cerr << "repokit " << name << ": " << e.what() << "\n\n" << candidate.help;
      return 2;
    } catch (const std::exception& e) {
      std::cerr << "repokit " << name << ": unexpected error: " << e.what() << '\n';
      return 1;
    }
  }
  std::cerr << "repokit: unknown command '" << name << "'\n\n" << overview;
  return 2;
}
