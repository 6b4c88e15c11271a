//! `run export`: one request file per bank batch in the bank's layout, a
//! `.sha256` beside each and a run manifest. Files are written under a
//! temporary name, flushed, then linked into place (never overwriting);
//! their content depends only on the run, so an export interrupted before it
//! was recorded is completed by the next one without a second file.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use chrono::{NaiveDate, NaiveDateTime};
use serde::Serialize;
use sha2::{Digest, Sha256};
use tracing::info;

use super::RunError;
use crate::config::{Config, Layout};
use crate::domain::Money;
use crate::formats::bank::{self, BatchInfo, PaymentDetail};
use crate::store::{run_report, runs, Store};

/// Payments read per page while writing a file.
const PAGE: i64 = 5000;

#[derive(Debug, Clone, Serialize)]
pub struct ExportedFile {
    pub file: String,
    pub bank_code: String,
    pub layout: String,
    pub batch_no: String,
    pub count: i64,
    pub amount: String,
    pub sha256: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct ExportReport {
    pub run_id: String,
    pub outbox: String,
    /// True when the run had been exported before: nothing new was written.
    pub already_exported: bool,
    pub manifest: String,
    pub files: Vec<ExportedFile>,
}

#[tracing::instrument(skip(store, config))]
pub async fn export_run(store: &Store, config: &Config, run_id: &str, outbox: &Path) -> Result<ExportReport, RunError> {
    let pool = store.pool();
    let run = runs::get(pool, run_id).await?.ok_or_else(|| RunError::NoSuchRun(run_id.to_string()))?;
    let batches = run_report::batches(pool, run_id).await?;
    let manifest_name = format!("run-{run_id}.manifest.json");
    let already = match run.state.as_str() {
        "approved" => false,
        "exported" | "closed" => true,
        state => {
            return Err(RunError::WrongState {
                run: run.run_id,
                state: state.into(),
                action: "export",
                needs: "approved",
            })
        }
    };
    if already {
        let files = batches
            .iter()
            .map(|b| ExportedFile {
                file: b.file_name.clone().unwrap_or_default(),
                bank_code: b.bank_code.clone(),
                layout: b.layout.clone(),
                batch_no: b.batch_no.clone(),
                count: b.payment_count,
                amount: money(b.amount_fen),
                sha256: b.sha256.clone().unwrap_or_default(),
            })
            .collect();
        return Ok(ExportReport {
            run_id: run_id.into(),
            outbox: outbox.display().to_string(),
            already_exported: true,
            manifest: manifest_name,
            files,
        });
    }
    std::fs::create_dir_all(outbox).map_err(|e| export_err(outbox, e))?;
    // Totals shown at approval are the totals exported.
    let (count, fen) = batches.iter().fold((0, 0), |(c, a), b| (c + b.payment_count, a + b.amount_fen));
    if Some(count) != run.approved_count || Some(fen) != run.approved_amount_fen {
        return Err(RunError::ControlTotals(format!(
            "run {run_id}: batches hold {count} payments / {} but {:?} / {:?} fen were approved",
            money(fen),
            run.approved_count,
            run.approved_amount_fen
        )));
    }
    let created_at = run
        .approved_at
        .as_deref()
        .and_then(|t| NaiveDateTime::parse_from_str(t, "%Y-%m-%dT%H:%M:%SZ").ok())
        .unwrap_or_default();
    let mut files = Vec::new();
    for b in &batches {
        let bank = config
            .bank(&b.bank_code)
            .ok_or_else(|| RunError::Export(format!("bank {} is not configured", b.bank_code)))?;
        let layout = bank.layout;
        let info = BatchInfo {
            batch_no: b.batch_no.clone(),
            bank_code: b.bank_code.clone(),
            payer_account: bank.payer_account.clone(),
            payer_name: bank.payer_name.clone(),
            agency_code: bank.agency_code.clone(),
            value_date: NaiveDate::parse_from_str(&b.value_date, "%Y-%m-%d")
                .map_err(|e| RunError::Export(e.to_string()))?,
            created_at,
            count: b.payment_count as u64,
            total: Money::from_fen(b.amount_fen).unwrap_or_default(),
        };
        let name = bank::request_file_name(layout, &b.bank_code, &b.batch_no);
        let sha = write_batch(store, layout, &info, &outbox.join(&name)).await?;
        place(outbox, &format!("{name}.sha256"), format!("{sha}  {name}\n").as_bytes())?;
        info!(file = %name, count = b.payment_count, "batch file written");
        files.push(ExportedFile {
            file: name,
            bank_code: b.bank_code.clone(),
            layout: layout.as_str().into(),
            batch_no: b.batch_no.clone(),
            count: b.payment_count,
            amount: money(b.amount_fen),
            sha256: sha,
        });
    }
    let manifest = serde_json::json!({
        "run_id": run_id,
        "period": run.period,
        "payments": {"count": count, "amount": money(fen)},
        "files": files,
    });
    let text = serde_json::to_string_pretty(&manifest).map_err(|e| RunError::Export(e.to_string()))? + "\n";
    place(outbox, &manifest_name, text.as_bytes())?;

    let mut tx = store.begin_write().await?;
    for f in &files {
        run_report::mark_batch_exported(&mut tx, &f.batch_no, &f.file, &f.sha256).await?;
    }
    run_report::mark_run_exported(&mut tx, run_id).await?;
    tx.commit().await?;
    Ok(ExportReport {
        run_id: run_id.into(),
        outbox: outbox.display().to_string(),
        already_exported: false,
        manifest: manifest_name,
        files,
    })
}

fn money(fen: i64) -> String {
    Money::from_fen(fen).unwrap_or_default().to_string()
}

fn export_err(path: &Path, e: impl std::fmt::Display) -> RunError {
    RunError::Export(format!("{}: {e}", path.display()))
}

/// Writes one batch file: streamed, hashed, its details summed and checked
/// against the header, then put in place. Returns its SHA-256.
async fn write_batch(store: &Store, layout: Layout, info: &BatchInfo, path: &Path) -> Result<String, RunError> {
    let tmp = tmp_path(path);
    let file = File::create(&tmp).map_err(|e| export_err(&tmp, e))?;
    let mut out = HashingWriter { inner: BufWriter::with_capacity(1 << 20, file), hasher: Sha256::new() };
    let mut writer = bank::request_writer(layout);
    let io = |e: std::io::Error| export_err(path, e);
    writer.header(&mut out, info).map_err(io)?;
    let (mut count, mut total, mut after) = (0u64, Money::ZERO, 0i64);
    loop {
        let page = run_report::payment_page(store.pool(), &info.batch_no, after, PAGE).await?;
        let Some(last) = page.last() else { break };
        after = last.seq;
        for p in page {
            let amount = Money::from_fen(p.amount_fen).unwrap_or_default();
            let detail = PaymentDetail {
                seq: p.seq as u64,
                serial_no: p.serial_no,
                account_no: p.account_no,
                account_name: p.account_name,
                amount,
                person_id: p.person_id,
                remark: p.remark,
                bank_code: p.bank_code,
            };
            writer.detail(&mut out, &detail).map_err(io)?;
            count += 1;
            total = total + amount;
        }
    }
    writer.finish(&mut out, info).map_err(io)?;
    if (count, total) != (info.count, info.total) {
        let _ = std::fs::remove_file(&tmp);
        return Err(RunError::ControlTotals(format!(
            "{}: header says {} payments / {}, details add up to {count} / {total}",
            path.display(),
            info.count,
            info.total
        )));
    }
    let sha = hex::encode(out.hasher.finalize_reset());
    let file = out.inner.into_inner().map_err(|e| export_err(path, e.into_error()))?;
    file.sync_all().map_err(|e| export_err(&tmp, e))?;
    link_into_place(&tmp, path, &sha)?;
    Ok(sha)
}

/// Writes small content (digest, manifest) atomically, accepting an identical existing file.
pub(crate) fn place(dir: &Path, name: &str, content: &[u8]) -> Result<(), RunError> {
    let path = dir.join(name);
    let tmp = tmp_path(&path);
    let mut f = File::create(&tmp).map_err(|e| export_err(&tmp, e))?;
    f.write_all(content).and_then(|()| f.sync_all()).map_err(|e| export_err(&tmp, e))?;
    link_into_place(&tmp, &path, &hex::encode(Sha256::digest(content)))
}

/// Links `tmp` to `path` (an atomic create that never overwrites) and removes
/// `tmp`. An existing file with the same digest is the same file: kept.
fn link_into_place(tmp: &Path, path: &Path, sha: &str) -> Result<(), RunError> {
    let result = std::fs::hard_link(tmp, path);
    let _ = std::fs::remove_file(tmp);
    match result {
        Ok(()) => {
            if let Some(dir) = path.parent() {
                // Make the new directory entry durable.
                let _ = File::open(dir).and_then(|d| d.sync_all());
            }
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            let existing = std::fs::read(path).map_err(|e| export_err(path, e))?;
            if hex::encode(Sha256::digest(&existing)) == sha {
                Ok(())
            } else {
                Err(RunError::Export(format!("{} exists with other content; it is not overwritten", path.display())))
            }
        }
        Err(e) => Err(export_err(path, e)),
    }
}

fn tmp_path(path: &Path) -> PathBuf {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    path.with_file_name(format!(".{name}.{}.tmp", std::process::id()))
}

/// Hashes what it writes.
struct HashingWriter<W: Write> {
    inner: W,
    hasher: Sha256,
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}
