//! The real-time channel's rows: urgent credits and their states, account
//! verifications (the card keeps the latest result), and the STAN blocks.
//! A credit is written before it is sent and moves by compare-and-set, so a
//! crash leaves it where the next start finds it.

use sqlx::AnyPool;

use super::{now_text, Store, StoreError, Tx};

/// Reserves `n` STANs of `day` for `bank`; returns the first.
pub async fn reserve_stans(store: &Store, bank: &str, day: &str, n: i64) -> Result<i64, StoreError> {
    let mut tx = store.begin_write().await?;
    sqlx::query("INSERT INTO iso_stans (bank_code, day, next_stan) VALUES ($1, $2, 1) ON CONFLICT DO NOTHING")
        .bind(bank)
        .bind(day)
        .execute(tx.conn())
        .await?;
    let first: i64 = sqlx::query_scalar(
        "UPDATE iso_stans SET next_stan = next_stan + $1 WHERE bank_code = $2 AND day = $3 \
         RETURNING CAST(next_stan - $4 AS BIGINT)",
    )
    .bind(n)
    .bind(bank)
    .bind(day)
    .bind(n)
    .fetch_one(tx.conn())
    .await?;
    tx.commit().await?;
    Ok(first)
}

/// An active card with an account, as the channel sees it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ChannelCard {
    pub id: i64,
    pub person_id: String,
    pub bank_code: String,
    pub account_no: String,
    pub verification: String,
}

/// The person's active card with an account, if any.
pub async fn active_card(pool: &AnyPool, person_id: &str) -> Result<Option<ChannelCard>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT id, person_id, bank_code, account_no, verification FROM cards \
         WHERE person_id = $1 AND state = 'active' AND account_no IS NOT NULL",
    )
    .bind(person_id)
    .fetch_optional(pool)
    .await?)
}

/// The next page of active, unverified cards of `bank` after card `after`.
pub async fn cards_to_verify(
    pool: &AnyPool,
    bank: &str,
    after: i64,
    limit: i64,
) -> Result<Vec<ChannelCard>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT id, person_id, bank_code, account_no, verification FROM cards \
         WHERE bank_code = $1 AND id > $2 AND state = 'active' AND account_no IS NOT NULL \
         AND verification = 'unverified' ORDER BY id LIMIT $3",
    )
    .bind(bank)
    .bind(after)
    .bind(limit)
    .fetch_all(pool)
    .await?)
}

/// One verification answer (or its absence).
#[derive(Debug, Clone)]
pub struct VerificationResult {
    pub card_id: i64,
    pub person_id: String,
    pub bank_code: String,
    pub account_no: String,
    pub stan: String,
    pub rrn: String,
    pub response_code: Option<String>,
    /// `verified`, `invalid` or `unknown`.
    pub result: &'static str,
    pub detail: String,
}

