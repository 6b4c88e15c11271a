//! Importing department files (rosters.md): all-or-nothing per file, bad rows
//! rejected with their reasons and kept, identical bytes applied once.

use std::path::Path;

use csv::StringRecord;
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use tracing::info;

use crate::formats::csv_input::{self, ColumnSpec, CsvInput, EncodingChoice, InputError, RejectsWriter};
use crate::store::source_files::{self, Counts, NewSourceFile};
use crate::store::{Store, StoreError, Tx};

pub mod registry;
pub mod roster;

/// Rows validated before they are written in one batch.
const BATCH_ROWS: usize = 2000;

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error(transparent)]
    Input(#[from] InputError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{path}: cannot write the rejects file: {source}")]
    Rejects { path: String, source: std::io::Error },
}

/// What an import did, as printed by `onecard import … [--json]`.
#[derive(Debug, Clone, Serialize)]
pub struct ImportSummary {
    pub file: String,
    pub kind: &'static str,
    pub sha256: String,
    pub encoding: &'static str,
    pub applied: bool,
    pub already_imported: bool,
    pub rows: u64,
    pub accepted: u64,
    pub rejected: u64,
    pub rejects_file: Option<String>,
    #[serde(flatten)]
    pub details: serde_json::Value,
}

/// One kind of department file: its columns, its row checks and how its good rows are stored.
pub trait Importer {
    type Row;
    const KIND: &'static str;

    fn columns(&self) -> &'static [ColumnSpec];

    /// Called once the header is known.
    fn start(&mut self, _input: &CsvInput) {}

    /// Every check of one row: the typed row, or one reason per failed check.
    fn validate(&mut self, input: &CsvInput, record: &StringRecord, line: u64) -> Result<Self::Row, Vec<String>>;

    /// Stores a batch of good rows; returns rows refused on what the database holds, with the reason.
    fn apply(
        &mut self,
        tx: &mut Tx,
        file_id: i64,
        rows: Vec<(Self::Row, StringRecord)>,
    ) -> impl std::future::Future<Output = Result<Vec<(StringRecord, String)>, StoreError>>;

    /// The file's program and period, where the kind has them.
    fn program_period(&self) -> (Option<String>, Option<String>) {
        (None, None)
    }

    /// Kind-specific figures for the summary.
    fn details(&self) -> serde_json::Value;
}

/// Imports one file whole or not at all.
#[tracing::instrument(skip_all, fields(kind = I::KIND, file = %path.display()))]
pub async fn import_file<I: Importer>(
    store: &Store,
    path: &Path,
    encoding: EncodingChoice,
    mut importer: I,
) -> Result<ImportSummary, ImportError> {
    let scan = csv_input::scan(path, encoding)?;
    let file_name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let mut summary = ImportSummary {
        file: path.display().to_string(),
        kind: I::KIND,
        sha256: scan.sha256.clone(),
        encoding: scan.encoding.as_str(),
        applied: false,
        already_imported: false,
        rows: 0,
        accepted: 0,
        rejected: 0,
        rejects_file: None,
        details: serde_json::Value::Null,
    };
    let mut input = CsvInput::open(path, scan.encoding, importer.columns())?;
    importer.start(&input);

    let mut tx = store.begin_write().await?;
    if let Some(earlier) = source_files::find(&mut tx, I::KIND, &scan.sha256).await? {
        info!(imported_at = %earlier.imported_at, "identical file already imported; nothing changes");
        return Ok(already(summary, &earlier));
    }
    let new =
        NewSourceFile { kind: I::KIND, sha256: &scan.sha256, file_name: &file_name, encoding: scan.encoding.as_str() };
    let file_id = match source_files::insert(&mut tx, &new).await {
        Ok(id) => id,
        Err(e) if source_files::is_unique_violation(&e) => {
            drop(tx);
            let mut tx = store.begin_write().await?;
            if let Some(earlier) = source_files::find(&mut tx, I::KIND, &scan.sha256).await? {
                return Ok(already(summary, &earlier));
            }
            return Err(e.into());
        }
        Err(e) => return Err(e.into()),
    };

    let rejects_err = |source| ImportError::Rejects { path: summary.file.clone(), source };
    let mut rejects = RejectsWriter::create(path, input.headers()).map_err(rejects_err)?;
    let result = stream_rows(&mut tx, file_id, &mut input, &mut importer, &mut rejects, &mut summary).await;
    if let Err(e) = result {
        rejects.discard();
        return Err(e);
    }
    let (program, period) = importer.program_period();
    let counts = Counts {
        total: summary.rows,
        accepted: summary.accepted,
        rejected: summary.rejected,
        program: program.as_deref(),
        period: period.as_deref(),
        batch_no: None,
    };
    source_files::finish_kind(&mut tx, I::KIND, file_id, &counts).await?;
    if let Err(e) = tx.commit().await {
        rejects.discard();
        return Err(e.into());
    }
    let rejects_path =
        rejects.finish().map_err(|source| ImportError::Rejects { path: summary.file.clone(), source })?;
    summary.rejects_file = rejects_path.map(|p| p.display().to_string());
    summary.applied = true;
    summary.details = importer.details();
    info!(rows = summary.rows, accepted = summary.accepted, rejected = summary.rejected, "file imported");
    Ok(summary)
}

