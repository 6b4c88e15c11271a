//! Cards and their applications (card-issuance.md): applications filed,
//! card-making batches, the bank's answers and every transition with who and
//! when (`card_events`). The schema keeps the invariants: one active card and
//! one card on its way per person, card numbers and application ids unique.

use std::collections::HashMap;

use sqlx::AnyPool;

use super::{Backend, StoreError, Tx, MAX_PARAMS};

/// A card row as the card jobs need it.
#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct CardRow {
    pub id: i64,
    pub person_id: String,
    pub application_id: Option<String>,
    pub card_no: Option<String>,
    pub bank_code: String,
    pub account_no: Option<String>,
    pub state: String,
    pub batch_no: Option<String>,
    pub replaces_card_id: Option<i64>,
    pub reason_code: Option<String>,
    pub reason_text: Option<String>,
    pub verification: String,
    pub created_at: String,
    pub updated_at: String,
}

const CARD_COLUMNS: &str = "id, person_id, application_id, card_no, bank_code, account_no, state, batch_no, \
                            replaces_card_id, reason_code, reason_text, verification, created_at, updated_at";

impl CardRow {
    /// The card number, or the application id while the card has none.
    pub fn label(&self) -> String {
        self.card_no.clone().or_else(|| self.application_id.clone()).unwrap_or_else(|| format!("card #{}", self.id))
    }
}

/// One transition to record.
#[derive(Debug, Clone)]
pub struct NewEvent {
    pub card_id: i64,
    pub from: Option<String>,
    pub to: String,
    pub note: String,
}

/// Records transitions, many per statement.
pub async fn insert_events(tx: &mut Tx, events: &[NewEvent], actor: &str, at: &str) -> Result<(), StoreError> {
    const COLS: usize = 6;
    for chunk in events.chunks(MAX_PARAMS / COLS) {
        let sql = format!(
            "INSERT INTO card_events (card_id, from_state, to_state, actor, note, at) VALUES {}",
            tx.values(chunk.len(), COLS)
        );
        let mut q = sqlx::query(&sql);
        for e in chunk {
            q = q.bind(e.card_id).bind(&e.from).bind(&e.to).bind(actor).bind(&e.note).bind(at);
        }
        q.execute(tx.conn()).await?;
    }
    Ok(())
}

/// Cards whose `column` is one of `keys` (`person_id`, `card_no` or `batch_no`).
pub async fn select_where(tx: &mut Tx, column: &str, keys: &[&str]) -> Result<Vec<CardRow>, StoreError> {
    let mut out = Vec::new();
    for chunk in keys.chunks(MAX_PARAMS) {
        if chunk.is_empty() {
            continue;
        }
        let sql = format!("SELECT {CARD_COLUMNS} FROM cards WHERE {column} IN ({}) ORDER BY id", tx.list(chunk.len()));
        let mut q = sqlx::query_as::<_, CardRow>(&sql);
        for k in chunk {
            q = q.bind(*k);
        }
        out.extend(q.fetch_all(tx.conn()).await?);
    }
    Ok(out)
}

/// Cards of these persons, grouped by person.
pub async fn of_persons(tx: &mut Tx, ids: &[&str]) -> Result<HashMap<String, Vec<CardRow>>, StoreError> {
    let mut by_person: HashMap<String, Vec<CardRow>> = HashMap::new();
    for c in select_where(tx, "person_id", ids).await? {
        by_person.entry(c.person_id.clone()).or_default().push(c);
    }
    Ok(by_person)
}

/// The card with this number or application id.
pub async fn find(tx: &mut Tx, card_or_application: &str) -> Result<Option<CardRow>, StoreError> {
    let sql = format!("SELECT {CARD_COLUMNS} FROM cards WHERE card_no = $1 OR application_id = $1");
    Ok(sqlx::query_as(&sql).bind(card_or_application).fetch_optional(tx.conn()).await?)
}

/// What an application needs from the registry.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Applicant {
    pub person_id: String,
    pub name: String,
    pub gender: String,
    pub birth_date: String,
    pub region_code: String,
    pub phone: Option<String>,
    pub death_date: Option<String>,
}