/// Records answers in one transaction: each is logged; a `verified` or
/// `invalid` one is stored with the card if its account is still the one
/// verified; an invalid account holds the person's undecided items with
/// `no_active_card`.
pub async fn record_verifications(store: &Store, results: &[VerificationResult]) -> Result<(), StoreError> {
    if results.is_empty() {
        return Ok(());
    }
    let now = now_text();
    let mut tx = store.begin_write().await?;
    for chunk in results.chunks(super::MAX_PARAMS / 10) {
        let sql = format!(
            "INSERT INTO account_verifications (card_id, bank_code, account_no, stan, rrn, response_code, result, \
             detail, at) VALUES {}",
            tx.values(chunk.len(), 9)
        );
        let mut q = sqlx::query(&sql);
        for r in chunk {
            q = q
                .bind(r.card_id)
                .bind(&r.bank_code)
                .bind(&r.account_no)
                .bind(&r.stan)
                .bind(&r.rrn)
                .bind(&r.response_code)
                .bind(r.result)
                .bind(&r.detail)
                .bind(&now);
        }
        q.execute(tx.conn()).await?;
    }
    // The cards, one statement per chunk (a card whose account changed meanwhile is left alone).
    let settled: Vec<&VerificationResult> = results.iter().filter(|r| r.result != "unknown").collect();
    for chunk in settled.chunks(super::MAX_PARAMS / 4) {
        let sql = format!(
            "UPDATE cards SET verification = v.column3, verification_reason = v.column4, updated_at = {} \
             FROM (VALUES {}) AS v WHERE cards.id = v.column1 AND cards.account_no = v.column2",
            tx.param(1),
            values_after(&tx, 1, chunk.len(), 4)
        );
        let mut q = sqlx::query(&sql).bind(&now);
        for r in chunk {
            let reason = (r.result == "invalid").then_some(r.detail.as_str());
            q = q.bind(r.card_id).bind(&r.account_no).bind(r.result).bind(reason);
        }
        q.execute(tx.conn()).await?;
    }
    for r in settled.iter().filter(|r| r.result == "invalid") {
        hold_pending(&mut tx, &r.person_id, &r.detail, &now).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// `(…), (…)` placeholders for `rows` rows of `cols` columns bound after `before` other values.
fn values_after(tx: &Tx, before: usize, rows: usize, cols: usize) -> String {
    (0..rows).map(|r| format!("({})", tx.list_after(before + r * cols, cols))).collect::<Vec<_>>().join(", ")
}

async fn hold_pending(tx: &mut Tx, person_id: &str, detail: &str, now: &str) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE items SET state = 'held', hold_code = 'no_active_card', hold_detail = $1, updated_at = $2 \
         WHERE person_id = $3 AND state = 'pending'",
    )
    .bind(format!("the card's account failed verification: {detail}"))
    .bind(now)
    .bind(person_id)
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// An item as the relief job sees it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ItemRow {
    pub id: i64,
    pub state: String,
    pub origin: String,
    pub amount_fen: i64,
}

pub async fn item_by_key(
    tx: &mut Tx,
    person_id: &str,
    program: &str,
    month: &str,
) -> Result<Option<ItemRow>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT id, state, origin, amount_fen FROM items WHERE person_id = $1 AND program = $2 AND benefit_month = $3",
    )
    .bind(person_id)
    .bind(program)
    .bind(month)
    .fetch_optional(tx.conn())
    .await?)
}

/// A new relief item in `state` (`sent`, or `held` with its hold).
pub async fn insert_relief_item(
    tx: &mut Tx,
    person_id: &str,
    program: &str,
    month: &str,
    amount_fen: i64,
    state: &str,
    hold: Option<(&str, &str)>,
) -> Result<i64, StoreError> {
    let now = now_text();
    Ok(sqlx::query_scalar(
        "INSERT INTO items (person_id, program, benefit_month, amount_fen, origin, state, hold_code, hold_detail, \
         created_at, updated_at) VALUES ($1, $2, $3, $4, 'relief', $5, $6, $7, $8, $9) RETURNING id",
    )
    .bind(person_id)
    .bind(program)
    .bind(month)
    .bind(amount_fen)
    .bind(state)
    .bind(hold.map(|h| h.0))
    .bind(hold.map(|h| h.1))
    .bind(&now)
    .bind(&now)
    .fetch_one(tx.conn())
    .await?)
}

/// Claims an undecided, held or failed item for a real-time credit; false if
/// it was no longer in one of those states (another writer took it).
pub async fn claim_item(tx: &mut Tx, item_id: i64) -> Result<bool, StoreError> {
    let n = sqlx::query(
        "UPDATE items SET state = 'sent', hold_code = NULL, hold_detail = NULL, retry_ordered = 0, updated_at = $1 \
         WHERE id = $2 AND state IN ('pending', 'held', 'failed')",
    )
    .bind(now_text())
    .bind(item_id)
    .execute(tx.conn())
    .await?;
    Ok(n.rows_affected() == 1)
}

