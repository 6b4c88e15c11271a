//! Random scenarios end to end (issue: "no key is ever paid twice, and for
//! every batch sent = paid + failed + unconfirmed + in flight"): random bank
//! behaviour per batch, returns applied in random order, re-delivered,
//! contradicted by a second answer, a reconcile killed between files, the
//! batches closed and the next month run — on every engine.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::{databases, generate, json, ok, rosters, scalar, TestDb};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

/// Every batch conserves its payments in count and fen, and no item is paid or claimed twice.
async fn invariants(db: &TestDb, when: &str) {
    let unbalanced = "SELECT COUNT(*) FROM batches b WHERE b.state IN ('exported', 'closed') AND (b.payment_count <> \
        (SELECT COUNT(*) FROM payments p WHERE p.batch_no = b.batch_no AND p.state IN ('sent', 'paid', 'failed', 'unconfirmed')) \
        OR b.amount_fen <> (SELECT COALESCE(SUM(p.amount_fen), 0) FROM payments p WHERE p.batch_no = b.batch_no \
        AND p.state IN ('sent', 'paid', 'failed', 'unconfirmed')))";
    assert_eq!(scalar(db, unbalanced).await, 0, "[{}] {when}: a batch does not add up", db.engine);
    let paid_twice =
        "SELECT COUNT(*) FROM (SELECT pi.item_id FROM payment_items pi JOIN payments p ON p.id = pi.payment_id \
        WHERE p.state = 'paid' GROUP BY pi.item_id HAVING COUNT(*) > 1) t";
    let doubles = scalar(db, "SELECT COUNT(*) FROM anomalies WHERE code = 'double_paid'").await;
    assert_eq!(scalar(db, paid_twice).await, doubles, "[{}] {when}: every double payment is flagged", db.engine);
    assert_eq!(doubles, 0, "[{}] {when}: the system itself never paid a key twice", db.engine);
    let claimed_twice = "SELECT COUNT(*) FROM (SELECT item_id FROM payment_items WHERE released = 0 GROUP BY item_id HAVING COUNT(*) > 1) t";
    assert_eq!(scalar(db, claimed_twice).await, 0, "[{}] {when}", db.engine);
}

fn simulate(
    db: &TestDb,
    dir: &Path,
    request: &(PathBuf, u64),
    out: &str,
    seed: u64,
    rng: &mut impl Rng,
) -> Vec<PathBuf> {
    let (request, lines) = request;
    let rate = |rng: &mut dyn rand::RngCore, max: f64| format!("{:.3}", rng.gen_range(0.0..max));
    let iso = request.to_string_lossy().ends_with(".xml");
    let mut args: Vec<String> =
        ["bank", "simulate", request.to_str().unwrap(), "--out", out, "--seed", &seed.to_string()]
            .iter()
            .map(|s| s.to_string())
            .collect();
    args.extend(["--fail-rate".into(), rate(rng, 0.2), "--omit-rate".into(), rate(rng, 0.05)]);
    args.extend([
        "--duplicate-rate".into(),
        rate(rng, 0.05),
        "--split".into(),
        rng.gen_range(1..=3.min(*lines)).to_string(),
    ]);
    if iso {
        args.extend([
            "--in-flight-rate".into(),
            rate(rng, 0.05),
            "--pain002".into(),
            ["03", "12"][rng.gen_range(0..2)].into(),
        ]);
    }
    let out = json(db, dir, &args.iter().map(String::as_str).collect::<Vec<_>>());
    out.as_array().unwrap().iter().map(|f| dir.join(f["file"].as_str().unwrap())).collect()
}

fn reconcile_args(files: &[PathBuf]) -> Vec<String> {
    std::iter::once("reconcile".to_string()).chain(files.iter().map(|f| f.to_str().unwrap().to_string())).collect()
}