pub async fn applicants(tx: &mut Tx, ids: &[&str]) -> Result<HashMap<String, Applicant>, StoreError> {
    let mut out = HashMap::new();
    for chunk in ids.chunks(MAX_PARAMS) {
        if chunk.is_empty() {
            continue;
        }
        let sql = format!(
            "SELECT person_id, name, gender, birth_date, region_code, phone, death_date FROM persons \
             WHERE person_id IN ({})",
            tx.list(chunk.len())
        );
        let mut q = sqlx::query_as::<_, Applicant>(&sql);
        for k in chunk {
            q = q.bind(*k);
        }
        for a in q.fetch_all(tx.conn()).await? {
            out.insert(a.person_id.clone(), a);
        }
    }
    Ok(out)
}

/// An application to file.
#[derive(Debug, Clone)]
pub struct NewApplication {
    pub person_id: String,
    pub bank_code: String,
    pub replaces: Option<i64>,
    pub note: String,
}

/// Files applications (state `applied`) and gives each its application id,
/// `A` + the date + the card's row id: unique over all time. Returns the
/// (card id, application id) of each, in order.
pub async fn insert_applications(
    tx: &mut Tx,
    apps: &[NewApplication],
    actor: &str,
    now: &str,
) -> Result<Vec<(i64, String)>, StoreError> {
    const COLS: usize = 6;
    let date: String = now.chars().filter(char::is_ascii_digit).take(8).collect();
    let mut out = Vec::with_capacity(apps.len());
    for chunk in apps.chunks(MAX_PARAMS / COLS) {
        let sql = format!(
            "INSERT INTO cards (person_id, bank_code, state, replaces_card_id, created_at, updated_at) VALUES {} \
             RETURNING id",
            tx.values(chunk.len(), COLS)
        );
        let mut q = sqlx::query_scalar::<_, i64>(&sql);
        for a in chunk {
            q = q.bind(&a.person_id).bind(&a.bank_code).bind("applied").bind(a.replaces).bind(now).bind(now);
        }
        let ids = q.fetch_all(tx.conn()).await?;
        let id_text = match tx.backend() {
            Backend::Sqlite => "substr('0000000000' || id, -10, 10)",
            Backend::Postgres => "lpad(id::text, 10, '0')",
        };
        let sql = format!(
            "UPDATE cards SET application_id = 'A' || {} || {id_text} WHERE id IN ({}) RETURNING id, application_id",
            tx.param(1),
            tx.list_after(1, ids.len())
        );
        let mut q = sqlx::query_as::<_, (i64, String)>(&sql).bind(&date);
        for id in &ids {
            q = q.bind(id);
        }
        let named: HashMap<i64, String> = q.fetch_all(tx.conn()).await?.into_iter().collect();
        let events: Vec<NewEvent> = ids
            .iter()
            .zip(chunk)
            .map(|(id, a)| NewEvent { card_id: *id, from: None, to: "applied".into(), note: a.note.clone() })
            .collect();
        insert_events(tx, &events, actor, now).await?;
        for id in ids {
            let app = named.get(&id).cloned().unwrap_or_default();
            out.push((id, app));
        }
    }
    Ok(out)
}

/// Moves one card from `from` to `to` with its event; refuses if the card has
/// moved meanwhile (a concurrent caseworker).
pub async fn transition(
    tx: &mut Tx,
    card: &CardRow,
    to: &str,
    actor: &str,
    note: &str,
    now: &str,
) -> Result<(), StoreError> {
    let done = sqlx::query("UPDATE cards SET state = $1, updated_at = $2 WHERE id = $3 AND state = $4")
        .bind(to)
        .bind(now)
        .bind(card.id)
        .bind(&card.state)
        .execute(tx.conn())
        .await?
        .rows_affected();
    if done != 1 {
        return Err(StoreError::Conflict(format!("card {} changed meanwhile; look at it again", card.label())));
    }
    let event = NewEvent { card_id: card.id, from: Some(card.state.clone()), to: to.into(), note: note.into() };
    insert_events(tx, &[event], actor, now).await
}

/// Banks with applications waiting to be sent, and how many.
pub async fn applied_by_bank(tx: &mut Tx) -> Result<Vec<(String, i64)>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT bank_code, COUNT(*) FROM cards WHERE state = 'applied' GROUP BY bank_code ORDER BY bank_code",
    )
    .fetch_all(tx.conn())
    .await?)
}

