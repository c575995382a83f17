// repokit_bench: the workloads of docs/benchmarks.md run by repokit and by its baselines in one
// process, one JSON line per (implementation, workload, threads) on standard output, with the ratio
// of each implementation to each baseline measured in the same run. Progress goes to stderr.
//
//   repokit_bench [--url URL] [--impl all|NAME,...] [--workload NAME,...|all] [--ops N[,NAME=N...]]
//                 [--threads N,...] [--videos N] [--rounds R] [--warmup N] [--fresh]
//   repokit_bench --burn-down JOBS [--url URL] [--threads W,...]
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <ctime>
#include <iostream>
#include <latch>
#include <map>
#include <mutex>
#include <random>
#include <stdexcept>
#include <thread>
#include <vector>

#include "bench.hpp"
#include "burn_down.hpp"
#include "json.hpp"
#include "repokit/database_url.hpp"

namespace repokit_bench {
namespace {

constexpr std::string_view usage =
    "usage: repokit_bench [options]\n"
    "  --url URL          sqlite:///file.db (default sqlite:///repokit-bench.db) or "
    "postgresql://...\n"
    "  --impl LIST        all (default), or some of repokit, plain-soci, raw-sqlite, raw-libpq\n"
    "  --workload LIST    scoped-read,hot-read,scoped-write,create-job (default), bulk-ingest,\n"
    "                     pool-lease, or all\n"
    "  --ops SPEC         operations per measurement, all threads together: N, and NAME=N to\n"
    "                     set one workload's (default 10000)\n"
    "  --threads LIST     thread counts, e.g. 1,8 (default 1)\n"
    "  --videos N         videos in the data set (default 10000, at least 1000)\n"
    "  --rounds R         measurements per implementation, interleaved; the median is reported,\n"
    "                     and the best (default 3)\n"
    "  --warmup N         untimed operations per thread before each measurement (default 100)\n"
    "  --fresh            drop the tables first and build the data set anew\n"
    "  --burn-down JOBS   instead of the workloads: enqueue JOBS jobs in batches, then drain\n"
    "                     them with --threads workers, repokit's runtime against the raw loop\n";

struct options {
  std::string url = "sqlite:///repokit-bench.db";
  std::vector<std::string> impls;
  std::vector<workload> workloads{workload::scoped_read, workload::hot_read, workload::scoped_write,
                                  workload::create_job};
  std::int64_t default_ops = 10'000;
  std::map<workload, std::int64_t> ops;
  std::vector<int> threads{1};
  int videos = 10'000;
  int rounds = 3;
  std::int64_t warmup = 100;
  bool fresh = false;
  std::int64_t burn_down = 0;  // jobs, when the burn-down is asked for

