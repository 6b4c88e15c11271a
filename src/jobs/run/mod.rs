//! Payout runs: create (the rules), approve (maker–checker), discard, show,
//! and export (the bank files).

use std::collections::BTreeMap;

use serde::Serialize;

use crate::config::Config;
use crate::domain::{AnomalyCode, Money, Program};
use crate::store::{run_report, runs, Store, StoreError};

pub mod create;
pub mod export;

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("a draft run for {0} exists already: approve or discard it first")]
    DraftExists(String),
    #[error("run {0} does not exist")]
    NoSuchRun(String),
    #[error("run {run} is {state}: {action} needs a {needs} run")]
    WrongState { run: String, state: String, action: &'static str, needs: &'static str },
    #[error("run {run} was created by {by}: the approver must be another user (maker–checker)")]
    SameApprover { run: String, by: String },
    #[error("control totals differ: {0}")]
    ControlTotals(String),
    #[error("{0}")]
    Export(String),
}

/// Count and amount, as reports.md writes them.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Figure {
    pub count: i64,
    pub amount: String,
}

impl Figure {
    /// From a count and an amount in fen.
    pub fn from_fen(figure: (i64, i64)) -> Figure {
        Figure::new(figure)
    }

    fn new((count, fen): (i64, i64)) -> Figure {
        Figure { count, amount: Money::from_fen(fen).unwrap_or_default().to_string() }
    }
}

/// The run summary of reports.md: every code a key, with 0 where none.
#[derive(Debug, Clone, Serialize)]
pub struct RunSummary {
    pub run_id: String,
    pub period: String,
    pub state: String,
    pub created_by: String,
    pub approved_by: Option<String>,
    pub payments: Figure,
    pub by_program: BTreeMap<String, Figure>,
    pub by_bank: BTreeMap<String, Figure>,
    pub held: BTreeMap<String, i64>,
    pub anomalies: BTreeMap<String, i64>,
    pub batches: Vec<BatchView>,
}

#[derive(Debug, Clone, Serialize)]
pub struct BatchView {
    pub batch_no: String,
    pub bank_code: String,
    pub layout: String,
    pub value_date: String,
    pub count: i64,
    pub amount: String,
    pub state: String,
    pub file: Option<String>,
}

#[tracing::instrument(skip(store, config))]
pub async fn summary(store: &Store, config: &Config, run_id: &str) -> Result<RunSummary, RunError> {
    let pool = store.pool();
    let run = runs::get(pool, run_id).await?.ok_or_else(|| RunError::NoSuchRun(run_id.to_string()))?;
    let mut by_program: BTreeMap<String, Figure> =
        Program::ALL.iter().map(|p| (p.as_str().to_string(), Figure::new((0, 0)))).collect();
    for (k, v) in run_report::by_program(pool, run_id).await? {
        by_program.insert(k, Figure::new(v));
    }
    let mut by_bank: BTreeMap<String, Figure> = config.banks.keys().map(|b| (b.clone(), Figure::new((0, 0)))).collect();
    for (k, v) in run_report::by_bank(pool, run_id).await? {
        by_bank.insert(k, Figure::new(v));
    }
    let counts = run_report::anomaly_counts(pool, run_id).await?;
    let count_of = |codes: &[AnomalyCode]| {
        codes.iter().map(|c| (c.as_str().to_string(), counts.get(c.as_str()).copied().unwrap_or(0))).collect()
    };
    let batches = run_report::batches(pool, run_id)
        .await?
        .into_iter()
        .map(|b| BatchView {
            amount: Money::from_fen(b.amount_fen).unwrap_or_default().to_string(),
            batch_no: b.batch_no,
            bank_code: b.bank_code,
            layout: b.layout,
            value_date: b.value_date,
            count: b.payment_count,
            state: b.state,
            file: b.file_name,
        })
        .collect();
    Ok(RunSummary {
        payments: Figure::new(run_report::payments_total(pool, run_id).await?),
        run_id: run.run_id,
        period: run.period,
        state: run.state,
        created_by: run.created_by,
        approved_by: run.approved_by,
        by_program,
        by_bank,
        held: count_of(&AnomalyCode::HOLDS),
        anomalies: count_of(&AnomalyCode::NEVER_PAID),
        batches,
    })
}

