//! `onecard scheduler`: fires the jobs of `jobs/` on their cron schedules.
//! Each fire is claimed in the database first (`store::jobs`), so it runs
//! once however many schedulers share the database; each kind runs through
//! the same code as its command; every execution is recorded with its
//! outcome and counts. A fire missed while no scheduler ran is caught up once
//! at start-up (per job), and fires that came due while another job ran are
//! coalesced into one. SIGTERM or Ctrl-C stops the daemon after the job in
//! hand: every job step is one transaction, so nothing is left half-done.

use std::path::PathBuf;
use std::time::Duration;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::Serialize;
use tracing::{error, info, info_span, Instrument};

use crate::config::Config;
use crate::domain::Period;
use crate::store::jobs::{self, stamp};
use crate::store::{Store, StoreError};

pub mod defs;
pub mod inbox;

pub use defs::{CatchUp, Job, JobKind};

/// How long a claim holds before another scheduler may take a fire over; renewed while the job runs.
const LEASE: Duration = Duration::from_secs(60);
const RENEW_EVERY: Duration = Duration::from_secs(20);

/// Where the scheduler runs: what a `command` job passes on to the child.
#[derive(Debug, Clone)]
pub struct Context {
    pub db_url: String,
    pub config_path: Option<PathBuf>,
    /// This scheduler's name in the job history (host and process by default).
    pub holder: String,
}

impl Context {
    pub fn default_holder() -> String {
        let host = std::fs::read_to_string("/etc/hostname").map(|h| h.trim().to_string()).unwrap_or_default();
        format!("{}:{}", if host.is_empty() { "localhost" } else { &host }, std::process::id())
    }
}

/// One fire, as reported.
#[derive(Debug, Clone, Serialize)]
pub struct Fired {
    pub job: String,
    pub scheduled_for: String,
    pub ok: bool,
    pub error: Option<String>,
    pub counts: serde_json::Value,
}

/// Runs one job now (`jobs run NAME`), through the same claim and record as a scheduled fire.
pub async fn run_now(store: &Store, config: &Config, ctx: &Context, job: &Job) -> Result<Option<Fired>, StoreError> {
    let now = Utc::now();
    let key = format!("manual:{}:{}", stamp(now), std::process::id());
    fire(store, config, ctx, job, &key, now.with_timezone(&job.tz)).await
}

/// Claims and runs one fire; `None` when another scheduler has it.
pub async fn fire(
    store: &Store,
    config: &Config,
    ctx: &Context,
    job: &Job,
    scheduled_for: &str,
    at: DateTime<Tz>,
) -> Result<Option<Fired>, StoreError> {
    let lease = |from: DateTime<Utc>| stamp(from + chrono::Duration::from_std(LEASE).unwrap_or_default());
    let Some(id) = jobs::claim(store, &job.name, scheduled_for, &ctx.holder, &lease(Utc::now())).await? else {
        info!(job = %job.name, scheduled_for, "fire taken by another scheduler");
        return Ok(None);
    };
    let span = info_span!("job", job = %job.name, kind = job.kind.name(), scheduled_for, run = id);
    let work = execute(store, config, ctx, job, at).instrument(span.clone());
    tokio::pin!(work);
    let mut renew = tokio::time::interval(RENEW_EVERY);
    renew.tick().await;
    let result = loop {
        tokio::select! {
            r = &mut work => break r,
            _ = renew.tick() => jobs::renew(store, id, &ctx.holder, &lease(Utc::now())).await?,
        }
    };
    let (ok, err, counts) = match result {
        Ok(counts) => (true, None, counts),
        Err(e) => (false, Some(e), serde_json::Value::Null),
    };
    let counts_text = (!counts.is_null()).then(|| counts.to_string());
    jobs::finish(store, id, ok, err.as_deref(), counts_text.as_deref()).await?;
    span.in_scope(|| match &err {
        None => info!("job done"),
        Some(e) => error!(error = %e, "job failed"),
    });
    Ok(Some(Fired { job: job.name.clone(), scheduled_for: scheduled_for.to_string(), ok, error: err, counts }))
}

/// What a job does, through the same code as its command. The error is one line.
async fn execute(
    store: &Store,
    config: &Config,
    ctx: &Context,
    job: &Job,
    at: DateTime<Tz>,
) -> Result<serde_json::Value, String> {
    let today = at.date_naive();
    match &job.kind {
        JobKind::RunCreate { by } => {
            let period = Period::of(today);
            let opts = crate::jobs::run::create::CreateOptions { period, by: by.clone(), value_date: None };
            match crate::jobs::run::create::create_run(store, config, &opts).await {
                Ok(run_id) => Ok(serde_json::json!({ "run_id": run_id, "period": period.to_string() })),
                Err(crate::jobs::run::RunError::DraftExists(p)) => {
                    Ok(serde_json::json!({ "period": p, "note": "a draft run exists already; nothing created" }))
                }
                Err(e) => Err(e.to_string()),
            }
        }
        JobKind::RunExport { outbox } => {
            let runs = crate::store::runs::list(store.pool()).await.map_err(|e| e.to_string())?;
            let mut exported = Vec::new();
            for r in runs.iter().filter(|r| r.state == "approved") {
                let report = crate::jobs::run::export::export_run(store, config, &r.run_id, outbox)
                    .await
                    .map_err(|e| format!("run {}: {e}", r.run_id))?;
                exported.push(report.run_id);
            }
            Ok(serde_json::json!({ "exported": exported }))
        }
        JobKind::Inbox(o) => Ok(json(&inbox::sweep(store, o).await?)),
        JobKind::CardsExport { outbox, by } => {
            let report =
                crate::jobs::cards::exchange::export(store, config, outbox, by).await.map_err(|e| e.to_string())?;
            Ok(json(&report))
        }
        JobKind::BatchClose => {
            let closed = crate::jobs::batch::close_due(store, today, config.deadlines.batch_close_days)
                .await
                .map_err(|e| e.to_string())?;
            Ok(json(&closed))
        }
        JobKind::Missed => {
            let report = crate::jobs::missed::report(store, config, today).await.map_err(|e| e.to_string())?;
            Ok(serde_json::json!({ "as_of": report.as_of, "missed": report.missed, "raised": report.raised }))
        }
        JobKind::Command { args } => command(ctx, args).await,
    }
}

