//! `onecard reconcile`, `onecard batch close`, `onecard anomalies`.

use std::path::PathBuf;

use clap::{Args, Subcommand};

use crate::config::Config;
use crate::domain::ids::mask_person_id;
use crate::jobs::{batch, reconcile};
use crate::store::anomalies::{self, Filter};
use crate::store::Store;

#[derive(Subcommand, Debug)]
pub enum BatchCommand {
    /// Close a batch (or every batch past its deadline with --due): payments the
    /// bank never mentioned become unconfirmed with missing_in_return.
    Close {
        #[arg(required_unless_present = "due")]
        batch: Option<String>,
        /// Close every exported batch whose value date is more than batch_close_days ago.
        #[arg(long)]
        due: bool,
        /// The day to count from with --due (default: today).
        #[arg(long)]
        as_of: Option<String>,
    },
}

#[derive(Args, Debug)]
pub struct AnomalyFilter {
    #[arg(long)]
    pub period: Option<String>,
    #[arg(long)]
    pub code: Option<String>,
    /// A region prefix (4, 6, 9 or 12 digits).
    #[arg(long)]
    pub region: Option<String>,
    #[arg(long)]
    pub run: Option<String>,
    /// Only anomalies not yet resolved.
    #[arg(long)]
    pub open: bool,
    /// CSV on stdout.
    #[arg(long)]
    pub csv: bool,
    #[arg(long, default_value_t = 1000)]
    pub limit: i64,
}

/// Applies return files; exit 1 if any was rejected (after the others are processed).
pub async fn reconcile_files(store: &Store, files: &[PathBuf], json: bool) -> anyhow::Result<bool> {
    let mut summaries = Vec::new();
    for f in files {
        summaries.push(reconcile::reconcile_file(store, f).await?);
    }
    let ok = summaries.iter().all(|s| s.error.is_none());
    if json {
        println!("{}", serde_json::to_string_pretty(&summaries)?);
    }
    for s in &summaries {
        if let Some(e) = &s.error {
            eprintln!("onecard: {e}");
        } else if !json && s.already_applied {
            println!("{}: already applied (identical bytes); nothing changed", s.file);
        } else if !json {
            let found: Vec<String> =
                s.anomalies.iter().filter(|(_, v)| **v > 0).map(|(k, v)| format!("{k} {v}")).collect();
            println!(
                "{}: batch {} {} lines, paid {} ({}), failed {} ({}), in flight {}{}",
                s.file,
                s.batch_no.as_deref().unwrap_or("-"),
                s.lines,
                s.paid.count,
                s.paid.amount,
                s.failed.count,
                s.failed.amount,
                s.in_flight.count,
                if found.is_empty() { String::new() } else { format!("; {}", found.join(", ")) }
            );
        }
    }
    Ok(ok)
}

pub async fn batch_command(store: &Store, config: &Config, command: BatchCommand, json: bool) -> anyhow::Result<()> {
    let BatchCommand::Close { batch: one, due, as_of } = command;
    let closed = if due {
        let as_of = match as_of {
            Some(d) => crate::domain::ids::parse_date("as_of", &d)?,
            None => chrono::Local::now().date_naive(),
        };
        batch::close_due(store, as_of, config.deadlines.batch_close_days).await?
    } else {
        let one = one.ok_or_else(|| anyhow::anyhow!("name a batch, or use --due"))?;
        vec![batch::close(store, &one).await?]
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&closed)?);
    } else if closed.is_empty() {
        println!("no batch is due to be closed");
    }
    for c in closed.iter().filter(|_| !json) {
        if c.already_closed {
            println!("batch {} was already closed; nothing changed", c.batch_no);
        } else {
            println!(
                "batch {} closed: {} payments ({}) unconfirmed",
                c.batch_no, c.unconfirmed.count, c.unconfirmed.amount
            );
        }
    }
    Ok(())
}

pub async fn list_anomalies(store: &Store, f: AnomalyFilter, json: bool) -> anyhow::Result<()> {
    if let Some(r) = &f.region {
        crate::domain::RegionScope::parse(r)?;
    }
    let filter = Filter { code: f.code, period: f.period, region_prefix: f.region, run_id: f.run, open_only: f.open };
    let mut rows = anomalies::list(store.pool(), &filter, f.limit).await?;
    for a in &mut rows {
        a.person_id = a.person_id.as_deref().map(mask_person_id);
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
    } else if f.csv {
        let mut w = csv::Writer::from_writer(std::io::stdout());
        w.write_record([
            "id",
            "code",
            "person_id",
            "region_code",
            "program",
            "benefit_month",
            "period",
            "run_id",
            "batch_no",
            "state",
            "detail",
            "created_at",
        ])?;
        for a in &rows {
            let opt = |v: &Option<String>| v.clone().unwrap_or_default();
            w.write_record([
                a.id.to_string(),
                a.code.clone(),
                opt(&a.person_id),
                opt(&a.region_code),
                opt(&a.program),
                opt(&a.benefit_month),
                opt(&a.period),
                opt(&a.run_id),
                opt(&a.batch_no),
                a.state.clone(),
                a.detail.clone(),
                a.created_at.clone(),
            ])?;
        }
        w.flush()?;
    } else {
        for a in &rows {
            println!(
                "{:>7}  {:<20} {:<18} {:<12} {:<17} {:<7} {:<8} {}",
                a.id,
                a.code,
                a.person_id.as_deref().unwrap_or("-"),
                a.region_code.as_deref().unwrap_or("-"),
                a.program.as_deref().unwrap_or("-"),
                a.benefit_month.as_deref().or(a.period.as_deref()).unwrap_or("-"),
                a.state,
                a.detail
            );
        }
        println!("{} anomalies", rows.len());
    }
    Ok(())
}
