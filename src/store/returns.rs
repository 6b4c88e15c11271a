//! Return files applied to sent payments: the payments a page of serials
//! names, what earlier returns said of them, and the settlements.

use sqlx::AnyPool;

use super::{now_text, Backend, StoreError, Tx, MAX_PARAMS};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct BatchRef {
    pub batch_no: String,
    pub run_id: String,
    pub bank_code: String,
    pub layout: String,
    pub state: String,
}

pub async fn batch(pool: &AnyPool, batch_no: &str) -> Result<Option<BatchRef>, StoreError> {
    Ok(sqlx::query_as("SELECT batch_no, run_id, bank_code, layout, state FROM batches WHERE batch_no = $1")
        .bind(batch_no)
        .fetch_optional(pool)
        .await?)
}

/// A sent payment as reconciliation sees it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SentPayment {
    pub id: i64,
    pub serial_no: String,
    pub person_id: String,
    pub account_no: String,
    pub account_name: String,
    pub bank_code: String,
    pub amount_fen: i64,
    pub state: String,
    /// Left out when matching a return file (a lookup per person); see [`regions`].
    #[sqlx(default)]
    pub region_code: Option<String>,
}

/// The columns of [`SentPayment`] but its region.
const SENT_COLUMNS: &str =
    "p.id, p.serial_no, p.person_id, p.account_no, p.account_name, p.bank_code, p.amount_fen, p.state";

/// The payments of `batch_no` with these serial numbers (and perhaps a few
/// more of the batch: the caller matches by serial).
///
/// A part of a return in file order names a short run of the batch's
/// sequences (a serial number is the batch number and the sequence,
/// [`serial_no`](crate::domain::ids::serial_no)): that run is read along the
/// batch's (batch_no, seq) index, and only the serials not found in it are
/// looked up one by one. Serial numbers are unique over all time, so those
/// are looked up alone (their unique index) and a payment of another batch is
/// left out, as never sent in this one.
///
/// The rows come back as one JSON array: through sqlx's `Any` driver every
/// value of every row is copied several times over, which for a million
/// return lines cost more than the lookups themselves.
pub async fn payments_by_serial(tx: &mut Tx, batch_no: &str, serials: &[&str]) -> Result<Vec<SentPayment>, StoreError> {
    let mut out = Vec::with_capacity(serials.len());
    let mut seqs = serials.iter().filter_map(|s| crate::domain::ids::serial_seq(s, batch_no));
    if let Some(seq) = seqs.next() {
        let (first, last) = seqs.fold((seq, seq), |(a, b), q| (a.min(q), b.max(q)));
        if last - first < 2 * serials.len() as i64 {
            let filter = format!("p.batch_no = {} AND p.seq BETWEEN {} AND {}", tx.param(1), tx.param(2), tx.param(3));
            let sql = sent_as_json(tx, &filter);
            let q = sqlx::query_scalar::<_, String>(&sql).bind(batch_no).bind(first).bind(last);
            out = sent_from_json(&q.fetch_one(tx.conn()).await?)?;
        }
    }
    let found: std::collections::HashSet<&str> = out.iter().map(|p| p.serial_no.as_str()).collect();
    let rest: Vec<&str> = serials.iter().copied().filter(|s| !found.contains(s)).collect();
    for chunk in rest.chunks(MAX_PARAMS - 1) {
        // `|| ''` keeps SQLite on the serial index (without statistics it would
        // rather walk the whole batch by its (batch_no, seq) index).
        let filter =
            format!("p.serial_no IN ({}) AND p.batch_no || '' = {}", tx.list(chunk.len()), tx.param(chunk.len() + 1));
        let sql = sent_as_json(tx, &filter);
        let mut q = sqlx::query_scalar::<_, String>(&sql);
        for s in chunk {
            q = q.bind(*s);
        }
        let json = q.bind(batch_no).fetch_one(tx.conn()).await?;
        out.extend(sent_from_json(&json)?);
    }
    Ok(out)
}

