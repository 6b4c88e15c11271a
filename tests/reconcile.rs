//! Reconciling the banks' returns through the command line: money is
//! conserved per batch, bad files change nothing, failures are re-paid once.

mod common;

use std::path::{Path, PathBuf};

use common::{databases, generate, json, ok, onecard, rosters, scalar, TestDb};

/// A city imported, its November run approved and exported; returns the outbox files.
fn exported_month(db: &TestDb, dir: &Path, persons: u64) -> Vec<PathBuf> {
    let city = generate(db, dir, persons, "2026-11", 21);
    ok(db, dir, &["import", "registry", city.join("cardholders.csv").to_str().unwrap()]);
    for r in rosters(&city) {
        ok(db, dir, &["import", "roster", r.to_str().unwrap()]);
    }
    ok(db, dir, &["run", "create", "--period", "2026-11", "--by", "maker"]);
    ok(db, dir, &["run", "approve", "R202611-01", "--by", "checker"]);
    let report = json(db, dir, &["run", "export", "R202611-01", "--outbox", "outbox"]);
    report["files"].as_array().unwrap().iter().map(|f| dir.join("outbox").join(f["file"].as_str().unwrap())).collect()
}

/// A bank that fails, omits and duplicates lines and answers in two files.
const MISBEHAVING: &[&str] =
    &["--fail-rate", "0.08", "--omit-rate", "0.03", "--duplicate-rate", "0.03", "--split", "2"];

/// The bank answers every request with the given behaviour.
fn bank_answers(db: &TestDb, dir: &Path, requests: &[PathBuf], behaviour: &[&str]) -> Vec<PathBuf> {
    let mut returns = Vec::new();
    for r in requests {
        let mut args = vec!["bank", "simulate", r.to_str().unwrap(), "--out", "returns", "--seed", "9"];
        args.extend_from_slice(behaviour);
        let out = json(db, dir, &args);
        returns.extend(out.as_array().unwrap().iter().map(|f| PathBuf::from(f["file"].as_str().unwrap())));
    }
    returns.into_iter().map(|p| if p.is_absolute() { p } else { dir.join(p) }).collect()
}

/// For every batch: sent = paid + failed + unconfirmed + still sent (in flight), in count and fen.
async fn assert_conserved(db: &TestDb) {
    let sql = "SELECT COUNT(*) FROM batches b WHERE b.state IN ('exported', 'closed') AND (b.payment_count <> \
               (SELECT COUNT(*) FROM payments p WHERE p.batch_no = b.batch_no AND p.state IN ('paid', 'failed', 'unconfirmed', 'sent')) \
               OR b.amount_fen <> (SELECT COALESCE(SUM(amount_fen), 0) FROM payments p WHERE p.batch_no = b.batch_no \
               AND p.state IN ('paid', 'failed', 'unconfirmed', 'sent')))";
    assert_eq!(scalar(db, sql).await, 0, "[{}] a batch's payments do not add up", db.engine);
    let twice = "SELECT COUNT(*) FROM (SELECT item_id FROM payment_items pi JOIN payments p ON p.id = pi.payment_id \
                 WHERE p.state = 'paid' GROUP BY item_id HAVING COUNT(*) > 1) t";
    assert_eq!(scalar(db, twice).await, 0, "[{}] an item paid twice", db.engine);
    let live = "SELECT COUNT(*) FROM (SELECT item_id FROM payment_items WHERE released = 0 GROUP BY item_id HAVING COUNT(*) > 1) t";
    assert_eq!(scalar(db, live).await, 0);
}

