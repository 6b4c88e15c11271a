//! `onecard iso …`, `onecard relief …` and `onecard bank serve-iso`: the
//! real-time channel of iso8583.md from the command line, a thin edge over
//! `jobs::verify`, `jobs::relief` and `iso8583::server`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{ArgGroup, Subcommand};

use crate::config::Config;
use crate::domain::{Money, PersonId};
use crate::iso8583::client::Answer;
use crate::iso8583::server::{self, BankSim, Rule};
use crate::iso8583::SharedKey;
use crate::jobs::relief::{self, ReliefRequest};
use crate::jobs::verify::{self, VerifyAllOptions, VerifySummary};
use crate::store::Store;

#[derive(Subcommand, Debug)]
pub enum IsoCommand {
    /// Verify card accounts with their banks (0100): one person's, or every active card not yet verified.
    #[command(group(ArgGroup::new("which").required(true).args(["person", "all"])))]
    Verify {
        /// Verify this person's active card now, whatever its current result.
        #[arg(long)]
        person: Option<String>,
        /// Verify every active card not yet verified (new cards, changed accounts).
        #[arg(long)]
        all: bool,
        /// Only these banks (repeatable; default every bank with an [iso8583] section).
        #[arg(long = "bank")]
        banks: Vec<String>,
        /// Requests in flight per connection.
        #[arg(long, default_value_t = 64)]
        window: usize,
    },
    /// Send an echo (0800) to a bank and print the answer.
    Echo {
        #[arg(long)]
        bank: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum ReliefCommand {
    /// Record a temp_relief item and pay it at once over the bank's real-time channel (0200).
    Pay {
        #[arg(long)]
        person: String,
        /// Yuan, at most two decimals (e.g. 2000.00).
        #[arg(long)]
        amount: String,
        /// Why it cannot wait for the monthly run (a fire, a hospital stay).
        #[arg(long)]
        reason: String,
        #[arg(long)]
        by: String,
        /// Benefit month YYYY-MM (default: this month).
        #[arg(long)]
        month: Option<String>,
    },
    /// Finish credits left without an answer (reversal until 00 or 25).
    Recover,
}

#[derive(clap::Args, Debug)]
pub struct ServeIsoArgs {
    /// Address to listen on, e.g. 127.0.0.1:18105 (port 0: any free port, printed).
    #[arg(long)]
    pub listen: String,
    /// The bank played: its key is ONECARD_ISO_KEY_<BANK> (or in ONECARD_ISO_KEY_FILE).
    #[arg(long)]
    pub bank: String,
    /// Accounts from a CSV file `account_no,person_id,status` (open, lost, closed, frozen)
    /// instead of the cards of the --db database.
    #[arg(long)]
    pub accounts: Option<PathBuf>,
    /// Misbehave for tests: ACTION[=ARG][@MTI][*TIMES], ACTION one of delay=MS, drop, close,
    /// reorder=N, badmac, error (answer 96), lose (ignore the request). Repeatable.
    #[arg(long = "misbehave", value_parser = parse_rule)]
    pub misbehave: Vec<Rule>,
}

fn parse_rule(raw: &str) -> Result<Rule, String> {
    raw.parse()
}

pub async fn run_iso(db: &str, config: &Config, what: IsoCommand, json: bool) -> anyhow::Result<ExitCode> {
    let store = Store::connect(db).await?;
    match what {
        IsoCommand::Verify { person, all: _, banks, window } => {
            let summary = match person {
                Some(p) => {
                    let id = PersonId::parse(&p).context("--person")?;
                    verify::verify_person(&store, config, &id).await?
                }
                None => verify::verify_all(&store, config, &VerifyAllOptions { banks, window }).await?,
            };
            print_verify(&summary, json)?;
            Ok(ExitCode::SUCCESS)
        }
        IsoCommand::Echo { bank } => {
            let client = verify::open_client(&store, config, &bank)?;
            let stan = client.next_stan().await?;
            let started = std::time::Instant::now();
            match client.request(&client.echo(&stan)).await? {
                Answer::Response(r) => {
                    println!(
                        "bank {bank}: echo answered {} in {} ms",
                        r.get(39).unwrap_or("--"),
                        started.elapsed().as_millis()
                    );
                    Ok(ExitCode::SUCCESS)
                }
                Answer::Unknown(why) => {
                    eprintln!("onecard: bank {bank}: echo: {why}");
                    Ok(ExitCode::from(1))
                }
            }
        }
    }
}

fn print_verify(s: &VerifySummary, json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(s)?);
        return Ok(());
    }
    let codes: Vec<String> = s.by_code.iter().map(|(k, v)| format!("{k} {v}")).collect();
    println!(
        "checked {} accounts: {} verified, {} invalid, {} unknown (answers: {})",
        s.checked,
        s.verified,
        s.invalid,
        s.unknown,
        if codes.is_empty() { "none".into() } else { codes.join(", ") }
    );
    if !s.skipped_banks.is_empty() {
        println!("  banks without a real-time channel, not checked: {}", s.skipped_banks.join(", "));
    }
    println!(
        "  {:.2} s, {:.0} messages/s, latency p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        s.seconds, s.messages_per_second, s.latency_ms_p50, s.latency_ms_p99, s.latency_ms_max
    );
    Ok(())
}

