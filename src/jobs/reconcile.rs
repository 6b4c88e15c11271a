//! `reconcile`: applies the banks' return files (bank-files.md "Reconciling
//! a return"). A file is checked whole first — it parses, its header totals
//! add up, its batch is one this system exported — and only then applied, in
//! one transaction, matching each detail to the sent payment by serial number.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use serde::Serialize;
use tracing::info;

use crate::config::Layout;
use crate::domain::ids::mask_account;
use crate::domain::{AnomalyCode, Money};
use crate::formats::bank::{self, BankReason, Outcome, ReturnDetail};
use crate::jobs::run::Figure;
use crate::store::returns::{self, NewReturnLine, SentPayment, Settlement};
use crate::store::runs::{insert_anomalies, NewAnomaly};
use crate::store::source_files::{self, NewSourceFile};
use crate::store::{Store, StoreError, Tx};

mod reading;
mod report;

use reading::{digest, Parsed, Reading};
use report::Report;

/// Details applied per database round.
const CHUNK: usize = 5000;

/// The findings a return can raise, each a key of the summary.
const FINDINGS: [AnomalyCode; 6] = [
    AnomalyCode::DuplicateInReturn,
    AnomalyCode::ConflictingReturn,
    AnomalyCode::UnknownSerial,
    AnomalyCode::AmountMismatch,
    AnomalyCode::AccountMismatch,
    AnomalyCode::BankFailed,
];

/// The reconciliation summary of reports.md, one per file.
#[derive(Debug, Clone, Serialize)]
pub struct ReconcileSummary {
    pub file: String,
    pub batch_no: Option<String>,
    pub sha256: String,
    pub applied: bool,
    pub already_applied: bool,
    pub lines: u64,
    pub paid: Figure,
    pub failed: Figure,
    pub in_flight: Figure,
    pub anomalies: BTreeMap<String, i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub report: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Io(String),
}

#[derive(Default)]
struct Tally {
    lines: u64,
    paid: (i64, i64),
    failed: (i64, i64),
    in_flight: (i64, i64),
    anomalies: BTreeMap<&'static str, i64>,
}

impl Tally {
    fn summary(self, file: &str, batch_no: Option<String>, sha256: &str) -> ReconcileSummary {
        let mut anomalies: BTreeMap<String, i64> = FINDINGS.iter().map(|c| (c.as_str().to_string(), 0)).collect();
        for (k, v) in self.anomalies {
            anomalies.insert(k.to_string(), v);
        }
        ReconcileSummary {
            file: file.to_string(),
            batch_no,
            sha256: sha256.to_string(),
            applied: false,
            already_applied: false,
            lines: self.lines,
            paid: Figure::from_fen(self.paid),
            failed: Figure::from_fen(self.failed),
            in_flight: Figure::from_fen(self.in_flight),
            anomalies,
            report: None,
            error: None,
        }
    }
}

/// Reconciles one file. A file that fails a whole-file check is reported
/// with `applied: false` and its error; only database failures are `Err`.
///
/// The file is read once, on a thread of its own: details are applied as
/// they are parsed, through the one transaction, and a file that turns out
/// not to parse or not to add up is rolled back whole. The verdicts keep
/// their order (parse and totals, then batch, then identical bytes), as if
/// the file had been read through before anything else.
#[tracing::instrument(skip(store), fields(file = %path.display()))]
pub async fn reconcile_file(store: &Store, path: &Path) -> Result<ReconcileSummary, ReconcileError> {
    let shown = path.display().to_string();
    let (sha256, head) = match digest(path) {
        Ok(v) => v,
        Err(e) => return Ok(rejected(&shown, "", None, e)),
    };
    let Some(layout) = bank::detect_layout(&head) else {
        return Ok(rejected(&shown, &sha256, None, "line 1: not a return file of any known layout".into()));
    };
    let file = ReturnFile { path, shown: &shown, sha256: &sha256, layout };
    match file.apply(store, None).await? {
        Applied::Done(s) => Ok(*s),
        // A pain.002 that names another batch after its transactions: read again for that one.
        Applied::BatchWas(batch_no) => match file.apply(store, Some(&batch_no)).await? {
            Applied::Done(s) => Ok(*s),
            Applied::BatchWas(_) => Err(ReconcileError::Io(format!("{shown}: the file changed while it was read"))),
        },
    }
}