/// Any serialisable value as JSON (a failure to serialise is recorded as null).
fn json<T: Serialize>(v: &T) -> serde_json::Value {
    serde_json::to_value(v).unwrap_or(serde_json::Value::Null)
}

/// Runs `onecard <args>` as a child with this scheduler's database and configuration.
async fn command(ctx: &Context, args: &[String]) -> Result<serde_json::Value, String> {
    let exe = std::env::current_exe().map_err(|e| format!("cannot find the onecard binary: {e}"))?;
    let mut cmd = tokio::process::Command::new(exe);
    cmd.arg("--db").arg(&ctx.db_url);
    if let Some(c) = &ctx.config_path {
        cmd.arg("--config").arg(c);
    }
    let out = cmd.args(args).kill_on_drop(true).output().await.map_err(|e| format!("cannot start onecard: {e}"))?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    if out.status.success() {
        Ok(serde_json::json!({ "args": args, "stdout_lines": out.stdout.split(|&b| b == b'\n').count() - 1 }))
    } else {
        let last = stderr.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("no message");
        Err(format!("onecard {} exited with {}: {last}", args.join(" "), out.status))
    }
}

/// The next fire of a job strictly after `t`.
pub fn next_after(job: &Job, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
    job.schedule.after(&t.with_timezone(&job.tz)).next().map(|d| d.with_timezone(&Utc))
}

/// The latest fire of a job at or before `t`.
fn latest_until(job: &Job, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let t = whole_second(t);
    let local = t.with_timezone(&job.tz);
    if job.schedule.includes(local) {
        return Some(t);
    }
    job.schedule.after(&local).next_back().map(|d| d.with_timezone(&Utc))
}

fn whole_second(t: DateTime<Utc>) -> DateTime<Utc> {
    t - chrono::Duration::nanoseconds(i64::from(t.timestamp_subsec_nanos()))
}

/// The daemon: catches up, then fires every job when due until `stop` turns true.
pub async fn run(
    store: &Store,
    config: &Config,
    ctx: &Context,
    jobs: &[Job],
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> Result<(), StoreError> {
    let started = whole_second(Utc::now());
    info!(holder = %ctx.holder, jobs = jobs.len(), "scheduler started");
    // A fire a dead scheduler left half-way ran in transactions that rolled back: it runs again, once.
    for (name, scheduled_for) in jobs::abandoned(store.pool()).await? {
        let Some(job) = jobs.iter().find(|j| j.name == name) else { continue };
        let at = chrono::DateTime::parse_from_rfc3339(&scheduled_for).map(|t| t.with_timezone(&job.tz));
        let at = at.unwrap_or_else(|_| Utc::now().with_timezone(&job.tz));
        info!(job = %name, scheduled_for, "taking over a fire abandoned by a dead scheduler");
        fire(store, config, ctx, job, &scheduled_for, at).await?;
    }
    for job in jobs.iter().filter(|j| j.catch_up == CatchUp::Once) {
        let Some(missed) = latest_until(job, started) else { continue };
        let last = jobs::last_scheduled(store.pool(), &job.name).await?;
        if last.as_deref().is_none_or(|l| l < stamp(missed).as_str()) {
            info!(job = %job.name, missed = %stamp(missed), "catching up a missed fire once");
            fire(store, config, ctx, job, &stamp(missed), missed.with_timezone(&job.tz)).await?;
        }
        if *stop.borrow() {
            return Ok(());
        }
    }
    let mut cursor = started;
    loop {
        let now = whole_second(Utc::now());
        for job in jobs {
            // Fires in (cursor, now], coalesced into the latest.
            let due = latest_until(job, now).filter(|t| *t > cursor);
            if let Some(t) = due {
                fire(store, config, ctx, job, &stamp(t), t.with_timezone(&job.tz)).await?;
            }
            if *stop.borrow() {
                info!("scheduler stopped");
                return Ok(());
            }
        }
        cursor = now;
        let next = jobs.iter().filter_map(|j| next_after(j, cursor)).min();
        let wait = next.map(|n| (n - Utc::now()).to_std().unwrap_or_default()).unwrap_or(Duration::from_secs(3600));
        tokio::select! {
            _ = tokio::time::sleep(wait + Duration::from_millis(20)) => {}
            _ = stop.changed() => {
                info!("scheduler stopped");
                return Ok(());
            }
        }
    }
}
