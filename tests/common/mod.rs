//! Shared test helpers: a fresh database per test on every configured engine,
//! and the real `onecard` binary run in a temporary directory.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Once;

use sqlx::Connection;

/// One database a test runs against.
pub struct TestDb {
    pub url: String,
    pub engine: &'static str,
    _dir: Option<tempfile::TempDir>,
}

static PG_SKIP_WARNING: Once = Once::new();

/// A fresh SQLite database, and a fresh PostgreSQL database when
/// `ONECARD_TEST_PG_URL` names a server. Under `CI=true` PostgreSQL is required.
pub async fn databases() -> Vec<TestDb> {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("onecard.db").display());
    let mut dbs = vec![TestDb { url, engine: "sqlite", _dir: Some(dir) }];
    match std::env::var("ONECARD_TEST_PG_URL") {
        Ok(admin) if !admin.is_empty() => dbs.push(fresh_postgres(&admin).await),
        _ => {
            if std::env::var("CI").as_deref() == Ok("true") {
                panic!("CI=true but ONECARD_TEST_PG_URL is not set: the PostgreSQL half of the suite cannot run");
            }
            PG_SKIP_WARNING.call_once(|| {
                eprintln!(
                    "\n*** ONECARD_TEST_PG_URL is not set: PostgreSQL tests are SKIPPED (SQLite only). \
                     Set it to postgres://user:pass@host/db (a role with CREATEDB) to run them. ***\n"
                )
            });
        }
    }
    dbs
}

impl TestDb {
    /// Only the embedded database, for tests of the command line itself.
    pub async fn sqlite_only() -> TestDb {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}", dir.path().join("onecard.db").display());
        TestDb { url, engine: "sqlite", _dir: Some(dir) }
    }
}

async fn fresh_postgres(admin_url: &str) -> TestDb {
    let name = format!("onecard_t{}_{}", std::process::id(), rand_suffix());
    let mut conn = sqlx::PgConnection::connect(admin_url).await.expect("connect to ONECARD_TEST_PG_URL");
    sqlx::Executor::execute(&mut conn, format!("CREATE DATABASE {name}").as_str()).await.expect("create test database");
    conn.close().await.ok();
    let base = admin_url.rsplit_once('/').map_or(admin_url, |(b, _)| b);
    TestDb { url: format!("{base}/{name}"), engine: "postgres", _dir: None }
}

fn rand_suffix() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
    format!("{nanos}_{}", N.fetch_add(1, Ordering::Relaxed))
}

/// Runs the binary with `--db` and the arguments, in `cwd`.
pub fn onecard(db: &TestDb, cwd: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_onecard"))
        .current_dir(cwd)
        .arg("--db")
        .arg(&db.url)
        .args(args)
        .env_remove("ONECARD_CONFIG")
        .output()
        .expect("run onecard")
}

/// Runs the binary and expects success; returns stdout.
pub fn ok(db: &TestDb, cwd: &Path, args: &[&str]) -> String {
    let out = onecard(db, cwd, args);
    assert!(
        out.status.success(),
        "[{}] onecard {:?} failed ({:?}):\nstdout: {}\nstderr: {}",
        db.engine,
        args,
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("stdout is UTF-8")
}

/// Runs the binary with `--json` and parses stdout.
pub fn json(db: &TestDb, cwd: &Path, args: &[&str]) -> serde_json::Value {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    let text = ok(db, cwd, &all);
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("onecard {args:?} printed no JSON ({e}): {text}"))
}

/// One number from the database (tests look at what the store holds).
pub async fn scalar(db: &TestDb, sql: &str) -> i64 {
    sqlx::any::install_default_drivers();
    let mut conn = sqlx::AnyConnection::connect(&db.url).await.expect("connect");
    let v: i64 = sqlx::query_scalar(sql).fetch_one(&mut conn).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
    conn.close().await.ok();
    v
}

/// Generates a city with the project's generator into `dir/city`.
pub fn generate(db: &TestDb, dir: &Path, persons: u64, period: &str, seed: u64) -> PathBuf {
    let out = dir.join("city");
    ok(
        db,
        dir,
        &[
            "gen",
            "--persons",
            &persons.to_string(),
            "--period",
            period,
            "--seed",
            &seed.to_string(),
            "--out",
            out.to_str().unwrap(),
        ],
    );
    out
}

/// The roster files of a generated city, sorted.
pub fn rosters(city: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(city)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let n = p.file_name().unwrap().to_string_lossy();
            n.starts_with("roster_") && n.ends_with(".csv") && !n.contains(".rejects")
        })
        .collect();
    v.sort();
    v
}
