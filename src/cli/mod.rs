//! The command line (reports.md "Command line"): global `--db`, `--config`,
//! `--json`; exit status 0 success, 1 the work failed or an input was
//! rejected, 2 usage error. Each command is a thin call of a job.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};

use crate::config::Config;
use crate::domain::{Period, PersonId};
use crate::formats::csv_input::EncodingChoice;
use crate::jobs::import::{self, registry::RegistryImporter, roster::RosterImporter, ImportSummary};
use crate::store::Store;

mod bank;
mod cards;
mod demo;
mod iso;
mod jobs;
mod returns;
mod run;
mod web;

#[derive(Parser, Debug)]
#[command(name = "onecard", version, about = "Social-security one-card (社会保障卡 一卡通) benefit payments")]
pub struct Cli {
    /// Database URL: sqlite://FILE (created on first use) or postgres://…
    #[arg(long, global = true, env = "ONECARD_DB", default_value = "sqlite://onecard.db")]
    pub db: String,
    /// Configuration file overriding the built-in programs, banks, tiers and deadlines.
    #[arg(long, global = true, env = "ONECARD_CONFIG")]
    pub config: Option<PathBuf>,
    /// Machine-readable JSON on stdout instead of the human table.
    #[arg(long, global = true)]
    pub json: bool,
    /// Log lines on stderr as text or as JSON objects (level from ONECARD_LOG, default warn).
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Write a synthetic, realistic city: cardholders.csv and one roster per program.
    Gen {
        #[arg(long, default_value_t = 10_000)]
        persons: u64,
        /// Payout month YYYY-MM (default: this month).
        #[arg(long)]
        period: Option<String>,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        #[arg(long, default_value = "city")]
        out: PathBuf,
    },
    /// Import the registry or a monthly roster (rosters.md).
    Import {
        #[command(subcommand)]
        what: ImportWhat,
    },
    /// Payout runs: create, show, list, approve, discard, export.
    Run {
        #[command(subcommand)]
        what: run::RunCommand,
    },
    /// Apply the banks' return files (回盘); prints the reconciliation summary.
    Reconcile {
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Close batches: still-sent payments become unconfirmed.
    Batch {
        #[command(subcommand)]
        what: returns::BatchCommand,
    },
    /// The anomaly list, filtered.
    Anomalies(returns::AnomalyFilter),
    /// The 遗漏 report: raise and list missed_payment for due keys not paid by their deadline.
    Missed {
        #[arg(long)]
        as_of: String,
    },
    /// A caseworker's decision on a payment.
    Payment {
        #[command(subcommand)]
        what: returns::PaymentCommand,
    },
    /// A caseworker's decision on an item (one benefit of one month).
    Item {
        #[command(subcommand)]
        what: returns::ItemCommand,
    },
    /// What a caseworker asks: the person, card history, items and payments.
    Status { person_id: String },
    /// Card issuance: applications, card-making files, hand-over, loss, replacement, cancellation.
    Cards {
        #[command(subcommand)]
        what: cards::CardsCommand,
    },
    /// Play a bank: answer request files.
    Bank {
        #[command(subcommand)]
        what: bank::BankCommand,
    },
    /// Fire the jobs of jobs/ on their cron schedules until SIGTERM or Ctrl-C.
    Scheduler {
        /// The folder of job definitions.
        #[arg(long, default_value = "jobs")]
        jobs: PathBuf,
        /// This scheduler's name in the job history (default: host:pid).
        #[arg(long)]
        holder: Option<String>,
    },
    /// The scheduled jobs: list with next fire times, history, run one now.
    Jobs {
        #[command(subcommand)]
        what: jobs::JobsCommand,
    },
    /// The real-time bank channel (ISO 8583): account verification, echo.
    Iso {
        #[command(subcommand)]
        what: iso::IsoCommand,
    },
    /// Urgent relief paid at once over the real-time channel.
    Relief {
        #[command(subcommand)]
        what: iso::ReliefCommand,
    },
    /// The caseworker desk: web pages and the JSON API.
    Serve(web::ServeArgs),
    /// Users of the desk: add, list, disable, passwd.
    Users {
        #[command(subcommand)]
        what: web::UsersCommand,
    },
    /// The access log: verify its chain.
    Audit {
        #[command(subcommand)]
        what: web::AuditCommand,
    },
    /// The whole month end to end on the embedded database, in a fresh directory.
    Demo {
        #[arg(long, default_value_t = 20_000)]
        persons: u64,
        /// Directory to create (default: a fresh onecard-demo-<time> in the working directory).
        #[arg(long)]
        dir: Option<PathBuf>,
        #[arg(long, default_value_t = 2026)]
        seed: u64,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand, Debug)]
pub enum ImportWhat {
    /// cardholders.csv: persons and their migrated cards.
    Registry {
        file: PathBuf,
        #[arg(long, value_enum, default_value_t = EncodingChoice::Auto)]
        encoding: EncodingChoice,
    },
    /// One or more monthly rosters (发放花名册); each file is applied whole or not at all.
    Roster {
        #[arg(required = true)]
        files: Vec<PathBuf>,
        #[arg(long, value_enum, default_value_t = EncodingChoice::Auto)]
        encoding: EncodingChoice,
    },
}

pub fn main() -> ExitCode {
    // Output piped into `head` ends quietly instead of panicking on a closed pipe.
    // SAFETY: restoring a signal's default disposition before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let cli = Cli::parse();
    init_tracing(cli.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("onecard: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("onecard: {}", one_line(&e));
            ExitCode::from(1)
        }
    }
}

/// An error chain on one line: what failed, then why.
fn one_line(e: &anyhow::Error) -> String {
    e.chain().map(ToString::to_string).collect::<Vec<_>>().join(": ")
}

fn init_tracing(format: LogFormat) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("ONECARD_LOG").unwrap_or_else(|_| EnvFilter::new("warn"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(ansi);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().with_current_span(true).with_span_list(true).try_init(),
    };
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let config = Config::load(cli.config.as_deref())?;
    match cli.command {
        Command::Gen { persons, period, seed, out } => {
            let period = parse_period(period.as_deref())?;
            let summary = gen_city(persons, period, seed, &out)?;
            if cli.json {
                println!("{}", serde_json::to_string_pretty(&summary)?);
            } else {
                println!("wrote {} persons to {}", summary.persons, out.display());
                for f in &summary.files {
                    println!("  {:<40} {:>9} rows  {}", f.name, f.rows, f.encoding);
                }
                let planted: Vec<String> = summary.planted.iter().map(|(k, v)| format!("{k} {v}")).collect();
                println!("  planted: {}", planted.join(", "));
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Import { what } => {
            let store = Store::connect(&cli.db).await?;
            let mut summaries = Vec::new();
            let mut failed = false;
            match what {
                ImportWhat::Registry { file, encoding } => {
                    let importer = RegistryImporter::new(&config, "import");
                    match import::import_file(&store, &file, encoding, importer).await {
                        Ok(s) => summaries.push(s),
                        Err(e) => {
                            failed = true;
                            eprintln!("onecard: {e}");
                        }
                    }
                }
                ImportWhat::Roster { files, encoding } => {
                    for file in files {
                        match import::import_file(&store, &file, encoding, RosterImporter::default()).await {
                            Ok(s) => summaries.push(s),
                            Err(e) => {
                                failed = true;
                                eprintln!("onecard: {e}");
                            }
                        }
                    }
                }
            }
            print_imports(&summaries, cli.json)?;
            Ok(if failed { ExitCode::from(1) } else { ExitCode::SUCCESS })
        }
        Command::Status { person_id } => {
            let id = PersonId::parse(&person_id).with_context(|| "status")?;
            let store = Store::connect(&cli.db).await?;
            let status = crate::jobs::status::person_status(&store, &id).await?;
            if cli.json {
                println!("{}", serde_json::to_string_pretty(&status)?);
            } else {
                print!("{}", status.render());
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Reconcile { files } => {
            let store = Store::connect(&cli.db).await?;
            let all_applied = returns::reconcile_files(&store, &files, cli.json).await?;
            Ok(if all_applied { ExitCode::SUCCESS } else { ExitCode::from(1) })
        }
        Command::Batch { what } => {
            let store = Store::connect(&cli.db).await?;
            returns::batch_command(&store, &config, what, cli.json).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Anomalies(filter) => {
            let store = Store::connect(&cli.db).await?;
            returns::list_anomalies(&store, filter, cli.json).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Missed { as_of } => {
            let store = Store::connect(&cli.db).await?;
            returns::missed(&store, &config, &as_of, cli.json).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Payment { what } => {
            let store = Store::connect(&cli.db).await?;
            returns::payment_command(&store, what).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Item { what } => {
            let store = Store::connect(&cli.db).await?;
            returns::item_command(&store, what).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Run { what } => {
            let store = Store::connect(&cli.db).await?;
            run::run(&store, &config, what, cli.json).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Cards { what } => {
            let store = Store::connect(&cli.db).await?;
            cards::run(&store, &config, what, cli.json).await
        }
        Command::Scheduler { jobs, holder } => {
            jobs::daemon(&cli.db, cli.config.as_deref(), &config, &jobs, holder).await
        }
        Command::Jobs { what } => jobs::run(&cli.db, cli.config.as_deref(), &config, what, cli.json).await,
        Command::Bank { what: bank::BankCommand::ServeIso(args) } => iso::serve(&cli.db, args).await,
        Command::Bank { what } => bank::run(what, cli.json),
        Command::Iso { what } => iso::run_iso(&cli.db, &config, what, cli.json).await,
        Command::Relief { what } => iso::run_relief(&cli.db, &config, what, cli.json).await,
        Command::Serve(args) => web::serve(&cli.db, config, args).await,
        Command::Users { what } => web::users_command(&cli.db, what, cli.json).await,
        Command::Audit { what } => web::audit_command(&cli.db, what, cli.json).await,
        Command::Demo { persons, dir, seed } => demo::run(&config, persons, dir, seed, cli.json).await,
    }
}

pub(crate) fn parse_period(raw: Option<&str>) -> anyhow::Result<Period> {
    Ok(match raw {
        Some(p) => Period::parse("period", p)?,
        None => Period::of(chrono::Local::now().date_naive()),
    })
}

pub(crate) fn gen_city(
    persons: u64,
    period: Period,
    seed: u64,
    out: &std::path::Path,
) -> anyhow::Result<crate::gen::GenSummary> {
    let bar = indicatif::ProgressBar::new(persons);
    bar.set_style(
        indicatif::ProgressStyle::with_template("generating {bar:30} {human_pos}/{human_len} persons ({eta})")
            .unwrap_or(indicatif::ProgressStyle::default_bar()),
    );
    let opts = crate::gen::GenOptions { persons, period, seed };
    let summary = crate::gen::generate(&opts, out, &mut |n| bar.set_position(n))
        .with_context(|| format!("generating a city into {}", out.display()))?;
    bar.finish_and_clear();
    Ok(summary)
}

pub(crate) fn print_imports(summaries: &[ImportSummary], json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(summaries)?);
        return Ok(());
    }
    for s in summaries {
        if s.already_imported {
            println!("{}: already imported (identical bytes, sha256 {}…); nothing changed", s.file, &s.sha256[..12]);
            continue;
        }
        let extra = match (s.details.get("program"), s.details.get("amount")) {
            (Some(p), Some(a)) => format!(
                "  {} {} total {}",
                p.as_str().unwrap_or(""),
                s.details["period"].as_str().unwrap_or(""),
                a.as_str().unwrap_or("")
            ),
            _ => format!(
                "  persons +{} ~{}, cards +{}",
                s.details["persons_added"], s.details["persons_updated"], s.details["cards_added"]
            ),
        };
        println!(
            "{}: {} rows, {} accepted, {} rejected ({}){extra}",
            s.file, s.rows, s.accepted, s.rejected, s.encoding
        );
        if let Some(r) = &s.rejects_file {
            println!("  rejected rows and their reasons: {r}");
        }
    }
    Ok(())
}
