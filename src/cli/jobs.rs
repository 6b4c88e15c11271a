//! `onecard scheduler` and `onecard jobs list|history|run` (reports.md,
//! jobs/README.md): the daemon and what an operator asks of it.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use chrono::Utc;
use clap::Subcommand;

use crate::config::Config;
use crate::scheduler::{self, defs, Context};
use crate::store::Store;

#[derive(Subcommand, Debug)]
pub enum JobsCommand {
    /// Every job with its schedule and next fire times.
    List {
        #[arg(long, default_value = "jobs")]
        jobs: PathBuf,
        /// How many next fire times to show per job.
        #[arg(long, default_value_t = 3)]
        next: usize,
    },
    /// Executions recorded, newest first.
    History {
        #[arg(long)]
        job: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: i64,
    },
    /// Run one job now, through the same path as a scheduled fire.
    Run {
        name: String,
        #[arg(long, default_value = "jobs")]
        jobs: PathBuf,
    },
}

fn context(db: &str, config: Option<&Path>, holder: Option<String>) -> Context {
    Context {
        db_url: db.to_string(),
        config_path: config.map(Path::to_path_buf),
        holder: holder.unwrap_or_else(Context::default_holder),
    }
}

/// The daemon, until SIGTERM or Ctrl-C.
pub async fn daemon(
    db: &str,
    config_path: Option<&Path>,
    config: &Config,
    dir: &Path,
    holder: Option<String>,
) -> anyhow::Result<ExitCode> {
    let jobs = defs::load_dir(dir)?;
    let store = Store::connect(db).await?;
    let ctx = context(db, config_path, holder);
    let (tx, rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => return,
        };
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
        tracing::info!("stop requested: finishing the job in hand");
        let _ = tx.send(true);
    });
    eprintln!("onecard scheduler: {} jobs from {}, as {}", jobs.len(), dir.display(), ctx.holder);
    scheduler::run(&store, config, &ctx, &jobs, rx).await?;
    store.close().await;
    Ok(ExitCode::SUCCESS)
}

pub async fn run(
    db: &str,
    config_path: Option<&Path>,
    config: &Config,
    what: JobsCommand,
    json: bool,
) -> anyhow::Result<ExitCode> {
    match what {
        JobsCommand::List { jobs, next } => {
            let defs = defs::load_dir(&jobs)?;
            let store = Store::connect(db).await?;
            let mut rows = Vec::new();
            for j in &defs {
                let mut t = Utc::now();
                let mut upcoming = Vec::new();
                for _ in 0..next {
                    let Some(n) = scheduler::next_after(j, t) else { break };
                    upcoming.push(n.with_timezone(&j.tz).format("%Y-%m-%d %H:%M:%S %Z").to_string());
                    t = n;
                }
                let last = crate::store::jobs::history(store.pool(), Some(&j.name), 1).await?.pop();
                rows.push(serde_json::json!({
                    "name": j.name, "kind": j.kind.name(), "schedule": j.schedule_text, "timezone": j.tz.name(),
                    "description": j.description, "next": upcoming,
                    "last": last.map(|l| serde_json::json!({"scheduled_for": l.scheduled_for, "outcome": l.outcome})),
                }));
            }
            if json {
                println!("{}", serde_json::to_string_pretty(&rows)?);
            } else {
                for r in &rows {
                    println!(
                        "{:<20} {:<13} {:<18} next {}  last {}",
                        r["name"].as_str().unwrap_or(""),
                        r["kind"].as_str().unwrap_or(""),
                        r["schedule"].as_str().unwrap_or(""),
                        r["next"].as_array().and_then(|a| a.first()).and_then(|v| v.as_str()).unwrap_or("-"),
                        r["last"]["outcome"].as_str().unwrap_or("never"),
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        JobsCommand::History { job, limit } => {
            let store = Store::connect(db).await?;
            let runs = crate::store::jobs::history(store.pool(), job.as_deref(), limit).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&runs)?);
            } else {
                for r in &runs {
                    println!(
                        "{:<20} for {:<32} {} -> {}  {:<7} by {}  {}",
                        r.job,
                        r.scheduled_for,
                        r.started_at,
                        r.finished_at.as_deref().unwrap_or("…"),
                        r.outcome,
                        r.holder,
                        r.error.as_deref().or(r.counts.as_deref()).unwrap_or("")
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        JobsCommand::Run { name, jobs } => {
            let defs = defs::load_dir(&jobs)?;
            let job = defs
                .iter()
                .find(|j| j.name == name)
                .ok_or_else(|| anyhow::anyhow!("no job named {name} in {}", jobs.display()))?;
            let store = Store::connect(db).await?;
            let fired = scheduler::run_now(&store, config, &context(db, config_path, None), job).await?;
            let Some(f) = fired else { anyhow::bail!("job {name} is running elsewhere") };
            if json {
                println!("{}", serde_json::to_string_pretty(&f)?);
            } else if f.ok {
                println!("{}: done {}", f.job, f.counts);
            }
            if let Some(e) = &f.error {
                anyhow::bail!("job {name} failed: {e}");
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
