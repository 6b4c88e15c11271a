//! The only place that speaks SQL. One `Store` over SQLite (the embedded
//! default) and PostgreSQL through sqlx's `Any` driver: one SQL text with `$n`
//! placeholders, integer fen, ISO text dates. Each aggregate has its module.

use std::str::FromStr;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, ConnectOptions, Executor};

pub mod anomalies;
pub mod audit;
pub mod cards;
pub mod desk;
pub mod items;
pub mod jobs;
pub mod missed;
pub mod persons;
pub mod realtime;
pub mod returns;
pub mod rosters;
pub mod run_report;
pub mod runs;
pub mod source_files;
pub mod users;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database {url}: {source}")]
    Connect { url: String, source: sqlx::Error },
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("database: {0}")]
    Sql(#[from] sqlx::Error),
    #[error("{0}")]
    Conflict(String),
}

/// A write transaction that knows its engine, for the few SQL texts that differ.
pub struct Tx {
    tx: sqlx::Transaction<'static, sqlx::Any>,
    backend: Backend,
}

impl Tx {
    pub fn conn(&mut self) -> &mut sqlx::AnyConnection {
        &mut self.tx
    }

    pub async fn commit(self) -> Result<(), StoreError> {
        Ok(self.tx.commit().await?)
    }

    /// `(…), (…)` placeholders for a multi-row insert of `rows` rows of `cols` columns.
    pub fn values(&self, rows: usize, cols: usize) -> String {
        values_placeholders(self.backend, rows, cols)
    }

    /// Placeholders for an `IN (…)` list of `n` values.
    pub fn list(&self, n: usize) -> String {
        list_placeholders(self.backend, n)
    }