  std::int64_t ops_for(workload w) const {
    const auto found = ops.find(w);
    return found != ops.end() ? found->second : default_ops;
  }
};

std::vector<std::string> split(std::string_view text) {
  std::vector<std::string> parts;
  while (!text.empty()) {
    const auto comma = text.find(',');
    parts.emplace_back(text.substr(0, comma));
    if (comma == std::string_view::npos) break;
    text.remove_prefix(comma + 1);
  }
  return parts;
}

std::int64_t positive(std::string_view option, const std::string& text) {
  char* end = nullptr;
  const long long value = std::strtoll(text.c_str(), &end, 10);
  if (end == text.c_str() || *end != '\0' || value < 1) {
    throw std::invalid_argument(std::string(option) + " wants a positive integer, not '" + text +
                                "'");
  }
  return value;
}

workload workload_named(const std::string& name) {
  if (const auto w = parse_workload(name)) return *w;
  throw std::invalid_argument("unknown workload '" + name + "'");
}

options parse(int argc, char** argv) {
  options parsed;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    std::string value;
    if (arg == "--help" || arg == "-h") {
      std::cout << usage;
      std::exit(0);
    }
    if (arg == "--fresh") {
      parsed.fresh = true;
      continue;
    }
    if (const auto equals = arg.find('='); equals != std::string::npos) {
      value = arg.substr(equals + 1);
      arg.resize(equals);
    } else if (i + 1 < argc) {
      value = argv[++i];
    } else {
      throw std::invalid_argument(arg + " needs a value");
    }
    if (arg == "--url") {
      parsed.url = value;
    } else if (arg == "--impl") {
      parsed.impls = value == "all" ? std::vector<std::string>{} : split(value);
    } else if (arg == "--workload") {
      parsed.workloads.clear();
      if (value == "all") {
        parsed.workloads = {workload::scoped_read, workload::hot_read,    workload::scoped_write,
                            workload::create_job,  workload::bulk_ingest, workload::pool_lease};
      } else {
        for (const auto& name : split(value)) parsed.workloads.push_back(workload_named(name));
      }
    } else if (arg == "--ops") {
      for (const auto& part : split(value)) {
        if (const auto equals = part.find('='); equals != std::string::npos) {
          parsed.ops[workload_named(part.substr(0, equals))] =
              positive("--ops", part.substr(equals + 1));
        } else {
          parsed.default_ops = positive("--ops", part);
        }
      }
    } else if (arg == "--threads") {
      parsed.threads.clear();
      for (const auto& part : split(value)) {
        parsed.threads.push_back(
            static_cast<int>(std::min<std::int64_t>(positive("--threads", part), 256)));
      }
    } else if (arg == "--videos") {
      parsed.videos =
          static_cast<int>(std::min<std::int64_t>(positive("--videos", value), 10'000'000));
      if (parsed.videos < 1000) throw std::invalid_argument("--videos must be at least 1000");
    } else if (arg == "--rounds") {
      parsed.rounds = static_cast<int>(std::min<std::int64_t>(positive("--rounds", value), 99));
    } else if (arg == "--burn-down") {
      parsed.burn_down = positive("--burn-down", value);
    } else if (arg == "--warmup") {
      parsed.warmup = value == "0" ? 0 : positive("--warmup", value);
    } else {
      throw std::invalid_argument("unknown option " + arg);
    }
  }
  return parsed;
}

std::unique_ptr<implementation> make(const std::string& name, const settings& config) {
  const bool sqlite = config.kind == backend::sqlite;
  if (name == "repokit") return make_repokit(config);
  if (name == "plain-soci") return make_plain_soci(config);
  if (name == "raw-sqlite" && sqlite) return make_raw_sqlite(config);
  if (name == "raw-libpq" && !sqlite) return make_raw_libpq(config);
  throw std::invalid_argument("no implementation '" + name + "' for " +
                              (sqlite ? "SQLite" : "PostgreSQL"));
}

bool writes(workload w) {
  return w == workload::scoped_write || w == workload::create_job || w == workload::bulk_ingest;
}

// The inputs of every thread: read keys and job targets from a generator seeded `seed` + thread,
// new video ids made unique by `prefix`.
std::vector<thread_plan> plan(const settings& config, workload w, int threads, std::int64_t ops,
                              unsigned seed, const std::string& prefix) {
  std::vector<thread_plan> plans(static_cast<std::size_t>(threads));
  for (int t = 0; t < threads; ++t) {
    thread_plan& mine = plans[static_cast<std::size_t>(t)];
    mine.thread = t;
    mine.ops = ops / threads + (t < ops % threads ? 1 : 0);
    if (w == workload::pool_lease) continue;
    mine.keys.reserve(static_cast<std::size_t>(mine.ops));
    std::mt19937 random(seed + static_cast<unsigned>(t));
    const unsigned below =
        static_cast<unsigned>(w == workload::create_job ? config.job_targets : config.videos);
    for (std::int64_t i = 0; i < mine.ops; ++i) {
      if (writes(w) && w != workload::create_job) {
        mine.keys.push_back(prefix + std::to_string(t) + '-' + std::to_string(i));
      } else {
        mine.keys.push_back('V' + std::to_string(random() % below));
      }
    }
  }
  return plans;
}

// CPU time of the calling thread: what the client side spent, whatever the other processes on
// the machine did meanwhile.
double thread_cpu_seconds() {
  timespec now{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now);
  return static_cast<double>(now.tv_sec) + static_cast<double>(now.tv_nsec) * 1e-9;
}

struct run_outcome {
  double seconds = 0;
  double cpu_seconds = 0;  // of every worker thread together
  std::int64_t failures = 0;
  std::int64_t retries = 0;
  std::int64_t duplicates = 0;
  std::int64_t jobs = 0;
  double ops_per_s(std::int64_t ops) const { return static_cast<double>(ops) / seconds; }
};

// Runs every plan on its own thread at once; the clock runs from the moment all are ready until
// the last one is done.
run_outcome measure(implementation& impl, workload w, const std::vector<thread_plan>& plans) {
  std::atomic<std::int64_t> failures{0};
  std::atomic<std::int64_t> cpu_nanoseconds{0};
  std::latch ready(static_cast<std::ptrdiff_t>(plans.size()));
  std::latch go(1);
  std::mutex report;
  const std::int64_t retries_before = impl.retries();
  std::vector<std::thread> workers;
  workers.reserve(plans.size());
  for (const thread_plan& mine : plans) {
    workers.emplace_back([&, &mine = mine] {
      ready.count_down();
      go.wait();
      const double cpu_started = thread_cpu_seconds();
      try {
        failures += impl.run(w, mine);
        cpu_nanoseconds += static_cast<std::int64_t>((thread_cpu_seconds() - cpu_started) * 1e9);
      } catch (const std::exception& e) {
        failures += mine.ops;
        const std::lock_guard lock(report);
        std::cerr << "repokit_bench: " << impl.name() << " " << to_string(w) << ": " << e.what()
                  << '\n';
      }
    });
  }
  ready.wait();
  const auto started = std::chrono::steady_clock::now();
  go.count_down();
  for (auto& worker : workers) worker.join();
  const auto elapsed = std::chrono::steady_clock::now() - started;
  run_outcome outcome;
  outcome.seconds = std::chrono::duration<double>(elapsed).count();
  outcome.cpu_seconds = static_cast<double>(cpu_nanoseconds.load()) * 1e-9;
  outcome.failures = failures.load();
  outcome.retries = impl.retries() - retries_before;
  return outcome;
}

std::string key_for(std::string_view impl) {
  std::string key = "vs_";
  for (const char c : impl) key += c == '-' ? '_' : c;
  return key;
}

// Measures one workload at one thread count for every implementation, `rounds` times in turn,
// and prints a line per implementation. Answers whether every operation succeeded.
bool measure_group(const options& opts, const settings& config, data_set& data,
                   std::vector<std::unique_ptr<implementation>>& impls, workload w, int threads,
                   std::int64_t& serial) {
  std::vector<implementation*> taking_part;
  for (auto& impl : impls) {
    if (impl->supports(w)) taking_part.push_back(impl.get());
  }
  if (taking_part.empty()) return true;
  const std::int64_t ops = opts.ops_for(w);
  const auto timed = plan(config, w, threads, ops, 42, "B");
  std::map<std::string_view, std::vector<run_outcome>> runs;
  for (int round = 0; round < opts.rounds; ++round) {
    for (std::size_t k = 0; k < taking_part.size(); ++k) {
      // Each round starts with the next implementation, so that none always goes first.
      implementation& impl =
          *taking_part[(k + static_cast<std::size_t>(round)) % taking_part.size()];
      const std::string prefix = std::to_string(++serial) + '-';
      if (opts.warmup > 0) {
        const std::int64_t warm =
            std::min<std::int64_t>(opts.warmup, std::max<std::int64_t>(ops / threads, 1)) * threads;
        measure(impl, w, plan(config, w, threads, warm, 4242, "W" + prefix));
      }
      if (writes(w)) data.reset();
      // New video ids of this measurement's own, whatever an earlier one left behind.
      auto plans = timed;
      if (writes(w) && w != workload::create_job) {
        for (auto& mine : plans) {
          for (auto& key : mine.keys) key.insert(1, prefix);
        }
      }
      run_outcome outcome = measure(impl, w, plans);
      if (w == workload::create_job) {
        outcome.duplicates = data.duplicate_active_jobs();
        outcome.jobs = data.jobs();
      }
      std::cerr << "  " << to_string(w) << " threads=" << threads << ' ' << impl.name() << " round "
                << round + 1 << ": " << static_cast<long long>(outcome.ops_per_s(ops)) << " ops/s"
                << (outcome.failures > 0 ? " FAILURES " + std::to_string(outcome.failures) : "")
                << '\n';
      runs[impl.name()].push_back(outcome);
    }
  }

  // The median run of each implementation stands for it; failures count over every run.
  // So does the median CPU time: the client side's own cost, steadier than the wall clock when
  // the machine is shared.
  std::map<std::string_view, run_outcome> median;
  std::map<std::string_view, double> median_cpu;
  std::map<std::string_view, double> best_seconds;  // the least disturbed run
  for (auto& [name, list] : runs) {
    auto sorted = list;
    best_seconds[name] =
        std::min_element(list.begin(), list.end(), [](const run_outcome& a, const run_outcome& b) {
          return a.seconds < b.seconds;
        })->seconds;
    std::sort(sorted.begin(), sorted.end(),
              [](const run_outcome& a, const run_outcome& b) { return a.seconds < b.seconds; });
    median[name] = sorted[(sorted.size() - 1) / 2];
    std::sort(sorted.begin(), sorted.end(), [](const run_outcome& a, const run_outcome& b) {
      return a.cpu_seconds < b.cpu_seconds;
    });
    median_cpu[name] = sorted[(sorted.size() - 1) / 2].cpu_seconds;
  }
  bool ok = true;
  for (implementation* impl : taking_part) {
    const auto& list = runs[impl->name()];
    const run_outcome& chosen = median[impl->name()];
    std::int64_t failures = 0;
    std::int64_t retries = 0;
    std::int64_t duplicates = 0;
    std::vector<double> per_run;
    for (const auto& run : list) {
      failures += run.failures;
      retries += run.retries;
      duplicates = std::max(duplicates, run.duplicates);
      per_run.push_back(run.ops_per_s(ops));
    }
    json_line line;
    line.add("impl", impl->name())
        .add("backend", config.kind == backend::sqlite ? "sqlite" : "postgresql")
        .add("workload", to_string(w))
        .add("ops", ops)
        .add("threads", threads)
        .add("seconds", chosen.seconds, 6)
        .add("ops_per_s", chosen.ops_per_s(ops), 1)
        .add("failures", failures)
        .add("retries", retries)
        .add("rounds", opts.rounds)
        .add("runs_ops_per_s", per_run, 1)
        .add("cpu_us_per_op", median_cpu[impl->name()] * 1e6 / static_cast<double>(ops), 2);
    if (w == workload::pool_lease) {
      line.add("ns_per_op", chosen.seconds * 1e9 * threads / static_cast<double>(ops), 1);
    }
    if (w == workload::create_job) line.add("duplicates", duplicates).add("jobs", chosen.jobs);
    for (implementation* baseline : taking_part) {
      if (baseline == impl || baseline->name() == "repokit") continue;
      line.add(key_for(baseline->name()), median[baseline->name()].seconds / chosen.seconds, 3);
    }
    line.add("best_ops_per_s", static_cast<double>(ops) / best_seconds[impl->name()], 1);
    for (implementation* baseline : taking_part) {
      if (baseline == impl || baseline->name() == "repokit") continue;
      line.add("best_" + key_for(baseline->name()),
               best_seconds[baseline->name()] / best_seconds[impl->name()], 3);
    }
    for (implementation* baseline : taking_part) {
      if (baseline == impl || baseline->name() == "repokit") continue;
      line.add("cpu_" + key_for(baseline->name()),
               median_cpu[baseline->name()] / median_cpu[impl->name()], 3);
    }
    std::cout << line.str() << std::endl;
    ok = ok && failures == 0 && duplicates == 0;
  }
  return ok;
}

// libpq's key=value form of a PostgreSQL URL: SOCI takes no URI.
std::string conninfo(const repokit::database_url& url) {
  const auto quoted = [](std::string_view value) {
    std::string out = "'";
    for (const char c : value) {
      if (c == '\'' || c == '\\') out += '\\';
      out += c;
    }
    return out + '\'';
  };
  std::string hosts;
  std::string ports;
  for (const auto& endpoint : url.hosts) {
    hosts += (hosts.empty() ? "" : ",") + endpoint.host;
    ports += (ports.empty() ? "" : ",") + std::to_string(endpoint.port);
  }
  std::string info =
      "host=" + quoted(hosts) + " port=" + quoted(ports) + " dbname=" + quoted(url.database);
  if (!url.user.empty()) info += " user=" + quoted(url.user);
  if (!url.password.empty()) info += " password=" + quoted(url.password);
  for (const auto& [name, value] : url.parameters) info += ' ' + name + '=' + quoted(value);
  return info;
}

int run(int argc, char** argv) {
  const options opts = parse(argc, argv);
  auto url = repokit::database_url::parse(opts.url);
  if (!url) throw std::invalid_argument(url.error().describe());
  settings config;
  config.url = opts.url;
  config.videos = opts.videos;
  switch (url.value().kind) {
    case repokit::dialect::sqlite:
      config.kind = backend::sqlite;
      config.sqlite_path = url.value().path;
      if (url.value().in_memory())
        throw std::invalid_argument("the benchmark needs a database file");
      break;
    case repokit::dialect::postgresql:
      config.kind = backend::postgresql;
      config.conninfo = conninfo(url.value());
      break;
    default: throw std::invalid_argument("the benchmark runs on SQLite and PostgreSQL");
  }
  std::vector<std::string> names = opts.impls;
  if (names.empty()) {
    names = {"repokit", "plain-soci", config.kind == backend::sqlite ? "raw-sqlite" : "raw-libpq"};
  }

  data_set data(config);
  if (opts.fresh) data.drop();
  std::cerr << "repokit_bench: preparing the data set (" << opts.videos << " videos)\n";
  data.ensure();
  data.reset();

  if (opts.burn_down > 0) return run_burn_down(config, data, opts.burn_down, opts.threads) ? 0 : 1;

  bool ok = true;
  std::int64_t serial = 0;
  for (const int threads : opts.threads) {
    std::vector<std::unique_ptr<implementation>> impls;
    for (const auto& name : names) {
      impls.push_back(make(name, config));
      impls.back()->open(threads);
    }
    for (const workload w : opts.workloads) {
      ok = measure_group(opts, config, data, impls, w, threads, serial) && ok;
    }
  }
  data.reset();
  return ok ? 0 : 1;
}

}  // namespace
}  // namespace repokit_bench

int main(int argc, char** argv) {
  try {
    return repokit_bench::run(argc, argv);
  } catch (const std::invalid_argument& e) {
    std::cerr << "repokit_bench: " << e.what() << '\n' << repokit_bench::usage;
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "repokit_bench: " << e.what() << '\n';
    return 1;
  }
}