/// What an approval did: approved now, or approved before (a repeat is harmless).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Approval {
    Approved,
    AlreadyApproved,
}

/// Draft → approved by a user other than its creator; the totals are frozen.
#[tracing::instrument(skip(store))]
pub async fn approve(store: &Store, run_id: &str, by: &str) -> Result<Approval, RunError> {
    let mut tx = store.begin_write().await?;
    let run = runs::get_tx(&mut tx, run_id).await?.ok_or_else(|| RunError::NoSuchRun(run_id.to_string()))?;
    match run.state.as_str() {
        "draft" => {}
        "approved" | "exported" | "closed" if run.approved_by.as_deref() == Some(by) => {
            return Ok(Approval::AlreadyApproved)
        }
        state => {
            return Err(RunError::WrongState {
                run: run.run_id,
                state: state.into(),
                action: "approve",
                needs: "draft",
            })
        }
    }
    if run.created_by == by {
        return Err(RunError::SameApprover { run: run.run_id, by: by.to_string() });
    }
    let sums = run_report::batch_sums(&mut tx, run_id).await?;
    let (count, fen) = sums.values().fold((0, 0), |(c, a), (bc, ba)| (c + bc, a + ba));
    run_report::approve(&mut tx, run_id, by, count, fen).await?;
    tx.commit().await?;
    Ok(Approval::Approved)
}

/// A draft is discarded; its items are due again for the next run.
#[tracing::instrument(skip(store))]
pub async fn discard(store: &Store, run_id: &str) -> Result<(), RunError> {
    let mut tx = store.begin_write().await?;
    let run = runs::get_tx(&mut tx, run_id).await?.ok_or_else(|| RunError::NoSuchRun(run_id.to_string()))?;
    if run.state != "draft" {
        return Err(RunError::WrongState { run: run.run_id, state: run.state, action: "discard", needs: "draft" });
    }
    run_report::discard(&mut tx, run_id).await?;
    tx.commit().await?;
    Ok(())
}

impl RunSummary {
    /// The human table printed by `run create` and `run show`.
    pub fn render(&self) -> String {
        let mut out = format!(
            "run {}  period {}  {}  created by {}{}\n",
            self.run_id,
            self.period,
            self.state,
            self.created_by,
            self.approved_by.as_ref().map(|a| format!(", approved by {a}")).unwrap_or_default()
        );
        out.push_str(&format!("payments {:>9}  {:>16}\n", self.payments.count, self.payments.amount));
        out.push_str("by program (items)\n");
        for (k, v) in self.by_program.iter().filter(|(_, v)| v.count > 0) {
            out.push_str(&format!("  {k:<18} {:>9}  {:>16}\n", v.count, v.amount));
        }
        out.push_str("by bank (payments)\n");
        for (k, v) in self.by_bank.iter().filter(|(_, v)| v.count > 0) {
            out.push_str(&format!("  {k:<18} {:>9}  {:>16}\n", v.count, v.amount));
        }
        let line = |title: &str, m: &BTreeMap<String, i64>| {
            let parts: Vec<String> = m.iter().map(|(k, v)| format!("{k} {v}")).collect();
            format!("{title}: {}\n", parts.join(", "))
        };
        out.push_str(&line("held", &self.held));
        out.push_str(&line("not paid", &self.anomalies));
        for b in &self.batches {
            out.push_str(&format!(
                "batch {}  bank {} {:<8} value {}  {:>9}  {:>16}  {}{}\n",
                b.batch_no,
                b.bank_code,
                b.layout,
                b.value_date,
                b.count,
                b.amount,
                b.state,
                b.file.as_ref().map(|f| format!("  {f}")).unwrap_or_default()
            ));
        }
        out
    }
}
