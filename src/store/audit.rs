//! The access log: append-only (triggers refuse UPDATE and DELETE) and
//! tamper-evident: each entry's `hash` is SHA-256 over the previous entry's
//! hash and its own fields, so an edited or removed row breaks the chain.

use sha2::{Digest, Sha256};
use sqlx::AnyPool;

use super::{Backend, StoreError, Tx};

/// The `prev_hash` of the first entry.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// One entry to append: who, what, about whom, from where, when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEntry {
    pub at: String,
    pub actor: String,
    pub action: String,
    pub subject: String,
    pub remote_addr: String,
    pub detail: String,
}

#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct Entry {
    pub id: i64,
    pub at: String,
    pub actor: String,
    pub action: String,
    pub subject: String,
    pub remote_addr: String,
    pub detail: String,
    pub prev_hash: String,
    pub hash: String,
}

/// The chain link: SHA-256 over the previous hash and the fields, unit-separated.
pub fn link(prev_hash: &str, e: &NewEntry) -> String {
    let mut h = Sha256::new();
    for part in [prev_hash, &e.at, &e.actor, &e.action, &e.subject, &e.remote_addr, &e.detail] {
        h.update(part.as_bytes());
        h.update([0x1f]);
    }
    hex::encode(h.finalize())
}

/// Appends entries in order, in one transaction holding the log's lock
/// (SQLite: the write lock of `BEGIN IMMEDIATE`; PostgreSQL: an advisory lock).
pub async fn append(tx: &mut Tx, entries: &[NewEntry]) -> Result<(), StoreError> {
    if entries.is_empty() {
        return Ok(());
    }
    if tx.backend() == Backend::Postgres {
        sqlx::query("SELECT pg_advisory_xact_lock(8008)").execute(tx.conn()).await?;
    }
    let last: Option<String> =
        sqlx::query_scalar("SELECT hash FROM access_log ORDER BY id DESC LIMIT 1").fetch_optional(tx.conn()).await?;
    let mut prev = last.unwrap_or_else(|| GENESIS.to_string());
    for chunk in entries.chunks(500) {
        let sql = format!(
            "INSERT INTO access_log (at, actor, action, subject, remote_addr, detail, prev_hash, hash) VALUES {}",
            tx.values(chunk.len(), 8)
        );
        let mut q = sqlx::query(&sql);
        for e in chunk {
            let hash = link(&prev, e);
            q = q
                .bind(&e.at)
                .bind(&e.actor)
                .bind(&e.action)
                .bind(&e.subject)
                .bind(&e.remote_addr)
                .bind(&e.detail)
                .bind(prev.clone())
                .bind(hash.clone());
            prev = hash;
        }
        q.execute(tx.conn()).await?;
    }
    Ok(())
}

/// What `audit verify` found: the count checked and the first broken entry.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Verification {
    pub entries: i64,
    pub first_broken: Option<i64>,
    pub problem: Option<String>,
}

/// Walks the chain in id order, page by page.
pub async fn verify(pool: &AnyPool) -> Result<Verification, StoreError> {
    let mut prev = GENESIS.to_string();
    let mut after = i64::MIN;
    let mut count = 0;
    loop {
        let page: Vec<Entry> = sqlx::query_as(
            "SELECT id, at, actor, action, subject, remote_addr, detail, prev_hash, hash FROM access_log \
             WHERE id > $1 ORDER BY id LIMIT 5000",
        )
        .bind(after)
        .fetch_all(pool)
        .await?;
        let Some(last) = page.last() else { break };
        after = last.id;
        for e in page {
            count += 1;
            let fields = NewEntry {
                at: e.at,
                actor: e.actor,
                action: e.action,
                subject: e.subject,
                remote_addr: e.remote_addr,
                detail: e.detail,
            };
            let problem = if e.prev_hash != prev {
                Some("its prev_hash is not the previous entry's hash (an entry was removed or replaced)")
            } else if link(&prev, &fields) != e.hash {
                Some("its hash does not match its content (the entry was edited)")
            } else {
                None
            };
            if let Some(p) = problem {
                return Ok(Verification { entries: count, first_broken: Some(e.id), problem: Some(p.into()) });
            }
            prev = e.hash;
        }
    }
    Ok(Verification { entries: count, first_broken: None, problem: None })
}

/// The newest entries first, paged.
pub async fn page(pool: &AnyPool, limit: i64, offset: i64) -> Result<(i64, Vec<Entry>), StoreError> {
    let total: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM access_log").fetch_one(pool).await?;
    let rows = sqlx::query_as(
        "SELECT id, at, actor, action, subject, remote_addr, detail, prev_hash, hash FROM access_log \
         ORDER BY id DESC LIMIT $1 OFFSET $2",
    )
    .bind(limit)
    .bind(offset)
    .fetch_all(pool)
    .await?;
    Ok((total, rows))
}
