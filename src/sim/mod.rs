//! The bank simulator (`onecard bank simulate`): plays the bank's side of
//! bank-files.md and answers a request file with return files (回盘).
//! Decisions come from a seeded generator, so the same request and options
//! give byte-identical returns. This module only reads request files and
//! writes return files; it never touches the store.
//!
//! Each kind of request has its own answerer: disbursements (the three
//! layouts) and card-making batches (card-issuance.md), both dealing their
//! decisions from `plan` and writing through `outbox`.

use std::path::{Path, PathBuf};

use crate::config::Layout;
use crate::domain::Money;
use crate::formats::bank::{FormatError, Pain002Version};

mod cards;
mod detect;
mod disbursement;
mod outbox;
mod plan;

#[cfg(test)]
mod tests;

/// How the simulated bank behaves. Rates are probabilities per request line.
#[derive(Debug, Clone, PartialEq)]
pub struct SimOptions {
    pub seed: u64,
    /// A line fails (a reason code other than success).
    pub fail_rate: f64,
    /// A line is left out of every return file.
    pub omit_rate: f64,
    /// A returned line appears twice, with the same outcome.
    pub duplicate_rate: f64,
    /// ISO 20022 only: a line gets a status that is not final.
    pub in_flight_rate: f64,
    /// How many return files answer the batch (at least 1).
    pub split: u32,
    /// ISO 20022 only: the whole batch is rejected by a group status `RJCT`.
    pub reject_batch: bool,
    /// ISO 20022 only: the pain.002 version to answer in (default 001.03).
    pub pain002: Option<Pain002Version>,
    /// The request's layout; detected from the file name or content when absent.
    pub layout: Option<Layout>,
}

impl Default for SimOptions {
    /// A bank that pays every line, in one return file.
    fn default() -> SimOptions {
        SimOptions {
            seed: 1,
            fail_rate: 0.0,
            omit_rate: 0.0,
            duplicate_rate: 0.0,
            in_flight_rate: 0.0,
            split: 1,
            reject_batch: false,
            pain002: None,
            layout: None,
        }
    }
}

/// A count of lines and their amount.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Tally {
    pub count: u64,
    pub amount: Money,
}

impl Tally {
    fn add(&mut self, amount: Money) {
        self.count += 1;
        // Each amount was read from a request whose total was checked, so sums stay far below overflow.
        self.amount = self.amount + amount;
    }
}

/// What one return file says (`--json` prints an array of these).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SimFileSummary {
    /// The return file's path.
    pub file: String,
    pub layout: Layout,
    /// `disbursement`, or `card_making` (paid = cards made, failed = refused, no amounts).
    pub kind: &'static str,
    pub batch_no: String,
    /// Detail lines in this file (duplicates included).
    pub lines: u64,
    pub paid: Tally,
    /// Failed lines; for a group rejection, every payment of the batch.
    pub failed: Tally,
    pub in_flight: Tally,
    /// Request lines dealt to this file but left out (they are in no return file).
    pub omitted: u64,
    /// Extra copies of lines in this file.
    pub duplicated: u64,
    /// The file is a pain.002 group status `RJCT` without transactions.
    pub group_rejected: bool,
}

impl SimFileSummary {
    /// One line for a person: the file and what is in it.
    pub fn render(&self) -> String {
        if self.kind == "card_making" {
            return format!(
                "{}: card-making batch {}, {} lines: made {}, refused {}, omitted {}, duplicated {}",
                self.file, self.batch_no, self.lines, self.paid.count, self.failed.count, self.omitted, self.duplicated
            );
        }
        let mut line =
            format!("{}: batch {} ({}), {} lines", self.file, self.batch_no, self.layout.as_str(), self.lines);
        if self.group_rejected {
            line.push_str(&format!(", whole batch rejected ({} payments, {})", self.failed.count, self.failed.amount));
            return line;
        }
        line.push_str(&format!(
            ": paid {} ({}), failed {} ({}), in flight {} ({}), omitted {}, duplicated {}",
            self.paid.count,
            self.paid.amount,
            self.failed.count,
            self.failed.amount,
            self.in_flight.count,
            self.in_flight.amount,
            self.omitted,
            self.duplicated
        ));
        line
    }
}

/// Why nothing (or not everything) was answered. The cause of a read, request
/// or write failure is its `source()`, not repeated in the message.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("{0}")]
    Options(String),
    #[error("cannot tell the layout of {path}: name it <bank>_TXTA_<batch>.txt, <bank>_FIXB_<batch>.dat or <bank>_PAIN001_<batch>.xml, or pass --layout")]
    UnknownLayout { path: PathBuf },
    #[error("cannot read {path}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("request {path} refused")]
    Request { path: PathBuf, source: FormatError },
    #[error("{path} already exists; it is not overwritten")]
    Exists { path: PathBuf },
    #[error("cannot write {path}")]
    Write { path: PathBuf, source: std::io::Error },
    #[error("request {path} changed while it was being answered; nothing written")]
    Changed { path: PathBuf },
}

/// What a request file asks the bank to do; each kind has its own answerer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RequestKind {
    /// A benefit disbursement batch in one of the layouts of bank-files.md.
    Disbursement(Layout),
    /// A card-making batch (card-issuance.md).
    CardMaking,
}

/// Answers `request` with return files written into `out_dir` (created if
/// missing). A request that fails its checks is refused and nothing is
/// written; existing files are never overwritten.
pub fn simulate(request: &Path, opts: &SimOptions, out_dir: &Path) -> Result<Vec<SimFileSummary>, SimError> {
    plan::Rates::of(opts)?;
    if opts.split == 0 {
        return Err(SimError::Options("--split must be at least 1".into()));
    }
    let kind = match opts.layout {
        Some(layout) => RequestKind::Disbursement(layout),
        None => detect::kind_of(request)?,
    };
    match kind {
        RequestKind::Disbursement(layout) => disbursement::answer(request, layout, opts, out_dir),
        RequestKind::CardMaking => cards::answer(request, opts, out_dir),
    }
}
