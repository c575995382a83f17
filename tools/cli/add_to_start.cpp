#include "add_to_start.hpp"

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>

#include "interrupt.hpp"

namespace repokit::cli {

add_to_start_latency measure_add_to_start(const Database& db, std::string_view job_type,
                                          bool listen, std::int64_t jobs,
                                          std::chrono::milliseconds mean_gap, unsigned seed) {
  using steady = std::chrono::steady_clock;
  const auto count = static_cast<std::size_t>(jobs);
  // When each job's enqueue began and its handler started, in steady-clock nanoseconds.
  const auto added = std::make_unique<std::atomic<std::int64_t>[]>(count);
  const auto started = std::make_unique<std::atomic<std::int64_t>[]>(count);
  std::mutex mutex;
  std::condition_variable changed;
  std::size_t started_count = 0;
  std::size_t given_up = 0;
  const auto now_ns = [] { return steady::now().time_since_epoch().count(); };

  const runtime_options defaults{};
  worker_runtime runtime(db, {.name = "bench",
                              .idle_poll_min = defaults.idle_poll_min,
                              .idle_poll_max = defaults.idle_poll_max,
                              .listen = listen});
  auto handled = runtime.handle(job_type, [&](const Job& job) {
    const auto index = static_cast<std::size_t>(std::stoull(job.target_id));
    if (index >= count) return;  // not one of this run's
    started[index] = now_ns();
    {
      const std::lock_guard lock(mutex);
      ++started_count;
    }
    changed.notify_all();
  });
  add_to_start_latency result;
  if (!handled || !runtime.start()) {
    result.failures = count;
    return result;
  }

  std::minstd_rand engine(seed);
  std::exponential_distribution<double> gap(1.0 / static_cast<double>(mean_gap.count()));
  std::size_t enqueued = 0;
  for (; enqueued < count && !interrupted(); ++enqueued) {
    std::this_thread::sleep_for(std::chrono::duration<double, std::milli>(gap(engine)));
    added[enqueued] = now_ns();
    // No wake(): only the runtime's own polling or listening finds the job.
    if (!enqueue(db, {.job_type = job_type, .target_id = std::to_string(enqueued)})) {
      ++result.failures;
      const std::lock_guard lock(mutex);
      ++given_up;  // not waited for (had it landed unseen, it starts all the same)
    }
  }
  {
    std::unique_lock lock(mutex);
    // Interrupts are seen within 100 ms: a signal does not notify the condition.
    while (started_count + given_up < enqueued && !interrupted()) {
      changed.wait_for(lock, std::chrono::milliseconds{100});
    }
  }
  runtime.stop(std::chrono::seconds{10});
  for (std::size_t i = 0; i < enqueued; ++i) {
    if (started[i] == 0) continue;
    result.ms.push_back(static_cast<double>(started[i] - added[i]) / 1e6);
  }
  result.notified = runtime.counters().notified;
  return result;
}

}  // namespace repokit::cli
