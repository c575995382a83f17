#include "repokit/database.hpp"

#include <spdlog/logger.h>
#include <spdlog/sinks/stdout_color_sinks.h>

#include <array>
#include <cstdlib>

#include "backends/backends.hpp"
#include "repokit/detail/database_state.hpp"

namespace repokit {
namespace {

std::shared_ptr<spdlog::logger> default_logger() {
  // Private to this Database: a library must not register loggers behind the application's back.
  auto logger = std::make_shared<spdlog::logger>(
      "repokit", std::make_shared<spdlog::sinks::stderr_color_sink_mt>());
  logger->set_level(spdlog::level::warn);
  return logger;
}

result<void> check(const database_options& options) {
  if (options.pool_size == 0) {
    return failure(errc::configuration, "database_options::pool_size must be at least 1");
  }
  if (options.pool_timeout.count() < 0 || options.busy_timeout.count() < 0 ||
      options.max_lifetime.count() < 0 || options.idle_timeout.count() < 0 ||
      options.leak_detection_threshold.count() < 0 ||
      options.commit_resolution_timeout.count() < 0) {
    return failure(errc::configuration,
                   "database_options timeouts must not be negative (zero turns off max_lifetime, "
                   "idle_timeout and leak_detection_threshold)");
  }
  static constexpr std::array<std::string_view, 4> synchronous{"OFF", "NORMAL", "FULL", "EXTRA"};
  if (std::find(synchronous.begin(), synchronous.end(), options.synchronous) == synchronous.end()) {
    return failure(errc::configuration,
                   "database_options::synchronous must be OFF, NORMAL, "
                   "FULL or EXTRA, not '" +
                       options.synchronous + "'");
  }
  if (auto why = options.retry.invalid_reason()) {
    return failure(errc::configuration, "database_options::retry: " + *why);
  }
  return success();
}

}  // namespace

result<Database> Database::with_sessions(dialect kind, session_factory factory,
                                         database_options options) {
  REPOKIT_TRYV(check(options));
  auto state = std::make_shared<detail::database_state>();
  state->kind = kind;
  state->url.kind = kind;
  state->counters = std::make_shared<repokit::metrics>(options.events);
  if (options.wrap_session) {
    factory = [inner = std::move(factory),
               wrap = options.wrap_session]() -> result<std::unique_ptr<Session>> {
      REPOKIT_TRY(auto session, inner());
      return wrap(std::move(session));
    };
  }
  state->logger = options.logger ? options.logger : default_logger();
  state->pool = connection_pool::create(std::move(factory),
                                        {.max_size = options.pool_size,
                                         .acquire_timeout = options.pool_timeout,
                                         .check_on_checkout = options.check_on_checkout,
                                         .max_lifetime = options.max_lifetime,
                                         .idle_timeout = options.idle_timeout,
                                         .leak_threshold = options.leak_detection_threshold,
                                         .logger = state->logger},
                                        state->counters);
  state->options = std::move(options);
  return Database(std::move(state));
}

result<Database> Database::open(std::string_view url, database_options options) {
  REPOKIT_TRY(auto parsed, database_url::parse(url));
  REPOKIT_TRYV(check(options));
  // Every connection to ":memory:" is a database of its own: one connection is the database.
  // Closing it for its age or idleness would lose the database.
  if (parsed.in_memory()) {
    options.pool_size = 1;
    options.max_lifetime = std::chrono::milliseconds::zero();
    options.idle_timeout = std::chrono::milliseconds::zero();
  }
  REPOKIT_TRY(auto factory, detail::backend_sessions(parsed, options));
  REPOKIT_TRY(auto db, with_sessions(parsed.kind, std::move(factory), std::move(options)));
  db.state_->url = std::move(parsed);
  return db;
}

result<Database> Database::from_environment(database_options options) {
  const char* url = std::getenv("REPOKIT_DATABASE_URL");
  if (url == nullptr || *url == '\0') {
    return failure(errc::configuration,
                   "REPOKIT_DATABASE_URL is not set; set it to a URL such as sqlite:///app.db");
  }
  return open(url, std::move(options));
}

dialect Database::kind() const noexcept { return state_->kind; }
const database_url& Database::url() const noexcept { return state_->url; }
const database_options& Database::options() const noexcept { return state_->options; }
spdlog::logger& Database::logger() const noexcept { return *state_->logger; }
metrics_snapshot Database::metrics() const noexcept { return state_->counters->snapshot(); }
pool_status Database::pool() const { return state_->pool->status(); }

}  // namespace repokit