/// An application with the registry data its request line carries.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Waiting {
    pub id: i64,
    pub application_id: String,
    pub person_id: String,
    pub name: String,
    pub gender: String,
    pub birth_date: String,
    pub region_code: String,
    pub phone: Option<String>,
}

/// A bank's applications waiting to be sent, oldest first.
pub async fn applied_of_bank(tx: &mut Tx, bank_code: &str) -> Result<Vec<Waiting>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT c.id, c.application_id, c.person_id, p.name, p.gender, p.birth_date, p.region_code, p.phone \
         FROM cards c JOIN persons p ON p.person_id = c.person_id \
         WHERE c.state = 'applied' AND c.bank_code = $1 ORDER BY c.id",
    )
    .bind(bank_code)
    .fetch_all(tx.conn())
    .await?)
}

/// The next free card-making batch number with this prefix (`ZK<date><bank>` + 3 digits).
pub async fn next_batch_no(tx: &mut Tx, prefix: &str) -> Result<String, StoreError> {
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM card_batches WHERE batch_no LIKE $1")
        .bind(format!("{prefix}%"))
        .fetch_one(tx.conn())
        .await?;
    Ok(format!("{prefix}{:03}", n + 1))
}

/// A card-making batch as recorded.
#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct CardBatch {
    pub batch_no: String,
    pub bank_code: String,
    pub file_name: String,
    pub sha256: String,
    pub application_count: i64,
    pub answered_count: i64,
    pub created_by: String,
    pub exported_at: String,
}

pub async fn batch(tx: &mut Tx, batch_no: &str) -> Result<Option<CardBatch>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT batch_no, bank_code, file_name, sha256, application_count, answered_count, created_by, exported_at \
         FROM card_batches WHERE batch_no = $1",
    )
    .bind(batch_no)
    .fetch_optional(tx.conn())
    .await?)
}

/// Records a batch and moves its applications (card id, seq) into production.
pub async fn insert_batch(
    tx: &mut Tx,
    b: &CardBatch,
    lines: &[(i64, i64)],
    actor: &str,
    now: &str,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO card_batches (batch_no, bank_code, file_name, sha256, application_count, answered_count, \
         created_by, exported_at) VALUES ($1, $2, $3, $4, $5, 0, $6, $7)",
    )
    .bind(&b.batch_no)
    .bind(&b.bank_code)
    .bind(&b.file_name)
    .bind(&b.sha256)
    .bind(b.application_count)
    .bind(&b.created_by)
    .bind(&b.exported_at)
    .execute(tx.conn())
    .await?;
    const COLS: usize = 2;
    for chunk in lines.chunks((MAX_PARAMS - 2) / COLS) {
        let sql = format!(
            "WITH v (id, seq) AS (VALUES {}) UPDATE cards SET state = 'in_production', batch_no = {}, \
             batch_seq = v.seq, updated_at = {} FROM v WHERE cards.id = v.id AND cards.state = 'applied'",
            tx.values(chunk.len(), COLS),
            tx.param(chunk.len() * COLS + 1),
            tx.param(chunk.len() * COLS + 2),
        );
        let mut q = sqlx::query(&sql);
        for (id, seq) in chunk {
            q = q.bind(id).bind(seq);
        }
        let moved = q.bind(&b.batch_no).bind(now).execute(tx.conn()).await?.rows_affected();
        if moved != chunk.len() as u64 {
            return Err(StoreError::Conflict(format!(
                "batch {}: {} of {} applications changed while it was written; nothing exported",
                b.batch_no,
                chunk.len() as u64 - moved,
                chunk.len()
            )));
        }
        let note = format!("sent in card-making batch {}", b.batch_no);
        let events: Vec<NewEvent> = chunk
            .iter()
            .map(|(id, _)| NewEvent {
                card_id: *id,
                from: Some("applied".into()),
                to: "in_production".into(),
                note: note.clone(),
            })
            .collect();
        insert_events(tx, &events, actor, now).await?;
    }
    Ok(())
}

/// The bank's answer for one application.
#[derive(Debug, Clone)]
pub struct Answer {
    pub card_id: i64,
    /// The state the card moves to (`made`, `rejected`), or `None` to keep it (answered after cancellation).
    pub to: Option<&'static str>,
    pub from: String,
    pub card_no: Option<String>,
    pub account_no: Option<String>,
    pub reason_code: String,
    pub reason_text: String,
    pub note: String,
}

