//! Input files applied, identified by their SHA-256: identical bytes apply once.

use sqlx::Row;

use super::{now_text, StoreError, Tx};

pub struct NewSourceFile<'a> {
    pub kind: &'a str,
    pub sha256: &'a str,
    pub file_name: &'a str,
    pub encoding: &'a str,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SourceFile {
    pub id: i64,
    pub kind: String,
    pub file_name: String,
    pub imported_at: String,
    pub rows_total: i64,
    pub rows_accepted: i64,
    pub rows_rejected: i64,
    pub program: Option<String>,
    pub period: Option<String>,
}

const COLUMNS: &str = "id, kind, file_name, imported_at, rows_total, rows_accepted, rows_rejected, program, period";

/// The ledger a kind of file is recorded in: card application files have
/// their own table of the same shape (source_files' kinds are fixed by a CHECK).
fn ledger(kind: &str) -> &'static str {
    if kind == "card_applications" {
        "card_application_files"
    } else {
        "source_files"
    }
}

/// The earlier application of identical bytes of this kind, if any.
pub async fn find(tx: &mut Tx, kind: &str, sha256: &str) -> Result<Option<SourceFile>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM {} WHERE kind = $1 AND sha256 = $2", ledger(kind));
    Ok(sqlx::query_as(&sql).bind(kind).bind(sha256).fetch_optional(tx.conn()).await?)
}

/// Records a file inside the transaction that applies it. A concurrent
/// application of the same bytes fails here on the unique (kind, sha256).
pub async fn insert(tx: &mut Tx, f: &NewSourceFile<'_>) -> Result<i64, StoreError> {
    let sql = format!(
        "INSERT INTO {} (kind, sha256, file_name, encoding, rows_total, rows_accepted, rows_rejected, imported_at) \
         VALUES ($1, $2, $3, $4, 0, 0, 0, $5) RETURNING id",
        ledger(f.kind)
    );
    let row = sqlx::query(&sql)
        .bind(f.kind)
        .bind(f.sha256)
        .bind(f.file_name)
        .bind(f.encoding)
        .bind(now_text())
        .fetch_one(tx.conn())
        .await?;
    Ok(row.try_get(0)?)
}

pub struct Counts<'a> {
    pub total: u64,
    pub accepted: u64,
    pub rejected: u64,
    pub program: Option<&'a str>,
    pub period: Option<&'a str>,
    /// The batch a bank's or card maker's return answers.
    pub batch_no: Option<&'a str>,
}

pub async fn finish(tx: &mut Tx, id: i64, c: &Counts<'_>) -> Result<(), StoreError> {
    finish_kind(tx, "", id, c).await
}

/// [`finish`] for a file of `kind`, whichever ledger holds it.
pub async fn finish_kind(tx: &mut Tx, kind: &str, id: i64, c: &Counts<'_>) -> Result<(), StoreError> {
    let sql = format!(
        "UPDATE {} SET rows_total = $1, rows_accepted = $2, rows_rejected = $3, program = $4, period = $5, batch_no = $6 \
         WHERE id = $7",
        ledger(kind)
    );
    sqlx::query(&sql)
        .bind(c.total as i64)
        .bind(c.accepted as i64)
        .bind(c.rejected as i64)
        .bind(c.program)
        .bind(c.period)
        .bind(c.batch_no)
        .bind(id)
        .execute(tx.conn())
        .await?;
    Ok(())
}

/// Whether an error is a unique-constraint violation (a concurrent duplicate).
pub fn is_unique_violation(e: &StoreError) -> bool {
    match e {
        StoreError::Sql(sqlx::Error::Database(db)) => db.is_unique_violation(),
        _ => false,
    }
}