#[tokio::test]
async fn a_reconciled_month_conserves_every_payment_and_redelivery_changes_nothing() {
    for db in databases().await {
        let dir = tempfile::tempdir().unwrap();
        let requests = exported_month(&db, dir.path(), 2500);
        let returns = bank_answers(&db, dir.path(), &requests, MISBEHAVING);
        let mut args = vec!["reconcile"];
        let names: Vec<String> = returns.iter().map(|p| p.to_str().unwrap().to_string()).collect();
        args.extend(names.iter().map(String::as_str));
        let summaries = json(&db, dir.path(), &args);
        let summaries = summaries.as_array().unwrap();
        assert_eq!(summaries.len(), returns.len());
        let failed: u64 = summaries.iter().map(|s| s["failed"]["count"].as_u64().unwrap()).sum();
        let dupes: i64 = summaries.iter().map(|s| s["anomalies"]["duplicate_in_return"].as_i64().unwrap()).sum();
        assert!(failed > 0 && dupes > 0, "the bank misbehaved: {summaries:?}");
        for s in summaries {
            assert_eq!(s["applied"], true, "{s}");
            for code in [
                "duplicate_in_return",
                "conflicting_return",
                "unknown_serial",
                "amount_mismatch",
                "account_mismatch",
                "bank_failed",
            ] {
                assert!(s["anomalies"][code].is_i64(), "{code} is a key: {s}");
            }
            let report = std::fs::read_to_string(s["report"].as_str().unwrap()).unwrap();
            assert!(report.starts_with("\u{feff}serial_no,person_id,name,bank_code,account_no,amount,outcome,anomaly"));
            assert!(!report.contains(",440703194"), "ids are masked in the report");
        }
        assert_conserved(&db).await;
        let failed_payments = scalar(&db, "SELECT COUNT(*) FROM payments WHERE state = 'failed'").await;
        assert_eq!(scalar(&db, "SELECT COUNT(*) FROM anomalies WHERE code = 'bank_failed'").await, failed_payments);

        // The same files again: already applied, nothing changes.
        let before = scalar(&db, "SELECT COUNT(*) FROM anomalies").await;
        let again = json(&db, dir.path(), &args);
        assert!(again.as_array().unwrap().iter().all(|s| s["already_applied"] == true), "{again}");
        assert_eq!(scalar(&db, "SELECT COUNT(*) FROM anomalies").await, before);

        // Closing the batches: what the bank never mentioned is unconfirmed, not re-paid.
        let closed = json(&db, dir.path(), &["batch", "close", "--due", "--as-of", "2027-01-31"]);
        let unconfirmed: i64 =
            closed.as_array().unwrap().iter().map(|c| c["unconfirmed"]["count"].as_i64().unwrap()).sum();
        assert!(unconfirmed > 0, "omitted payments become unconfirmed: {closed}");
        assert_eq!(scalar(&db, "SELECT COUNT(*) FROM payments WHERE state = 'sent'").await, 0);
        assert_eq!(scalar(&db, "SELECT COUNT(*) FROM anomalies WHERE code = 'missing_in_return'").await, unconfirmed);
        assert_eq!(scalar(&db, "SELECT COUNT(*) FROM runs WHERE state = 'closed'").await, 1);
        assert_conserved(&db).await;
        // Unconfirmed money is never paid again by a later run.
        let next = json(&db, dir.path(), &["run", "create", "--period", "2026-12", "--by", "maker"]);
        let repaid = scalar(&db, "SELECT COUNT(*) FROM payment_items pi JOIN payments p ON p.id = pi.payment_id \
                                  JOIN items i ON i.id = pi.item_id WHERE p.run_id = 'R202612-01' AND i.state = 'unconfirmed'").await;
        assert_eq!(repaid, 0, "{next}");
        assert_conserved(&db).await;
    }
}