/// Holds an item with a code and detail (an item not payable at once).
pub async fn hold_item(tx: &mut Tx, item_id: i64, code: &str, detail: &str) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE items SET state = 'held', hold_code = $1, hold_detail = $2, updated_at = $3 \
         WHERE id = $4 AND state IN ('pending', 'held', 'failed')",
    )
    .bind(code)
    .bind(detail)
    .bind(now_text())
    .bind(item_id)
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// A credit to write before it is sent.
pub struct NewCredit<'a> {
    pub item_id: i64,
    pub person_id: &'a str,
    pub card_id: i64,
    pub bank_code: &'a str,
    pub account_no: &'a str,
    pub amount_fen: i64,
    pub stan: &'a str,
    pub transmitted: &'a str,
    pub reason: &'a str,
    pub requested_by: &'a str,
}

/// Inserts a credit in state `sent` with the next serial number
/// `RT{YYYYMMDD}{10-digit sequence}`; its RRN is the serial's last 12
/// characters. Returns (id, serial_no, rrn).
pub async fn insert_credit(tx: &mut Tx, c: &NewCredit<'_>) -> Result<(i64, String, String), StoreError> {
    let seq: i64 = sqlx::query_scalar("SELECT CAST(COALESCE(MAX(id), 0) + 1 AS BIGINT) FROM realtime_credits")
        .fetch_one(tx.conn())
        .await?;
    let serial = format!("RT{}{seq:010}", chrono::Utc::now().format("%Y%m%d"));
    let rrn = serial[serial.len() - 12..].to_string();
    let now = now_text();
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO realtime_credits (item_id, person_id, card_id, bank_code, account_no, amount_fen, serial_no, \
         rrn, stan, transmitted, state, reason, requested_by, created_at, touched_ms) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'sent', $11, $12, $13, $14) RETURNING id",
    )
    .bind(c.item_id)
    .bind(c.person_id)
    .bind(c.card_id)
    .bind(c.bank_code)
    .bind(c.account_no)
    .bind(c.amount_fen)
    .bind(&serial)
    .bind(&rrn)
    .bind(c.stan)
    .bind(c.transmitted)
    .bind(c.reason)
    .bind(c.requested_by)
    .bind(&now)
    .bind(now_ms())
    .fetch_one(tx.conn())
    .await?;
    Ok((id, serial, rrn))
}

pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// A credit as stored.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CreditRow {
    pub id: i64,
    pub item_id: i64,
    pub person_id: String,
    pub card_id: i64,
    pub bank_code: String,
    pub account_no: String,
    pub amount_fen: i64,
    pub serial_no: String,
    pub rrn: String,
    pub stan: String,
    pub transmitted: String,
    pub state: String,
    pub response_code: Option<String>,
    pub reversal_code: Option<String>,
    pub reversal_attempts: i64,
    pub created_at: String,
    pub settled_at: Option<String>,
    pub touched_ms: i64,
}

const CREDIT_COLUMNS: &str = "id, item_id, person_id, card_id, bank_code, account_no, amount_fen, serial_no, rrn, \
     stan, transmitted, state, response_code, reversal_code, reversal_attempts, created_at, settled_at, touched_ms";

/// The live credit of an item (sent, unknown, reversing or paid), if any.
pub async fn live_credit_of_item(tx: &mut Tx, item_id: i64) -> Result<Option<CreditRow>, StoreError> {
    let sql = format!(
        "SELECT {CREDIT_COLUMNS} FROM realtime_credits WHERE item_id = $1 AND state NOT IN ('failed', 'reversed')"
    );
    Ok(sqlx::query_as(&sql).bind(item_id).fetch_optional(tx.conn()).await?)
}

