//! The scheduler as an operator runs it: real `onecard scheduler` processes
//! with second-level schedules against SQLite and PostgreSQL, stopped with
//! SIGTERM or killed outright, and the bank inbox fed by slow writers.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{databases, generate, json, ok, onecard, rosters, scalar, TestDb};

fn write_job(dir: &Path, name: &str, text: &str) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join(format!("{name}.toml")), text).unwrap();
}

fn start(db: &TestDb, cwd: &Path, jobs: &Path, holder: &str) -> Child {
    let log = std::fs::File::create(cwd.join(format!("{holder}.log"))).unwrap();
    Command::new(env!("CARGO_BIN_EXE_onecard"))
        .current_dir(cwd)
        .args(["--db", &db.url, "scheduler", "--jobs", jobs.to_str().unwrap(), "--holder", holder])
        .env("ONECARD_LOG", "info")
        .env_remove("ONECARD_CONFIG")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("start the scheduler")
}

/// SIGTERM, then the exit status (it must stop by itself, cleanly).
fn stop(mut child: Child) -> std::process::ExitStatus {
    // SAFETY: sending a signal to a child process this test started.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGTERM);
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(Instant::now() < deadline, "the scheduler did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    }
}

async fn wait_for(db: &TestDb, sql: &str, at_least: i64, timeout: Duration) -> i64 {
    let deadline = Instant::now() + timeout;
    loop {
        let n = scalar(db, sql).await;
        if n >= at_least || Instant::now() > deadline {
            return n;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn two_schedulers_fire_each_due_job_once_and_only_when_due() {
    for db in databases().await {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let jobs = d.join("jobs");
        write_job(&jobs, "tick", "schedule = \"*/2 * * * * *\"\nkind = \"batch_close\"\ncatch_up = \"skip\"\n");
        write_job(&jobs, "never", "schedule = \"0 0 0 1 1 * 2099\"\nkind = \"missed\"\ncatch_up = \"skip\"\n");
        // Initialise the schema before two processes race to migrate it.
        ok(&db, d, &["jobs", "history"]);
        let started = chrono::Utc::now();
        let a = start(&db, d, &jobs, "alpha");
        let b = start(&db, d, &jobs, "beta");
        let fired = wait_for(
            &db,
            "SELECT COUNT(*) FROM job_runs WHERE job = 'tick' AND outcome = 'ok'",
            4,
            Duration::from_secs(30),
        )
        .await;
        assert!(stop(a).success() && stop(b).success(), "[{}] both stop cleanly", db.engine);
        assert!(fired >= 4, "[{}] tick fired {fired} times", db.engine);
        let history = json(&db, d, &["jobs", "history", "--limit", "100"]);
        let runs = history.as_array().unwrap();
        let mut seen = std::collections::HashSet::new();
        for r in runs {
            assert_eq!(r["job"], "tick", "[{}] only the due job fires: {r}", db.engine);
            let at = chrono::DateTime::parse_from_rfc3339(r["scheduled_for"].as_str().unwrap()).unwrap();
            assert_eq!(chrono::Timelike::second(&at) % 2, 0, "on its schedule: {r}");
            assert!(at >= started - chrono::Duration::seconds(1), "not before the schedulers started: {r}");
            assert!(
                seen.insert(r["scheduled_for"].as_str().unwrap().to_string()),
                "[{}] a fire ran twice: {r}",
                db.engine
            );
            assert_eq!(r["attempts"], 1);
        }
        let holders: std::collections::HashSet<&str> = runs.iter().map(|r| r["holder"].as_str().unwrap()).collect();
        assert!(holders.iter().all(|h| *h == "alpha" || *h == "beta"));
    }
}

#[tokio::test]
async fn a_killed_scheduler_restarted_catches_up_once_and_takes_over_an_abandoned_fire() {
    for db in databases().await {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let jobs = d.join("jobs");
        write_job(&jobs, "monthly", "schedule = \"0 0 7 1 * *\"\nkind = \"missed\"\n");
        write_job(&jobs, "skipped", "schedule = \"0 0 7 1 * *\"\nkind = \"missed\"\ncatch_up = \"skip\"\n");
        write_job(&jobs, "daily", "schedule = \"0 0 6 * * *\"\nkind = \"batch_close\"\n");
        ok(&db, d, &["jobs", "history"]);
        // A scheduler died while running the daily job's last fire: its lease ran out long ago.
        let list = json(&db, d, &["jobs", "list"]);
        let daily = list.as_array().unwrap().iter().find(|j| j["name"] == "daily").unwrap();
        assert_eq!(daily["last"], serde_json::Value::Null);
        let last_daily = {
            let now = chrono::Utc::now().with_timezone(&chrono_tz::Asia::Shanghai);
            let six = now.date_naive().and_hms_opt(6, 0, 0).unwrap();
            let six = if now.time() >= chrono::NaiveTime::from_hms_opt(6, 0, 0).unwrap() {
                six
            } else {
                six - chrono::Duration::days(1)
            };
            let utc = chrono::TimeZone::from_local_datetime(&chrono_tz::Asia::Shanghai, &six)
                .unwrap()
                .with_timezone(&chrono::Utc);
            utc.format("%Y-%m-%dT%H:%M:%SZ").to_string()
        };
        let insert = format!(
            "INSERT INTO job_runs (job, scheduled_for, holder, started_at, outcome, lease_until) \
             VALUES ('daily', '{last_daily}', 'dead:1', '2026-01-01T00:00:00Z', 'running', '2026-01-01T00:01:00Z')"
        );
        {
            use sqlx::Connection;
            sqlx::any::install_default_drivers();
            let mut c = sqlx::AnyConnection::connect(&db.url).await.unwrap();
            sqlx::query(&insert).execute(&mut c).await.unwrap();
        }

        let mut first = start(&db, d, &jobs, "first");
        let done = "SELECT COUNT(*) FROM job_runs WHERE outcome = 'ok'";
        assert_eq!(wait_for(&db, done, 2, Duration::from_secs(30)).await, 2, "[{}] catch-up ran", db.engine);
        first.kill().unwrap();
        first.wait().unwrap();
        let second = start(&db, d, &jobs, "second");
        tokio::time::sleep(Duration::from_secs(3)).await;
        assert!(stop(second).success());

        let monthly = scalar(&db, "SELECT COUNT(*) FROM job_runs WHERE job = 'monthly'").await;
        assert_eq!(
            monthly, 1,
            "[{}] the missed monthly fire is caught up once, not again after the restart",
            db.engine
        );
        assert_eq!(scalar(&db, "SELECT COUNT(*) FROM job_runs WHERE job = 'skipped'").await, 0);
        let taken = "SELECT attempts FROM job_runs WHERE job = 'daily'";
        assert_eq!(scalar(&db, taken).await, 2, "[{}] the abandoned fire is taken over once", db.engine);
        assert_eq!(scalar(&db, "SELECT COUNT(*) FROM job_runs WHERE job = 'daily' AND outcome = 'ok'").await, 1);
    }
}

/// An exported month and its bank returns (not yet in the inbox).
fn month_with_returns(db: &TestDb, d: &Path) -> Vec<PathBuf> {
    let city = generate(db, d, 1200, "2026-11", 5);
    ok(db, d, &["import", "registry", city.join("cardholders.csv").to_str().unwrap()]);
    for r in rosters(&city) {
        ok(db, d, &["import", "roster", r.to_str().unwrap()]);
    }
    ok(db, d, &["run", "create", "--period", "2026-11", "--by", "maker"]);
    ok(db, d, &["run", "approve", "R202611-01", "--by", "checker"]);
    let report = json(db, d, &["run", "export", "R202611-01", "--outbox", "outbox"]);
    let mut returns = Vec::new();
    for f in report["files"].as_array().unwrap() {
        let req = d.join("outbox").join(f["file"].as_str().unwrap());
        let sim = json(db, d, &["bank", "simulate", req.to_str().unwrap(), "--out", "staging", "--fail-rate", "0.1"]);
        for s in sim.as_array().unwrap() {
            let p = PathBuf::from(s["file"].as_str().unwrap());
            returns.push(if p.is_absolute() { p } else { d.join(p) });
        }
    }
    returns
}

#[tokio::test]
async fn the_inbox_applies_a_slowly_written_file_once_complete_and_rejects_a_bad_one() {
    for db in databases().await {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let returns = month_with_returns(&db, d);
        let jobs = d.join("jobs");
        let inbox = d.join("inbox");
        std::fs::create_dir_all(&inbox).unwrap();
        write_job(
            &jobs,
            "inbox",
            &format!(
                "schedule = \"* * * * * *\"\nkind = \"inbox\"\ncatch_up = \"skip\"\n[params]\ndir = \"{}\"\nsettle_seconds = 2\n",
                inbox.display()
            ),
        );
        let scheduler = start(&db, d, &jobs, "inbox");

        // A bad file: truncated in the middle of a line.
        let good = std::fs::read(&returns[0]).unwrap();
        let bad_name = "bad.ret";
        std::fs::write(inbox.join(bad_name), &good[..good.len() / 2 + 3]).unwrap();
        let paid_before = scalar(&db, "SELECT COUNT(*) FROM payments WHERE state IN ('paid', 'failed')").await;

        // The good file, written in three pieces over three seconds.
        let name = returns[0].file_name().unwrap().to_str().unwrap().to_string();
        let target = inbox.join(&name);
        let third = good.len() / 3;
        {
            use std::io::Write;
            let mut f = std::fs::File::create(&target).unwrap();
            for piece in [&good[..third], &good[third..2 * third]] {
                f.write_all(piece).unwrap();
                f.flush().unwrap();
                tokio::time::sleep(Duration::from_millis(1500)).await;
                assert!(target.exists(), "[{}] a growing file is not picked up", db.engine);
            }
            f.write_all(&good[2 * third..]).unwrap();
        }
        let archived = inbox.join("archive").join(&name);
        let deadline = Instant::now() + Duration::from_secs(30);
        while !archived.exists() && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        assert!(archived.exists(), "[{}] the complete file is applied and archived", db.engine);
        let rejected = inbox.join("rejected").join(bad_name);
        assert!(rejected.exists(), "[{}] the bad file is rejected", db.engine);
        let why = std::fs::read_to_string(inbox.join("rejected").join(format!("{bad_name}.error.txt"))).unwrap();
        assert!(why.contains("line"), "{why}");
        let paid_after = scalar(&db, "SELECT COUNT(*) FROM payments WHERE state IN ('paid', 'failed')").await;
        assert!(paid_after > paid_before);

        // The same bytes again: archived as already applied, nothing changes.
        std::fs::write(inbox.join("again.ret"), &good).unwrap();
        let again = inbox.join("archive").join("again.ret");
        let deadline = Instant::now() + Duration::from_secs(30);
        while !again.exists() && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        assert!(again.exists());
        assert!(stop(scheduler).success());
        assert_eq!(scalar(&db, "SELECT COUNT(*) FROM payments WHERE state IN ('paid', 'failed')").await, paid_after);
        let applied = scalar(&db, "SELECT COUNT(*) FROM source_files WHERE kind = 'bank_return'").await;
        assert_eq!(applied, 1, "[{}] applied once", db.engine);
        let out = onecard(&db, d, &["jobs", "history", "--job", "inbox"]);
        assert!(out.status.success());
    }
}

#[tokio::test]
async fn an_invalid_job_file_stops_the_scheduler_naming_the_file_and_the_field() {
    let db = TestDb::sqlite_only().await;
    let dir = tempfile::tempdir().unwrap();
    let jobs = dir.path().join("jobs");
    write_job(&jobs, "good", "schedule = \"0 0 6 * * *\"\nkind = \"batch_close\"\n");
    write_job(&jobs, "typo", "schedule = \"0 0 6 * * *\"\nkind = \"run_export\"\n[params]\noutbx = \"out\"\n");
    let out = onecard(&db, dir.path(), &["scheduler", "--jobs", jobs.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("typo.toml") && err.contains("params.outbox"), "{err}");
    // The shipped jobs are valid.
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("jobs");
    let list = json(&db, dir.path(), &["jobs", "list", "--jobs", shipped.to_str().unwrap()]);
    assert_eq!(list.as_array().unwrap().len(), 8, "{list}");
}
