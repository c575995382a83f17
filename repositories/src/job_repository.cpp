#include "repokit/repositories/job_repository.hpp"

#include <algorithm>
#include <map>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "job_checks.hpp"
#include "mapping.hpp"
#include "repokit/repositories/validation.hpp"

namespace repokit {
namespace {

// Job's members, in order.
constexpr sql_fragment job_columns =
    "id, job_type, target_id, status, parameters, attempts, last_error, worker_id, created_at, "
    "updated_at, started_at, finished_at, lease_expires_at, run_at, priority";

// On PostgreSQL an insert of a job notifies job_notification_channel of its type: the
// notification is delivered when, and only if, the transaction commits.
constexpr sql_fragment notify_created =
    " FROM created, LATERAL (SELECT pg_notify('repokit_jobs', created.job_type)) AS notified";
static_assert(std::string_view(notify_created.text).find(job_notification_channel) !=
                  std::string_view::npos,
              "new jobs are notified on job_notification_channel");

constexpr sql_fragment insert_values =
    "INSERT INTO jobs (job_type, target_id, status, parameters, attempts, created_at, updated_at, "
    "run_at, priority) VALUES (:job_type, :target_id, 'pending', :parameters, 0, :now, :now, "
    ":run_at, :priority) RETURNING ";

constexpr command<Job(std::string_view, std::string_view, std::string_view, timestamp, timestamp,
                      std::int32_t)>
    insert_job{"create_job",
               {.sql = sql_join<insert_values, job_columns>,
                .postgresql = sql_join<"WITH created AS (", insert_values, job_columns, ") SELECT ",
                                       job_columns, notify_created>}};

constexpr query<Job(std::int64_t)> select_job{
    "get_job", sql_join<"SELECT ", job_columns, " FROM jobs WHERE id = :id">};

using status_list = std::span<const job_status>;

constexpr query<std::int64_t(std::string_view, std::string_view, status_list)> count_jobs_in{
    "job_exists",
    "SELECT COUNT(*) FROM jobs WHERE job_type = :job_type AND target_id = :target_id "
    "AND status IN (:statuses)"};

constexpr query<queue_depth(status_list)> count_by_type_and_status{
    "queue_depths",
    "SELECT job_type, status, COUNT(*) FROM jobs WHERE status IN (:statuses) "
    "GROUP BY job_type, status ORDER BY job_type, status"};

// A guarded update: the row comes back when the guard matched it. MariaDB has no
// UPDATE ... RETURNING; it reads the row back (the update counts matched rows there, as SOCI
// connects with CLIENT_FOUND_ROWS).
template <sql_fragment... Update>
constexpr sql_text guarded_update{
    .sql = sql_join<Update..., " RETURNING ", job_columns>,
    .mariadb = sql_join<Update..., "; SELECT ", job_columns, " FROM jobs WHERE id = :id">};

constexpr command<Job(timestamp, timestamp, std::int64_t)> mark_running{
    "update_job_status",
    guarded_update<"UPDATE jobs SET status = 'running', attempts = attempts + 1, "
                   "started_at = :now, updated_at = :now, finished_at = NULL, "
                   "lease_expires_at = :lease_until WHERE id = :id AND status = 'pending'">};

constexpr command<Job(timestamp, std::int64_t)> mark_succeeded{
    "update_job_status",
    guarded_update<"UPDATE jobs SET status = 'succeeded', finished_at = :now, updated_at = :now, "
                   "last_error = NULL, lease_expires_at = NULL "
                   "WHERE id = :id AND status = 'running'">};

constexpr command<Job(timestamp, std::optional<std::string_view>, std::int64_t)> mark_failed{
    "update_job_status",
    guarded_update<"UPDATE jobs SET status = 'failed', finished_at = :now, updated_at = :now, "
                   "last_error = COALESCE(:error, last_error), lease_expires_at = NULL "
                   "WHERE id = :id AND status IN ('pending', 'running')">};

constexpr command<Job(timestamp, std::optional<std::string_view>, std::int64_t)> mark_dead{
    "update_job_status",
    guarded_update<"UPDATE jobs SET status = 'dead', finished_at = :now, updated_at = :now, "
                   "last_error = COALESCE(:error, last_error), lease_expires_at = NULL "
                   "WHERE id = :id AND status = 'running'">};

constexpr command<Job(timestamp, std::optional<std::string_view>, std::int64_t)> mark_pending{
    "update_job_status",
    guarded_update<"UPDATE jobs SET status = 'pending', updated_at = :now, "
                   "last_error = COALESCE(:error, last_error), worker_id = NULL, "
                   "started_at = NULL, finished_at = NULL, lease_expires_at = NULL "
                   "WHERE id = :id AND status IN ('running', 'failed', 'dead')">};

// Serialises creators of one (type, target) until their transactions end; PostgreSQL only, for
// statuses beyond the unique index of active jobs.
constexpr query<std::int64_t(std::string_view)> lock_job_key{
    "create_if_not_exists",
    {.postgresql =
         "SELECT 1 FROM (SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))) AS locked"}};

// Waits for any transaction moving a job of this key (a worker finishing it) and makes the
// following insert's check see its outcome: the advisory lock alone only orders creators.
constexpr query<std::int64_t(std::string_view, std::string_view)> lock_job_rows{
    "create_if_not_exists",
    {.postgresql = "SELECT COUNT(*) FROM (SELECT id FROM jobs WHERE job_type = :job_type AND "
                   "target_id = :target_id FOR UPDATE) AS locked"}};

constexpr sql_fragment answering_job =
    " FROM jobs WHERE job_type = :job_type AND target_id = :target_id AND status IN (:statuses)";

// MariaDB looks before it inserts: for the active statuses with a plain read (range and gap
// locks are avoided here: on Galera a replicated insert waiting behind them stalls the cluster
// until the lock wait timeout), for others with a locking read, which sees the latest committed
// row and makes a racing creator's insert wait (or deadlock, 1213, and be retried).
constexpr query<Job(std::string_view, std::string_view, status_list)> find_active_first{
    "create_if_not_exists", {.mariadb = sql_join<"SELECT ", job_columns, answering_job>}};
constexpr query<Job(std::string_view, std::string_view, status_list)> find_answering_first{
    "create_if_not_exists",
    {.mariadb = sql_join<"SELECT ", job_columns, answering_job,
                         " ORDER BY id DESC LIMIT 1 LOCK IN SHARE MODE">}};

constexpr sql_fragment insert_unless_answered =
    "INSERT INTO jobs (job_type, target_id, status, parameters, attempts, created_at, updated_at, "
    "run_at, priority) SELECT :job_type, :target_id, 'pending', :parameters, 0, CAST(:now AS "
    "BIGINT), CAST(:now AS BIGINT), CAST(:run_at AS BIGINT), CAST(:priority AS INTEGER) WHERE NOT "
    "EXISTS (SELECT 1";
constexpr sql_fragment unless_active =
    ") ON CONFLICT (job_type, target_id) WHERE status IN ('pending', 'running') DO NOTHING "
    "RETURNING ";

// Creates unless a job in one of the checked statuses exists; the unique index of active jobs
// makes a racing insert do nothing instead of failing. CASTs: PostgreSQL types the parameters of
// a SELECT list as text. MariaDB checked before (above): IGNORE turns a clash on the unique key
// of active jobs into "nothing inserted" (INSERT ... SELECT is avoided there: under concurrency
// MariaDB fails it with 1467 on the auto-increment lock).
constexpr command<Job(std::string_view, std::string_view, std::string_view, timestamp, timestamp,
                      std::int32_t, status_list)>
    insert_job_if_absent{
        "create_if_not_exists",
        {.sql = sql_join<insert_unless_answered, answering_job, unless_active, job_columns>,
         .postgresql =
             sql_join<"WITH created AS (", insert_unless_answered, answering_job, unless_active,
                      job_columns, ") SELECT ", job_columns, notify_created>,
         .mariadb = sql_join<"INSERT IGNORE INTO jobs (job_type, target_id, status, parameters, "
                             "attempts, created_at, updated_at, run_at, priority) VALUES "
                             "(:job_type, :target_id, 'pending', :parameters, 0, :now, :now, "
                             ":run_at, :priority); SELECT ",
                             job_columns, " FROM jobs WHERE id = LAST_INSERT_ID()">}};

// A batch of new jobs travels as one JSON text, an array of
// {"job_type", "target_id", "parameters", "run_at" (null: now), "priority"}, read as rows by
// json_to_recordset (PostgreSQL), json_each (SQLite) and JSON_TABLE (MariaDB). The unique index
// of active jobs makes a job that exists, or one named twice, be skipped.
constexpr command<Job(timestamp, std::string_view)> insert_batch{
    "create_all_if_not_exists",
    {.sqlite = sql_join<"INSERT INTO jobs (job_type, target_id, status, parameters, attempts, "
                        "created_at, updated_at, run_at, priority) SELECT "
                        "json_extract(value, '$.job_type'), json_extract(value, '$.target_id'), "
                        "'pending', json_extract(value, '$.parameters'), 0, :now, :now, "
                        "COALESCE(json_extract(value, '$.run_at'), :now), "
                        "json_extract(value, '$.priority') FROM json_each(:batch) WHERE true ",
                        "ON CONFLICT (job_type, target_id) WHERE status IN ('pending', "
                        "'running') DO NOTHING RETURNING ",
                        job_columns>,
     .postgresql =
         sql_join<"WITH created AS (INSERT INTO jobs (job_type, target_id, status, parameters, "
                  "attempts, created_at, updated_at, run_at, priority) SELECT b.job_type, "
                  "b.target_id, 'pending', b.parameters, 0, CAST(:now AS BIGINT), CAST(:now AS "
                  "BIGINT), COALESCE(b.run_at, CAST(:now AS BIGINT)), b.priority FROM "
                  "json_to_recordset(CAST(:batch AS json)) AS b(job_type text, target_id text, "
                  "parameters text, run_at bigint, priority integer) ON CONFLICT (job_type, "
                  "target_id) WHERE status IN ('pending', 'running') DO NOTHING RETURNING ",
                  job_columns, ") SELECT ", job_columns, notify_created>,
     .mariadb = sql_join<"INSERT IGNORE INTO jobs (job_type, target_id, status, parameters, "
                         "attempts, created_at, updated_at, run_at, priority) SELECT b.job_type, "
                         "b.target_id, 'pending', b.parameters, 0, :now, :now, "
                         "COALESCE(b.run_at, :now), b.priority FROM JSON_TABLE(:batch, '$[*]' "
                         "COLUMNS (job_type VARCHAR(255) PATH '$.job_type', target_id "
                         "VARCHAR(255) PATH '$.target_id', parameters LONGTEXT PATH "
                         "'$.parameters', run_at BIGINT PATH '$.run_at', priority INT PATH "
                         "'$.priority')) AS b RETURNING ",
                         job_columns>}};

// The active jobs of a batch's (job_type, target_id) pairs. PostgreSQL looks each pair up in the
// index of active jobs (LATERAL): with an IN list it may scan the jobs and read the batch again
// for each one. MariaDB locks what it reads, which sees the latest committed rows (the ones that
// stopped its inserts).
constexpr query<Job(std::string_view)> select_batch_active{
    "create_all_if_not_exists",
    {.sqlite = sql_join<"SELECT ", job_columns,
                        " FROM jobs WHERE status IN ('pending', 'running') AND (job_type, "
                        "target_id) IN (SELECT json_extract(value, '$.job_type'), "
                        "json_extract(value, '$.target_id') FROM json_each(:batch))">,
     .postgresql = sql_join<"SELECT j.* FROM json_to_recordset(CAST(:batch AS json)) AS "
                            "b(job_type text, target_id text), LATERAL (SELECT ",
                            job_columns,
                            " FROM jobs WHERE job_type = b.job_type AND target_id = b.target_id "
                            "AND status IN ('pending', 'running')) AS j">,
     .mariadb = sql_join<"SELECT ", job_columns,
                         " FROM jobs WHERE active_job = 1 AND (job_type, target_id) IN (SELECT "
                         "b.job_type, b.target_id FROM JSON_TABLE(:batch, '$[*]' COLUMNS "
                         "(job_type VARCHAR(255) PATH '$.job_type', target_id VARCHAR(255) PATH "
                         "'$.target_id')) AS b) LOCK IN SHARE MODE">}};

// After an insert that did nothing: the job that stopped it. MariaDB locks what it reads: for
// the active statuses the one active row, by its unique key.
constexpr query<Job(std::string_view, std::string_view, status_list)> find_existing_job{
    "create_if_not_exists",
    {.sql = sql_join<"SELECT ", job_columns, answering_job, " ORDER BY id DESC LIMIT 1">,
     .mariadb = sql_join<"SELECT ", job_columns, answering_job,
                         " ORDER BY id DESC LIMIT 1 LOCK IN SHARE MODE">}};
constexpr query<Job(std::string_view, std::string_view, status_list)> find_active_job{
    "create_if_not_exists",
    {.sql = sql_join<"SELECT ", job_columns, answering_job, " ORDER BY id DESC LIMIT 1">,
     .mariadb = sql_join<"SELECT ", job_columns, answering_job,
                         " AND active_job = 1 LOCK IN SHARE MODE">}};

// A claim marks the job running for its worker, counts an attempt and takes a lease. A job taken
// over from a worker whose lease expired says so in last_error (assigned first: MariaDB evaluates
// assignments left to right, so `status` must still be the old one).
constexpr sql_fragment claim_update =
    "UPDATE jobs SET last_error = CASE WHEN status = 'running' THEN 'lease expired: its worker "
    "stopped renewing it' ELSE last_error END, status = 'running', worker_id = :worker_id, "
    "attempts = attempts + 1, started_at = :now, updated_at = :now, finished_at = NULL, "
    "lease_expires_at = :lease_until WHERE ";
static_assert(std::string_view(claim_update.text).find(lease_expired_note) !=
                  std::string_view::npos,
              "the claim writes lease_expired_note");
// What a claim takes: first a running job whose lease expired (its worker is gone or stuck)
// while it has attempts left, then the due pending job of highest priority, earliest run_at,
// lowest id (the order of the index jobs_claim_priority).
constexpr sql_fragment expired_lease =
    "SELECT id FROM jobs WHERE job_type = :job_type AND status = 'running' "
    "AND lease_expires_at <= :now AND attempts < :max_attempts ORDER BY lease_expires_at LIMIT 1";
constexpr sql_fragment next_due =
    "SELECT id FROM jobs WHERE job_type = :job_type AND status = 'pending' AND run_at <= :now "
    "ORDER BY priority DESC, run_at, id LIMIT 1";

// PostgreSQL skips rows other claims have locked. SQLite has no row locks: the unit's write
// lock, taken at BEGIN IMMEDIATE, serialises claims. MariaDB picks a pending job with SKIP
// LOCKED into a session variable (a SELECT ... INTO that finds no row leaves it as it was); the
// row lock holds until the end of the unit, so the update cannot miss. An expired job it finds
// with a plain read, and its update locks the row and checks the lease again: a locking scan of
// the running jobs (or a SET from a subquery, which reads with shared locks) would take gap
// locks under REPEATABLE READ that make every other claim's update wait. Two claims that pick
// the same expired job meet at its row lock; the second then claims nothing this time.
constexpr command<Job(std::string_view, timestamp, timestamp, std::string_view, std::int64_t)>
    claim_next_job{
        "claim_next",
        {.sql = sql_join<claim_update, "id = COALESCE((", expired_lease, "), (", next_due,
                         ")) RETURNING ", job_columns>,
         .postgresql =
             sql_join<claim_update, "id = COALESCE((", expired_lease, " FOR UPDATE SKIP LOCKED), (",
                      next_due, " FOR UPDATE SKIP LOCKED)) RETURNING ", job_columns>,
         .mariadb = sql_join<"SELECT (", expired_lease, ") INTO @repokit_claimed; ",
                             "SELECT id INTO @repokit_claimed FROM jobs WHERE @repokit_claimed IS "
                             "NULL AND job_type = :job_type AND status = 'pending' AND run_at <= "
                             ":now ORDER BY priority DESC, run_at, id LIMIT 1 FOR UPDATE SKIP "
                             "LOCKED; ",
                             claim_update,
                             "id = @repokit_claimed AND (status = 'pending' OR (status = "
                             "'running' AND lease_expires_at <= :now AND attempts < "
                             ":max_attempts)); SELECT ",
                             job_columns, " FROM jobs WHERE id = @repokit_claimed">}};

// The claim a worker holds: running for it under a live lease.
constexpr query<Job(std::string_view, std::string_view, timestamp)> select_claim{
    "find_claim",
    sql_join<"SELECT ", job_columns,
             " FROM jobs WHERE job_type = :job_type AND status = 'running' AND worker_id = "
             ":worker_id AND lease_expires_at > :now ORDER BY started_at DESC LIMIT 1">};

// A claim is identified by its worker and attempt number: a job reconciled and claimed again
// since has another attempt number, and the old worker's outcome no longer applies.
constexpr sql_fragment claim_guard =
    " WHERE id = :id AND status = 'running' AND attempts = :attempts "
    "AND COALESCE(worker_id, '') = :worker_id";

using finish_statement = command<Job(timestamp, std::optional<std::string_view>, std::int64_t,
                                     std::int64_t, std::string_view)>;

constexpr finish_statement finish_succeeded{
    "finish_job",
    guarded_update<"UPDATE jobs SET status = 'succeeded', finished_at = :now, updated_at = :now, "
                   "last_error = :error, lease_expires_at = NULL",
                   claim_guard>};

constexpr finish_statement finish_failed{
    "finish_job",
    guarded_update<"UPDATE jobs SET status = 'failed', finished_at = :now, updated_at = :now, "
                   "last_error = COALESCE(:error, last_error), lease_expires_at = NULL",
                   claim_guard>};

constexpr finish_statement finish_dead{
    "finish_job",
    guarded_update<"UPDATE jobs SET status = 'dead', finished_at = :now, updated_at = :now, "
                   "last_error = COALESCE(:error, last_error), lease_expires_at = NULL",
                   claim_guard>};

constexpr finish_statement finish_released{
    "finish_job",
    guarded_update<"UPDATE jobs SET status = 'pending', worker_id = NULL, started_at = NULL, "
                   "finished_at = :now, updated_at = :now, "
                   "last_error = COALESCE(:error, last_error), lease_expires_at = NULL",
                   claim_guard>};

// A failed attempt with attempts left: pending again, due at :run_at. The worker's id stays, so
// that a retried unit can tell its own outcome (the same worker and attempt) from another's.
constexpr command<Job(timestamp, timestamp, std::string_view, std::int64_t, std::int64_t,
                      std::string_view)>
    retry_later{"retry_or_fail",
                guarded_update<"UPDATE jobs SET status = 'pending', run_at = :run_at, "
                               "updated_at = :now, last_error = :error, started_at = NULL, "
                               "finished_at = NULL, lease_expires_at = NULL",
                               claim_guard>};

// A heartbeat: the claim's lease now ends at :lease_until. Guarded by the claim like an outcome.
constexpr command<Job(timestamp, timestamp, std::int64_t, std::int64_t, std::string_view)>
    renew_lease{"heartbeat",
                guarded_update<"UPDATE jobs SET lease_expires_at = :lease_until, updated_at = :now",
                               claim_guard>};

// Stale: running, not updated (claimed or renewed) since the cutoff, and with no live lease. Jobs
// claimed before leases existed have none.
constexpr sql_fragment stale_job =
    " WHERE status = 'running' AND updated_at <= :cutoff "
    "AND (lease_expires_at IS NULL OR lease_expires_at <= :now)";

constexpr command<void(timestamp, std::string_view, timestamp, std::int64_t)> kill_exhausted_stale{
    "reconcile_stale",
    sql_join<"UPDATE jobs SET status = 'dead', worker_id = NULL, finished_at = :now, "
             "updated_at = :now, last_error = :error, lease_expires_at = NULL",
             stale_job, " AND attempts >= :max_attempts">};

constexpr command<void(timestamp, std::string_view, timestamp)> requeue_stale{
    "reconcile_stale",
    sql_join<"UPDATE jobs SET status = 'pending', worker_id = NULL, started_at = NULL, "
             "updated_at = :now, last_error = :error, lease_expires_at = NULL",
             stale_job>};

bool is_active(job_status status) {
  return status == job_status::pending || status == job_status::running;
}

result<void> check_job_key(std::string_view job_type, std::string_view target_id) {
  REPOKIT_TRYV(check_id("job_type", job_type));
  REPOKIT_TRYV(check_id("target_id", target_id, max_target_id_length));
  return success();
}

// A job_status cast from an integer that names no status.
result<void> check_status(job_status status) {
  if (status >= job_status::pending && status <= job_status::dead) return success();
  return failure(errc::invalid_argument,
                 "unknown job status value " + std::to_string(static_cast<int>(status)) +
                     "; expected pending, running, succeeded, failed or dead");
}

result<void> check_lease(std::chrono::milliseconds lease) {
  if (lease.count() > 0 && lease <= max_lease) return success();
  return failure(errc::invalid_argument, "a lease must be from 1 ms to " +
                                             std::to_string(max_lease.count()) + " ms, got " +
                                             std::to_string(lease.count()) + " ms");
}

// The worker of a claim, as the claim guard compares it.
std::string_view claim_worker(const Job& claimed) {
  return claimed.worker_id ? std::string_view(*claimed.worker_id) : std::string_view("");
}

result<void> check_job_id(std::int64_t id) {
  if (id > 0) return success();
  return failure(errc::invalid_argument, "job id must be positive, got " + std::to_string(id));
}

}  // namespace

result<Job> JobRepository::create_job(std::string_view job_type, std::string_view target_id,
                                      std::string_view parameters, const job_schedule& schedule) {
  REPOKIT_TRYV(check_job_key(job_type, target_id));
  REPOKIT_TRYV(check_text("parameters", parameters, max_parameters_length));
  const timestamp now = detail::now();
  REPOKIT_TRY(auto created, unit_->one(insert_job, job_type, target_id, parameters, now,
                                       schedule.run_at.value_or(now), schedule.priority));
  if (!created) return failure(errc::database, "create_job: the insert returned no row");
  return std::move(*created);
}

result<Job> JobRepository::get_job(std::int64_t id) {
  REPOKIT_TRYV(check_job_id(id));
  REPOKIT_TRY(auto found, unit_->one(select_job, id));
  if (!found) return failure(detail::not_found("job", std::to_string(id)));
  return std::move(*found);
}

result<bool> JobRepository::job_exists(std::string_view job_type, std::string_view target_id,
                                       std::span<const job_status> statuses) {
  REPOKIT_TRYV(check_job_key(job_type, target_id));
  if (statuses.empty() || statuses.size() > all_job_statuses.size()) {
    return failure(errc::invalid_argument, "job_exists takes 1 to 5 statuses");
  }
  for (const job_status status : statuses) REPOKIT_TRYV(check_status(status));
  REPOKIT_TRY(auto counted, unit_->one(count_jobs_in, job_type, target_id, statuses));
  return counted.value_or(0) > 0;
}

result<created_or_existing<Job>> JobRepository::create_if_not_exists(
    std::string_view job_type, std::string_view target_id, std::string_view parameters,
    std::span<const job_status> check_statuses, const job_schedule& schedule) {
  REPOKIT_TRYV(check_job_key(job_type, target_id));
  REPOKIT_TRYV(check_text("parameters", parameters, max_parameters_length));
  if (check_statuses.empty() || check_statuses.size() > all_job_statuses.size()) {
    return failure(errc::invalid_argument, "create_if_not_exists takes 1 to 5 statuses");
  }
  for (const job_status status : check_statuses) REPOKIT_TRYV(check_status(status));
  // The unique index covers only active jobs: any other status needs the creators serialised.
  const bool beyond_index = std::any_of(check_statuses.begin(), check_statuses.end(),
                                        [](job_status s) { return !is_active(s); });
  if (beyond_index) {
    const std::string key = std::string(job_type) + '\x1f' + std::string(target_id);
    REPOKIT_TRYV(unit_->one(lock_job_key, key));
    REPOKIT_TRYV(unit_->one(lock_job_rows, job_type, target_id));
  }
  // Whatever was asked, an active job answers too: there is never a second one.
  std::vector<job_status> answering(check_statuses.begin(), check_statuses.end());
  for (const job_status active : active_job_statuses) {
    if (std::find(answering.begin(), answering.end(), active) == answering.end()) {
      answering.push_back(active);
    }
  }
  const auto& look_first = beyond_index ? find_answering_first : find_active_first;
  const auto& look_after = beyond_index ? find_existing_job : find_active_job;

  // Under PostgreSQL's READ COMMITTED the job that stopped the insert may leave the answering
  // statuses before it is read back; then the insert is tried again. Bounded: it cannot happen
  // twice without another worker finishing two jobs of one target in between.
  for (int round = 0; round < 3; ++round) {
    REPOKIT_TRY(auto existing, unit_->one(look_first, job_type, target_id, answering));
    if (!existing) {
      const timestamp now = detail::now();
      REPOKIT_TRY(auto created,
                  unit_->one(insert_job_if_absent, job_type, target_id, parameters, now,
                             schedule.run_at.value_or(now), schedule.priority, check_statuses));
      if (created) return created_or_existing<Job>{std::move(*created), true};
      REPOKIT_TRY(existing, unit_->one(look_after, job_type, target_id, answering));
    }
    if (existing) return created_or_existing<Job>{std::move(*existing), false};
  }
  error changing =
      make_error(errc::transient, "the existing job of " + std::string(job_type) + "/" +
                                      std::string(target_id) + " kept changing status");
  changing.retry = retry_class::retry_transaction;  // a fresh unit will see where it settled
  changing.operation = "create_if_not_exists";
  return failure(std::move(changing));
}

namespace {

using job_key = std::pair<std::string, std::string>;  // (job_type, target_id)

// The rows go in (job_type, target_id) order: two batches that overlap then take the unique
// index's entries in the same order, and do not deadlock each other.
std::string batch_json(std::span<const new_job> jobs, std::vector<std::size_t> which) {
  std::sort(which.begin(), which.end(), [&](std::size_t a, std::size_t b) {
    return std::tie(jobs[a].job_type, jobs[a].target_id) <
           std::tie(jobs[b].job_type, jobs[b].target_id);
  });
  nlohmann::json rows = nlohmann::json::array();
  for (const std::size_t i : which) {
    const new_job& job = jobs[i];
    nlohmann::json row{{"job_type", job.job_type},
                       {"target_id", job.target_id},
                       {"parameters", job.parameters},
                       {"run_at", nullptr},
                       {"priority", job.schedule.priority}};
    if (job.schedule.run_at) row["run_at"] = job.schedule.run_at->time_since_epoch().count();
    rows.push_back(std::move(row));
  }
  return rows.dump();
}

}  // namespace

result<std::vector<created_or_existing<Job>>> JobRepository::create_all_if_not_exists(
    std::span<const new_job> jobs) {
  if (jobs.empty() || jobs.size() > max_job_batch) {
    return failure(errc::invalid_argument, "create_all_if_not_exists takes 1 to " +
                                               std::to_string(max_job_batch) + " jobs, got " +
                                               std::to_string(jobs.size()));
  }
  for (std::size_t i = 0; i < jobs.size(); ++i) {
    auto checked = check_job_key(jobs[i].job_type, jobs[i].target_id);
    if (checked) checked = check_text("parameters", jobs[i].parameters, max_parameters_length);
    if (!checked) {
      error refused = std::move(checked).error();
      refused.message = "job " + std::to_string(i) + " of the batch: " + refused.message;
      return failure(std::move(refused));
    }
  }
  std::map<job_key, std::pair<Job, bool>> answers;  // the job of each pair, and whether created
  std::vector<std::size_t> unanswered(jobs.size());
  for (std::size_t i = 0; i < jobs.size(); ++i) unanswered[i] = i;
  // As for one job: under PostgreSQL's READ COMMITTED a job that stopped an insert may leave the
  // active statuses before it is read back; its pairs are then inserted again.
  const auto answer = [&](std::vector<Job> found, bool created) {
    for (Job& job : found) {
      job_key key{job.job_type, job.target_id};
      answers.emplace(std::move(key), std::pair{std::move(job), created});
    }
    std::erase_if(unanswered, [&](std::size_t i) {
      return answers.contains(job_key{jobs[i].job_type, jobs[i].target_id});
    });
  };
  for (int round = 0; round < 3 && !unanswered.empty(); ++round) {
    REPOKIT_TRY(auto created,
                unit_->all(insert_batch, detail::now(), batch_json(jobs, unanswered)));
    answer(std::move(created), true);
    if (unanswered.empty()) break;
    REPOKIT_TRY(auto active, unit_->all(select_batch_active, batch_json(jobs, unanswered)));
    answer(std::move(active), false);
  }
  if (!unanswered.empty()) {
    error changing =
        make_error(errc::transient, "the existing jobs of a batch kept changing status");
    changing.retry = retry_class::retry_transaction;
    changing.operation = "create_all_if_not_exists";
    return failure(std::move(changing));
  }
  std::vector<created_or_existing<Job>> out;
  out.reserve(jobs.size());
  for (const new_job& job : jobs) {
    auto& [found, created] = answers.at(job_key{job.job_type, job.target_id});
    out.push_back({found, created});
    created = false;  // named again: the same job, found
  }
  return out;
}

timestamp occurrence_at(const periodic_job& schedule, timestamp now) noexcept {
  const auto interval = std::max(schedule.interval, std::chrono::milliseconds{1});
  const auto since_epoch = now.time_since_epoch();
  return timestamp{since_epoch - since_epoch % interval};
}

result<created_or_existing<Job>> JobRepository::create_occurrence(const periodic_job& schedule,
                                                                  timestamp now) {
  REPOKIT_TRYV(detail::check_periodic_job(schedule));
  const timestamp due = occurrence_at(schedule, now);
  return create_if_not_exists(
      schedule.job_type, schedule.name + "@" + std::to_string(due.time_since_epoch().count()),
      schedule.parameters, all_job_statuses, {.run_at = due, .priority = schedule.priority});
}

result<std::optional<Job>> JobRepository::claim_next(std::string_view job_type,
                                                     std::string_view worker_id,
                                                     const claim_options& options) {
  REPOKIT_TRYV(check_id("job_type", job_type));
  REPOKIT_TRYV(check_id("worker_id", worker_id, max_target_id_length));
  REPOKIT_TRYV(detail::check_claim_options(options));
  const timestamp now = detail::now();
  return unit_->one(claim_next_job, worker_id, now, now + options.lease, job_type,
                    options.max_attempts);
}

result<std::optional<Job>> JobRepository::find_claim(std::string_view job_type,
                                                     std::string_view worker_id) {
  REPOKIT_TRYV(check_id("job_type", job_type));
  REPOKIT_TRYV(check_id("worker_id", worker_id, max_target_id_length));
  return unit_->one(select_claim, job_type, worker_id, detail::now());
}

result<Job> JobRepository::retry_or_fail(const Job& claimed, std::string_view error,
                                         const job_retry_policy& policy) {
  REPOKIT_TRYV(check_job_id(claimed.id));
  REPOKIT_TRYV(check_text("error", error));
  REPOKIT_TRYV(detail::check_retry_policy(policy));
  if (claimed.attempts >= policy.max_attempts) {
    return finish_job(claimed, job_status::dead, error);
  }
  const auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(policy.delay.delay(
      static_cast<int>(std::min<std::int64_t>(claimed.attempts, 64)), unit_random()));
  const timestamp now = detail::now();
  REPOKIT_TRY(auto waiting, unit_->one(retry_later, now + wait, now, error, claimed.id,
                                       claimed.attempts, claim_worker(claimed)));
  if (waiting) return std::move(*waiting);
  return failure(claim_lost(claimed, "its outcome is not recorded"));
}

result<Job> JobRepository::heartbeat(const Job& claimed, std::chrono::milliseconds lease) {
  REPOKIT_TRYV(check_job_id(claimed.id));
  REPOKIT_TRYV(check_lease(lease));
  const timestamp now = detail::now();
  REPOKIT_TRY(auto renewed, unit_->one(renew_lease, now + lease, now, claimed.id, claimed.attempts,
                                       claim_worker(claimed)));
  if (renewed) return std::move(*renewed);
  return failure(claim_lost(claimed, "its lease is not renewed"));
}

result<Job> JobRepository::finish_job(const Job& claimed, job_status outcome,
                                      std::optional<std::string_view> error) {
  REPOKIT_TRYV(check_job_id(claimed.id));
  REPOKIT_TRYV(check_status(outcome));
  if (error) REPOKIT_TRYV(check_text("error", *error));
  const finish_statement* finish = nullptr;
  switch (outcome) {
    case job_status::succeeded: finish = &finish_succeeded; break;
    case job_status::failed: finish = &finish_failed; break;
    case job_status::dead: finish = &finish_dead; break;
    case job_status::pending: finish = &finish_released; break;
    case job_status::running:
      return failure(errc::invalid_argument,
                     "finish_job records an outcome: succeeded, failed, dead or pending, not "
                     "running");
  }
  REPOKIT_TRY(auto finished, unit_->one(*finish, detail::now(), error, claimed.id, claimed.attempts,
                                        claim_worker(claimed)));
  if (finished) return std::move(*finished);
  return failure(claim_lost(claimed, "its outcome is not recorded"));
}

result<Job> JobRepository::cancel_job(std::int64_t id, std::string_view reason) {
  REPOKIT_TRYV(check_text("reason", reason));
  return update_job_status(id, job_status::failed,
                           std::string(cancelled_note) + std::string(reason));
}

result<std::vector<queue_depth>> JobRepository::queue_depths(std::span<const job_status> statuses) {
  if (statuses.empty() || statuses.size() > all_job_statuses.size()) {
    return failure(errc::invalid_argument, "queue_depths takes 1 to 5 statuses");
  }
  for (const job_status status : statuses) REPOKIT_TRYV(check_status(status));
  return unit_->all(count_by_type_and_status, statuses);
}

error JobRepository::claim_lost(const Job& claimed, std::string_view consequence) {
  auto found = get_job(claimed.id);
  if (!found) return std::move(found).error();
  const Job& current = found.value();
  if (unit_->kind() == dialect::mariadb && current.attempts < claimed.attempts) {
    // Attempts only grow, and this claim's attempt committed: a read that shows an earlier one
    // comes from a node that has not applied the claim yet (a Galera node lagging the one that
    // took it). The claim is not lost; the unit runs again once the node has caught up. (On
    // the other backends a unit reads its own database as it is: such a Job was never claimed.)
    error lagging = make_error(
        errc::transient, "job " + std::to_string(claimed.id) + " is at attempt " +
                             std::to_string(current.attempts) + " on this node, before this " +
                             "claim's attempt " + std::to_string(claimed.attempts) +
                             ": the node has not applied the claim yet; retried");
    lagging.retry = retry_class::retry_transaction;
    return lagging;
  }
  if (current.status == job_status::running && current.attempts != claimed.attempts) {
    return make_error(errc::invalid_state,
                      "job " + std::to_string(claimed.id) + " was claimed again (attempt " +
                          std::to_string(current.attempts) + ") after this claim (attempt " +
                          std::to_string(claimed.attempts) + "); " + std::string(consequence));
  }
  return make_error(errc::invalid_state, "job " + std::to_string(claimed.id) + " is " +
                                             std::string(to_string(current.status)) +
                                             ", not running under this claim; " +
                                             std::string(consequence));
}

result<reconcile_report> JobRepository::reconcile_stale(std::chrono::milliseconds older_than,
                                                        std::int64_t max_attempts) {
  if (older_than.count() < 0 || max_attempts < 1) {
    return failure(errc::invalid_argument,
                   "reconcile_stale needs older_than >= 0 and max_attempts >= 1");
  }
  const timestamp now = detail::now();
  const timestamp cutoff = now - older_than;
  reconcile_report report;
  REPOKIT_TRY(report.dead,
              unit_->run(kill_exhausted_stale, now, "stale: its worker stopped, no attempts left",
                         cutoff, max_attempts));
  REPOKIT_TRY(report.requeued, unit_->run(requeue_stale, now, "stale: its worker stopped", cutoff));
  return report;
}

result<Job> JobRepository::update_job_status(std::int64_t id, job_status status,
                                             std::optional<std::string_view> last_error) {
  REPOKIT_TRYV(check_job_id(id));
  REPOKIT_TRYV(check_status(status));
  if (last_error) REPOKIT_TRYV(check_text("last_error", *last_error));
  const timestamp now = detail::now();
  result<std::optional<Job>> moved = std::optional<Job>{};
  switch (status) {
    case job_status::running: moved = unit_->one(mark_running, now, now + default_lease, id); break;
    case job_status::succeeded: moved = unit_->one(mark_succeeded, now, id); break;
    case job_status::failed: moved = unit_->one(mark_failed, now, last_error, id); break;
    case job_status::dead: moved = unit_->one(mark_dead, now, last_error, id); break;
    case job_status::pending: moved = unit_->one(mark_pending, now, last_error, id); break;
  }
  REPOKIT_TRY(auto updated, std::move(moved));
  if (updated) return std::move(*updated);

  // Nothing matched: say whether the job is missing or in a state that forbids the move.
  REPOKIT_TRY(auto current, get_job(id));
  return failure(errc::invalid_state, "job " + std::to_string(id) + " is " +
                                          std::string(to_string(current.status)) +
                                          " and cannot move to " + std::string(to_string(status)));
}

namespace detail {

result<void> check_claim_options(const claim_options& options) {
  REPOKIT_TRYV(check_lease(options.lease));
  if (options.max_attempts < 1) {
    return failure(errc::invalid_argument, "claim_next needs max_attempts >= 1, got " +
                                               std::to_string(options.max_attempts));
  }
  return success();
}

result<void> check_retry_policy(const job_retry_policy& policy) {
  if (policy.max_attempts < 1) {
    return failure(errc::invalid_argument, "a job retry policy needs max_attempts >= 1, got " +
                                               std::to_string(policy.max_attempts));
  }
  if (auto reason = policy.delay.invalid_reason()) {
    return failure(errc::invalid_argument, "a job retry policy's delay: " + *reason);
  }
  if (policy.delay.max_delay > max_lease) {
    return failure(errc::invalid_argument,
                   "a job retry policy's max_delay must be at most 30 days");
  }
  return success();
}

result<void> check_periodic_job(const periodic_job& schedule) {
  if (schedule.interval <= std::chrono::milliseconds{0}) {
    return failure(errc::invalid_argument,
                   "periodic job " + schedule.name + ": its interval must be above zero");
  }
  REPOKIT_TRYV(check_id("periodic job name", schedule.name, max_target_id_length - 24));
  if (schedule.name.find('@') != std::string::npos) {
    return failure(errc::invalid_argument,
                   "periodic job name " + schedule.name + ": '@' separates it from the time");
  }
  return success();
}

}  // namespace detail
}  // namespace repokit