/// The query for the sent payments `p` that `filter` chooses, as one JSON array.
fn sent_as_json(tx: &Tx, filter: &str) -> String {
    let rows = match tx.backend() {
        Backend::Sqlite => format!("json_group_array(json_array({SENT_COLUMNS}))"),
        Backend::Postgres => format!("COALESCE(json_agg(json_build_array({SENT_COLUMNS})), '[]'::json)::text"),
    };
    format!("SELECT {rows} FROM payments p WHERE {filter}")
}

fn sent_from_json(json: &str) -> Result<Vec<SentPayment>, StoreError> {
    type Row = (i64, String, String, String, String, String, i64, String);
    let rows: Vec<Row> = serde_json::from_str(json).map_err(|e| sqlx::Error::Decode(e.into()))?;
    Ok(rows
        .into_iter()
        .map(|(id, serial_no, person_id, account_no, account_name, bank_code, amount_fen, state)| SentPayment {
            id,
            serial_no,
            person_id,
            account_no,
            account_name,
            bank_code,
            amount_fen,
            state,
            region_code: None,
        })
        .collect())
}

/// Every payment of a batch still in `state` (for a group rejection or closing).
pub async fn payments_in_state(tx: &mut Tx, batch_no: &str, state: &str) -> Result<Vec<SentPayment>, StoreError> {
    let sql = format!(
        "SELECT {SENT_COLUMNS}, (SELECT region_code FROM persons WHERE person_id = p.person_id) AS region_code \
         FROM payments p WHERE p.batch_no = $1 AND p.state = $2 ORDER BY p.seq"
    );
    Ok(sqlx::query_as(&sql).bind(batch_no).bind(state).fetch_all(tx.conn()).await?)
}

/// One detail of a return file as stored.
pub struct NewReturnLine {
    pub line_no: i64,
    pub serial_no: String,
    pub payment_id: Option<i64>,
    pub outcome: &'static str,
    pub status_code: Option<String>,
    pub amount_fen: Option<i64>,
    pub account_no: Option<String>,
    pub reason_code: Option<String>,
    pub reason_text: Option<String>,
    pub bank_ref: Option<String>,
    pub finding: &'static str,
}

pub async fn insert_lines(tx: &mut Tx, file_id: i64, lines: &[NewReturnLine]) -> Result<(), StoreError> {
    const COLS: usize = 12;
    for chunk in lines.chunks(MAX_PARAMS / COLS) {
        let sql = format!(
            "INSERT INTO return_lines (source_file_id, line_no, serial_no, payment_id, outcome, status_code, amount_fen, \
             account_no, reason_code, reason_text, bank_ref, finding) VALUES {}",
            tx.values(chunk.len(), COLS)
        );
        let mut q = sqlx::query(&sql);
        // Text is bound as `&str`: sqlx's `Any` copies a bound `String`, not a `&str`.
        for l in chunk {
            q = q
                .bind(file_id)
                .bind(l.line_no)
                .bind(l.serial_no.as_str())
                .bind(l.payment_id)
                .bind(l.outcome)
                .bind(l.status_code.as_deref())
                .bind(l.amount_fen)
                .bind(l.account_no.as_deref())
                .bind(l.reason_code.as_deref())
                .bind(l.reason_text.as_deref())
                .bind(l.bank_ref.as_deref())
                .bind(l.finding);
        }
        q.execute(tx.conn()).await?;
    }
    Ok(())
}

/// A settlement: the bank's final word on a payment.
pub struct Settlement {
    pub payment_id: i64,
    pub paid: bool,
    pub reason: Option<String>,
    pub reason_code: Option<String>,
    pub reason_text: Option<String>,
    pub bank_ref: Option<String>,
}

