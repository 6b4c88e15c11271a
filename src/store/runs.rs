//! Runs, their inputs, payments, claims and the anomalies they raise.

use sqlx::AnyPool;

use super::{now_text, StoreError, Tx, MAX_PARAMS};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Run {
    pub run_id: String,
    pub period: String,
    pub state: String,
    pub created_by: String,
    pub created_at: String,
    pub approved_by: Option<String>,
    pub approved_at: Option<String>,
    pub approved_count: Option<i64>,
    pub approved_amount_fen: Option<i64>,
    pub exported_at: Option<String>,
}

const RUN_COLUMNS: &str =
    "run_id, period, state, created_by, created_at, approved_by, approved_at, approved_count, approved_amount_fen, exported_at";

pub async fn get(pool: &AnyPool, run_id: &str) -> Result<Option<Run>, StoreError> {
    let sql = format!("SELECT {RUN_COLUMNS} FROM runs WHERE run_id = $1");
    Ok(sqlx::query_as(&sql).bind(run_id).fetch_optional(pool).await?)
}

pub async fn get_tx(tx: &mut Tx, run_id: &str) -> Result<Option<Run>, StoreError> {
    let sql = format!("SELECT {RUN_COLUMNS} FROM runs WHERE run_id = $1");
    Ok(sqlx::query_as(&sql).bind(run_id).fetch_optional(tx.conn()).await?)
}

pub async fn list(pool: &AnyPool) -> Result<Vec<Run>, StoreError> {
    let sql = format!("SELECT {RUN_COLUMNS} FROM runs ORDER BY period DESC, seq DESC");
    Ok(sqlx::query_as(&sql).fetch_all(pool).await?)
}

/// Inserts a draft run with the next number of its period. A second draft
/// for the period fails on the unique index `runs_one_draft`.
pub async fn insert_draft(tx: &mut Tx, period: &str, by: &str) -> Result<String, StoreError> {
    let seq: i64 = sqlx::query_scalar("SELECT CAST(COALESCE(MAX(seq), 0) + 1 AS BIGINT) FROM runs WHERE period = $1")
        .bind(period)
        .fetch_one(tx.conn())
        .await?;
    let run_id = format!("R{}-{seq:02}", period.replace('-', ""));
    sqlx::query(
        "INSERT INTO runs (run_id, period, seq, state, created_by, created_at) VALUES ($1, $2, $3, 'draft', $4, $5)",
    )
    .bind(&run_id)
    .bind(period)
    .bind(seq)
    .bind(by)
    .bind(now_text())
    .execute(tx.conn())
    .await?;
    Ok(run_id)
}

/// The roster files of `period` that no live run has taken yet; the run takes them.
pub async fn take_roster_files(tx: &mut Tx, run_id: &str, period: &str) -> Result<Vec<i64>, StoreError> {
    let files: Vec<i64> = sqlx::query_scalar(
        "SELECT id FROM source_files WHERE kind = 'roster' AND period = $1 AND id NOT IN \
         (SELECT f.source_file_id FROM run_files f JOIN runs r ON r.run_id = f.run_id WHERE r.state <> 'discarded') \
         ORDER BY id",
    )
    .bind(period)
    .fetch_all(tx.conn())
    .await?;
    for f in &files {
        sqlx::query("INSERT INTO run_files (run_id, source_file_id) VALUES ($1, $2)")
            .bind(run_id)
            .bind(f)
            .execute(tx.conn())
            .await?;
    }
    Ok(files)
}