    /// Placeholders for `n` values bound after `before` others (`$3, $4` on PostgreSQL).
    pub fn list_after(&self, before: usize, n: usize) -> String {
        match self.backend {
            Backend::Sqlite => list_placeholders(Backend::Sqlite, n),
            Backend::Postgres => (before + 1..=before + n).map(|i| format!("${i}")).collect::<Vec<_>>().join(", "),
        }
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The placeholder of the `i`-th (1-based) value bound.
    pub fn param(&self, i: usize) -> String {
        match self.backend {
            Backend::Sqlite => "?".into(),
            Backend::Postgres => format!("${i}"),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Clone, Debug)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
}

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres");

/// Largest number of bind parameters in one statement, under both engines' limits.
pub const MAX_PARAMS: usize = 30_000;

impl Store {
    /// Connects (creating an SQLite file on first use) and runs the migrations.
    pub async fn connect(url: &str) -> Result<Store, StoreError> {
        sqlx::any::install_default_drivers();
        let (url, backend) = normalise_url(url);
        let connect_err = |source| StoreError::Connect { url: redact(&url), source };
        let options = AnyConnectOptions::from_str(&url)
            .map_err(connect_err)?
            .log_statements(tracing::log::LevelFilter::Trace)
            .log_slow_statements(tracing::log::LevelFilter::Warn, slow_statement_threshold());
        let pool = open_pool(&options, backend).await.map_err(connect_err)?;
        let migrator = match backend {
            Backend::Sqlite => &SQLITE_MIGRATIONS,
            Backend::Postgres => &POSTGRES_MIGRATIONS,
        };
        migrator.run(&pool).await?;
        // A migration may rewrite SQLite's schema text in place (0010); the
        // connection that ran it keeps the text it read first. Fresh ones
        // read it again.
        let pool = if backend == Backend::Sqlite {
            pool.close().await;
            open_pool(&options, backend).await.map_err(connect_err)?
        } else {
            pool
        };
        Ok(Store { pool, backend })
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// A write transaction. On SQLite it takes the write lock at once
    /// (`BEGIN IMMEDIATE`), so concurrent writers wait instead of failing
    /// half-way; PostgreSQL's row locks and constraints do the rest.
    pub async fn begin_write(&self) -> Result<Tx, StoreError> {
        let tx = match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.pool.begin().await?,
        };
        Ok(Tx { tx, backend: self.backend })
    }

    pub async fn close(self) {
        self.pool.close().await;
    }
}

/// A pool of connections set up for this store.
async fn open_pool(options: &AnyConnectOptions, backend: Backend) -> Result<AnyPool, sqlx::Error> {
    AnyPoolOptions::new()
        .max_connections(if backend == Backend::Sqlite { 4 } else { 8 })
        .acquire_timeout(Duration::from_secs(60))
        .after_connect(move |conn, _| {
            Box::pin(async move {
                if backend == Backend::Sqlite {
                    conn.execute(
                        "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; \
                         PRAGMA busy_timeout = 30000; PRAGMA cache_size = -65536; PRAGMA temp_store = MEMORY;",
                    )
                    .await?;
                }
                Ok(())
            })
        })
        .connect_with(options.clone())
        .await
}

/// Statements slower than this are logged at WARN (`ONECARD_SLOW_SQL_MS`, default 10 s).
fn slow_statement_threshold() -> Duration {
    let ms = std::env::var("ONECARD_SLOW_SQL_MS").ok().and_then(|v| v.parse().ok()).unwrap_or(10_000);
    Duration::from_millis(ms)
}

/// `sqlite://file` gains `mode=rwc` (create on first use); a bare path is an SQLite file.
fn normalise_url(url: &str) -> (String, Backend) {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return (url.to_string(), Backend::Postgres);
    }
    let url = if url.starts_with("sqlite:") { url.to_string() } else { format!("sqlite://{url}") };
    if url.contains("mode=") || url.contains(":memory:") {
        (url, Backend::Sqlite)
    } else if url.contains('?') {
        (format!("{url}&mode=rwc"), Backend::Sqlite)
    } else {
        (format!("{url}?mode=rwc"), Backend::Sqlite)
    }
}

/// A database URL without its password, for messages and logs.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..s + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

/// `($1, $2, …), (…)` for `rows` rows of `cols` columns. SQLite gets
/// positional `?`: sqlx resolves each numbered SQLite parameter by name, a
/// linear search per parameter that makes a large statement quadratic.
pub fn values_placeholders(backend: Backend, rows: usize, cols: usize) -> String {
    let mut s = String::with_capacity(rows * cols * 5);
    for r in 0..rows {
        if r > 0 {
            s.push_str(", ");
        }
        s.push('(');
        for c in 0..cols {
            if c > 0 {
                s.push_str(", ");
            }
            match backend {
                Backend::Sqlite => s.push('?'),
                Backend::Postgres => {
                    s.push('$');
                    s.push_str(&(r * cols + c + 1).to_string());
                }
            }
        }
        s.push(')');
    }
    s
}

/// `$1, $2, …, $n` (SQLite: `?, ?, …`) for an `IN (…)` list.
pub fn list_placeholders(backend: Backend, n: usize) -> String {
    match backend {
        Backend::Sqlite => vec!["?"; n].join(", "),
        Backend::Postgres => (1..=n).map(|i| format!("${i}")).collect::<Vec<_>>().join(", "),
    }
}

/// The current time as stored: UTC RFC 3339 to the second.
pub fn now_text() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_normalised_and_redacted() {
        assert_eq!(normalise_url("sqlite://onecard.db").0, "sqlite://onecard.db?mode=rwc");
        assert_eq!(normalise_url("x/onecard.db").0, "sqlite://x/onecard.db?mode=rwc");
        assert_eq!(normalise_url("postgres://u:p@h/db").1, Backend::Postgres);
        assert_eq!(redact("postgres://u:secret@h:5432/db"), "postgres://u:***@h:5432/db");
        assert_eq!(values_placeholders(Backend::Postgres, 2, 2), "($1, $2), ($3, $4)");
        assert_eq!(values_placeholders(Backend::Sqlite, 2, 2), "(?, ?), (?, ?)");
        assert_eq!(list_placeholders(Backend::Sqlite, 3), "?, ?, ?");
    }

    /// Migration 0010 rewrites SQLite's `CHECK (col IN (…))` as `OR` chains:
    /// none is left on a table, and the rewritten ones still refuse.
    #[tokio::test]
    async fn sqlite_checks_are_rewritten_and_still_refuse() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::connect(&dir.path().join("t.db").display().to_string()).await.unwrap();
        let left: Vec<String> = sqlx::query_scalar(
            "SELECT name FROM sqlite_schema WHERE type = 'table' AND sql LIKE '%CHECK (% IN (%' AND name <> 'cards'",
        )
        .fetch_all(store.pool())
        .await
        .unwrap();
        assert!(left.is_empty(), "CHECK … IN left on {left:?}");
        let check: String = sqlx::query_scalar("SELECT sql FROM sqlite_schema WHERE name = 'payments'")
            .fetch_one(store.pool())
            .await
            .unwrap();
        assert!(check.contains("state = 'sent' OR state = 'paid'"), "{check}");
        let refused = sqlx::query("INSERT INTO return_lines (source_file_id, line_no, serial_no, outcome, finding) VALUES (1, 1, 'S', 'lost', 'applied')")
            .execute(store.pool())
            .await
            .expect_err("an outcome outside the list is refused");
        assert!(refused.to_string().contains("CHECK constraint failed: outcome = 'paid'"), "{refused}");
    }
}