/// Settles payments and their items. A failed payment releases its claims,
/// so its items can be paid again once the cause is addressed.
pub async fn settle(tx: &mut Tx, settlements: &[Settlement]) -> Result<(), StoreError> {
    let now = now_text();
    // One statement for the chunk: the settlements go into a temporary table
    // and payments are updated from it.
    sqlx::query(
        "CREATE TEMPORARY TABLE IF NOT EXISTS settling (payment_id BIGINT PRIMARY KEY, state TEXT NOT NULL, \
         reason TEXT, reason_code TEXT, reason_text TEXT, bank_ref TEXT)",
    )
    .execute(tx.conn())
    .await?;
    sqlx::query("DELETE FROM settling").execute(tx.conn()).await?;
    const COLS: usize = 6;
    for chunk in settlements.chunks(MAX_PARAMS / COLS) {
        let sql = format!(
            "INSERT INTO settling (payment_id, state, reason, reason_code, reason_text, bank_ref) VALUES {}",
            tx.values(chunk.len(), COLS)
        );
        let mut q = sqlx::query(&sql);
        for s in chunk {
            q = q
                .bind(s.payment_id)
                .bind(if s.paid { "paid" } else { "failed" })
                .bind(&s.reason)
                .bind(&s.reason_code)
                .bind(&s.reason_text)
                .bind(&s.bank_ref);
        }
        q.execute(tx.conn()).await?;
    }
    sqlx::query(
        // Driven from `settling` by primary key (a join could make a planner without
        // statistics scan every payment).
        "UPDATE payments SET state = (SELECT state FROM settling WHERE payment_id = payments.id), \
         bank_reason = (SELECT reason FROM settling WHERE payment_id = payments.id), \
         bank_reason_code = (SELECT reason_code FROM settling WHERE payment_id = payments.id), \
         bank_reason_text = (SELECT reason_text FROM settling WHERE payment_id = payments.id), \
         bank_ref = (SELECT bank_ref FROM settling WHERE payment_id = payments.id), settled_at = $1 \
         WHERE id IN (SELECT payment_id FROM settling)",
    )
    .bind(&now)
    .execute(tx.conn())
    .await?;
    for (paid, state) in [(true, "paid"), (false, "failed")] {
        let ids: Vec<i64> = settlements.iter().filter(|s| s.paid == paid).map(|s| s.payment_id).collect();
        for chunk in ids.chunks(MAX_PARAMS / 2) {
            if chunk.is_empty() {
                continue;
            }
            let list = tx.list(chunk.len());
            let sql = format!(
                "UPDATE items SET state = '{state}', updated_at = '{now}' WHERE id IN \
                 (SELECT item_id FROM payment_items WHERE payment_id IN ({list}) AND released = 0)"
            );
            let mut q = sqlx::query(&sql);
            for id in chunk {
                q = q.bind(id);
            }
            q.execute(tx.conn()).await?;
            if !paid {
                let sql = format!("UPDATE payment_items SET released = 1 WHERE payment_id IN ({list})");
                let mut q = sqlx::query(&sql);
                for id in chunk {
                    q = q.bind(id);
                }
                q.execute(tx.conn()).await?;
            }
        }
    }
    Ok(())
}

