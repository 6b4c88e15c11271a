//! What a run holds, summed by SQL (`run show`), and its state transitions.

use std::collections::BTreeMap;

use sqlx::AnyPool;

use super::{now_text, StoreError, Tx};

/// (count, amount in fen) per key.
pub type Totals = BTreeMap<String, (i64, i64)>;

pub async fn payments_total(pool: &AnyPool, run_id: &str) -> Result<(i64, i64), StoreError> {
    Ok(sqlx::query_as(
        "SELECT COUNT(*), CAST(COALESCE(SUM(amount_fen), 0) AS BIGINT) FROM payments WHERE run_id = $1 \
         AND state <> 'discarded'",
    )
    .bind(run_id)
    .fetch_one(pool)
    .await?)
}

/// Items paid by the run's payments, per program.
pub async fn by_program(pool: &AnyPool, run_id: &str) -> Result<Totals, StoreError> {
    let rows: Vec<(String, i64, i64)> = sqlx::query_as(
        "SELECT i.program, COUNT(*), CAST(SUM(pi.amount_fen) AS BIGINT) FROM payment_items pi \
         JOIN payments p ON p.id = pi.payment_id JOIN items i ON i.id = pi.item_id \
         WHERE p.run_id = $1 AND p.state <> 'discarded' GROUP BY i.program",
    )
    .bind(run_id)
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(|(k, c, a)| (k, (c, a))).collect())
}

/// Payments per bank.
pub async fn by_bank(pool: &AnyPool, run_id: &str) -> Result<Totals, StoreError> {
    let rows: Vec<(String, i64, i64)> = sqlx::query_as(
        "SELECT bank_code, COUNT(*), CAST(SUM(amount_fen) AS BIGINT) FROM payments \
         WHERE run_id = $1 AND state <> 'discarded' GROUP BY bank_code",
    )
    .bind(run_id)
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(|(k, c, a)| (k, (c, a))).collect())
}

/// Anomalies the run raised, per code.
pub async fn anomaly_counts(pool: &AnyPool, run_id: &str) -> Result<BTreeMap<String, i64>, StoreError> {
    let rows: Vec<(String, i64)> =
        sqlx::query_as("SELECT code, COUNT(*) FROM anomalies WHERE run_id = $1 GROUP BY code")
            .bind(run_id)
            .fetch_all(pool)
            .await?;
    Ok(rows.into_iter().collect())
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Batch {
    pub batch_no: String,
    pub bank_code: String,
    pub layout: String,
    pub value_date: String,
    pub payment_count: i64,
    pub amount_fen: i64,
    pub file_name: Option<String>,
    pub sha256: Option<String>,
    pub state: String,
}

pub async fn batches(pool: &AnyPool, run_id: &str) -> Result<Vec<Batch>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT batch_no, bank_code, layout, value_date, payment_count, amount_fen, file_name, sha256, state \
         FROM batches WHERE run_id = $1 ORDER BY bank_code",
    )
    .bind(run_id)
    .fetch_all(pool)
    .await?)
}

/// Count and sum of each batch's payments, for checking the control totals.
pub async fn batch_sums(tx: &mut Tx, run_id: &str) -> Result<Totals, StoreError> {
    let rows: Vec<(String, i64, i64)> = sqlx::query_as(
        "SELECT batch_no, COUNT(*), CAST(SUM(amount_fen) AS BIGINT) FROM payments WHERE run_id = $1 GROUP BY batch_no",
    )
    .bind(run_id)
    .fetch_all(tx.conn())
    .await?;
    Ok(rows.into_iter().map(|(k, c, a)| (k, (c, a))).collect())
}

/// The ids of items claimed by the run's live payments, as a sub-select.
const RUN_ITEMS: &str =
    "SELECT pi.item_id FROM payment_items pi JOIN payments p ON p.id = pi.payment_id WHERE p.run_id = $1 AND pi.released = 0";

/// Draft → approved by a second person, with the totals frozen.
pub async fn approve(tx: &mut Tx, run_id: &str, by: &str, count: i64, amount_fen: i64) -> Result<u64, StoreError> {
    let n = sqlx::query(
        "UPDATE runs SET state = 'approved', approved_by = $1, approved_at = $2, approved_count = $3, \
         approved_amount_fen = $4 WHERE run_id = $5 AND state = 'draft' AND created_by <> $1",
    )
    .bind(by)
    .bind(now_text())
    .bind(count)
    .bind(amount_fen)
    .bind(run_id)
    .execute(tx.conn())
    .await?
    .rows_affected();
    set_payment_state(tx, run_id, "scheduled", "approved").await?;
    Ok(n)
}