/// Applies the bank's answers: states, card and account numbers, reasons, events.
pub async fn record_answers(
    tx: &mut Tx,
    batch_no: &str,
    answers: &[Answer],
    actor: &str,
    now: &str,
) -> Result<(), StoreError> {
    const COLS: usize = 6;
    for chunk in answers.chunks((MAX_PARAMS - 1) / COLS) {
        let sql = format!(
            "WITH v (id, state, card_no, account_no, reason_code, reason_text) AS (VALUES {}) \
             UPDATE cards SET state = COALESCE(v.state, cards.state), card_no = COALESCE(v.card_no, cards.card_no), \
             account_no = COALESCE(v.account_no, cards.account_no), reason_code = v.reason_code, \
             reason_text = v.reason_text, updated_at = {} FROM v WHERE cards.id = v.id",
            tx.values(chunk.len(), COLS),
            tx.param(chunk.len() * COLS + 1)
        );
        let mut q = sqlx::query(&sql);
        for a in chunk {
            q = q
                .bind(a.card_id)
                .bind(a.to)
                .bind(&a.card_no)
                .bind(&a.account_no)
                .bind(&a.reason_code)
                .bind(&a.reason_text);
        }
        q.bind(now).execute(tx.conn()).await?;
        let events: Vec<NewEvent> = chunk
            .iter()
            .map(|a| NewEvent {
                card_id: a.card_id,
                from: Some(a.from.clone()),
                to: a.to.map(str::to_string).unwrap_or_else(|| a.from.clone()),
                note: a.note.clone(),
            })
            .collect();
        insert_events(tx, &events, actor, now).await?;
    }
    sqlx::query(
        "UPDATE card_batches SET answered_count = (SELECT COUNT(*) FROM cards WHERE batch_no = $1 \
         AND (card_no IS NOT NULL OR reason_code IS NOT NULL)) WHERE batch_no = $1",
    )
    .bind(batch_no)
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// Made cards of a batch, for a hand-over of the whole batch.
pub async fn made_in_batch(tx: &mut Tx, batch_no: &str) -> Result<Vec<CardRow>, StoreError> {
    let sql = format!("SELECT {CARD_COLUMNS} FROM cards WHERE batch_no = $1 AND state = 'made' ORDER BY id");
    Ok(sqlx::query_as(&sql).bind(batch_no).fetch_all(tx.conn()).await?)
}

/// One transition in a person's card history.
#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct HistoryEntry {
    pub card_id: i64,
    pub card_no: Option<String>,
    pub application_id: Option<String>,
    pub from_state: Option<String>,
    pub to_state: String,
    pub actor: String,
    pub note: Option<String>,
    pub at: String,
}

/// Every transition of a person's cards, oldest first.
pub async fn history(pool: &AnyPool, person_id: &str) -> Result<Vec<HistoryEntry>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT e.card_id, c.card_no, c.application_id, e.from_state, e.to_state, e.actor, e.note, e.at \
         FROM card_events e JOIN cards c ON c.id = e.card_id WHERE c.person_id = $1 ORDER BY e.id",
    )
    .bind(person_id)
    .fetch_all(pool)
    .await?)
}

/// Cards in a state (and bank), for `cards list`.
pub async fn list(
    pool: &AnyPool,
    state: Option<&str>,
    bank: Option<&str>,
    batch_no: Option<&str>,
    limit: i64,
) -> Result<Vec<CardRow>, StoreError> {
    let sql = format!(
        "SELECT {CARD_COLUMNS} FROM cards WHERE ($1 = '' OR state = $1) AND ($2 = '' OR bank_code = $2) \
         AND ($3 = '' OR batch_no = $3) ORDER BY id DESC LIMIT {limit}"
    );
    Ok(sqlx::query_as(&sql)
        .bind(state.unwrap_or(""))
        .bind(bank.unwrap_or(""))
        .bind(batch_no.unwrap_or(""))
        .fetch_all(pool)
        .await?)
}

/// How many cards are in each state.
pub async fn counts(pool: &AnyPool) -> Result<Vec<(String, i64)>, StoreError> {
    Ok(sqlx::query_as("SELECT state, COUNT(*) FROM cards GROUP BY state ORDER BY state").fetch_all(pool).await?)
}