/// The summary of a file not applied.
fn rejected(shown: &str, sha256: &str, batch: Option<String>, error: String) -> ReconcileSummary {
    let mut s = Tally::default().summary(shown, batch, sha256);
    s.error = Some(format!("{shown}: {error}"));
    s
}

/// What one reading of a file came to.
enum Applied {
    Done(Box<ReconcileSummary>),
    /// The file ended naming this batch, not the one it announced; nothing was applied.
    BatchWas(String),
}

/// A return file whose digest and layout are known.
struct ReturnFile<'a> {
    path: &'a Path,
    shown: &'a str,
    sha256: &'a str,
    layout: Layout,
}

impl ReturnFile<'_> {
    /// Reads the file and applies it to the batch it announces (or to `batch_no`).
    async fn apply(&self, store: &Store, batch_no: Option<&str>) -> Result<Applied, ReconcileError> {
        let (shown, sha256, layout) = (self.shown, self.sha256, self.layout);
        let mut reading = Reading::start(self.path, layout);
        // The batch: announced before the first detail or, in a file without
        // details, named by the header once the file is read.
        let mut header = None;
        let batch_no = match batch_no {
            Some(b) => b.to_string(),
            None => match reading.next().await {
                Some(Parsed::Batch(b)) => b,
                Some(Parsed::Details(_)) => {
                    return Err(ReconcileError::Io(format!("{shown}: details before the batch number")));
                }
                None => match reading.finish().await? {
                    Ok(h) => header.insert(h).batch_no.clone(),
                    Err(e) => return Ok(Applied::Done(Box::new(rejected(shown, sha256, None, e)))),
                },
            },
        };
        // Before any verdict on a whole file the file is read to its end: a
        // file that does not parse is reported as such, whatever else is wrong.
        let ended = |ended: Result<bank::ReturnHeader, String>| match ended {
            Err(parse) => Some(Applied::Done(Box::new(rejected(shown, sha256, None, parse)))),
            Ok(h) if h.batch_no != batch_no => Some(Applied::BatchWas(h.batch_no)),
            Ok(_) => None,
        };
        if let Some(e) = batch_refused(store, &batch_no, layout).await? {
            let verdict = ended(reading.finish().await?);
            return Ok(verdict.unwrap_or_else(|| Applied::Done(Box::new(rejected(shown, sha256, Some(batch_no), e)))));
        }

        // Identical bytes applied before: nothing changes.
        let mut tx = store.begin_write().await?;
        if let Some(earlier) = source_files::find(&mut tx, "bank_return", sha256).await? {
            drop(tx);
            if let Some(verdict) = ended(reading.finish().await?) {
                return Ok(verdict);
            }
            info!(imported_at = %earlier.imported_at, "identical return already applied");
            let mut s = Tally::default().summary(shown, Some(batch_no), sha256);
            s.already_applied = true;
            s.lines = earlier.rows_total as u64;
            return Ok(Applied::Done(Box::new(s)));
        }
        let file_name = self.path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let new = NewSourceFile { kind: "bank_return", sha256, file_name: &file_name, encoding: layout.as_str() };
        let file_id = source_files::insert(&mut tx, &new).await?;
        let anomalies_before = returns::last_anomaly(&mut tx).await?;

        // Apply, a chunk at a time as the file is read, through the one transaction.
        let report_path = self.path.with_file_name(format!("{file_name}.report.csv"));
        let mut report =
            Report::create(&report_path).map_err(|e| ReconcileError::Io(format!("{}: {e}", report_path.display())))?;
        let mut ctx =
            Apply { file_id, batch_no: &batch_no, layout, tally: Tally::default(), was_unconfirmed: Vec::new() };
        while let Some(parsed) = reading.next().await {
            if let Parsed::Details(chunk) = parsed {
                ctx.apply(&mut tx, chunk, &mut report).await?;
            }
        }
        let header = match header {
            Some(h) => h,
            None => {
                let end = reading.finish().await?;
                // Not a whole file, or not the batch it announced: nothing of
                // it is applied (the transaction and the report go).
                if let Some(verdict) = ended(end.clone()) {
                    return Ok(verdict);
                }
                end.map_err(ReconcileError::Io)?
            }
        };
        if let Some(reason) = &header.group_rejected {
            ctx.reject_group(&mut tx, reason, &mut report).await?;
        }
        // The file's payments settled paid whose items another payment has also paid.
        let doubles = returns::double_paid_in_file(&mut tx, file_id, &batch_no).await?;
        insert_anomalies(&mut tx, &doubles).await?;
        returns::fill_regions(&mut tx, file_id, anomalies_before).await?;
        let counts = source_files::Counts {
            total: ctx.tally.lines,
            accepted: ctx.tally.lines,
            rejected: 0,
            program: None,
            period: None,
            batch_no: Some(&batch_no),
        };
        source_files::finish(&mut tx, file_id, &counts).await?;
        tx.commit().await?;
        let report = report.finish().map_err(|e| ReconcileError::Io(format!("{}: {e}", report_path.display())))?;
        let mut s = ctx.tally.summary(shown, Some(batch_no), sha256);
        s.applied = true;
        s.report = Some(report.display().to_string());
        info!(lines = s.lines, "return applied");
        Ok(Applied::Done(Box::new(s)))
    }
}

