//! The caseworker desk's reads: a person within a region scope, search,
//! payments by month with their items, anomalies paged within scope. Every
//! query carries the scope in SQL, so an out-of-scope row is never read.

use sqlx::AnyPool;

use super::anomalies::{Anomaly, COLUMNS as ANOMALY_COLUMNS};
use super::{now_text, StoreError, Tx};

/// `region_code LIKE` pattern of a scope (a validated digit prefix).
fn like(scope: &str) -> String {
    format!("{scope}%")
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PersonRow {
    pub person_id: String,
    pub name: String,
    pub region_code: String,
    pub card_state: Option<String>,
}

const CARD_STATE: &str = "(SELECT c.state FROM cards c WHERE c.person_id = p.person_id \
     ORDER BY CASE c.state WHEN 'active' THEN 0 ELSE 1 END, c.id DESC LIMIT 1)";

/// The person if they exist and are within the scope; one query either way.
pub async fn person_in_scope(pool: &AnyPool, person_id: &str, scope: &str) -> Result<Option<PersonRow>, StoreError> {
    let sql = format!(
        "SELECT p.person_id, p.name, p.region_code, {CARD_STATE} AS card_state FROM persons p \
         WHERE p.person_id = $1 AND p.region_code LIKE $2"
    );
    Ok(sqlx::query_as(&sql).bind(person_id).bind(like(scope)).fetch_optional(pool).await?)
}

/// What a search text is taken to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Query {
    /// A whole person id (normalised).
    PersonId(String),
    /// A card number.
    CardNo(String),
    /// The last digits of a person id (4 to 17 characters).
    IdSuffix(String),
    /// The start of a name.
    Name(String),
}

