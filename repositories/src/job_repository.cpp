#include "repokit/repositories/job_repository.hpp"

#include "mapping.hpp"
#include "repokit/repositories/validation.hpp"

namespace repokit {
namespace {

using enum column_type;
using enum statement_kind;

constexpr std::array job_columns{integer, text,    text,    text,    text,    integer,
                                 text,    text,    integer, integer, integer, integer};
#define REPOKIT_JOB_COLUMNS                                                                  \
  "id, job_type, target_id, status, parameters, attempts, last_error, worker_id, created_at, " \
  "updated_at, started_at, finished_at"

constexpr statement insert_job{
    "create_job",
    "INSERT INTO jobs (job_type, target_id, status, parameters, attempts, created_at, updated_at) "
    "VALUES (:p1, :p2, 'pending', :p3, 0, :p4, :p5) RETURNING " REPOKIT_JOB_COLUMNS,
    write, job_columns};

constexpr statement select_job{
    "get_job", "SELECT " REPOKIT_JOB_COLUMNS " FROM jobs WHERE id = :p1", read, job_columns};

constexpr std::array count_columns{integer};

// Four status slots; a shorter list repeats its first status in the spare ones.
constexpr statement select_job_exists{
    "job_exists",
    "SELECT COUNT(*) FROM jobs WHERE job_type = :p1 AND target_id = :p2 "
    "AND status IN (:p3, :p4, :p5, :p6)",
    read, count_columns};

constexpr statement mark_running{
    "update_job_status",
    "UPDATE jobs SET status = 'running', attempts = attempts + 1, started_at = :p1, "
    "updated_at = :p2, finished_at = NULL WHERE id = :p3 AND status = 'pending' "
    "RETURNING " REPOKIT_JOB_COLUMNS,
    write, job_columns};

constexpr statement mark_succeeded{
    "update_job_status",
    "UPDATE jobs SET status = 'succeeded', finished_at = :p1, updated_at = :p2, "
    "last_error = NULL WHERE id = :p3 AND status = 'running' RETURNING " REPOKIT_JOB_COLUMNS,
    write, job_columns};

constexpr statement mark_failed{
    "update_job_status",
    "UPDATE jobs SET status = 'failed', finished_at = :p1, updated_at = :p2, "
    "last_error = COALESCE(:p3, last_error) WHERE id = :p4 AND status IN ('pending', 'running') "
    "RETURNING " REPOKIT_JOB_COLUMNS,
    write, job_columns};

constexpr statement mark_pending{
    "update_job_status",
    "UPDATE jobs SET status = 'pending', updated_at = :p1, last_error = COALESCE(:p2, last_error), "
    "worker_id = NULL, started_at = NULL, finished_at = NULL "
    "WHERE id = :p3 AND status IN ('running', 'failed') RETURNING " REPOKIT_JOB_COLUMNS,
    write, job_columns};

std::optional<timestamp> optional_time(const row& r, std::size_t column) {
  if (r.is_null(column)) return std::nullopt;
  return detail::from_millis(r.integer(column));
}

result<Job> to_job(const row& r) {
  auto status = parse_job_status(r.text(3));
  if (!status) {
    return failure(errc::database, "job " + std::to_string(r.integer(0)) +
                                       " has a status repokit does not know: " +
                                       status.error().message);
  }
  return Job{r.integer(0),
             r.text(1),
             r.text(2),
             status.value(),
             r.text(4),
             r.integer(5),
             r.optional_text(6),
             r.optional_text(7),
             detail::from_millis(r.integer(8)),
             detail::from_millis(r.integer(9)),
             optional_time(r, 10),
             optional_time(r, 11)};
}

result<void> check_job_key(std::string_view job_type, std::string_view target_id) {
  REPOKIT_TRYV(check_id("job_type", job_type));
  REPOKIT_TRYV(check_id("target_id", target_id, max_target_id_length));
  return success();
}

result<void> check_job_id(std::int64_t id) {
  if (id > 0) return success();
  return failure(errc::invalid_argument, "job id must be positive, got " + std::to_string(id));
}

}  // namespace

result<Job> JobRepository::create_job(std::string_view job_type, std::string_view target_id,
                                      std::string_view parameters) {
  REPOKIT_TRYV(check_job_key(job_type, target_id));
  REPOKIT_TRYV(check_text("parameters", parameters, max_parameters_length));
  const std::int64_t now = detail::to_millis(detail::now());
  const std::array<param, 5> params{job_type, target_id, parameters, now, now};
  REPOKIT_TRY(auto created, unit_->query_one(insert_job, params));
  return to_job(created.value());
}

result<Job> JobRepository::get_job(std::int64_t id) {
  REPOKIT_TRYV(check_job_id(id));
  const std::array<param, 1> params{id};
  REPOKIT_TRY(auto found, unit_->query_one(select_job, params));
  if (!found) return failure(detail::not_found("job", std::to_string(id)));
  return to_job(*found);
}

result<bool> JobRepository::job_exists(std::string_view job_type, std::string_view target_id,
                                       std::span<const job_status> statuses) {
  REPOKIT_TRYV(check_job_key(job_type, target_id));
  if (statuses.empty() || statuses.size() > 4) {
    return failure(errc::invalid_argument, "job_exists takes 1 to 4 statuses");
  }
  std::array<param, 6> params{job_type, target_id};
  for (std::size_t slot = 0; slot < 4; ++slot) {
    params[2 + slot] = to_string(statuses[slot < statuses.size() ? slot : 0]);
  }
  REPOKIT_TRY(auto counted, unit_->query_one(select_job_exists, params));
  return counted.value().integer(0) > 0;
}

result<Job> JobRepository::update_job_status(std::int64_t id, job_status status,
                                             std::optional<std::string_view> last_error) {
  REPOKIT_TRYV(check_job_id(id));
  if (last_error) REPOKIT_TRYV(check_text("last_error", *last_error));
  const std::int64_t now = detail::to_millis(detail::now());
  const param error_text = last_error ? param{*last_error} : param{nullptr};

  result<std::optional<row>> moved = std::optional<row>{};
  switch (status) {
    case job_status::running:
      moved = unit_->query_one(mark_running, std::array<param, 3>{now, now, id});
      break;
    case job_status::succeeded:
      moved = unit_->query_one(mark_succeeded, std::array<param, 3>{now, now, id});
      break;
    case job_status::failed:
      moved = unit_->query_one(mark_failed, std::array<param, 4>{now, now, error_text, id});
      break;
    case job_status::pending:
      moved = unit_->query_one(mark_pending, std::array<param, 3>{now, error_text, id});
      break;
  }
  REPOKIT_TRY(auto updated, std::move(moved));
  if (updated) return to_job(*updated);

  // Nothing matched: say whether the job is missing or in a state that forbids the move.
  REPOKIT_TRY(auto current, get_job(id));
  return failure(errc::invalid_state,
                 "job " + std::to_string(id) + " is " + std::string(to_string(current.status)) +
                     " and cannot move to " + std::string(to_string(status)));
}

}  // namespace repokit