/// Moves the run's payments and their items from one state to the next.
pub async fn set_payment_state(tx: &mut Tx, run_id: &str, from: &str, to: &str) -> Result<(), StoreError> {
    let now = now_text();
    sqlx::query(&format!("UPDATE items SET state = $2, updated_at = $3 WHERE state = $4 AND id IN ({RUN_ITEMS})"))
        .bind(run_id)
        .bind(to)
        .bind(&now)
        .bind(from)
        .execute(tx.conn())
        .await?;
    sqlx::query("UPDATE payments SET state = $1 WHERE run_id = $2 AND state = $3")
        .bind(to)
        .bind(run_id)
        .bind(from)
        .execute(tx.conn())
        .await?;
    Ok(())
}

/// A draft is discarded: its payments release their items, which are due again.
pub async fn discard(tx: &mut Tx, run_id: &str) -> Result<u64, StoreError> {
    let now = now_text();
    let n = sqlx::query("UPDATE runs SET state = 'discarded', discarded_at = $1 WHERE run_id = $2 AND state = 'draft'")
        .bind(&now)
        .bind(run_id)
        .execute(tx.conn())
        .await?
        .rows_affected();
    if n == 0 {
        return Ok(0);
    }
    sqlx::query(&format!("UPDATE items SET state = 'pending', updated_at = $2 WHERE id IN ({RUN_ITEMS})"))
        .bind(run_id)
        .bind(&now)
        .execute(tx.conn())
        .await?;
    sqlx::query(
        "UPDATE payment_items SET released = 1 WHERE payment_id IN (SELECT id FROM payments WHERE run_id = $1)",
    )
    .bind(run_id)
    .execute(tx.conn())
    .await?;
    sqlx::query("UPDATE payments SET state = 'discarded' WHERE run_id = $1").bind(run_id).execute(tx.conn()).await?;
    sqlx::query("UPDATE batches SET state = 'discarded' WHERE run_id = $1").bind(run_id).execute(tx.conn()).await?;
    // Items the draft held or found not payable go back to being due: the next run decides them afresh.
    sqlx::query(
        "UPDATE items SET state = 'pending', updated_at = $2 WHERE first_run_id = $1 AND state IN ('held', 'not_payable')",
    )
        .bind(run_id)
        .bind(&now)
        .execute(tx.conn())
        .await?;
    sqlx::query(
        "UPDATE anomalies SET state = 'resolved', resolution = 'run discarded', resolved_at = $2 \
         WHERE run_id = $1 AND state = 'open'",
    )
    .bind(run_id)
    .bind(&now)
    .execute(tx.conn())
    .await?;
    Ok(n)
}

/// The payments of one batch in file order, a page at a time (keyset on seq).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PaymentLine {
    pub seq: i64,
    pub serial_no: String,
    pub account_no: String,
    pub account_name: String,
    pub amount_fen: i64,
    pub person_id: String,
    pub remark: String,
    pub bank_code: String,
}

pub async fn payment_page(
    pool: &AnyPool,
    batch_no: &str,
    after_seq: i64,
    limit: i64,
) -> Result<Vec<PaymentLine>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT seq, serial_no, account_no, account_name, amount_fen, person_id, remark, bank_code FROM payments \
         WHERE batch_no = $1 AND seq > $2 ORDER BY seq LIMIT $3",
    )
    .bind(batch_no)
    .bind(after_seq)
    .bind(limit)
    .fetch_all(pool)
    .await?)
}

/// Records an exported batch file.
pub async fn mark_batch_exported(tx: &mut Tx, batch_no: &str, file_name: &str, sha256: &str) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE batches SET state = 'exported', file_name = $1, sha256 = $2, exported_at = $3 WHERE batch_no = $4",
    )
    .bind(file_name)
    .bind(sha256)
    .bind(now_text())
    .bind(batch_no)
    .execute(tx.conn())
    .await?;
    Ok(())
}

pub async fn mark_run_exported(tx: &mut Tx, run_id: &str) -> Result<(), StoreError> {
    set_payment_state(tx, run_id, "approved", "sent").await?;
    sqlx::query("UPDATE runs SET state = 'exported', exported_at = $1 WHERE run_id = $2 AND state = 'approved'")
        .bind(now_text())
        .bind(run_id)
        .execute(tx.conn())
        .await?;
    Ok(())
}
