//! The registry: persons and the cards migrated with them, applied in
//! batches (one query per batch to look up, multi-row statements to write).

use std::collections::HashMap;

use sqlx::AnyPool;

use super::cards::{insert_events, NewEvent};
use super::{now_text, StoreError, Tx, MAX_PARAMS};

/// One validated registry row.
#[derive(Debug, Clone)]
pub struct RegistryRow {
    pub line_no: u64,
    pub person_id: String,
    pub name: String,
    pub region_code: String,
    pub gender: &'static str,
    pub birth_date: String,
    pub phone: Option<String>,
    pub death_date: Option<String>,
    pub card: Option<RegistryCard>,
}

#[derive(Debug, Clone)]
pub struct RegistryCard {
    pub card_no: String,
    pub bank_code: String,
    pub account_no: String,
}

/// Which optional columns the file had: an absent column leaves the stored value alone.
#[derive(Debug, Clone, Copy)]
pub struct PresentColumns {
    pub phone: bool,
    pub death_date: bool,
}

#[derive(Debug, Default, Clone, Copy, serde::Serialize)]
pub struct RegistryCounts {
    pub persons_added: u64,
    pub persons_updated: u64,
    pub cards_added: u64,
    pub accounts_changed: u64,
    pub cards_cancelled: u64,
}

#[derive(Debug, sqlx::FromRow)]
struct ExistingCard {
    id: i64,
    person_id: String,
    card_no: Option<String>,
    bank_code: String,
    account_no: Option<String>,
    state: String,
}