/// Fills the temporary table `run_persons` with every person the run must
/// look at: listed on a taken roster, of elderly age and alive, or with an
/// item carried over. Returns how many.
pub async fn collect_persons(
    tx: &mut Tx,
    files: &[i64],
    elderly_born_by: &str,
    month_last_day: &str,
    period: &str,
) -> Result<i64, StoreError> {
    sqlx::query("DROP TABLE IF EXISTS run_persons").execute(tx.conn()).await?;
    sqlx::query("CREATE TEMPORARY TABLE run_persons (person_id TEXT PRIMARY KEY)").execute(tx.conn()).await?;
    // File ids come from the database as integers: safe to inline.
    let file_list = if files.is_empty() {
        "NULL".to_string()
    } else {
        files.iter().map(i64::to_string).collect::<Vec<_>>().join(", ")
    };
    let sql = format!(
        "INSERT INTO run_persons (person_id) \
         SELECT person_id FROM roster_lines WHERE source_file_id IN ({file_list}) \
         UNION SELECT person_id FROM persons WHERE birth_date <= $1 AND (death_date IS NULL OR death_date >= $2) \
         UNION SELECT person_id FROM items WHERE state IN ('pending', 'held', 'failed') AND benefit_month <= $3"
    );
    let n = sqlx::query(&sql).bind(elderly_born_by).bind(month_last_day).bind(period).execute(tx.conn()).await?;
    Ok(n.rows_affected() as i64)
}

/// The next page of `run_persons` after `after`, in key order.
pub async fn next_persons(tx: &mut Tx, after: &str, limit: i64) -> Result<Vec<String>, StoreError> {
    Ok(sqlx::query_scalar("SELECT person_id FROM run_persons WHERE person_id > $1 ORDER BY person_id LIMIT $2")
        .bind(after)
        .bind(limit)
        .fetch_all(tx.conn())
        .await?)
}

