//! The scheduler's job history and leases (`job_runs`). A fire of a job is
//! one row keyed by (job, scheduled_for): the scheduler whose insert wins runs
//! it, so a fire runs once however many schedulers watch the same database.

use sqlx::AnyPool;

use super::source_files::is_unique_violation;
use super::{now_text, Store, StoreError};

/// One execution as recorded.
#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct JobRun {
    pub id: i64,
    pub job: String,
    pub scheduled_for: String,
    pub holder: String,
    pub started_at: String,
    pub finished_at: Option<String>,
    pub outcome: String,
    pub error: Option<String>,
    pub counts: Option<String>,
    pub attempts: i64,
}

/// Text of a time as stored: UTC RFC 3339 to the second.
pub fn stamp(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// Takes the fire of `job` at `scheduled_for` for `holder` until `lease_until`.
/// `Ok(None)` when another scheduler has it (running under a live lease, or finished).
pub async fn claim(
    store: &Store,
    job: &str,
    scheduled_for: &str,
    holder: &str,
    lease_until: &str,
) -> Result<Option<i64>, StoreError> {
    let now = now_text();
    let inserted = sqlx::query_scalar::<_, i64>(
        "INSERT INTO job_runs (job, scheduled_for, holder, started_at, outcome, lease_until) \
         VALUES ($1, $2, $3, $4, 'running', $5) RETURNING id",
    )
    .bind(job)
    .bind(scheduled_for)
    .bind(holder)
    .bind(&now)
    .bind(lease_until)
    .fetch_one(store.pool())
    .await;
    match inserted.map_err(StoreError::from) {
        Ok(id) => Ok(Some(id)),
        Err(e) if is_unique_violation(&e) => {
            // A fire left running by a scheduler that died is taken over once its lease has run out.
            let taken = sqlx::query_scalar::<_, i64>(
                "UPDATE job_runs SET holder = $1, started_at = $2, lease_until = $3, attempts = attempts + 1 \
                 WHERE job = $4 AND scheduled_for = $5 AND outcome = 'running' AND lease_until < $2 RETURNING id",
            )
            .bind(holder)
            .bind(&now)
            .bind(lease_until)
            .bind(job)
            .bind(scheduled_for)
            .fetch_optional(store.pool())
            .await?;
            Ok(taken)
        }
        Err(e) => Err(e),
    }
}

/// Extends the lease of a running fire.
pub async fn renew(store: &Store, id: i64, holder: &str, lease_until: &str) -> Result<(), StoreError> {
    sqlx::query("UPDATE job_runs SET lease_until = $1 WHERE id = $2 AND holder = $3 AND outcome = 'running'")
        .bind(lease_until)
        .bind(id)
        .bind(holder)
        .execute(store.pool())
        .await?;
    Ok(())
}

/// Records how a fire ended.
pub async fn finish(
    store: &Store,
    id: i64,
    ok: bool,
    error: Option<&str>,
    counts: Option<&str>,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE job_runs SET finished_at = $1, outcome = $2, error = $3, counts = $4, lease_until = NULL WHERE id = $5",
    )
    .bind(now_text())
    .bind(if ok { "ok" } else { "failed" })
    .bind(error)
    .bind(counts)
    .bind(id)
    .execute(store.pool())
    .await?;
    Ok(())
}

/// Fires left running by a scheduler whose lease has run out: (job, scheduled_for).
pub async fn abandoned(pool: &AnyPool) -> Result<Vec<(String, String)>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT job, scheduled_for FROM job_runs WHERE outcome = 'running' AND lease_until < $1 ORDER BY id",
    )
    .bind(now_text())
    .fetch_all(pool)
    .await?)
}

/// The latest fire time recorded for a job (scheduled or manual), if any.
pub async fn last_scheduled(pool: &AnyPool, job: &str) -> Result<Option<String>, StoreError> {
    Ok(sqlx::query_scalar(
        "SELECT MAX(scheduled_for) FROM job_runs WHERE job = $1 AND scheduled_for NOT LIKE 'manual%'",
    )
    .bind(job)
    .fetch_one(pool)
    .await?)
}

/// The history, newest first.
pub async fn history(pool: &AnyPool, job: Option<&str>, limit: i64) -> Result<Vec<JobRun>, StoreError> {
    let sql = format!(
        "SELECT id, job, scheduled_for, holder, started_at, finished_at, outcome, error, counts, attempts \
         FROM job_runs WHERE ($1 = '' OR job = $1) ORDER BY started_at DESC, id DESC LIMIT {limit}"
    );
    Ok(sqlx::query_as(&sql).bind(job.unwrap_or("")).fetch_all(pool).await?)
}