/// Settles the payments that lines `first..=last` of a stored return file
/// settle: a line found `applied` that says paid, or `bank_failed`. Those are
/// at most one line per payment (a later line about a settled payment is a
/// duplicate or a contradiction), so the file's own rows drive the updates and
/// nothing is bound per payment. `reasons` maps the bank's failure codes to
/// their reason; any other code of a failed line is `other_reason`. A failed
/// payment releases its claims, so its items can be paid again.
///
/// A payment paid changes its state alone: what the bank said of it (its
/// code, text and reference, and when) is its return line's, read from there
/// ([`crate::store::desk::payments_of`]). Written on the payment as well, it
/// would grow every row of a batch, and the pages that hold them would split.
/// A failure keeps its bank's word on the payment, as casework's do.
pub async fn settle_lines(
    tx: &mut Tx,
    file_id: i64,
    (first, last): (i64, i64),
    reasons: &[(&str, &str)],
    other_reason: &str,
) -> Result<(), StoreError> {
    let now = now_text();
    // The lines of this part of the file, after `n` parameters bound before them.
    let lines = |tx: &Tx, n: usize| {
        format!(
            "r.source_file_id = {} AND r.line_no BETWEEN {} AND {}",
            tx.param(n + 1),
            tx.param(n + 2),
            tx.param(n + 3)
        )
    };
    let mut case = String::from("CASE r.reason_code");
    for i in 0..reasons.len() {
        case.push_str(&format!(" WHEN {} THEN {}", tx.param(2 * i + 1), tx.param(2 * i + 2)));
    }
    let n = 2 * reasons.len();
    let sql = format!(
        "UPDATE payments SET state = r.outcome, \
         bank_reason = CASE WHEN r.outcome = 'failed' THEN {} END, \
         bank_reason_code = CASE WHEN r.outcome = 'failed' THEN r.reason_code END, \
         bank_reason_text = CASE WHEN r.outcome = 'failed' THEN r.reason_text END, \
         bank_ref = CASE WHEN r.outcome = 'failed' THEN r.bank_ref END, \
         settled_at = CASE WHEN r.outcome = 'failed' THEN {} END \
         FROM return_lines r WHERE {} AND payments.id = r.payment_id \
         AND r.finding IN ('applied', 'bank_failed') AND r.outcome IN ('paid', 'failed')",
        if reasons.is_empty() { tx.param(n + 1) } else { format!("COALESCE({case} END, {})", tx.param(n + 1)) },
        tx.param(n + 2),
        lines(tx, n + 2),
    );
    let mut q = sqlx::query(&sql);
    for (code, reason) in reasons {
        q = q.bind(*code).bind(*reason);
    }
    q.bind(other_reason).bind(&now).bind(file_id).bind(first).bind(last).execute(tx.conn()).await?;
    // Items first (their claims are still live), then a failure releases the claims.
    for (state, finding) in [("paid", "applied"), ("failed", "bank_failed")] {
        let sql = format!(
            "UPDATE items SET state = '{state}', updated_at = {} WHERE id IN (SELECT pi.item_id FROM return_lines r \
             CROSS JOIN payment_items pi WHERE {} AND r.finding = '{finding}' AND r.outcome = '{state}' \
             AND pi.payment_id = r.payment_id AND pi.released = 0)",
            tx.param(1),
            lines(tx, 1)
        );
        sqlx::query(&sql).bind(&now).bind(file_id).bind(first).bind(last).execute(tx.conn()).await?;
    }
    let sql = format!(
        "UPDATE payment_items SET released = 1 WHERE payment_id IN (SELECT r.payment_id FROM return_lines r \
         WHERE {} AND r.finding = 'bank_failed')",
        lines(tx, 0)
    );
    sqlx::query(&sql).bind(file_id).bind(first).bind(last).execute(tx.conn()).await?;
    Ok(())
}

/// `double_paid` for every item of these (just paid) payments that another
/// payment has also paid: an overpayment to recover.
pub async fn double_paid(
    tx: &mut Tx,
    payment_ids: &[i64],
    batch_no: &str,
    source_file_id: Option<i64>,
) -> Result<Vec<super::runs::NewAnomaly>, StoreError> {
    let mut rows = Vec::new();
    for chunk in payment_ids.chunks(MAX_PARAMS) {
        if chunk.is_empty() {
            continue;
        }
        let sql = paid_elsewhere("payment_items mine", &format!("mine.payment_id IN ({})", tx.list(chunk.len())));
        let mut q = sqlx::query_as(&sql);
        for id in chunk {
            q = q.bind(id);
        }
        rows.extend(q.fetch_all(tx.conn()).await?);
    }
    Ok(double_paid_anomalies(rows, batch_no, source_file_id))
}

/// [`double_paid`] for the payments a stored return file settled paid, in one
/// statement driven by the file's own lines.
pub async fn double_paid_in_file(
    tx: &mut Tx,
    file_id: i64,
    batch_no: &str,
) -> Result<Vec<super::runs::NewAnomaly>, StoreError> {
    let sql = paid_elsewhere(
        "return_lines r CROSS JOIN payment_items mine",
        "r.source_file_id = $1 AND r.finding = 'applied' AND r.outcome = 'paid' AND mine.payment_id = r.payment_id",
    );
    let rows = sqlx::query_as(&sql).bind(file_id).fetch_all(tx.conn()).await?;
    Ok(double_paid_anomalies(rows, batch_no, Some(file_id)))
}