/// One page of persons matching the query within the scope, and the total within scope.
pub async fn search(
    pool: &AnyPool,
    q: &Query,
    scope: &str,
    limit: i64,
    offset: i64,
) -> Result<(i64, Vec<PersonRow>), StoreError> {
    let (cond, value) = match q {
        Query::PersonId(id) => ("p.person_id = $1", id.clone()),
        Query::CardNo(c) => ("p.person_id IN (SELECT person_id FROM cards WHERE card_no = $1)", c.clone()),
        Query::IdSuffix(s) => ("p.person_id LIKE $1", format!("%{s}")),
        // A range over the name index: every name starting with the text.
        Query::Name(n) => ("p.name >= $1 AND p.name < $1 || '\u{10FFFF}'", n.clone()),
    };
    let count_sql = format!("SELECT COUNT(*) FROM persons p WHERE {cond} AND p.region_code LIKE $2");
    let total: i64 = sqlx::query_scalar(&count_sql).bind(&value).bind(like(scope)).fetch_one(pool).await?;
    let sql = format!(
        "SELECT p.person_id, p.name, p.region_code, {CARD_STATE} AS card_state FROM persons p \
         WHERE {cond} AND p.region_code LIKE $2 ORDER BY p.name, p.person_id LIMIT $3 OFFSET $4"
    );
    let rows = sqlx::query_as(&sql).bind(&value).bind(like(scope)).bind(limit).bind(offset).fetch_all(pool).await?;
    Ok((total, rows))
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PaymentRow {
    pub id: i64,
    pub run_id: String,
    pub period: String,
    pub serial_no: String,
    pub bank_code: String,
    pub account_no: String,
    pub amount_fen: i64,
    pub state: String,
    pub bank_reason: Option<String>,
    pub bank_reason_code: Option<String>,
    pub bank_reason_text: Option<String>,
    pub settled_at: Option<String>,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PaidItemRow {
    pub payment_id: i64,
    pub program: String,
    pub benefit_month: String,
    pub amount_fen: i64,
    pub state: String,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OpenItemRow {
    pub program: String,
    pub benefit_month: String,
    pub amount_fen: i64,
    pub state: String,
    pub hold_code: Option<String>,
    pub hold_detail: Option<String>,
    pub cancel_reason: Option<String>,
}

/// A person's payments of runs of the months `from..=to` (newest first),
/// the items each carries, and the items of those benefit months no payment carries.
pub async fn payments_of(
    pool: &AnyPool,
    person_id: &str,
    from: &str,
    to: &str,
) -> Result<(Vec<PaymentRow>, Vec<PaidItemRow>, Vec<OpenItemRow>), StoreError> {
    // A payment a return file paid has the bank's word on its return line
    // (see `returns::settle_lines`); the others, on the payment.
    let payments: Vec<PaymentRow> = sqlx::query_as(
        "SELECT p.id, p.run_id, r.period, p.serial_no, p.bank_code, p.account_no, p.amount_fen, p.state, p.bank_reason, \
         COALESCE(p.bank_reason_code, l.reason_code) AS bank_reason_code, \
         COALESCE(p.bank_reason_text, l.reason_text) AS bank_reason_text, \
         COALESCE(p.settled_at, f.imported_at) AS settled_at \
         FROM payments p JOIN runs r ON r.run_id = p.run_id \
         LEFT JOIN return_lines l ON p.state = 'paid' AND p.settled_at IS NULL AND l.payment_id = p.id \
         AND l.finding = 'applied' AND l.outcome = 'paid' \
         LEFT JOIN source_files f ON f.id = l.source_file_id \
         WHERE p.person_id = $1 AND r.period >= $2 AND r.period <= $3 AND p.state <> 'discarded' \
         ORDER BY r.period DESC, p.id DESC",
    )
    .bind(person_id)
    .bind(from)
    .bind(to)
    .fetch_all(pool)
    .await?;
    let items: Vec<PaidItemRow> = if payments.is_empty() {
        Vec::new()
    } else {
        sqlx::query_as(
            "SELECT pi.payment_id, i.program, i.benefit_month, pi.amount_fen, i.state FROM payments p \
             JOIN payment_items pi ON pi.payment_id = p.id JOIN items i ON i.id = pi.item_id \
             WHERE p.person_id = $1 ORDER BY i.benefit_month DESC, i.program",
        )
        .bind(person_id)
        .fetch_all(pool)
        .await?
    };
    let open: Vec<OpenItemRow> = sqlx::query_as(
        "SELECT program, benefit_month, amount_fen, state, hold_code, hold_detail, cancel_reason FROM items \
         WHERE person_id = $1 AND benefit_month >= $2 AND benefit_month <= $3 \
         AND state IN ('pending', 'held', 'cancelled', 'not_payable') ORDER BY benefit_month DESC, program",
    )
    .bind(person_id)
    .bind(from)
    .bind(to)
    .fetch_all(pool)
    .await?;
    Ok((payments, items, open))
}

/// The scope condition on anomalies: a city-wide scope (4 digits) also sees
/// the anomalies of no region (a file's unknown serial, say).
fn anomaly_scope(scope: &str, param: usize) -> String {
    if scope.len() <= 4 {
        format!("(region_code LIKE ${param} OR region_code IS NULL)")
    } else {
        format!("region_code LIKE ${param}")
    }
}

/// One page of anomalies within the scope, newest first, and the total within scope.
pub async fn anomalies(
    pool: &AnyPool,
    scope: &str,
    f: &super::anomalies::Filter,
    limit: i64,
    offset: i64,
) -> Result<(i64, Vec<Anomaly>), StoreError> {
    let mut binds = vec![like(scope)];
    let mut cond = anomaly_scope(scope, 1);
    f.push_conditions(&mut cond, &mut binds);
    let count_sql = format!("SELECT COUNT(*) FROM anomalies WHERE {cond}");
    let mut q = sqlx::query_scalar(&count_sql);
    for b in &binds {
        q = q.bind(b);
    }
    let total: i64 = q.fetch_one(pool).await?;
    let sql = format!(
        "SELECT {ANOMALY_COLUMNS} FROM anomalies WHERE {cond} ORDER BY id DESC LIMIT {} OFFSET {}",
        limit.max(0),
        offset.max(0)
    );
    let mut q = sqlx::query_as(&sql);
    for b in &binds {
        q = q.bind(b);
    }
    Ok((total, q.fetch_all(pool).await?))
}

/// One anomaly, if it is within the scope.
pub async fn anomaly_in_scope(pool: &AnyPool, id: i64, scope: &str) -> Result<Option<Anomaly>, StoreError> {
    let sql = format!("SELECT {ANOMALY_COLUMNS} FROM anomalies WHERE id = $2 AND {}", anomaly_scope(scope, 1));
    Ok(sqlx::query_as(&sql).bind(like(scope)).bind(id).fetch_optional(pool).await?)
}

/// The serial number of a payment.
pub async fn serial_of(pool: &AnyPool, payment_id: i64) -> Result<Option<String>, StoreError> {
    Ok(sqlx::query_scalar("SELECT serial_no FROM payments WHERE id = $1").bind(payment_id).fetch_optional(pool).await?)
}

/// Marks one open anomaly resolved with a note (when the decision needs no other change).
pub async fn resolve_anomaly(tx: &mut Tx, id: i64, resolution: &str, by: &str) -> Result<u64, StoreError> {
    Ok(sqlx::query(
        "UPDATE anomalies SET state = 'resolved', resolution = $1, resolved_by = $2, resolved_at = $3 \
         WHERE id = $4 AND state = 'open'",
    )
    .bind(resolution)
    .bind(by)
    .bind(now_text())
    .bind(id)
    .execute(tx.conn())
    .await?
    .rows_affected())
}

/// The item keys a payment carries: (person, program, benefit month).
pub async fn items_of_payment(pool: &AnyPool, payment_id: i64) -> Result<Vec<(String, String, String)>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT i.person_id, i.program, i.benefit_month FROM payment_items pi JOIN items i ON i.id = pi.item_id \
         WHERE pi.payment_id = $1 ORDER BY i.program, i.benefit_month",
    )
    .bind(payment_id)
    .fetch_all(pool)
    .await?)
}