/// Why a file for `batch_no` in `layout` is refused: a batch this system
/// never exported, or one sent in another layout.
async fn batch_refused(store: &Store, batch_no: &str, layout: Layout) -> Result<Option<String>, ReconcileError> {
    Ok(match returns::batch(store.pool(), batch_no).await? {
        Some(b) if matches!(b.state.as_str(), "exported" | "closed") => (b.layout != layout.as_str())
            .then(|| format!("line 1: batch {batch_no} was sent as {}, this file is {}", b.layout, layout.as_str())),
        _ => Some(format!("line 1: batch {batch_no} was never exported by this system")),
    })
}

/// The state of applying one file.
struct Apply<'a> {
    file_id: i64,
    batch_no: &'a str,
    layout: Layout,
    tally: Tally,
    /// Payments settled by this chunk that were unconfirmed before.
    was_unconfirmed: Vec<i64>,
}

/// What the judging of one chunk settles.
#[derive(Default)]
struct Settling {
    /// Payment states changed by this chunk (the database lags until it is written).
    states: HashMap<i64, &'static str>,
    /// Payments settled at all.
    count: usize,
    /// The failure codes seen with a reason other than `other`.
    reasons: BTreeMap<String, BankReason>,
}

impl Apply<'_> {
    /// Applies one chunk of details (in file order): each is matched and
    /// judged here, stored as a return line, and the lines that settle a
    /// payment settle it from the database in a few statements.
    async fn apply(
        &mut self,
        tx: &mut Tx,
        chunk: Vec<ReturnDetail>,
        report: &mut Report,
    ) -> Result<(), ReconcileError> {
        let (Some(first), Some(last)) = (chunk.first().map(|d| d.line_no), chunk.last().map(|d| d.line_no)) else {
            return Ok(());
        };
        let payments = {
            let serials: Vec<&str> = chunk.iter().map(|d| d.serial_no.as_str()).collect();
            returns::payments_by_serial(tx, self.batch_no, &serials).await?
        };
        let by_serial: HashMap<&str, &SentPayment> = payments.iter().map(|p| (p.serial_no.as_str(), p)).collect();
        let mut lines = Vec::with_capacity(chunk.len());
        let mut settling = Settling::default();
        let mut anomalies = Vec::new();
        for d in chunk {
            let payment = by_serial.get(d.serial_no.as_str()).copied();
            let amount = d.amount.or_else(|| payment.and_then(|p| Money::from_fen(p.amount_fen))).unwrap_or_default();
            let (outcome_text, status_code) = match &d.outcome {
                Outcome::Paid => ("paid", None),
                Outcome::Failed => ("failed", None),
                Outcome::InFlight(code) => ("in_flight", Some(code.clone())),
            };
            self.tally.lines += 1;
            let slot = match d.outcome {
                Outcome::Paid => &mut self.tally.paid,
                Outcome::Failed => &mut self.tally.failed,
                Outcome::InFlight(_) => &mut self.tally.in_flight,
            };
            *slot = (slot.0 + 1, slot.1 + amount.fen());
            let reason = (d.outcome == Outcome::Failed).then(|| BankReason::from_code(self.layout, &d.reason.code));
            let finding = self.judge(&d, payment, reason, &mut settling);
            if let (Some(code), Some(p)) = (finding, payment) {
                anomalies.push(self.anomaly(code, p, &d, reason));
            } else if let (Some(code), None) = (finding, payment) {
                anomalies.push(NewAnomaly {
                    code: code.as_str(),
                    dedupe_key: format!("return:{}:{}:{}", self.file_id, d.line_no, code.as_str()),
                    batch_no: Some(self.batch_no.to_string()),
                    source_file_id: Some(self.file_id),
                    detail: format!("serial {} at line {}", d.serial_no, d.line_no),
                    ..NewAnomaly::default()
                });
            }
            if let Some(code) = finding {
                *self.tally.anomalies.entry(code.as_str()).or_default() += 1;
            }
            report
                .row(&d, payment, amount, outcome_text, finding, reason)
                .map_err(|e| ReconcileError::Io(e.to_string()))?;
            lines.push(NewReturnLine {
                line_no: d.line_no as i64,
                payment_id: payment.map(|p| p.id),
                outcome: outcome_text,
                status_code,
                amount_fen: d.amount.map(Money::fen),
                reason_code: Some(d.reason.code).filter(|c| !c.is_empty()),
                reason_text: Some(d.reason.text).filter(|t| !t.is_empty()),
                bank_ref: Some(d.bank_ref).filter(|r| !r.is_empty()),
                serial_no: d.serial_no,
                account_no: d.account_no,
                finding: finding.map_or("applied", AnomalyCode::as_str),
            });
        }
        returns::insert_lines(tx, self.file_id, &lines).await?;
        drop(lines);
        if settling.count > 0 {
            let reasons: Vec<(&str, &str)> = settling.reasons.iter().map(|(c, r)| (c.as_str(), r.as_str())).collect();
            let range = (first as i64, last as i64);
            returns::settle_lines(tx, self.file_id, range, &reasons, BankReason::Other.as_str()).await?;
            // Only a payment that was unconfirmed can have a missing_in_return to resolve.
            if !self.was_unconfirmed.is_empty() {
                let ids: Vec<i64> = std::mem::take(&mut self.was_unconfirmed);
                crate::store::anomalies::resolve_missing(tx, &ids, self.file_id).await?;
            }
        }
        // Their regions are filled in once the file is through (`finish`).
        insert_anomalies(tx, &anomalies).await?;
        Ok(())
    }

    /// The finding of one detail (bank-files.md's table), recording a settlement when there is one.
    fn judge(
        &mut self,
        d: &ReturnDetail,
        payment: Option<&SentPayment>,
        reason: Option<BankReason>,
        settling: &mut Settling,
    ) -> Option<AnomalyCode> {
        let Some(p) = payment else { return Some(AnomalyCode::UnknownSerial) };
        if d.amount.is_some_and(|a| a.fen() != p.amount_fen) {
            return Some(AnomalyCode::AmountMismatch);
        }
        if d.account_no.as_deref().is_some_and(|a| a != p.account_no) {
            return Some(AnomalyCode::AccountMismatch);
        }
        let paid = match d.outcome {
            Outcome::InFlight(_) => return None,
            Outcome::Paid => true,
            Outcome::Failed => false,
        };
        let state = settling.states.get(&p.id).copied().unwrap_or(p.state.as_str());
        match (state, paid) {
            ("sent" | "unconfirmed", _) => {
                if state == "unconfirmed" {
                    self.was_unconfirmed.push(p.id);
                }
                settling.states.insert(p.id, if paid { "paid" } else { "failed" });
                settling.count += 1;
                if let Some(r) = reason.filter(|r| *r != BankReason::Other) {
                    settling.reasons.entry(d.reason.code.clone()).or_insert(r);
                }
                (!paid).then_some(AnomalyCode::BankFailed)
            }
            ("paid", true) | ("failed", false) => Some(AnomalyCode::DuplicateInReturn),
            _ => Some(AnomalyCode::ConflictingReturn),
        }
    }

    fn anomaly(&self, code: AnomalyCode, p: &SentPayment, d: &ReturnDetail, reason: Option<BankReason>) -> NewAnomaly {
        let detail = match code {
            AnomalyCode::BankFailed => {
                format!("{}: {} {}", reason.map_or("other", BankReason::as_str), d.reason.code, d.reason.text)
            }
            AnomalyCode::AmountMismatch => {
                format!(
                    "returned {}, sent {}",
                    d.amount.unwrap_or_default(),
                    Money::from_fen(p.amount_fen).unwrap_or_default()
                )
            }
            AnomalyCode::AccountMismatch => format!(
                "returned {}, sent {}",
                mask_account(d.account_no.as_deref().unwrap_or("")),
                mask_account(&p.account_no)
            ),
            _ => format!("serial {} at line {}", d.serial_no, d.line_no),
        };
        // One bank failure per payment; other findings per line of a file.
        let dedupe_key = match code {
            AnomalyCode::BankFailed => format!("bank_failed:payment:{}", p.id),
            _ => format!("return:{}:{}:{}", self.file_id, d.line_no, code.as_str()),
        };
        NewAnomaly {
            code: code.as_str(),
            dedupe_key,
            person_id: Some(p.person_id.clone()),
            region_code: p.region_code.clone(),
            payment_id: Some(p.id),
            batch_no: Some(self.batch_no.to_string()),
            source_file_id: Some(self.file_id),
            detail,
            ..NewAnomaly::default()
        }
    }

    /// A group status RJCT with no transactions: every payment still sent fails.
    async fn reject_group(
        &mut self,
        tx: &mut Tx,
        reason: &bank::ReasonCode,
        report: &mut Report,
    ) -> Result<(), ReconcileError> {
        let open = returns::payments_in_state(tx, self.batch_no, "sent").await?;
        let mapped = BankReason::from_code(self.layout, &reason.code);
        let mut settlements = Vec::new();
        let mut settling = Settling::default();
        let mut anomalies = Vec::new();
        for p in &open {
            let d = ReturnDetail {
                line_no: 0,
                seq: None,
                serial_no: p.serial_no.clone(),
                account_no: None,
                account_name: None,
                amount: None,
                outcome: Outcome::Failed,
                reason: reason.clone(),
                bank_ref: String::new(),
            };
            let finding = self.judge(&d, Some(p), Some(mapped), &mut settling);
            if settling.states.contains_key(&p.id) {
                settlements.push(Settlement {
                    payment_id: p.id,
                    paid: false,
                    reason: Some(mapped.as_str().to_string()),
                    reason_code: Some(reason.code.clone()).filter(|c| !c.is_empty()),
                    reason_text: Some(reason.text.clone()).filter(|t| !t.is_empty()),
                    bank_ref: None,
                });
            }
            let amount = Money::from_fen(p.amount_fen).unwrap_or_default();
            self.tally.failed = (self.tally.failed.0 + 1, self.tally.failed.1 + p.amount_fen);
            if let Some(code) = finding {
                *self.tally.anomalies.entry(code.as_str()).or_default() += 1;
                anomalies.push(self.anomaly(code, p, &d, Some(mapped)));
            }
            report
                .row(&d, Some(p), amount, "failed", finding, Some(mapped))
                .map_err(|e| ReconcileError::Io(e.to_string()))?;
        }
        // Failures only: nothing here is paid twice, and only sent payments were open.
        if !settlements.is_empty() {
            returns::settle(tx, &settlements).await?;
        }
        insert_anomalies(tx, &anomalies).await?;
        Ok(())
    }
}