/// The query for the items of the payments `mine` (chosen by `from` and
/// `which`) that another payment has also paid: (item id, person, program,
/// month, other payment). A just-paid payment's claims are live and an item
/// has one live claim at most, so the other claim is one released before
/// (the partial index `payment_items_released`). In this order (CROSS JOIN
/// keeps it on SQLite): an item is read only when another payment paid it.
fn paid_elsewhere(from: &str, which: &str) -> String {
    format!(
        "SELECT i.id, i.person_id, i.program, i.benefit_month, other.payment_id FROM {from} \
         CROSS JOIN payment_items other CROSS JOIN payments op CROSS JOIN items i \
         WHERE {which} AND other.item_id = mine.item_id AND other.released = 1 AND other.payment_id <> mine.payment_id \
         AND op.id = other.payment_id AND op.state = 'paid' AND i.id = mine.item_id"
    )
}

fn double_paid_anomalies(
    rows: Vec<(i64, String, String, String, i64)>,
    batch_no: &str,
    source_file_id: Option<i64>,
) -> Vec<super::runs::NewAnomaly> {
    rows.into_iter()
        .map(|(item_id, person_id, program, month, other)| super::runs::NewAnomaly {
            code: "double_paid",
            dedupe_key: format!("double_paid:item:{item_id}:{other}"),
            person_id: Some(person_id),
            program: Some(program),
            benefit_month: Some(month),
            item_id: Some(item_id),
            payment_id: Some(other),
            batch_no: Some(batch_no.to_string()),
            source_file_id,
            detail: "the item has two paid payments: an overpayment to recover".into(),
            ..super::runs::NewAnomaly::default()
        })
        .collect()
}

/// Fills in the registry region of the anomalies this file raised (those
/// after anomaly `after`) that name a person and no region yet: one statement
/// at the end of a file, not a lookup per part of it.
pub async fn fill_regions(tx: &mut Tx, file_id: i64, after: i64) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE anomalies SET region_code = (SELECT region_code FROM persons WHERE person_id = anomalies.person_id) \
         WHERE id > $1 AND source_file_id = $2 AND region_code IS NULL AND person_id IS NOT NULL",
    )
    .bind(after)
    .bind(file_id)
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// The last anomaly's id (0 when there is none).
pub async fn last_anomaly(tx: &mut Tx) -> Result<i64, StoreError> {
    Ok(sqlx::query_scalar("SELECT COALESCE(MAX(id), 0) FROM anomalies").fetch_one(tx.conn()).await?)
}

/// Closing a batch: payments still sent become unconfirmed (their claims
/// stay: the money may have moved). Returns the payments it changed.
pub async fn close_batch(tx: &mut Tx, batch_no: &str) -> Result<Vec<SentPayment>, StoreError> {
    let open = payments_in_state(tx, batch_no, "sent").await?;
    let now = now_text();
    sqlx::query(
        "UPDATE items SET state = 'unconfirmed', updated_at = $2 WHERE id IN (SELECT pi.item_id FROM payment_items pi \
         JOIN payments p ON p.id = pi.payment_id WHERE p.batch_no = $1 AND p.state = 'sent' AND pi.released = 0)",
    )
    .bind(batch_no)
    .bind(&now)
    .execute(tx.conn())
    .await?;
    sqlx::query("UPDATE payments SET state = 'unconfirmed' WHERE batch_no = $1 AND state = 'sent'")
        .bind(batch_no)
        .execute(tx.conn())
        .await?;
    sqlx::query("UPDATE batches SET state = 'closed', closed_at = $1 WHERE batch_no = $2")
        .bind(&now)
        .bind(batch_no)
        .execute(tx.conn())
        .await?;
    // A run whose batches are all closed is closed.
    sqlx::query(
        "UPDATE runs SET state = 'closed', closed_at = $1 WHERE state = 'exported' AND run_id = \
         (SELECT run_id FROM batches WHERE batch_no = $2) AND NOT EXISTS \
         (SELECT 1 FROM batches b WHERE b.run_id = runs.run_id AND b.state <> 'closed')",
    )
    .bind(&now)
    .bind(batch_no)
    .execute(tx.conn())
    .await?;
    Ok(open)
}

/// Exported batches whose value date is on or before `date`.
pub async fn batches_due(pool: &AnyPool, value_date_on_or_before: &str) -> Result<Vec<String>, StoreError> {
    Ok(sqlx::query_scalar(
        "SELECT batch_no FROM batches WHERE state = 'exported' AND value_date <= $1 ORDER BY batch_no",
    )
    .bind(value_date_on_or_before)
    .fetch_all(pool)
    .await?)
}
