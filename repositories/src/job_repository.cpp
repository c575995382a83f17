#include "repokit/repositories/job_repository.hpp"

#include <algorithm>
#include <string>
#include <vector>

#include "mapping.hpp"
#include "repokit/repositories/validation.hpp"

namespace repokit {
namespace {

using enum column_type;
using enum statement_kind;

constexpr std::array job_columns{integer, text, text,    text,    text,    integer,
                                 text,    text, integer, integer, integer, integer};
#define REPOKIT_JOB_COLUMNS                                                                    \
  "id, job_type, target_id, status, parameters, attempts, last_error, worker_id, created_at, " \
  "updated_at, started_at, finished_at"

constexpr statement insert_job{
    "create_job",
    "INSERT INTO jobs (job_type, target_id, status, parameters, attempts, created_at, updated_at) "
    "VALUES (:p1, :p2, 'pending', :p3, 0, :p4, :p5) RETURNING " REPOKIT_JOB_COLUMNS,
    write, job_columns};

constexpr statement select_job{"get_job", "SELECT " REPOKIT_JOB_COLUMNS " FROM jobs WHERE id = :p1",
                               read, job_columns};

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

// Creates unless a job in one of the asked statuses exists; the unique index of active jobs
// makes a racing insert do nothing instead of failing. CASTs: PostgreSQL types the parameters of
// a SELECT list as text.
constexpr statement insert_job_if_absent{
    "create_if_not_exists",
    "INSERT INTO jobs (job_type, target_id, status, parameters, attempts, created_at, updated_at) "
    "SELECT :p1, :p2, 'pending', :p3, 0, CAST(:p4 AS BIGINT), CAST(:p5 AS BIGINT) "
    "WHERE NOT EXISTS (SELECT 1 FROM jobs WHERE job_type = :p6 AND target_id = :p7 "
    "AND status IN (:p8, :p9, :p10, :p11)) "
    "ON CONFLICT (job_type, target_id) WHERE status IN ('pending', 'running') DO NOTHING "
    "RETURNING " REPOKIT_JOB_COLUMNS,
    write, job_columns};

constexpr statement select_existing_job{
    "create_if_not_exists",
    "SELECT " REPOKIT_JOB_COLUMNS
    " FROM jobs WHERE job_type = :p1 AND target_id = :p2 "
    "AND status IN (:p3, :p4, :p5, :p6) ORDER BY id DESC LIMIT 1",
    read, job_columns};

constexpr std::array lock_columns{integer};
// Serialises creators of one (type, target) until their transactions end.
constexpr statement lock_job_key{
    "create_if_not_exists",
    "SELECT 1 FROM (SELECT pg_advisory_xact_lock(hashtextextended(:p1, 0))) AS locked", read,
    lock_columns};

// Waits for any transaction moving a job of this key (a worker finishing it) and makes the
// following insert's check see its outcome: the advisory lock alone only orders creators.
constexpr statement lock_job_rows{
    "create_if_not_exists",
    "SELECT COUNT(*) FROM (SELECT id FROM jobs WHERE job_type = :p1 AND target_id = :p2 "
    "FOR UPDATE) AS locked",
    read, lock_columns};

constexpr statement claim_postgresql{
    "claim_next",
    "UPDATE jobs SET status = 'running', worker_id = :p1, attempts = attempts + 1, "
    "started_at = :p2, updated_at = :p3, finished_at = NULL WHERE id = (SELECT id FROM jobs "
    "WHERE job_type = :p4 AND status = 'pending' ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED) "
    "RETURNING " REPOKIT_JOB_COLUMNS,
    write, job_columns};

// SQLite has no row locks: the unit's write lock, taken at BEGIN IMMEDIATE, serialises claims.
constexpr statement claim_sqlite{
    "claim_next",
    "UPDATE jobs SET status = 'running', worker_id = :p1, attempts = attempts + 1, "
    "started_at = :p2, updated_at = :p3, finished_at = NULL WHERE id = (SELECT id FROM jobs "
    "WHERE job_type = :p4 AND status = 'pending' ORDER BY id LIMIT 1) "
    "RETURNING " REPOKIT_JOB_COLUMNS,
    write, job_columns};

// A claim is identified by its worker and attempt number: a job reconciled and claimed again
// since has another attempt number, and the old worker's outcome no longer applies.
#define REPOKIT_CLAIM_GUARD \
  " WHERE id = :p4 AND status = 'running' AND attempts = :p5 AND COALESCE(worker_id, '') = :p6 "

constexpr statement finish_succeeded{
    "finish_job",
    "UPDATE jobs SET status = 'succeeded', finished_at = :p1, updated_at = :p2, "
    "last_error = :p3" REPOKIT_CLAIM_GUARD "RETURNING " REPOKIT_JOB_COLUMNS,
    write, job_columns};

constexpr statement finish_failed{
    "finish_job",
    "UPDATE jobs SET status = 'failed', finished_at = :p1, updated_at = :p2, "
    "last_error = COALESCE(:p3, last_error)" REPOKIT_CLAIM_GUARD "RETURNING " REPOKIT_JOB_COLUMNS,
    write, job_columns};

constexpr statement finish_released{
    "finish_job",
    "UPDATE jobs SET status = 'pending', worker_id = NULL, started_at = NULL, finished_at = :p1, "
    "updated_at = :p2, last_error = COALESCE(:p3, last_error)" REPOKIT_CLAIM_GUARD
    "RETURNING " REPOKIT_JOB_COLUMNS,
    write, job_columns};

constexpr statement fail_exhausted_stale{
    "reconcile_stale",
    "UPDATE jobs SET status = 'failed', worker_id = NULL, finished_at = :p1, updated_at = :p2, "
    "last_error = :p3 WHERE status = 'running' AND updated_at <= :p4 AND attempts >= :p5",
    write,
    {}};

constexpr statement requeue_stale{
    "reconcile_stale",
    "UPDATE jobs SET status = 'pending', worker_id = NULL, started_at = NULL, updated_at = :p1, "
    "last_error = :p2 WHERE status = 'running' AND updated_at <= :p3",
    write,
    {}};

// MySQL / MariaDB: no ON CONFLICT and no UPDATE ... RETURNING. Guarded updates count matched
// rows (SOCI connects with CLIENT_FOUND_ROWS), then the row is read back.
// After a locking read found no answering job: the shared next-key locks it took make a racing
// creator's insert wait (or deadlock, 1213, and be retried), and IGNORE turns a clash on the
// unique key of active jobs into "nothing inserted". (INSERT ... SELECT is avoided: under
// concurrency MariaDB fails it with 1467 on the auto-increment lock.)
constexpr statement insert_job_ignore_mysql{
    "create_if_not_exists",
    "INSERT IGNORE INTO jobs (job_type, target_id, status, parameters, attempts, created_at, "
    "updated_at) VALUES (:p1, :p2, 'pending', :p3, 0, :p4, :p5)",
    write,
    {}};
constexpr statement select_inserted_job_mysql{
    "create_if_not_exists", "SELECT " REPOKIT_JOB_COLUMNS " FROM jobs WHERE id = LAST_INSERT_ID()",
    read, job_columns};
// A locking read sees the latest committed row, not the snapshot of REPEATABLE READ.
constexpr statement select_existing_job_mysql{
    "create_if_not_exists",
    "SELECT " REPOKIT_JOB_COLUMNS
    " FROM jobs WHERE job_type = :p1 AND target_id = :p2 "
    "AND status IN (:p3, :p4, :p5, :p6) ORDER BY id DESC LIMIT 1 LOCK IN SHARE MODE",
    read, job_columns};
// For the default statuses: a plain read first, and after an insert that did nothing, a locking
// read of the one active row by its unique key. Range and gap locks are avoided here: on Galera
// a replicated insert waiting behind them stalls the cluster until the lock wait timeout.
constexpr statement select_active_job_mysql{"create_if_not_exists",
                                            "SELECT " REPOKIT_JOB_COLUMNS
                                            " FROM jobs WHERE job_type = :p1 AND target_id = :p2 "
                                            "AND status IN ('pending', 'running')",
                                            read, job_columns};
constexpr statement lock_active_job_mysql{"create_if_not_exists",
                                          "SELECT " REPOKIT_JOB_COLUMNS
                                          " FROM jobs WHERE job_type = :p1 AND target_id = :p2 "
                                          "AND active_job = 1 LOCK IN SHARE MODE",
                                          read, job_columns};

constexpr std::array id_column{integer};
constexpr statement pick_pending_mysql{
    "claim_next",
    "SELECT id FROM jobs WHERE job_type = :p1 AND status = 'pending' ORDER BY id LIMIT 1 "
    "FOR UPDATE SKIP LOCKED",
    write, id_column};
constexpr statement claim_mysql{
    "claim_next",
    "UPDATE jobs SET status = 'running', worker_id = :p1, attempts = attempts + 1, "
    "started_at = :p2, updated_at = :p3, finished_at = NULL WHERE id = :p4 AND status = 'pending'",
    write,
    {}};
constexpr statement mark_running_mysql{
    "update_job_status",
    "UPDATE jobs SET status = 'running', attempts = attempts + 1, started_at = :p1, "
    "updated_at = :p2, finished_at = NULL WHERE id = :p3 AND status = 'pending'",
    write,
    {}};
constexpr statement mark_succeeded_mysql{
    "update_job_status",
    "UPDATE jobs SET status = 'succeeded', finished_at = :p1, updated_at = :p2, "
    "last_error = NULL WHERE id = :p3 AND status = 'running'",
    write,
    {}};
constexpr statement mark_failed_mysql{
    "update_job_status",
    "UPDATE jobs SET status = 'failed', finished_at = :p1, updated_at = :p2, "
    "last_error = COALESCE(:p3, last_error) WHERE id = :p4 AND status IN ('pending', 'running')",
    write,
    {}};
constexpr statement mark_pending_mysql{
    "update_job_status",
    "UPDATE jobs SET status = 'pending', updated_at = :p1, last_error = COALESCE(:p2, last_error), "
    "worker_id = NULL, started_at = NULL, finished_at = NULL "
    "WHERE id = :p3 AND status IN ('running', 'failed')",
    write,
    {}};
constexpr statement finish_succeeded_mysql{
    "finish_job",
    "UPDATE jobs SET status = 'succeeded', finished_at = :p1, updated_at = :p2, "
    "last_error = :p3" REPOKIT_CLAIM_GUARD,
    write,
    {}};
constexpr statement finish_failed_mysql{
    "finish_job",
    "UPDATE jobs SET status = 'failed', finished_at = :p1, updated_at = :p2, "
    "last_error = COALESCE(:p3, last_error)" REPOKIT_CLAIM_GUARD,
    write,
    {}};
constexpr statement finish_released_mysql{
    "finish_job",
    "UPDATE jobs SET status = 'pending', worker_id = NULL, started_at = NULL, finished_at = :p1, "
    "updated_at = :p2, last_error = COALESCE(:p3, last_error)" REPOKIT_CLAIM_GUARD,
    write,
    {}};

// The four status slots of an IN list; a shorter list repeats its first status.
std::array<param, 4> status_slots(std::span<const job_status> statuses) {
  std::array<param, 4> slots;
  for (std::size_t slot = 0; slot < slots.size(); ++slot) {
    slots[slot] = to_string(statuses[slot < statuses.size() ? slot : 0]);
  }
  return slots;
}

bool is_active(job_status status) {
  return status == job_status::pending || status == job_status::running;
}

std::optional<timestamp> optional_time(const row& r, std::size_t column) {
  if (r.is_null(column)) return std::nullopt;
  return detail::from_millis(r.integer(column));
}

// Runs a guarded update: RETURNING where the dialect has it, else the update and a read-back.
// Nothing when the guard matched no row.
result<std::optional<row>> guarded_update(UnitOfWork& unit, const statement& returning,
                                          const statement& mysql_update,
                                          std::span<const param> params, std::int64_t id) {
  if (unit.kind() != dialect::mysql) return unit.query_one(returning, params);
  REPOKIT_TRY(const auto matched, unit.execute(mysql_update, params));
  if (matched == 0) return std::optional<row>{};
  return unit.query_one(select_job, std::array<param, 1>{id});
}

result<Job> to_job(const row& r) {
  auto status = parse_job_status(r.text(3));
  if (!status) {
    return failure(errc::database,
                   "job " + std::to_string(r.integer(0)) +
                       " has a status repokit does not know: " + status.error().message);
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

// A job_status cast from an integer that names no status.
result<void> check_status(job_status status) {
  if (status >= job_status::pending && status <= job_status::failed) return success();
  return failure(errc::invalid_argument, "unknown job status value " +
                                             std::to_string(static_cast<int>(status)) +
                                             "; expected pending, running, succeeded or failed");
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
  for (const job_status status : statuses) REPOKIT_TRYV(check_status(status));
  const auto slots = status_slots(statuses);
  const std::array<param, 6> params{job_type, target_id, slots[0], slots[1], slots[2], slots[3]};
  REPOKIT_TRY(auto counted, unit_->query_one(select_job_exists, params));
  return counted.value().integer(0) > 0;
}

result<created_or_existing<Job>> JobRepository::create_if_not_exists(
    std::string_view job_type, std::string_view target_id, std::string_view parameters,
    std::span<const job_status> check_statuses) {
  REPOKIT_TRYV(check_job_key(job_type, target_id));
  REPOKIT_TRYV(check_text("parameters", parameters, max_parameters_length));
  if (check_statuses.empty() || check_statuses.size() > 4) {
    return failure(errc::invalid_argument, "create_if_not_exists takes 1 to 4 statuses");
  }
  for (const job_status status : check_statuses) REPOKIT_TRYV(check_status(status));
  // The unique index covers only active jobs: any other status needs the creators serialised.
  const bool beyond_index = std::any_of(check_statuses.begin(), check_statuses.end(),
                                        [](job_status s) { return !is_active(s); });
  if (beyond_index && unit_->kind() == dialect::postgresql) {
    const std::string key = std::string(job_type) + '\x1f' + std::string(target_id);
    REPOKIT_TRYV(unit_->query(lock_job_key, std::array<param, 1>{std::string_view(key)}));
    REPOKIT_TRYV(unit_->query(lock_job_rows, std::array<param, 2>{job_type, target_id}));
  }
  // Whatever was asked, an active job answers too: there is never a second one.
  std::vector<job_status> answering(check_statuses.begin(), check_statuses.end());
  for (const job_status active : active_job_statuses) {
    if (std::find(answering.begin(), answering.end(), active) == answering.end() &&
        answering.size() < 4) {
      answering.push_back(active);
    }
  }
  const auto checked = status_slots(check_statuses);
  const auto answered = status_slots(answering);

  // Under PostgreSQL's READ COMMITTED the job that stopped the insert may leave the answering
  // statuses before it is read back; then the insert is tried again. Bounded: it cannot happen
  // twice without another worker finishing two jobs of one target in between.
  for (int round = 0; round < 3; ++round) {
    const std::int64_t now = detail::to_millis(detail::now());
    const std::array<param, 11> insert{job_type,   target_id,  parameters, now,
                                       now,        job_type,   target_id,  checked[0],
                                       checked[1], checked[2], checked[3]};
    const std::array<param, 6> lookup{job_type,    target_id,   answered[0],
                                      answered[1], answered[2], answered[3]};
    std::optional<row> created;
    std::optional<row> existing;
    if (unit_->kind() == dialect::mysql && !beyond_index) {
      const std::array<param, 2> key{job_type, target_id};
      REPOKIT_TRY(existing, unit_->query_one(select_active_job_mysql, key));
      if (!existing) {
        REPOKIT_TRY(const auto inserted, unit_->execute(insert_job_ignore_mysql,
                                                        std::span<const param>(insert).first(5)));
        if (inserted == 1) {
          REPOKIT_TRY(created, unit_->query_one(select_inserted_job_mysql));
        } else {
          REPOKIT_TRY(existing, unit_->query_one(lock_active_job_mysql, key));
        }
      }
    } else if (unit_->kind() == dialect::mysql) {
      REPOKIT_TRY(existing, unit_->query_one(select_existing_job_mysql, lookup));
      if (!existing) {
        REPOKIT_TRY(const auto inserted, unit_->execute(insert_job_ignore_mysql,
                                                        std::span<const param>(insert).first(5)));
        if (inserted == 1) {
          REPOKIT_TRY(created, unit_->query_one(select_inserted_job_mysql));
        } else {
          REPOKIT_TRY(existing, unit_->query_one(select_existing_job_mysql, lookup));
        }
      }
    } else {
      REPOKIT_TRY(created, unit_->query_one(insert_job_if_absent, insert));
      if (!created) {
        REPOKIT_TRY(existing, unit_->query_one(select_existing_job, lookup));
      }
    }
    if (created) {
      REPOKIT_TRY(auto job, to_job(*created));
      return created_or_existing<Job>{std::move(job), true};
    }
    if (existing) {
      REPOKIT_TRY(auto job, to_job(*existing));
      return created_or_existing<Job>{std::move(job), false};
    }
  }
  error changing =
      make_error(errc::transient, "the existing job of " + std::string(job_type) + "/" +
                                      std::string(target_id) + " kept changing status");
  changing.retry = retry_class::retry_transaction;  // a fresh unit will see where it settled
  changing.operation = "create_if_not_exists";
  return failure(std::move(changing));
}

result<std::optional<Job>> JobRepository::claim_next(std::string_view job_type,
                                                     std::string_view worker_id) {
  REPOKIT_TRYV(check_id("job_type", job_type));
  REPOKIT_TRYV(check_id("worker_id", worker_id, max_target_id_length));
  const std::int64_t now = detail::to_millis(detail::now());
  if (unit_->kind() == dialect::mysql) {
    // The row lock of SKIP LOCKED holds until the end of the unit: the update cannot miss.
    REPOKIT_TRY(auto picked, unit_->query_one(pick_pending_mysql, std::array<param, 1>{job_type}));
    if (!picked) return std::optional<Job>{};
    const std::int64_t id = picked->integer(0);
    REPOKIT_TRY(auto claimed, guarded_update(*unit_, claim_sqlite, claim_mysql,
                                             std::array<param, 4>{worker_id, now, now, id}, id));
    if (!claimed) return std::optional<Job>{};
    REPOKIT_TRY(auto job, to_job(*claimed));
    return std::optional<Job>{std::move(job)};
  }
  const std::array<param, 4> params{worker_id, now, now, job_type};
  const statement& claim = unit_->kind() == dialect::postgresql ? claim_postgresql : claim_sqlite;
  REPOKIT_TRY(auto claimed, unit_->query_one(claim, params));
  if (!claimed) return std::optional<Job>{};
  REPOKIT_TRY(auto job, to_job(*claimed));
  return std::optional<Job>{std::move(job)};
}

result<Job> JobRepository::finish_job(const Job& claimed, job_status outcome,
                                      std::optional<std::string_view> error) {
  REPOKIT_TRYV(check_job_id(claimed.id));
  REPOKIT_TRYV(check_status(outcome));
  if (error) REPOKIT_TRYV(check_text("error", *error));
  const statement* finish = nullptr;
  const statement* finish_mysql = nullptr;
  switch (outcome) {
    case job_status::succeeded:
      finish = &finish_succeeded;
      finish_mysql = &finish_succeeded_mysql;
      break;
    case job_status::failed:
      finish = &finish_failed;
      finish_mysql = &finish_failed_mysql;
      break;
    case job_status::pending:
      finish = &finish_released;
      finish_mysql = &finish_released_mysql;
      break;
    case job_status::running:
      return failure(errc::invalid_argument,
                     "finish_job records an outcome: succeeded, failed or pending, not running");
  }
  const std::int64_t now = detail::to_millis(detail::now());
  const std::string_view worker = claimed.worker_id ? std::string_view(*claimed.worker_id) : "";
  const std::array<param, 6> params{
      now, now, error ? param{*error} : param{nullptr}, claimed.id, claimed.attempts, worker};
  REPOKIT_TRY(auto finished, guarded_update(*unit_, *finish, *finish_mysql, params, claimed.id));
  if (finished) return to_job(*finished);

  REPOKIT_TRY(auto current, get_job(claimed.id));
  if (current.status == job_status::running && current.attempts != claimed.attempts) {
    return failure(errc::invalid_state,
                   "job " + std::to_string(claimed.id) + " was claimed again (attempt " +
                       std::to_string(current.attempts) + ") after this claim (attempt " +
                       std::to_string(claimed.attempts) + "); its outcome is not recorded");
  }
  return failure(errc::invalid_state, "job " + std::to_string(claimed.id) + " is " +
                                          std::string(to_string(current.status)) +
                                          ", not running under this claim; outcome not recorded");
}

result<reconcile_report> JobRepository::reconcile_stale(std::chrono::milliseconds older_than,
                                                        std::int64_t max_attempts) {
  if (older_than.count() < 0 || max_attempts < 1) {
    return failure(errc::invalid_argument,
                   "reconcile_stale needs older_than >= 0 and max_attempts >= 1");
  }
  const timestamp now = detail::now();
  const std::int64_t now_ms = detail::to_millis(now);
  const std::int64_t cutoff = detail::to_millis(now - older_than);
  reconcile_report report;
  const std::array<param, 5> exhausted{
      now_ms, now_ms, std::string_view("stale: its worker stopped, no attempts left"), cutoff,
      max_attempts};
  REPOKIT_TRY(report.failed, unit_->execute(fail_exhausted_stale, exhausted));
  const std::array<param, 3> stale{now_ms, std::string_view("stale: its worker stopped"), cutoff};
  REPOKIT_TRY(report.requeued, unit_->execute(requeue_stale, stale));
  return report;
}

result<Job> JobRepository::update_job_status(std::int64_t id, job_status status,
                                             std::optional<std::string_view> last_error) {
  REPOKIT_TRYV(check_job_id(id));
  REPOKIT_TRYV(check_status(status));
  if (last_error) REPOKIT_TRYV(check_text("last_error", *last_error));
  const std::int64_t now = detail::to_millis(detail::now());
  const param error_text = last_error ? param{*last_error} : param{nullptr};

  result<std::optional<row>> moved = std::optional<row>{};
  switch (status) {
    case job_status::running:
      moved = guarded_update(*unit_, mark_running, mark_running_mysql,
                             std::array<param, 3>{now, now, id}, id);
      break;
    case job_status::succeeded:
      moved = guarded_update(*unit_, mark_succeeded, mark_succeeded_mysql,
                             std::array<param, 3>{now, now, id}, id);
      break;
    case job_status::failed:
      moved = guarded_update(*unit_, mark_failed, mark_failed_mysql,
                             std::array<param, 4>{now, now, error_text, id}, id);
      break;
    case job_status::pending:
      moved = guarded_update(*unit_, mark_pending, mark_pending_mysql,
                             std::array<param, 3>{now, error_text, id}, id);
      break;
  }
  REPOKIT_TRY(auto updated, std::move(moved));
  if (updated) return to_job(*updated);

  // Nothing matched: say whether the job is missing or in a state that forbids the move.
  REPOKIT_TRY(auto current, get_job(id));
  return failure(errc::invalid_state, "job " + std::to_string(id) + " is " +
                                          std::string(to_string(current.status)) +
                                          " and cannot move to " + std::string(to_string(status)));
}

}  // namespace repokit