/// Credits with no settled outcome that no live process has touched since `touched_before_ms`.
pub async fn open_credits(pool: &AnyPool, touched_before_ms: i64) -> Result<Vec<CreditRow>, StoreError> {
    let sql = format!(
        "SELECT {CREDIT_COLUMNS} FROM realtime_credits WHERE state IN ('sent', 'unknown', 'reversing') \
         AND touched_ms < $1 ORDER BY id"
    );
    Ok(sqlx::query_as(&sql).bind(touched_before_ms).fetch_all(pool).await?)
}

pub async fn credits_of_person(pool: &AnyPool, person_id: &str) -> Result<Vec<CreditRow>, StoreError> {
    let sql = format!("SELECT {CREDIT_COLUMNS} FROM realtime_credits WHERE person_id = $1 ORDER BY id DESC");
    Ok(sqlx::query_as(&sql).bind(person_id).fetch_all(pool).await?)
}

/// The outcome of a credit's answer, applied to the credit and its item
/// together; false when the credit had already left `from` (nothing changed).
pub async fn settle(
    store: &Store,
    credit_id: i64,
    from: &[&str],
    to: &str,
    code_column: &str,
    code: Option<&str>,
) -> Result<bool, StoreError> {
    let column = match code_column {
        "reversal_code" => "reversal_code",
        _ => "response_code",
    };
    let item_state = match to {
        "paid" => Some("paid"),
        "failed" | "reversed" => Some("failed"),
        _ => None,
    };
    let settled = if item_state.is_some() { Some(now_text()) } else { None };
    let mut tx = store.begin_write().await?;
    let states = from.iter().map(|s| format!("'{s}'")).collect::<Vec<_>>().join(", ");
    let sql = format!(
        "UPDATE realtime_credits SET state = $1, {column} = COALESCE($2, {column}), touched_ms = $3, \
         settled_at = COALESCE($4, settled_at) WHERE id = $5 AND state IN ({states})"
    );
    let n = sqlx::query(&sql)
        .bind(to)
        .bind(code)
        .bind(now_ms())
        .bind(&settled)
        .bind(credit_id)
        .execute(tx.conn())
        .await?
        .rows_affected();
    if n == 1 {
        if let Some(state) = item_state {
            sqlx::query(
                "UPDATE items SET state = $1, updated_at = $2 WHERE state = 'sent' AND id = \
                 (SELECT item_id FROM realtime_credits WHERE id = $3)",
            )
            .bind(state)
            .bind(now_text())
            .bind(credit_id)
            .execute(tx.conn())
            .await?;
        }
    }
    tx.commit().await?;
    Ok(n == 1)
}

/// A reversal about to be sent: the credit is `reversing` with this STAN.
pub async fn reversal_attempt(store: &Store, credit_id: i64, stan: &str) -> Result<bool, StoreError> {
    let n = sqlx::query(
        "UPDATE realtime_credits SET state = 'reversing', reversal_stan = $1, \
         reversal_attempts = reversal_attempts + 1, touched_ms = $2 \
         WHERE id = $3 AND state IN ('sent', 'unknown', 'reversing')",
    )
    .bind(stan)
    .bind(now_ms())
    .bind(credit_id)
    .execute(store.pool())
    .await?;
    Ok(n.rows_affected() == 1)
}

/// Accounts for the bank simulator: every card with an account (of `bank`,
/// when given), an active one winning over older ones with the same account.
pub async fn simulator_accounts(
    pool: &AnyPool,
    bank: Option<&str>,
) -> Result<Vec<(String, String, String)>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT account_no, person_id, state FROM cards WHERE account_no IS NOT NULL \
         AND (CAST($1 AS TEXT) IS NULL OR bank_code = $2) AND state IN ('made', 'active', 'lost', 'cancelled') \
         ORDER BY CASE state WHEN 'active' THEN 1 ELSE 0 END, id",
    )
    .bind(bank)
    .bind(bank)
    .fetch_all(pool)
    .await?)
}