#[tokio::test]
async fn a_bad_return_file_is_rejected_whole_and_changes_nothing() {
    for db in databases().await {
        let dir = tempfile::tempdir().unwrap();
        let requests = exported_month(&db, dir.path(), 800);
        let txt = requests.iter().find(|p| p.to_string_lossy().ends_with(".txt")).unwrap().clone();
        let ret = bank_answers(&db, dir.path(), std::slice::from_ref(&txt), &["--fail-rate", "0.1"]).remove(0);
        let good = std::fs::read(&ret).unwrap();
        let cases: Vec<(&str, Vec<u8>, &str)> = vec![
            ("truncated", good[..good.len() - 7].to_vec(), "line"),
            (
                "totals off",
                {
                    let text = encoding_rs::GBK.decode(&good).0.into_owned();
                    let mut lines: Vec<String> = text.split("\r\n").map(str::to_string).collect();
                    let mut h: Vec<String> = lines[0].split('|').map(str::to_string).collect();
                    h[4] = (h[4].parse::<u64>().unwrap() + 1).to_string();
                    lines[0] = h.join("|");
                    encoding_rs::GBK.encode(&lines.join("\r\n")).0.into_owned()
                },
                "line 1",
            ),
            (
                "unknown batch",
                {
                    let text = encoding_rs::GBK.decode(&good).0.into_owned();
                    let batch = text.split('|').nth(1).unwrap().to_string();
                    encoding_rs::GBK.encode(&text.replace(&batch, "20991231999001")).0.into_owned()
                },
                "never exported",
            ),
        ];
        for (name, bytes, says) in cases {
            let path = dir.path().join(format!("{name}.ret"));
            std::fs::write(&path, bytes).unwrap();
            let out = onecard(&db, dir.path(), &["--json", "reconcile", path.to_str().unwrap(), ret.to_str().unwrap()]);
            assert_eq!(out.status.code(), Some(1), "[{}] {name}", db.engine);
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(err.contains(says) && err.contains(&format!("{name}.ret")), "[{}] {name}: {err}", db.engine);
            let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
            assert_eq!(v[0]["applied"], false);
            assert!(v[0]["error"].is_string());
            assert!(!dir.path().join(format!("{name}.ret.report.csv")).exists(), "no report for a rejected file");
        }
        // The good file given beside each bad one was applied once; the bad ones changed nothing.
        assert_eq!(scalar(&db, "SELECT COUNT(*) FROM source_files WHERE kind = 'bank_return'").await, 1);
        assert_conserved(&db).await;
    }
}

#[tokio::test]
async fn a_failed_payment_is_repaid_once_after_the_registry_gives_a_new_account() {
    for db in databases().await {
        let dir = tempfile::tempdir().unwrap();
        let requests = exported_month(&db, dir.path(), 1500);
        let returns = bank_answers(&db, dir.path(), &requests, &["--fail-rate", "0.3"]);
        let mut args = vec!["reconcile".to_string()];
        args.extend(returns.iter().map(|p| p.to_str().unwrap().to_string()));
        ok(&db, dir.path(), &args.iter().map(String::as_str).collect::<Vec<_>>());
        // One failed person gets a new account from the registry.
        let person: String = {
            use sqlx::Connection;
            sqlx::any::install_default_drivers();
            let mut c = sqlx::AnyConnection::connect(&db.url).await.unwrap();
            sqlx::query_scalar("SELECT p.person_id || '|' || pe.name || '|' || pe.region_code || '|' || c.card_no || '|' || c.bank_code \
                                FROM payments p JOIN persons pe ON pe.person_id = p.person_id JOIN cards c ON c.id = p.card_id \
                                WHERE p.state = 'failed' ORDER BY p.id LIMIT 1")
                .fetch_one(&mut c)
                .await
                .unwrap()
        };
        let f: Vec<&str> = person.split('|').collect();
        let account = onecard::domain::AccountNo::with_check_digit("621799000000000077").unwrap();
        let csv = format!(
            "person_id,name,region_code,card_no,bank_code,account_no\n{},{},{},{},{},{}\n",
            f[0],
            f[1],
            f[2],
            f[3],
            f[4],
            account.as_str()
        );
        std::fs::write(dir.path().join("update.csv"), csv).unwrap();
        ok(&db, dir.path(), &["import", "registry", "update.csv"]);
        let failed_items =
            scalar(&db, &format!("SELECT COUNT(*) FROM items WHERE person_id = '{}' AND state = 'failed'", f[0])).await;
        assert!(failed_items > 0);
        let dec = json(&db, dir.path(), &["run", "create", "--period", "2026-12", "--by", "maker"]);
        let sql = format!(
            "SELECT COUNT(*) FROM payment_items pi JOIN payments p ON p.id = pi.payment_id JOIN items i ON i.id = pi.item_id \
             WHERE p.run_id = 'R202612-01' AND i.person_id = '{}' AND i.benefit_month = '2026-11' AND p.account_no = '{}'",
            f[0],
            account.as_str()
        );
        assert_eq!(
            scalar(&db, &sql).await,
            failed_items,
            "[{}] the failed items go out as arrears to the new account: {dec}",
            db.engine
        );
        // Other failed persons (no new account, no retry ordered) are not re-paid.
        let others = scalar(&db, &format!("SELECT COUNT(*) FROM payments WHERE run_id = 'R202612-01' AND person_id <> '{}' \
                                           AND id IN (SELECT payment_id FROM payment_items pi JOIN items i ON i.id = pi.item_id \
                                           WHERE i.benefit_month = '2026-11' AND i.program <> 'elderly')", f[0])).await;
        assert_eq!(others, 0);
        // A second December run cannot pay them again.
        ok(&db, dir.path(), &["run", "discard", "R202612-01"]);
        ok(&db, dir.path(), &["run", "create", "--period", "2026-12", "--by", "maker"]);
        assert_conserved(&db).await;
    }
}

