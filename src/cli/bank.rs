//! `onecard bank …`: play a bank (reports.md). Parses the options, calls
//! [`crate::sim::simulate`] and prints one line or one JSON object per return file.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Subcommand, ValueEnum};

use crate::config::Layout;
use crate::formats::bank::Pain002Version;
use crate::sim::{self, SimOptions};

#[derive(Subcommand, Debug)]
pub enum BankCommand {
    /// Answer a disbursement request file with return files (回盘), deterministically by seed.
    Simulate {
        /// The request file (TXT-A, FIX-B or ISO 20022 pain.001).
        request: PathBuf,
        /// Directory for the return files (created if missing).
        #[arg(long)]
        out: PathBuf,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Probability that a payment fails (reason codes are spread over every code).
        #[arg(long, default_value_t = 0.0, value_parser = rate)]
        fail_rate: f64,
        /// Probability that a payment is left out of every return file.
        #[arg(long, default_value_t = 0.0, value_parser = rate)]
        omit_rate: f64,
        /// Probability that a payment is answered twice.
        #[arg(long, default_value_t = 0.0, value_parser = rate)]
        duplicate_rate: f64,
        /// Answer the batch in N return files.
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
        split: u32,
        /// ISO 20022 only: probability of a status that is not final (ACSP, PDNG, …).
        #[arg(long, default_value_t = 0.0, value_parser = rate)]
        in_flight_rate: f64,
        /// ISO 20022 only: reject the whole batch (group status RJCT, no transactions).
        #[arg(long)]
        reject_batch: bool,
        /// ISO 20022 only: pain.002 version of the answer (default 03).
        #[arg(long, value_enum)]
        pain002: Option<Pain002Arg>,
        /// The request's layout (default: from the file name, else from its content).
        #[arg(long, value_enum, ignore_case = true)]
        layout: Option<LayoutArg>,
    },
    /// The ISO 8583 bank simulator server (iso8583.md), for tests and demonstrations.
    #[command(name = "serve-iso")]
    ServeIso(super::iso::ServeIsoArgs),
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Pain002Arg {
    #[value(name = "03")]
    V03,
    #[value(name = "12")]
    V12,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum LayoutArg {
    #[value(name = "TXT-A")]
    TxtA,
    #[value(name = "FIX-B")]
    FixB,
    #[value(name = "ISO20022")]
    Iso20022,
}

fn rate(raw: &str) -> Result<f64, String> {
    match raw.parse::<f64>() {
        Ok(r) if (0.0..=1.0).contains(&r) => Ok(r),
        _ => Err(format!("'{raw}' is not a probability between 0 and 1")),
    }
}

pub fn run(what: BankCommand, json: bool) -> anyhow::Result<ExitCode> {
    let BankCommand::Simulate {
        request,
        out,
        seed,
        fail_rate,
        omit_rate,
        duplicate_rate,
        split,
        in_flight_rate,
        reject_batch,
        pain002,
        layout,
    } = what
    else {
        anyhow::bail!("bank serve-iso runs asynchronously; the caller dispatches it");
    };
    let opts = SimOptions {
        seed,
        fail_rate,
        omit_rate,
        duplicate_rate,
        in_flight_rate,
        split,
        reject_batch,
        pain002: pain002.map(|v| match v {
            Pain002Arg::V03 => Pain002Version::V03,
            Pain002Arg::V12 => Pain002Version::V12,
        }),
        layout: layout.map(|l| match l {
            LayoutArg::TxtA => Layout::TxtA,
            LayoutArg::FixB => Layout::FixB,
            LayoutArg::Iso20022 => Layout::Iso20022,
        }),
    };
    let summaries = sim::simulate(&request, &opts, &out)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&summaries)?);
    } else {
        for s in &summaries {
            println!("{}", s.render());
        }
    }
    Ok(ExitCode::SUCCESS)
}
