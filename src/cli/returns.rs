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
    let filter = Filter {
        code: f.code,
        period: f.period,
        region_prefix: f.region,
        run_id: f.run,
        state: f.open.then(|| "open".to_string()),
    };
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

#[derive(Subcommand, Debug)]
pub enum PaymentCommand {
    /// Confirm an unconfirmed payment paid or failed (after asking the bank).
    Confirm {
        serial: String,
        #[arg(long, conflicts_with = "failed", required_unless_present = "failed")]
        paid: bool,
        #[arg(long)]
        failed: bool,
        #[arg(long)]
        by: String,
        #[arg(long, default_value = "")]
        note: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum ItemCommand {
    /// Order a failed item paid again in the next run.
    Retry {
        person_id: String,
        program: String,
        /// Benefit month YYYY-MM.
        month: String,
        #[arg(long)]
        by: String,
    },
    /// Cancel an item (never paid), with the reason.
    Cancel {
        person_id: String,
        program: String,
        month: String,
        #[arg(long)]
        reason: String,
        #[arg(long)]
        by: String,
    },
}

pub async fn payment_command(store: &Store, command: PaymentCommand) -> anyhow::Result<()> {
    let PaymentCommand::Confirm { serial, paid, failed: _, by, note } = command;
    crate::jobs::casework::confirm_payment(store, &serial, paid, &by, &note).await?;
    println!("payment {serial} confirmed {}", if paid { "paid" } else { "failed" });
    Ok(())
}

pub async fn item_command(store: &Store, command: ItemCommand) -> anyhow::Result<()> {
    use crate::domain::{Period, PersonId, Program};
    let key = |person: &str, program: &str, month: &str| -> anyhow::Result<(PersonId, Program, Period)> {
        let program = Program::parse(program).ok_or_else(|| anyhow::anyhow!("'{program}' is not a program code"))?;
        Ok((PersonId::parse(person)?, program, Period::parse("month", month)?))
    };
    match command {
        ItemCommand::Retry { person_id, program, month, by } => {
            let (p, g, m) = key(&person_id, &program, &month)?;
            crate::jobs::casework::order_retry(store, &p, g, m, &by).await?;
            println!("{} {g} {m}: retry ordered; the next run pays it", p.masked());
        }
        ItemCommand::Cancel { person_id, program, month, reason, by } => {
            let (p, g, m) = key(&person_id, &program, &month)?;
            crate::jobs::casework::cancel_item(store, &p, g, m, &reason, &by).await?;
            println!("{} {g} {m}: cancelled", p.masked());
        }
    }
    Ok(())
}

pub async fn missed(store: &Store, config: &Config, as_of: &str, json: bool) -> anyhow::Result<()> {
    let as_of = crate::domain::ids::parse_date("as_of", as_of)?;
    let r = crate::jobs::missed::report(store, config, as_of).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&r)?);
        return Ok(());
    }
    println!(
        "as of {}: {} due keys of periods up to {} not paid ({}), {} newly raised",
        r.as_of, r.missed.count, r.periods_up_to, r.missed.amount, r.raised
    );
    for g in &r.by_region_program {
        println!("  {:<8} {:<18} {:>7}  {:>14}", g.region, g.program, g.count, g.amount);
    }
    Ok(())
}