/// Applies one batch. Rows whose card number is held by another person are
/// returned with the reason and not applied.
pub async fn apply_batch(
    tx: &mut Tx,
    file_id: i64,
    actor: &str,
    cols: PresentColumns,
    rows: Vec<RegistryRow>,
    counts: &mut RegistryCounts,
) -> Result<Vec<(RegistryRow, String)>, StoreError> {
    let now = now_text();
    // Cards already known by number.
    let card_nos: Vec<&str> = rows.iter().filter_map(|r| r.card.as_ref().map(|c| c.card_no.as_str())).collect();
    let by_no: HashMap<String, ExistingCard> = select_cards(tx, "card_no", &card_nos)
        .await?
        .into_iter()
        .filter_map(|c| c.card_no.clone().map(|n| (n, c)))
        .collect();
    let mut rejected = Vec::new();
    let mut good = Vec::with_capacity(rows.len());
    for row in rows {
        match row.card.as_ref().and_then(|c| by_no.get(&c.card_no)) {
            Some(existing) if existing.person_id != row.person_id => {
                let reason = format!(
                    "card_no {} is already held by another person ({})",
                    existing.card_no.as_deref().unwrap_or(""),
                    crate::domain::ids::mask_person_id(&existing.person_id)
                );
                rejected.push((row, reason));
            }
            _ => good.push(row),
        }
    }
    if good.is_empty() {
        return Ok(rejected);
    }
    // Key order keeps each statement's index updates close together.
    good.sort_by(|a, b| a.person_id.cmp(&b.person_id));
    upsert_persons(tx, file_id, cols, &good, &now, counts).await?;

    // Cards of these persons, to find replaced and dead persons' cards.
    let ids: Vec<&str> = good.iter().map(|r| r.person_id.as_str()).collect();
    let mut of_person: HashMap<String, Vec<ExistingCard>> = HashMap::new();
    for c in select_cards(tx, "person_id", &ids).await? {
        of_person.entry(c.person_id.clone()).or_default().push(c);
    }
    let mut cancel: Vec<(i64, String, &'static str)> = Vec::new();
    let mut new_cards: Vec<(&RegistryRow, &RegistryCard, &'static str)> = Vec::new();
    let mut account_changes: Vec<(i64, &RegistryCard)> = Vec::new();
    for row in &good {
        let cards = of_person.get(&row.person_id).map(Vec::as_slice).unwrap_or(&[]);
        let live = |c: &&ExistingCard| !matches!(c.state.as_str(), "cancelled" | "rejected");
        if row.death_date.is_some() {
            cancel.extend(cards.iter().filter(live).map(|c| (c.id, c.state.clone(), "death recorded in the registry")));
        }
        let Some(card) = &row.card else { continue };
        match cards.iter().find(|c| c.card_no.as_deref() == Some(card.card_no.as_str())) {
            Some(same) => {
                if same.account_no.as_deref() != Some(card.account_no.as_str()) || same.bank_code != card.bank_code {
                    account_changes.push((same.id, card));
                }
            }
            None => {
                let state = if row.death_date.is_some() {
                    "cancelled"
                } else {
                    let replaced = cards.iter().filter(|c| c.state == "active");
                    cancel.extend(replaced.map(|c| (c.id, c.state.clone(), "replaced by a card from the registry")));
                    "active"
                };
                new_cards.push((row, card, state));
            }
        }
    }
    cancel.sort_by_key(|c| c.0);
    cancel.dedup_by_key(|c| c.0);
    for (id, from, note) in &cancel {
        sqlx::query("UPDATE cards SET state = 'cancelled', updated_at = $1 WHERE id = $2")
            .bind(&now)
            .bind(id)
            .execute(tx.conn())
            .await?;
        let event = NewEvent { card_id: *id, from: Some(from.clone()), to: "cancelled".into(), note: note.to_string() };
        insert_events(tx, &[event], actor, &now).await?;
    }
    counts.cards_cancelled += cancel.len() as u64;
    for (id, card) in &account_changes {
        sqlx::query(
            "UPDATE cards SET bank_code = $1, account_no = $2, verification = 'unverified', \
             verification_reason = NULL, updated_at = $3 WHERE id = $4",
        )
        .bind(&card.bank_code)
        .bind(&card.account_no)
        .bind(&now)
        .bind(id)
        .execute(tx.conn())
        .await?;
        let note = "account changed in the registry".to_string();
        let event = NewEvent { card_id: *id, from: Some("active".into()), to: "active".into(), note };
        insert_events(tx, &[event], actor, &now).await?;
    }
    counts.accounts_changed += account_changes.len() as u64;
    insert_cards(tx, actor, &new_cards, &now).await?;
    counts.cards_added += new_cards.len() as u64;
    Ok(rejected)
}

async fn select_cards(tx: &mut Tx, column: &str, keys: &[&str]) -> Result<Vec<ExistingCard>, StoreError> {
    let mut out = Vec::new();
    for chunk in keys.chunks(MAX_PARAMS) {
        if chunk.is_empty() {
            continue;
        }
        let sql = format!(
            "SELECT id, person_id, card_no, bank_code, account_no, state FROM cards WHERE {column} IN ({})",
            tx.list(chunk.len())
        );
        let mut q = sqlx::query_as::<_, ExistingCard>(&sql);
        for k in chunk {
            q = q.bind(*k);
        }
        out.extend(q.fetch_all(tx.conn()).await?);
    }
    Ok(out)
}

async fn upsert_persons(
    tx: &mut Tx,
    file_id: i64,
    cols: PresentColumns,
    rows: &[RegistryRow],
    now: &str,
    counts: &mut RegistryCounts,
) -> Result<(), StoreError> {
    const COLS: usize = 10;
    let phone = if cols.phone { "excluded.phone" } else { "persons.phone" };
    let death = if cols.death_date { "excluded.death_date" } else { "persons.death_date" };
    for chunk in rows.chunks(MAX_PARAMS / COLS) {
        // Persons already known, to count additions and updates.
        let sql = format!("SELECT COUNT(*) FROM persons WHERE person_id IN ({})", tx.list(chunk.len()));
        let mut q = sqlx::query_scalar::<_, i64>(&sql);
        for r in chunk {
            q = q.bind(&r.person_id);
        }
        let existing = q.fetch_one(tx.conn()).await? as u64;
        let sql = format!(
            "INSERT INTO persons (person_id, name, region_code, gender, birth_date, phone, death_date, source_file_id, \
             created_at, updated_at) VALUES {} ON CONFLICT (person_id) DO UPDATE SET name = excluded.name, \
             region_code = excluded.region_code, phone = {phone}, death_date = {death}, \
             source_file_id = excluded.source_file_id, updated_at = excluded.updated_at \
             WHERE persons.name <> excluded.name OR persons.region_code <> excluded.region_code \
             OR persons.phone IS DISTINCT FROM {phone} OR persons.death_date IS DISTINCT FROM {death}",
            tx.values(chunk.len(), COLS)
        );
        let mut q = sqlx::query(&sql);
        for r in chunk {
            q = q
                .bind(&r.person_id)
                .bind(&r.name)
                .bind(&r.region_code)
                .bind(r.gender)
                .bind(&r.birth_date)
                .bind(&r.phone)
                .bind(&r.death_date)
                .bind(file_id)
                .bind(now)
                .bind(now);
        }
        let affected = q.execute(tx.conn()).await?.rows_affected();
        let added = chunk.len() as u64 - existing;
        counts.persons_added += added;
        counts.persons_updated += affected.saturating_sub(added);
    }
    Ok(())
}

async fn insert_cards(
    tx: &mut Tx,
    actor: &str,
    cards: &[(&RegistryRow, &RegistryCard, &'static str)],
    now: &str,
) -> Result<(), StoreError> {
    const COLS: usize = 7;
    for chunk in cards.chunks(MAX_PARAMS / COLS) {
        let sql = format!(
            "INSERT INTO cards (person_id, card_no, bank_code, account_no, state, created_at, updated_at) VALUES {} \
             RETURNING id, state",
            tx.values(chunk.len(), COLS)
        );
        let mut q = sqlx::query_as::<_, (i64, String)>(&sql);
        for (row, card, state) in chunk {
            q = q
                .bind(&row.person_id)
                .bind(&card.card_no)
                .bind(&card.bank_code)
                .bind(&card.account_no)
                .bind(*state)
                .bind(now)
                .bind(now);
        }
        let ids = q.fetch_all(tx.conn()).await?;
        let events: Vec<NewEvent> = ids
            .into_iter()
            .map(|(card_id, to)| NewEvent { card_id, from: None, to, note: "migrated from the registry".into() })
            .collect();
        insert_events(tx, &events, actor, now).await?;
    }
    Ok(())
}

/// A person as the registry holds them.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Person {
    pub person_id: String,
    pub name: String,
    pub region_code: String,
    pub gender: String,
    pub birth_date: String,
    pub phone: Option<String>,
    pub death_date: Option<String>,
    pub updated_at: String,
}

pub async fn get(pool: &AnyPool, person_id: &str) -> Result<Option<Person>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT person_id, name, region_code, gender, birth_date, phone, death_date, updated_at FROM persons \
         WHERE person_id = $1",
    )
    .bind(person_id)
    .fetch_optional(pool)
    .await?)
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Card {
    pub id: i64,
    pub application_id: Option<String>,
    pub card_no: Option<String>,
    pub bank_code: String,
    pub account_no: Option<String>,
    pub state: String,
    pub verification: String,
    pub updated_at: String,
}

pub async fn cards_of(pool: &AnyPool, person_id: &str) -> Result<Vec<Card>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT id, application_id, card_no, bank_code, account_no, state, verification, updated_at FROM cards \
         WHERE person_id = $1 \
         ORDER BY CASE state WHEN 'active' THEN 0 ELSE 1 END, id DESC",
    )
    .bind(person_id)
    .fetch_all(pool)
    .await?)
}

pub async fn count(pool: &AnyPool) -> Result<(i64, i64), StoreError> {
    let persons: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM persons").fetch_one(pool).await?;
    let cards: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM cards WHERE state = 'active'").fetch_one(pool).await?;
    Ok((persons, cards))
}