#[tokio::test]
async fn random_months_never_pay_a_key_twice_and_conserve_every_batch() {
    let mut contradictions = 0;
    for seed in 1..=3u64 {
        for db in databases().await {
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
            let dir = tempfile::tempdir().unwrap();
            let d = dir.path();
            let city = generate(&db, d, 700, "2026-11", seed);
            ok(&db, d, &["import", "registry", city.join("cardholders.csv").to_str().unwrap()]);
            for r in rosters(&city) {
                ok(&db, d, &["import", "roster", r.to_str().unwrap()]);
            }
            ok(&db, d, &["run", "create", "--period", "2026-11", "--by", "maker"]);
            ok(&db, d, &["run", "approve", "R202611-01", "--by", "checker"]);
            let export = json(&db, d, &["run", "export", "R202611-01", "--outbox", "outbox"]);
            let requests: Vec<(PathBuf, u64)> = export["files"]
                .as_array()
                .unwrap()
                .iter()
                .map(|f| (d.join("outbox").join(f["file"].as_str().unwrap()), f["count"].as_u64().unwrap()))
                .collect();

            // The bank's answers, plus a contradicting second answer for some batches.
            let mut files = Vec::new();
            for (i, r) in requests.iter().enumerate() {
                files.extend(simulate(&db, d, r, "returns", seed * 100 + i as u64, &mut rng));
                if rng.gen_bool(0.4) {
                    files.extend(simulate(&db, d, r, "second", seed * 1000 + i as u64, &mut rng));
                }
            }
            files.shuffle(&mut rng);
            // Some files are delivered twice.
            let again: Vec<PathBuf> = files.iter().filter(|_| rng.gen_bool(0.3)).cloned().collect();
            files.extend(again);

            // A reconcile killed part-way, then everything applied again.
            let mut child = Command::new(env!("CARGO_BIN_EXE_onecard"))
                .current_dir(d)
                .arg("--db")
                .arg(&db.url)
                .args(reconcile_args(&files))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
            std::thread::sleep(std::time::Duration::from_millis(rng.gen_range(10..300)));
            let _ = child.kill();
            let _ = child.wait();
            invariants(&db, "after a killed reconcile").await;
            ok(&db, d, &reconcile_args(&files).iter().map(String::as_str).collect::<Vec<_>>());
            invariants(&db, "after reconciling").await;
            // Every payment the returns contradict (paid in one line, failed in
            // another, each a line that was judged on its outcome) is flagged.
            let contradicted = "SELECT r.payment_id FROM return_lines r WHERE r.payment_id IS NOT NULL \
                AND r.outcome IN ('paid', 'failed') \
                AND r.finding IN ('applied', 'bank_failed', 'duplicate_in_return', 'conflicting_return') \
                GROUP BY r.payment_id HAVING COUNT(DISTINCT r.outcome) > 1";
            let unflagged = format!(
                "SELECT COUNT(*) FROM ({contradicted}) t WHERE NOT EXISTS (SELECT 1 FROM anomalies a \
                 WHERE a.code = 'conflicting_return' AND a.payment_id = t.payment_id)"
            );
            assert_eq!(
                scalar(&db, &unflagged).await,
                0,
                "[{}] seed {seed}: a contradicting answer is flagged",
                db.engine
            );
            contradictions += scalar(&db, &format!("SELECT COUNT(*) FROM ({contradicted}) t")).await;

            ok(&db, d, &["batch", "close", "--due", "--as-of", "2027-01-31"]);
            invariants(&db, "after closing").await;
            assert_eq!(scalar(&db, "SELECT COUNT(*) FROM payments WHERE state = 'sent'").await, 0);

            // Failures retried; the next month pays them once, and never what is unconfirmed.
            let failed = json(&db, d, &["anomalies", "--code", "bank_failed", "--open"]);
            let _ = failed;
            ok(&db, d, &["run", "create", "--period", "2026-12", "--by", "maker"]);
            invariants(&db, "after the next run").await;
            let unconfirmed_again = "SELECT COUNT(*) FROM payment_items pi JOIN payments p ON p.id = pi.payment_id \
                JOIN items i ON i.id = pi.item_id WHERE p.run_id = 'R202612-01' AND i.state = 'unconfirmed'";
            assert_eq!(scalar(&db, unconfirmed_again).await, 0);
        }
    }
    assert!(contradictions > 0, "the scenarios contradicted no answer: the check above was never tried");
}