pub async fn drop_persons(tx: &mut Tx) -> Result<(), StoreError> {
    sqlx::query("DROP TABLE IF EXISTS run_persons").execute(tx.conn()).await?;
    Ok(())
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RegistryEntry {
    pub person_id: String,
    pub name: String,
    pub region_code: String,
    pub birth_date: String,
    pub death_date: Option<String>,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ActiveCard {
    pub id: i64,
    pub person_id: String,
    pub bank_code: String,
    pub account_no: Option<String>,
    pub verification: String,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct InputLine {
    pub id: i64,
    pub source_file_id: i64,
    pub line_no: i64,
    pub person_id: String,
    pub program: String,
    pub benefit_month: String,
    pub amount_fen: i64,
    pub name: String,
    pub region_code: String,
}

/// An item of a person with what the run needs to judge it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct StoredItem {
    pub id: i64,
    pub person_id: String,
    pub program: String,
    pub benefit_month: String,
    pub amount_fen: i64,
    pub state: String,
    pub retry_ordered: i64,
    pub roster_line_id: Option<i64>,
    pub line_name: Option<String>,
    pub line_region: Option<String>,
    pub line_file: Option<i64>,
    pub line_no: Option<i64>,
    /// The account of the item's latest payment or real-time credit (for a failed item: ready again once it changed).
    pub last_account: Option<String>,
}

/// Everything the rules need about a page of persons, in four queries.
pub struct PersonsPage {
    pub registry: Vec<RegistryEntry>,
    pub cards: Vec<ActiveCard>,
    pub lines: Vec<InputLine>,
    pub items: Vec<StoredItem>,
}

pub async fn load_page(tx: &mut Tx, persons: &[String], files: &[i64]) -> Result<PersonsPage, StoreError> {
    let list = tx.list(persons.len());
    let registry = fetch_for::<RegistryEntry>(
        tx,
        &format!(
            "SELECT person_id, name, region_code, birth_date, death_date FROM persons WHERE person_id IN ({list})"
        ),
        persons,
    )
    .await?;
    let cards = fetch_for::<ActiveCard>(
        tx,
        &format!(
            "SELECT id, person_id, bank_code, account_no, verification FROM cards WHERE state = 'active' \
             AND person_id IN ({list})"
        ),
        persons,
    )
    .await?;
    let file_list = if files.is_empty() {
        "NULL".to_string()
    } else {
        files.iter().map(i64::to_string).collect::<Vec<_>>().join(", ")
    };
    let lines = fetch_for::<InputLine>(
        tx,
        &format!(
            "SELECT id, source_file_id, line_no, person_id, program, benefit_month, amount_fen, name, region_code \
             FROM roster_lines WHERE source_file_id IN ({file_list}) AND person_id IN ({list}) \
             ORDER BY person_id, source_file_id, line_no"
        ),
        persons,
    )
    .await?;
    let items = fetch_for::<StoredItem>(
        tx,
        &format!(
            "SELECT i.id, i.person_id, i.program, i.benefit_month, i.amount_fen, i.state, \
             CAST(i.retry_ordered AS BIGINT) AS retry_ordered, i.roster_line_id, l.name AS line_name, \
             l.region_code AS line_region, l.source_file_id AS line_file, l.line_no, \
             COALESCE((SELECT p.account_no FROM payment_items pi JOIN payments p ON p.id = pi.payment_id \
              WHERE pi.item_id = i.id ORDER BY p.id DESC LIMIT 1), \
              (SELECT c.account_no FROM realtime_credits c WHERE c.item_id = i.id ORDER BY c.id DESC LIMIT 1)) \
              AS last_account \
             FROM items i LEFT JOIN roster_lines l ON l.id = i.roster_line_id WHERE i.person_id IN ({list}) \
             ORDER BY i.person_id, i.program, i.benefit_month"
        ),
        persons,
    )
    .await?;
    Ok(PersonsPage { registry, cards, lines, items })
}

async fn fetch_for<T>(tx: &mut Tx, sql: &str, keys: &[String]) -> Result<Vec<T>, StoreError>
where
    T: for<'r> sqlx::FromRow<'r, sqlx::any::AnyRow> + Send + Unpin,
{
    let mut q = sqlx::query_as::<_, T>(sql);
    for k in keys {
        q = q.bind(k);
    }
    Ok(q.fetch_all(tx.conn()).await?)
}

/// A new item to store with its decided state.
pub struct NewItem<'a> {
    pub person_id: &'a str,
    pub program: &'a str,
    pub benefit_month: String,
    pub amount_fen: i64,
    pub origin: &'static str,
    pub roster_line_id: Option<i64>,
    pub state: &'static str,
    pub hold_code: Option<&'static str>,
    pub hold_detail: Option<String>,
}

/// Inserts items; returns their ids in the order given (matched by key:
/// neither engine promises `RETURNING` rows in insertion order).
pub async fn insert_items(tx: &mut Tx, run_id: &str, items: &[NewItem<'_>]) -> Result<Vec<i64>, StoreError> {
    const COLS: usize = 12;
    let now = now_text();
    let mut ids = Vec::with_capacity(items.len());
    for chunk in items.chunks(MAX_PARAMS / COLS) {
        let sql = format!(
            "INSERT INTO items (person_id, program, benefit_month, amount_fen, origin, roster_line_id, state, hold_code, \
             hold_detail, first_run_id, created_at, updated_at) VALUES {} RETURNING id, person_id, program, benefit_month",
            tx.values(chunk.len(), COLS)
        );
        let mut q = sqlx::query_as::<_, (i64, String, String, String)>(&sql);
        for i in chunk {
            q = q
                .bind(i.person_id)
                .bind(i.program)
                .bind(&i.benefit_month)
                .bind(i.amount_fen)
                .bind(i.origin)
                .bind(i.roster_line_id)
                .bind(i.state)
                .bind(i.hold_code)
                .bind(&i.hold_detail)
                .bind(run_id)
                .bind(&now)
                .bind(&now);
        }
        let returned: std::collections::HashMap<(String, String, String), i64> =
            q.fetch_all(tx.conn()).await?.into_iter().map(|(id, p, g, m)| ((p, g, m), id)).collect();
        for i in chunk {
            let key = (i.person_id.to_string(), i.program.to_string(), i.benefit_month.clone());
            ids.push(
                *returned.get(&key).ok_or_else(|| StoreError::Conflict(format!("item {key:?} was not inserted")))?,
            );
        }
    }
    Ok(ids)
}

/// Changes a stored item's decision (a carried-over item decided again).
pub async fn update_item(
    tx: &mut Tx,
    id: i64,
    state: &str,
    hold: Option<(&str, &str)>,
    amount_fen: i64,
    roster_line_id: Option<i64>,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE items SET state = $1, hold_code = $2, hold_detail = $3, amount_fen = $4, roster_line_id = $5, \
         retry_ordered = 0, updated_at = $6 WHERE id = $7",
    )
    .bind(state)
    .bind(hold.map(|h| h.0))
    .bind(hold.map(|h| h.1))
    .bind(amount_fen)
    .bind(roster_line_id)
    .bind(now_text())
    .bind(id)
    .execute(tx.conn())
    .await?;
    Ok(())
}

pub struct NewBatch<'a> {
    pub batch_no: &'a str,
    pub run_id: &'a str,
    pub bank_code: &'a str,
    pub layout: &'a str,
    pub value_date: &'a str,
}