pub async fn run_relief(db: &str, config: &Config, what: ReliefCommand, json: bool) -> anyhow::Result<ExitCode> {
    let store = Store::connect(db).await?;
    match what {
        ReliefCommand::Pay { person, amount, reason, by, month } => {
            let req = ReliefRequest {
                person_id: PersonId::parse(&person).context("--person")?,
                amount: Money::parse_payable(&amount).context("--amount")?,
                reason,
                by,
                month: crate::cli::parse_period(month.as_deref())?,
            };
            let report = relief::pay(&store, config, &req).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                for r in &report.recovered {
                    println!("recovered open credit {}: {}", r.serial_no, r.state);
                }
                println!(
                    "{} {} {} {}: {}",
                    report.person_id,
                    report.program,
                    report.benefit_month,
                    report.amount,
                    report.outcome.render()
                );
            }
            Ok(if report.outcome.is_paid() { ExitCode::SUCCESS } else { ExitCode::from(1) })
        }
        ReliefCommand::Recover => {
            let done = relief::recover(&store, config).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&done)?);
            } else if done.is_empty() {
                println!("no open credit to finish");
            } else {
                for r in &done {
                    println!("{}: {}", r.serial_no, r.state);
                }
            }
            Ok(if done.iter().all(|r| r.state == "reversed") { ExitCode::SUCCESS } else { ExitCode::from(1) })
        }
    }
}

/// `onecard bank serve-iso`: runs the simulator until interrupted.
pub async fn serve(db: &str, args: ServeIsoArgs) -> anyhow::Result<ExitCode> {
    let key = SharedKey::load(&args.bank)?;
    let accounts = match &args.accounts {
        Some(path) => server::accounts_from_csv(path)?,
        None => {
            let store = Store::connect(db).await?;
            let accounts = server::accounts_from_store(&store, &args.bank).await?;
            store.close().await;
            accounts
        }
    };
    let sim = BankSim::new(key, accounts);
    for rule in args.misbehave {
        sim.misbehave(rule);
    }
    let listener = tokio::net::TcpListener::bind(&args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let addr = listener.local_addr()?;
    println!("bank {} simulator listening on {addr} with {} accounts", args.bank, sim.accounts());
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        r = server::serve(listener, sim.clone()) => r.context("accepting connections")?,
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    let s = &sim.stats;
    let (credits, fen) = sim.standing();
    eprintln!(
        "bank {}: {} messages received, {} answered, {} MAC failures, {} duplicates; {credits} credits standing, {} yuan",
        args.bank,
        s.received.load(std::sync::atomic::Ordering::Relaxed),
        s.answered.load(std::sync::atomic::Ordering::Relaxed),
        s.mac_failures.load(std::sync::atomic::Ordering::Relaxed),
        s.duplicates.load(std::sync::atomic::Ordering::Relaxed),
        Money::from_fen(fen).unwrap_or_default()
    );
    Ok(ExitCode::SUCCESS)
}
