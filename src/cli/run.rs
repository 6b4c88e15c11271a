//! `onecard run …`: create, show, list, approve, discard, export.

use std::path::PathBuf;

use clap::Subcommand;

use crate::config::Config;
use crate::jobs::run::{self, create::CreateOptions, export, Approval};
use crate::store::Store;

#[derive(Subcommand, Debug)]
pub enum RunCommand {
    /// Compute a draft run for a period and print its summary.
    Create {
        #[arg(long)]
        period: String,
        /// Who creates the run (the maker).
        #[arg(long)]
        by: String,
        /// Requested payment date of the batches, YYYY-MM-DD (default: tomorrow).
        #[arg(long)]
        value_date: Option<String>,
    },
    /// A run's summary.
    Show { run: String },
    /// All runs.
    List,
    /// Approve a draft (by another user than its creator).
    Approve {
        run: String,
        #[arg(long)]
        by: String,
    },
    /// Discard a draft; its items are due again.
    Discard { run: String },
    /// Write the bank files, digests and manifest of an approved run.
    Export {
        run: String,
        #[arg(long)]
        outbox: PathBuf,
    },
}

pub async fn run(store: &Store, config: &Config, command: RunCommand, json: bool) -> anyhow::Result<()> {
    match command {
        RunCommand::Create { period, by, value_date } => {
            let period = super::parse_period(Some(&period))?;
            let value_date = value_date.map(|d| crate::domain::ids::parse_date("value_date", &d)).transpose()?;
            let run_id = run::create::create_run(store, config, &CreateOptions { period, by, value_date }).await?;
            show(store, config, &run_id, json).await
        }
        RunCommand::Show { run } => show(store, config, &run, json).await,
        RunCommand::List => {
            let runs = crate::store::runs::list(store.pool()).await?;
            let mut all = Vec::new();
            for r in &runs {
                all.push(run::summary(store, config, &r.run_id).await?);
            }
            if json {
                println!("{}", serde_json::to_string_pretty(&all)?);
            } else {
                for s in &all {
                    println!(
                        "{}  {}  {:<9} {:>9} payments  {:>16}",
                        s.run_id, s.period, s.state, s.payments.count, s.payments.amount
                    );
                }
            }
            Ok(())
        }
        RunCommand::Approve { run: id, by } => {
            let outcome = run::approve(store, &id, &by).await?;
            if outcome == Approval::AlreadyApproved && !json {
                println!("run {id} was already approved by {by}; nothing changed");
            }
            show(store, config, &id, json).await
        }
        RunCommand::Discard { run: id } => {
            run::discard(store, &id).await?;
            show(store, config, &id, json).await
        }
        RunCommand::Export { run: id, outbox } => {
            let report = export::export_run(store, config, &id, &outbox).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                if report.already_exported {
                    println!("run {id} was exported before; nothing new was written");
                }
                for f in &report.files {
                    println!(
                        "{}  bank {} {:<8} {:>9} payments {:>16}  sha256 {}",
                        f.file,
                        f.bank_code,
                        f.layout,
                        f.count,
                        f.amount,
                        &f.sha256[..f.sha256.len().min(16)]
                    );
                }
                println!("manifest: {}", std::path::Path::new(&report.outbox).join(&report.manifest).display());
            }
            Ok(())
        }
    }
}

async fn show(store: &Store, config: &Config, run_id: &str, json: bool) -> anyhow::Result<()> {
    let s = run::summary(store, config, run_id).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&s)?);
    } else {
        print!("{}", s.render());
    }
    Ok(())
}
