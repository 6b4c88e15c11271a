//! `onecard cards …`: applications, the card-making exchange and the card
//! lifecycle (card-issuance.md). Each subcommand is a thin call of
//! [`crate::jobs::cards`].

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Subcommand, ValueEnum};

use crate::config::Config;
use crate::domain::cards::{ApplicationKind, CardAction};
use crate::domain::{ids, BankCode, PersonId};
use crate::formats::csv_input::EncodingChoice;
use crate::jobs::cards::{self, applications::ApplicationsImporter, exchange, Moved};
use crate::jobs::import;
use crate::store::Store;

#[derive(Subcommand, Debug)]
pub enum CardsCommand {
    /// File an application (申领) for one person, or for every row of a CSV file.
    Apply {
        /// The person applying.
        #[arg(long, required_unless_present = "file", conflicts_with = "file")]
        person: Option<String>,
        /// The issuing bank (default: the bank of the card replaced).
        #[arg(long)]
        bank: Option<String>,
        #[arg(long, value_enum, default_value_t = KindArg::New)]
        kind: KindArg,
        /// A CSV of applications: person_id (身份证号), bank_code (银行代码), kind (申领类型: new, replace, lost).
        #[arg(long)]
        file: Option<PathBuf>,
        #[arg(long, value_enum, default_value_t = EncodingChoice::Auto)]
        encoding: EncodingChoice,
        #[arg(long)]
        by: String,
    },
    /// Apply for a replacement (补换); with --lost the active card is reported lost first.
    Replace {
        #[arg(long)]
        person: String,
        #[arg(long)]
        bank: Option<String>,
        #[arg(long)]
        lost: bool,
        #[arg(long)]
        by: String,
    },
    /// Write the waiting applications into card-making request files, one per bank.
    Export {
        #[arg(long)]
        outbox: PathBuf,
        #[arg(long)]
        by: String,
    },
    /// Apply the issuing banks' card-making return files; each whole or not at all.
    Import {
        #[arg(required = true)]
        files: Vec<PathBuf>,
        #[arg(long, default_value = "bank-return")]
        by: String,
    },
    /// Record the hand-over of a made card (发放启用): it becomes the person's active card.
    Activate {
        /// Card number or application id.
        #[arg(required_unless_present = "batch", conflicts_with = "batch")]
        card: Option<String>,
        /// Hand over every made card of a card-making batch.
        #[arg(long)]
        batch: Option<String>,
        #[arg(long)]
        by: String,
    },
    /// Report a card lost (挂失): payments no longer go to it.
    Lost {
        card: String,
        #[arg(long)]
        by: String,
        #[arg(long, default_value = "")]
        note: String,
    },
    /// Cancel a card or an application (注销).
    Cancel {
        card: String,
        #[arg(long)]
        by: String,
        #[arg(long)]
        reason: String,
    },
    /// Cards and applications, filtered.
    List {
        #[arg(long)]
        state: Option<String>,
        #[arg(long)]
        bank: Option<String>,
        #[arg(long)]
        batch: Option<String>,
        #[arg(long, default_value_t = 100)]
        limit: i64,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum KindArg {
    New,
    Replace,
    Lost,
}

impl From<KindArg> for ApplicationKind {
    fn from(k: KindArg) -> ApplicationKind {
        match k {
            KindArg::New => ApplicationKind::New,
            KindArg::Replace => ApplicationKind::Replace,
            KindArg::Lost => ApplicationKind::Lost,
        }
    }
}

pub async fn run(store: &Store, config: &Config, what: CardsCommand, json: bool) -> anyhow::Result<ExitCode> {
    match what {
        CardsCommand::Apply { person: Some(person), bank, kind, file: None, by, .. } => {
            apply_one(store, config, &person, bank.as_deref(), kind.into(), &by, json).await
        }
        CardsCommand::Apply { file: Some(file), encoding, by, .. } => {
            let importer = ApplicationsImporter::new(config, &by);
            let summary = import::import_file(store, &file, encoding, importer).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&summary)?);
            } else if summary.already_imported {
                println!("{}: already applied (identical bytes); nothing changed", summary.file);
            } else {
                println!(
                    "{}: {} rows, {} applications filed, {} refused",
                    summary.file, summary.rows, summary.accepted, summary.rejected
                );
                if let Some(r) = &summary.rejects_file {
                    println!("  refused rows and their reasons: {r}");
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        CardsCommand::Apply { .. } => anyhow::bail!("cards apply needs --person or --file"),
        CardsCommand::Replace { person, bank, lost, by } => {
            let kind = if lost { ApplicationKind::Lost } else { ApplicationKind::Replace };
            apply_one(store, config, &person, bank.as_deref(), kind, &by, json).await
        }
        CardsCommand::Export { outbox, by } => {
            let report = exchange::export(store, config, &outbox, &by).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                if report.batches.is_empty() {
                    println!("no applications are waiting");
                }
                for b in &report.batches {
                    println!(
                        "{}/{}: batch {}, {} applications to bank {}",
                        report.outbox, b.file, b.batch_no, b.count, b.bank_code
                    );
                }
                for s in &report.skipped {
                    println!("  left waiting: {} ({})", s.application_id, s.reason);
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        CardsCommand::Import { files, by } => {
            let mut all = Vec::new();
            let mut failed = false;
            for f in &files {
                match exchange::import_return(store, f, &by).await {
                    Ok(s) => {
                        if !json {
                            print_return(&s);
                        }
                        all.push(s);
                    }
                    Err(e) => {
                        failed = true;
                        eprintln!("onecard: {e}");
                    }
                }
            }
            if json {
                println!("{}", serde_json::to_string_pretty(&all)?);
            }
            Ok(if failed { ExitCode::from(1) } else { ExitCode::SUCCESS })
        }
        CardsCommand::Activate { card, batch, by } => {
            let moved = match (card, batch) {
                (Some(card), _) => vec![cards::act(store, &card, CardAction::Activate, &by, "").await?],
                (None, Some(batch)) => cards::activate_batch(store, &batch, &by).await?,
                (None, None) => anyhow::bail!("cards activate needs a card or --batch"),
            };
            print_moved(&moved, json)
        }
        CardsCommand::Lost { card, by, note } => {
            let moved = cards::act(store, &card, CardAction::ReportLost, &by, &note).await?;
            print_moved(&[moved], json)
        }
        CardsCommand::Cancel { card, by, reason } => {
            let moved = cards::act(store, &card, CardAction::Cancel, &by, &reason).await?;
            print_moved(&[moved], json)
        }
        CardsCommand::List { state, bank, batch, limit } => {
            let rows =
                crate::store::cards::list(store.pool(), state.as_deref(), bank.as_deref(), batch.as_deref(), limit)
                    .await?;
            if json {
                let masked: Vec<serde_json::Value> = rows
                    .iter()
                    .map(|c| {
                        serde_json::json!({
                            "application_id": c.application_id, "card_no": c.card_no,
                            "person_id": ids::mask_person_id(&c.person_id), "bank_code": c.bank_code,
                            "account_no": c.account_no.as_deref().map(ids::mask_account),
                            "state": c.state, "batch_no": c.batch_no, "reason": c.reason_text,
                            "updated_at": c.updated_at,
                        })
                    })
                    .collect();
                println!("{}", serde_json::to_string_pretty(&masked)?);
            } else {
                for c in &rows {
                    println!(
                        "{:<20} {:<10} {:<18} {} {:<13} {:<18} {}",
                        c.application_id.as_deref().unwrap_or("(registry)"),
                        c.card_no.as_deref().unwrap_or("-"),
                        ids::mask_person_id(&c.person_id),
                        c.bank_code,
                        c.state,
                        c.batch_no.as_deref().unwrap_or("-"),
                        c.reason_text.as_deref().unwrap_or("")
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

async fn apply_one(
    store: &Store,
    config: &Config,
    person: &str,
    bank: Option<&str>,
    kind: ApplicationKind,
    by: &str,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let person = PersonId::parse(person)?;
    let bank = bank.map(BankCode::parse).transpose()?;
    let filed = cards::apply(store, config, &person, bank.as_ref(), kind, by).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&filed)?);
    } else {
        let mut line =
            format!("application {} filed for {} with bank {}", filed.application_id, filed.person_id, filed.bank_code);
        if let Some(old) = &filed.reported_lost {
            line.push_str(&format!("; card {old} reported lost"));
        }
        if let Some(old) = &filed.replaces {
            line.push_str(&format!("; it replaces card {old} once activated"));
        }
        println!("{line}");
    }
    Ok(ExitCode::SUCCESS)
}

fn print_return(s: &exchange::CardReturnSummary) {
    if s.already_applied {
        println!("{}: already applied (identical bytes, sha256 {}…); nothing changed", s.file, &s.sha256[..12]);
        return;
    }
    let found: Vec<String> = s.anomalies.iter().map(|(k, v)| format!("{k} {v}")).collect();
    println!(
        "{}: batch {}, {} lines: {} cards made, {} refused{}{}",
        s.file,
        s.batch_no,
        s.lines,
        s.made,
        s.refused,
        if s.after_cancellation > 0 { format!(", {} after cancellation", s.after_cancellation) } else { String::new() },
        if found.is_empty() { String::new() } else { format!("; anomalies: {}", found.join(", ")) }
    );
}

fn print_moved(moved: &[Moved], json: bool) -> anyhow::Result<ExitCode> {
    if json {
        println!("{}", serde_json::to_string_pretty(moved)?);
        return Ok(ExitCode::SUCCESS);
    }
    for m in moved {
        let mut line = format!("card {} of {}: {} -> {}", m.card, m.person_id, m.from, m.to);
        if !m.cancelled.is_empty() {
            line.push_str(&format!("; cancelled {}", m.cancelled.join(", ")));
        }
        println!("{line}");
    }
    if moved.is_empty() {
        println!("no made cards to hand over");
    }
    Ok(ExitCode::SUCCESS)
}
