// repokit as an application uses it: a Database, and a scoped repository per unit of work.
#include <optional>
#include <stdexcept>

#include "bench.hpp"
#include "repokit/repokit.hpp"

namespace repokit_bench {
namespace {

// A connection that is never used: pool-lease measures the pool alone.
class idle_session final : public repokit::Session {
 public:
  repokit::dialect kind() const noexcept override { return repokit::dialect::sqlite; }
  repokit::result<void> begin(repokit::begin_mode) override { return repokit::success(); }
  repokit::result<void> commit() override { return repokit::success(); }
  repokit::result<void> rollback() override { return repokit::success(); }
  repokit::result<std::vector<repokit::row>> query(const repokit::statement&,
                                                   std::span<const repokit::param>) override {
    return std::vector<repokit::row>{};
  }
  repokit::result<std::uint64_t> execute(const repokit::statement&,
                                         std::span<const repokit::param>) override {
    return std::uint64_t{0};
  }
  repokit::result<void> execute_script(std::string_view) override { return repokit::success(); }
  repokit::result<void> limit_statements(std::optional<std::chrono::milliseconds>) override {
    return repokit::success();
  }
  bool ping() override { return true; }
};

class repokit_impl final : public implementation {
 public:
  explicit repokit_impl(const settings& config) : config_(config) {}

  std::string_view name() const noexcept override { return "repokit"; }
  bool supports(workload) const noexcept override { return true; }

  void open(int threads) override {
    auto opened =
        repokit::Database::open(config_.url, {.pool_size = static_cast<std::size_t>(threads)});
    if (!opened) {
      throw std::runtime_error("repokit cannot open the database: " + opened.error().describe());
    }
    db_.emplace(std::move(opened).value());
    retries_at_open_ = db_->metrics().retries_total();
    // The same pool class the Database uses, over sessions that do nothing.
    pool_ = repokit::connection_pool::create(
        []() -> repokit::result<std::unique_ptr<repokit::Session>> {
          return std::unique_ptr<repokit::Session>(std::make_unique<idle_session>());
        },
        {.max_size = static_cast<std::size_t>(threads)}, std::make_shared<repokit::metrics>());
  }

  std::int64_t retries() const override {
    return static_cast<std::int64_t>(db_->metrics().retries_total() - retries_at_open_);
  }

  std::int64_t run(workload w, const thread_plan& plan) override {
    const repokit::Database& db = *db_;
    std::int64_t failed = 0;
    switch (w) {
      case workload::scoped_read:
        for (const std::string& key : plan.keys) {
          const auto read = repokit::video_repository(
              db, [&](repokit::VideoRepository& videos) { return videos.get_video_by_id(key); });
          if (!read) ++failed;
        }
        break;
      case workload::hot_read: {
        const auto read = repokit::video_repository(
            db, [&](repokit::VideoRepository& videos) -> repokit::result<void> {
              for (const std::string& key : plan.keys) {
                if (!videos.get_video_by_id(key)) ++failed;
              }
              return repokit::success();
            });
        if (!read) failed = static_cast<std::int64_t>(plan.keys.size());
        break;
      }
      case workload::scoped_write:
        for (std::size_t i = 0; i < plan.keys.size(); ++i) {
          const auto created = repokit::video_repository(db, [&](repokit::VideoRepository& videos) {
            return videos.create_video(plan.keys[i], channel_for(i), written_title,
                                       written_duration);
          });
          if (!created) ++failed;
        }
        break;
      case workload::create_job:
        for (const std::string& target : plan.keys) {
          const auto job = repokit::job_repository(db, [&](repokit::JobRepository& jobs) {
            return jobs.create_if_not_exists(job_type, target, job_parameters);
          });
          if (!job) ++failed;
        }
        break;
      case workload::bulk_ingest:
        for (std::size_t first = 0; first < plan.keys.size(); first += ingest_batch) {
          const std::size_t last = std::min(plan.keys.size(), first + ingest_batch);
          const auto batch = repokit::video_repository(
              db, [&](repokit::VideoRepository& videos) -> repokit::result<void> {
                for (std::size_t i = first; i < last; ++i) {
                  REPOKIT_TRYV(videos.create_video(plan.keys[i], channel_for(i), written_title,
                                                   written_duration));
                }
                return repokit::success();
              });
          if (!batch) failed += static_cast<std::int64_t>(last - first);
        }
        break;
      case workload::pool_lease:
        for (std::int64_t i = 0; i < plan.ops; ++i) {
          const auto lease = pool_->acquire();
          if (!lease) ++failed;
        }
        break;
    }
    return failed;
  }

 private:
  settings config_;
  std::optional<repokit::Database> db_;
  std::uint64_t retries_at_open_ = 0;
  std::shared_ptr<repokit::connection_pool> pool_;
};

}  // namespace

std::unique_ptr<implementation> make_repokit(const settings& config) {
  return std::make_unique<repokit_impl>(config);
}

}  // namespace repokit_bench