#[tokio::test]
async fn caseworkers_confirm_cancel_and_the_missed_report_raises_each_key_once() {
    for db in databases().await {
        let dir = tempfile::tempdir().unwrap();
        let requests = exported_month(&db, dir.path(), 1500);
        let returns = bank_answers(&db, dir.path(), &requests, &["--omit-rate", "0.2"]);
        let mut args = vec!["reconcile".to_string()];
        args.extend(returns.iter().map(|p| p.to_str().unwrap().to_string()));
        ok(&db, dir.path(), &args.iter().map(String::as_str).collect::<Vec<_>>());
        ok(&db, dir.path(), &["batch", "close", "--due", "--as-of", "2027-01-31"]);
        let missing = json(&db, dir.path(), &["anomalies", "--code", "missing_in_return", "--open"]);
        let detail = missing[0]["detail"].as_str().unwrap().to_string();
        let serial = detail.split_whitespace().nth(1).unwrap();
        ok(
            &db,
            dir.path(),
            &["payment", "confirm", serial, "--paid", "--by", "supervisor", "--note", "bank statement"],
        );
        assert_eq!(
            scalar(&db, &format!("SELECT COUNT(*) FROM payments WHERE serial_no = '{serial}' AND state = 'paid'"))
                .await,
            1
        );
        let open_after = json(&db, dir.path(), &["anomalies", "--code", "missing_in_return", "--open"]);
        assert_eq!(
            open_after.as_array().unwrap().len() + 1,
            missing.as_array().unwrap().len(),
            "the anomaly is resolved"
        );
        let again = onecard(&db, dir.path(), &["payment", "confirm", serial, "--failed", "--by", "supervisor"]);
        assert_eq!(again.status.code(), Some(1), "a settled payment is not confirmed again");

        // A held item cancelled with a reason is never paid.
        let held: String = {
            use sqlx::Connection;
            let mut c = sqlx::AnyConnection::connect(&db.url).await.unwrap();
            sqlx::query_scalar(
                "SELECT person_id || ' ' || program || ' ' || benefit_month FROM items WHERE state = 'held' \
                                AND hold_code = 'exclusive_conflict' ORDER BY id LIMIT 1",
            )
            .fetch_one(&mut c)
            .await
            .unwrap()
        };
        let key: Vec<&str> = held.split(' ').collect();
        ok(
            &db,
            dir.path(),
            &["item", "cancel", key[0], key[1], key[2], "--reason", "settled: wubao applies", "--by", "supervisor"],
        );
        let no_reason =
            onecard(&db, dir.path(), &["item", "cancel", key[0], key[1], key[2], "--reason", " ", "--by", "x"]);
        assert_eq!(no_reason.status.code(), Some(1));

        // The 遗漏 report: held, failed and unconfirmed keys of November, raised once.
        let report = json(&db, dir.path(), &["missed", "--as-of", "2027-01-20"]);
        assert_eq!(report["periods_up_to"], "2026-11");
        let raised = report["raised"].as_u64().unwrap();
        assert!(raised > 0 && raised == report["missed"]["count"].as_u64().unwrap(), "{report}");
        assert!(report["by_region_program"]
            .as_array()
            .unwrap()
            .iter()
            .all(|g| g["region"].as_str().unwrap().len() == 6));
        let again = json(&db, dir.path(), &["missed", "--as-of", "2027-02-01"]);
        assert_eq!(again["raised"], 0, "each key is raised once");
        let cancelled_missed = scalar(&db, &format!(
            "SELECT COUNT(*) FROM anomalies WHERE code = 'missed_payment' AND person_id = '{}' AND program = '{}' AND benefit_month = '{}'",
            key[0], key[1], key[2])).await;
        assert_eq!(cancelled_missed, 0, "a cancelled item is not missed");
        // Too early: nothing of November is overdue yet.
        let early = json(&db, dir.path(), &["missed", "--as-of", "2027-01-14"]);
        assert_eq!(early["missed"]["count"], 0);
    }
}