pub async fn insert_batch(tx: &mut Tx, b: &NewBatch<'_>) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO batches (batch_no, run_id, bank_code, layout, value_date, payment_count, amount_fen, state) \
         VALUES ($1, $2, $3, $4, $5, 0, 0, 'scheduled')",
    )
    .bind(b.batch_no)
    .bind(b.run_id)
    .bind(b.bank_code)
    .bind(b.layout)
    .bind(b.value_date)
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// The next free batch number for a bank on a date: `YYYYMMDD` + bank + `nnn`.
pub async fn next_batch_no(tx: &mut Tx, date: &str, bank_code: &str) -> Result<String, StoreError> {
    let prefix = format!("{date}{bank_code}");
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM batches WHERE batch_no LIKE $1")
        .bind(format!("{prefix}%"))
        .fetch_one(tx.conn())
        .await?;
    Ok(format!("{prefix}{:03}", n + 1))
}

pub async fn set_batch_totals(tx: &mut Tx, batch_no: &str, count: i64, amount_fen: i64) -> Result<(), StoreError> {
    sqlx::query("UPDATE batches SET payment_count = $1, amount_fen = $2 WHERE batch_no = $3")
        .bind(count)
        .bind(amount_fen)
        .bind(batch_no)
        .execute(tx.conn())
        .await?;
    Ok(())
}

pub struct NewPayment {
    pub batch_no: String,
    pub seq: i64,
    pub serial_no: String,
    pub person_id: String,
    pub card_id: i64,
    pub bank_code: String,
    pub account_no: String,
    pub account_name: String,
    pub amount_fen: i64,
    pub remark: String,
    /// The items it pays: (item id, amount).
    pub items: Vec<(i64, i64)>,
}

/// Inserts payments and their claims on items. The unique index on live
/// claims makes a second claim on an item fail the whole transaction.
pub async fn insert_payments(tx: &mut Tx, run_id: &str, payments: &[NewPayment]) -> Result<(), StoreError> {
    const COLS: usize = 13;
    let now = now_text();
    for chunk in payments.chunks(MAX_PARAMS / COLS) {
        let sql = format!(
            "INSERT INTO payments (run_id, batch_no, seq, serial_no, person_id, card_id, bank_code, account_no, \
             account_name, amount_fen, remark, state, created_at) VALUES {} RETURNING id, serial_no",
            tx.values(chunk.len(), COLS)
        );
        let mut q = sqlx::query_as::<_, (i64, String)>(&sql);
        for p in chunk {
            q = q
                .bind(run_id)
                .bind(&p.batch_no)
                .bind(p.seq)
                .bind(&p.serial_no)
                .bind(&p.person_id)
                .bind(p.card_id)
                .bind(&p.bank_code)
                .bind(&p.account_no)
                .bind(&p.account_name)
                .bind(p.amount_fen)
                .bind(&p.remark)
                .bind("scheduled")
                .bind(&now);
        }
        let ids: std::collections::HashMap<String, i64> =
            q.fetch_all(tx.conn()).await?.into_iter().map(|(id, serial)| (serial, id)).collect();
        let mut claims: Vec<(i64, i64, i64)> = Vec::new();
        for p in chunk {
            let pid = *ids
                .get(&p.serial_no)
                .ok_or_else(|| StoreError::Conflict(format!("payment {} was not inserted", p.serial_no)))?;
            claims.extend(p.items.iter().map(|(item, amount)| (pid, *item, *amount)));
        }
        for claim_chunk in claims.chunks(MAX_PARAMS / 3) {
            let sql = format!(
                "INSERT INTO payment_items (payment_id, item_id, amount_fen) VALUES {}",
                tx.values(claim_chunk.len(), 3)
            );
            let mut q = sqlx::query(&sql);
            for (pid, item, amount) in claim_chunk {
                q = q.bind(pid).bind(item).bind(amount);
            }
            q.execute(tx.conn()).await?;
        }
    }
    Ok(())
}