/// Keeps a parsed value, or records why it failed (one reason per failed check).
pub(crate) fn keep<T, E: std::fmt::Display>(reasons: &mut Vec<String>, parsed: Result<T, E>) -> Option<T> {
    parsed.map_err(|e| reasons.push(e.to_string())).ok()
}

fn already(mut summary: ImportSummary, earlier: &source_files::SourceFile) -> ImportSummary {
    summary.already_imported = true;
    summary.rows = earlier.rows_total as u64;
    summary.accepted = earlier.rows_accepted as u64;
    summary.rejected = earlier.rows_rejected as u64;
    summary.details = serde_json::json!({ "imported_at": earlier.imported_at });
    summary
}

async fn stream_rows<I: Importer>(
    tx: &mut Tx,
    file_id: i64,
    input: &mut CsvInput,
    importer: &mut I,
    rejects: &mut RejectsWriter,
    summary: &mut ImportSummary,
) -> Result<(), ImportError> {
    let progress = ProgressBar::new_spinner().with_message(format!("importing {}", summary.file));
    progress.set_style(
        ProgressStyle::with_template("{spinner} {msg}: {human_pos} rows ({per_sec})")
            .unwrap_or(ProgressStyle::default_spinner()),
    );
    let mut batch = Vec::with_capacity(BATCH_ROWS);
    let mut record = StringRecord::new();
    let reject_io = |source| ImportError::Rejects { path: summary.file.clone(), source };
    let mut reject_count = 0;
    while input.next_row(&mut record)? {
        let line = csv_input::line_of(&record);
        if record.iter().all(|f| f.trim().is_empty()) {
            continue; // a blank line, common at the end of spreadsheet exports
        }
        summary.rows += 1;
        progress.inc(1);
        let checked =
            input.well_formed(&record).map_err(|e| vec![e]).and_then(|()| importer.validate(input, &record, line));
        match checked {
            Ok(row) => batch.push((row, record.clone())),
            Err(reasons) => {
                rejects.write(line, &record, &reasons).map_err(reject_io)?;
                reject_count += 1;
            }
        }
        if batch.len() >= BATCH_ROWS {
            reject_count += apply(tx, file_id, importer, std::mem::take(&mut batch), rejects, &summary.file).await?;
        }
    }
    reject_count += apply(tx, file_id, importer, batch, rejects, &summary.file).await?;
    progress.finish_and_clear();
    summary.rejected = reject_count;
    summary.accepted = summary.rows - reject_count;
    Ok(())
}

async fn apply<I: Importer>(
    tx: &mut Tx,
    file_id: i64,
    importer: &mut I,
    batch: Vec<(I::Row, StringRecord)>,
    rejects: &mut RejectsWriter,
    file: &str,
) -> Result<u64, ImportError> {
    if batch.is_empty() {
        return Ok(0);
    }
    let refused = importer.apply(tx, file_id, batch).await?;
    for (record, reason) in &refused {
        rejects
            .write(csv_input::line_of(record), record, std::slice::from_ref(reason))
            .map_err(|source| ImportError::Rejects { path: file.to_string(), source })?;
    }
    Ok(refused.len() as u64)
}