#[tokio::test]
async fn an_item_paid_by_two_payments_is_flagged_once_for_recovery() {
    for db in databases().await {
        let dir = tempfile::tempdir().unwrap();
        let requests = exported_month(&db, dir.path(), 600);
        let returns = bank_answers(&db, dir.path(), &requests, &["--fail-rate", "0.3"]);
        let mut args = vec!["reconcile".to_string()];
        args.extend(returns.iter().map(|p| p.to_str().unwrap().to_string()));
        ok(&db, dir.path(), &args.iter().map(String::as_str).collect::<Vec<_>>());

        // A failed item is ordered paid again, and December pays it.
        use sqlx::Connection;
        sqlx::any::install_default_drivers();
        let mut c = sqlx::AnyConnection::connect(&db.url).await.unwrap();
        let failed: String = sqlx::query_scalar(
            "SELECT i.person_id || '|' || i.program || '|' || i.benefit_month || '|' || CAST(i.id AS TEXT) || '|' || \
             CAST(pi.payment_id AS TEXT) || '|' || pe.region_code FROM items i \
             JOIN payment_items pi ON pi.item_id = i.id JOIN persons pe ON pe.person_id = i.person_id \
             WHERE i.state = 'failed' ORDER BY i.id LIMIT 1",
        )
        .fetch_one(&mut c)
        .await
        .unwrap();
        let f: Vec<&str> = failed.split('|').collect();
        ok(&db, dir.path(), &["item", "retry", f[0], f[1], f[2], "--by", "caseworker"]);
        ok(&db, dir.path(), &["run", "create", "--period", "2026-12", "--by", "maker"]);
        ok(&db, dir.path(), &["run", "approve", "R202612-01", "--by", "checker"]);
        let report = json(&db, dir.path(), &["run", "export", "R202612-01", "--outbox", "outbox"]);
        let december: Vec<PathBuf> = report["files"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| dir.path().join("outbox").join(f["file"].as_str().unwrap()))
            .collect();
        let answers = &["--fail-rate", "0", "--omit-rate", "0", "--duplicate-rate", "0"];
        let returns = bank_answers(&db, dir.path(), &december, answers);

        // Before December's returns come in, the November payment turns out
        // paid after all (the flows never do this; an overpayment must still
        // be found whatever made it).
        sqlx::query(&format!("UPDATE payments SET state = 'paid' WHERE id = {}", f[4])).execute(&mut c).await.unwrap();
        let mut args = vec!["reconcile".to_string()];
        args.extend(returns.iter().map(|p| p.to_str().unwrap().to_string()));
        ok(&db, dir.path(), &args.iter().map(String::as_str).collect::<Vec<_>>());
        let flagged = format!(
            "SELECT COUNT(*) FROM anomalies WHERE code = 'double_paid' AND item_id = {} AND payment_id = {} \
             AND person_id = '{}' AND region_code = '{}'",
            f[3], f[4], f[0], f[5]
        );
        assert_eq!(scalar(&db, &flagged).await, 1, "[{}] the item paid twice is flagged, in its region", db.engine);
        assert_eq!(scalar(&db, "SELECT COUNT(*) FROM anomalies WHERE code = 'double_paid'").await, 1);
        // Applying the files again raises nothing new.
        let again = json(&db, dir.path(), &args.iter().map(String::as_str).collect::<Vec<_>>());
        assert!(again.as_array().unwrap().iter().all(|s| s["already_applied"] == true), "{again}");
        assert_eq!(scalar(&db, "SELECT COUNT(*) FROM anomalies WHERE code = 'double_paid'").await, 1);
    }
}