/// One anomaly to raise; raising the same `dedupe_key` again is a no-op.
#[derive(Default)]
pub struct NewAnomaly {
    pub code: &'static str,
    pub dedupe_key: String,
    pub person_id: Option<String>,
    pub region_code: Option<String>,
    pub program: Option<String>,
    pub benefit_month: Option<String>,
    pub period: Option<String>,
    pub item_id: Option<i64>,
    pub payment_id: Option<i64>,
    pub roster_line_id: Option<i64>,
    pub run_id: Option<String>,
    pub batch_no: Option<String>,
    pub source_file_id: Option<i64>,
    pub detail: String,
}

pub async fn insert_anomalies(tx: &mut Tx, anomalies: &[NewAnomaly]) -> Result<u64, StoreError> {
    const COLS: usize = 15;
    let now = now_text();
    let mut n = 0;
    for chunk in anomalies.chunks(MAX_PARAMS / COLS) {
        let sql = format!(
            "INSERT INTO anomalies (code, dedupe_key, person_id, region_code, program, benefit_month, period, item_id, \
             payment_id, roster_line_id, run_id, batch_no, source_file_id, detail, created_at) VALUES {} \
             ON CONFLICT (dedupe_key) DO NOTHING",
            tx.values(chunk.len(), COLS)
        );
        let mut q = sqlx::query(&sql);
        for a in chunk {
            q = q
                .bind(a.code)
                .bind(a.dedupe_key.as_str())
                .bind(a.person_id.as_deref())
                .bind(a.region_code.as_deref())
                .bind(a.program.as_deref())
                .bind(a.benefit_month.as_deref())
                .bind(a.period.as_deref())
                .bind(a.item_id)
                .bind(a.payment_id)
                .bind(a.roster_line_id)
                .bind(a.run_id.as_deref())
                .bind(a.batch_no.as_deref())
                .bind(a.source_file_id)
                .bind(a.detail.as_str())
                .bind(now.as_str());
        }
        n += q.execute(tx.conn()).await?.rows_affected();
    }
    Ok(n)
}

/// A person's item with the payment that carries it, if any.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PersonItem {
    pub benefit_month: String,
    pub program: String,
    pub amount_fen: i64,
    pub state: String,
    pub hold_code: Option<String>,
    pub hold_detail: Option<String>,
    pub run_id: Option<String>,
    pub serial_no: Option<String>,
    pub bank_code: Option<String>,
    pub payment_state: Option<String>,
    pub bank_reason: Option<String>,
}

/// Every item of a person, newest month first, with its latest payment.
pub async fn items_of_person(pool: &AnyPool, person_id: &str) -> Result<Vec<PersonItem>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT i.benefit_month, i.program, i.amount_fen, i.state, i.hold_code, i.hold_detail, p.run_id, p.serial_no, \
         p.bank_code, p.state AS payment_state, p.bank_reason FROM items i \
         LEFT JOIN payments p ON p.id = (SELECT MAX(pi.payment_id) FROM payment_items pi WHERE pi.item_id = i.id) \
         WHERE i.person_id = $1 ORDER BY i.benefit_month DESC, i.program",
    )
    .bind(person_id)
    .fetch_all(pool)
    .await?)
}
