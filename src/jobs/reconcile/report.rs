//! `<file>.report.csv`, written beside the return file as it is applied.

use std::fs::File;
use std::io::Write;
use std::path::Path;

use crate::domain::ids::{mask_account, mask_person_id};
use crate::domain::{AnomalyCode, Money};
use crate::formats::bank::{BankReason, ReturnDetail};
use crate::store::returns::SentPayment;

/// `<file>.report.csv`: one row per return detail, identifiers masked.
pub(super) struct Report {
    path: std::path::PathBuf,
    tmp: std::path::PathBuf,
    writer: Option<csv::Writer<std::io::BufWriter<File>>>,
}

/// A report of a file that was not applied is removed, never left half-written.
impl Drop for Report {
    fn drop(&mut self) {
        if self.writer.is_some() {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

impl Report {
    pub(super) fn create(path: &Path) -> std::io::Result<Report> {
        let tmp = path.with_extension("csv.tmp");
        let mut file = std::io::BufWriter::new(File::create(&tmp)?);
        file.write_all("\u{feff}".as_bytes())?;
        let mut writer = csv::Writer::from_writer(file);
        writer.write_record([
            "serial_no",
            "person_id",
            "name",
            "bank_code",
            "account_no",
            "amount",
            "outcome",
            "anomaly",
            "bank_reason_code",
            "bank_reason_text",
            "reason",
        ])?;
        Ok(Report { path: path.to_path_buf(), tmp, writer: Some(writer) })
    }

    pub(super) fn row(
        &mut self,
        d: &ReturnDetail,
        p: Option<&SentPayment>,
        amount: Money,
        outcome: &str,
        finding: Option<AnomalyCode>,
        reason: Option<BankReason>,
    ) -> csv::Result<()> {
        let account = d.account_no.clone().or_else(|| p.map(|p| p.account_no.clone())).unwrap_or_default();
        let Some(writer) = self.writer.as_mut() else { return Ok(()) };
        writer.write_record([
            d.serial_no.as_str(),
            &p.map(|p| mask_person_id(&p.person_id)).unwrap_or_default(),
            &d.account_name.clone().or_else(|| p.map(|p| p.account_name.clone())).unwrap_or_default(),
            &p.map(|p| p.bank_code.clone()).unwrap_or_default(),
            &mask_account(&account),
            &amount.to_string(),
            outcome,
            finding.map_or("", AnomalyCode::as_str),
            &d.reason.code,
            &d.reason.text,
            reason.map_or("", BankReason::as_str),
        ])
    }

    pub(super) fn finish(mut self) -> std::io::Result<std::path::PathBuf> {
        if let Some(writer) = self.writer.take() {
            let file = writer.into_inner().map_err(|e| e.into_error())?;
            file.into_inner().map_err(|e| e.into_error())?.sync_all()?;
            std::fs::rename(&self.tmp, &self.path)?;
        }
        Ok(self.path.clone())
    }
}
