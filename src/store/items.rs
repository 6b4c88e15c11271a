//! Caseworkers' decisions on single items and payments.

use super::{now_text, StoreError, Tx};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ItemRef {
    pub id: i64,
    pub state: String,
}

pub async fn find(tx: &mut Tx, person_id: &str, program: &str, month: &str) -> Result<Option<ItemRef>, StoreError> {
    Ok(sqlx::query_as("SELECT id, state FROM items WHERE person_id = $1 AND program = $2 AND benefit_month = $3")
        .bind(person_id)
        .bind(program)
        .bind(month)
        .fetch_optional(tx.conn())
        .await?)
}

/// A failed item may go out again in the next run.
pub async fn order_retry(tx: &mut Tx, item_id: i64) -> Result<u64, StoreError> {
    Ok(sqlx::query("UPDATE items SET retry_ordered = 1, updated_at = $1 WHERE id = $2 AND state = 'failed'")
        .bind(now_text())
        .bind(item_id)
        .execute(tx.conn())
        .await?
        .rows_affected())
}

/// An item that is not in a live payment is cancelled for good.
pub async fn cancel(tx: &mut Tx, item_id: i64, reason: &str) -> Result<u64, StoreError> {
    Ok(sqlx::query(
        "UPDATE items SET state = 'cancelled', cancel_reason = $1, updated_at = $2 WHERE id = $3 \
         AND state IN ('pending', 'held', 'failed')",
    )
    .bind(reason)
    .bind(now_text())
    .bind(item_id)
    .execute(tx.conn())
    .await?
    .rows_affected())
}

/// Resolves the open anomalies of an item or a payment with a caseworker's note.
pub async fn resolve(
    tx: &mut Tx,
    codes: &[&str],
    item_id: Option<i64>,
    payment_id: Option<i64>,
    resolution: &str,
    by: &str,
) -> Result<u64, StoreError> {
    let mut n = 0;
    for code in codes {
        n += sqlx::query(
            "UPDATE anomalies SET state = 'resolved', resolution = $1, resolved_by = $2, resolved_at = $3 \
             WHERE code = $4 AND state = 'open' AND (item_id = $5 OR payment_id = $6)",
        )
        .bind(resolution)
        .bind(by)
        .bind(now_text())
        .bind(*code)
        .bind(item_id.unwrap_or(-1))
        .bind(payment_id.unwrap_or(-1))
        .execute(tx.conn())
        .await?
        .rows_affected();
    }
    Ok(n)
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PaymentRef {
    pub id: i64,
    pub state: String,
    pub batch_no: String,
}

pub async fn payment_by_serial(tx: &mut Tx, serial_no: &str) -> Result<Option<PaymentRef>, StoreError> {
    Ok(sqlx::query_as("SELECT id, state, batch_no FROM payments WHERE serial_no = $1")
        .bind(serial_no)
        .fetch_optional(tx.conn())
        .await?)
}

/// The failed item of a person whose last payment was `payment_id` (for the bank failure to resolve).
pub async fn last_payment_of_item(tx: &mut Tx, item_id: i64) -> Result<Option<i64>, StoreError> {
    Ok(sqlx::query_scalar("SELECT MAX(payment_id) FROM payment_items WHERE item_id = $1")
        .bind(item_id)
        .fetch_one(tx.conn())
        .await?)
}

/// Failed items waiting for a retry or a new account: (person, program, benefit month).
pub async fn failed(pool: &sqlx::AnyPool) -> Result<Vec<(String, String, String)>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT person_id, program, benefit_month FROM items WHERE state = 'failed' AND retry_ordered = 0 \
         ORDER BY person_id, program, benefit_month",
    )
    .fetch_all(pool)
    .await?)
}
