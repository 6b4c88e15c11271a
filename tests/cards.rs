//! Card issuance through the command line (card-issuance.md): applications,
//! the card-making exchange with the bank, hand-over, loss and replacement,
//! and what each means for payments — on SQLite and PostgreSQL.

mod common;

use std::path::{Path, PathBuf};

use common::{databases, json, ok, onecard, scalar, TestDb};
use onecard::domain::{AccountNo, PersonId};

/// A valid person id from a legacy 15-digit number (place, YYMMDD, sequence).
fn pid(legacy: &str) -> String {
    PersonId::parse(legacy).unwrap().as_str().to_string()
}

fn account(body: &str) -> String {
    AccountNo::with_check_digit(body).unwrap().as_str().to_string()
}

const REGION: &str = "440703001001";

/// Writes the registry: (person_id, name, card_no, bank, account) — no card when card_no is empty.
fn registry(dir: &Path, name: &str, rows: &[(&str, &str, &str, &str, &str)]) -> PathBuf {
    let mut csv = String::from("person_id,name,region_code,phone,death_date,card_no,bank_code,account_no\n");
    for (id, n, card, bank, acct) in rows {
        csv.push_str(&format!("{id},{n},{REGION},,,{card},{bank},{acct}\n"));
    }
    let path = dir.join(name);
    std::fs::write(&path, csv).unwrap();
    path
}

/// Writes and imports a dibao roster for `period` with 500.00 for each person.
fn roster(db: &TestDb, dir: &Path, period: &str, people: &[(&str, &str)]) {
    let mut csv = String::from("program,period,person_id,name,amount,region_code\n");
    for (id, n) in people {
        csv.push_str(&format!("dibao,{period},{id},{n},500.00,{REGION}\n"));
    }
    let path = dir.join(format!("roster_dibao_{period}.csv"));
    std::fs::write(&path, csv).unwrap();
    ok(db, dir, &["import", "roster", path.to_str().unwrap()]);
}

/// Creates and approves the run of `period`; returns its id.
fn approved_run(db: &TestDb, dir: &Path, period: &str) -> String {
    let run = json(db, dir, &["run", "create", "--period", period, "--by", "maker"]);
    let id = run["run_id"].as_str().unwrap().to_string();
    ok(db, dir, &["run", "approve", &id, "--by", "checker"]);
    id
}

/// Exports the waiting applications, lets the bank make every card, imports
/// its return and hands the cards over. Returns the batch numbers.
fn card_round(db: &TestDb, dir: &Path, behaviour: &[&str]) -> Vec<String> {
    let export = json(db, dir, &["cards", "export", "--outbox", "cards-out", "--by", "clerk"]);
    let mut batches = Vec::new();
    for b in export["batches"].as_array().unwrap() {
        let request = dir.join("cards-out").join(b["file"].as_str().unwrap());
        let mut args = vec!["bank", "simulate", request.to_str().unwrap(), "--out", "cards-ret"];
        args.extend_from_slice(behaviour);
        for f in json(db, dir, &args).as_array().unwrap() {
            let path = PathBuf::from(f["file"].as_str().unwrap());
            let path = if path.is_absolute() { path } else { dir.join(path) };
            ok(db, dir, &["cards", "import", path.to_str().unwrap()]);
        }
        let batch = b["batch_no"].as_str().unwrap().to_string();
        ok(db, dir, &["cards", "activate", "--batch", &batch, "--by", "counter"]);
        batches.push(batch);
    }
    batches
}

/// Live claims per item never exceed one, and no item has two paid payments.
async fn assert_each_key_once(db: &TestDb) {
    let live = "SELECT COUNT(*) FROM (SELECT item_id FROM payment_items WHERE released = 0 GROUP BY item_id \
                HAVING COUNT(*) > 1) t";
    assert_eq!(scalar(db, live).await, 0, "[{}] an item claimed twice", db.engine);
}

#[tokio::test]
async fn held_arrears_of_three_months_are_paid_once_each_after_the_card_is_activated() {
    for db in databases().await {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let (waiting, holder) = (pid("440703720307672"), pid("440703550101135"));
        let reg = registry(
            d,
            "cardholders.csv",
            &[
                (&waiting, "陈美玲", "", "", ""),
                (&holder, "梁志强", "K12345678", "102", &account("622202201200000012")),
            ],
        );
        ok(&db, d, &["import", "registry", reg.to_str().unwrap()]);
        let people = [(waiting.as_str(), "陈美玲"), (holder.as_str(), "梁志强")];
        for period in ["2026-08", "2026-09", "2026-10"] {
            roster(&db, d, period, &people);
            approved_run(&db, d, period);
        }
        let held = format!(
            "SELECT COUNT(*) FROM items WHERE person_id = '{waiting}' AND state = 'held' AND hold_code = 'no_active_card'"
        );
        assert_eq!(scalar(&db, &held).await, 3, "[{}] three months held without a card", db.engine);

        // Refusals a caseworker meets.
        let out = onecard(&db, d, &["cards", "apply", "--person", &holder, "--bank", "102", "--by", "clerk"]);
        assert!(String::from_utf8_lossy(&out.stderr).contains("apply for a replacement instead"));
        let filed = json(&db, d, &["cards", "apply", "--person", &waiting, "--bank", "105", "--by", "clerk"]);
        let app = filed["application_id"].as_str().unwrap().to_string();
        assert!(app.starts_with('A') && app.len() <= 24, "{app}");
        let again = onecard(&db, d, &["cards", "apply", "--person", &waiting, "--bank", "105", "--by", "clerk"]);
        assert!(String::from_utf8_lossy(&again.stderr).contains("already in progress"));
        let early = onecard(&db, d, &["cards", "activate", &app, "--by", "counter"]);
        assert!(String::from_utf8_lossy(&early.stderr).contains("the bank has not made it yet"));

        // Before the card is active, another month still holds.
        roster(&db, d, "2026-11", &people);
        card_round(&db, d, &[]);
        let card_no: String = json(&db, d, &["cards", "list", "--state", "active", "--bank", "105"])[0]["card_no"]
            .as_str()
            .unwrap()
            .to_string();
        let run = approved_run(&db, d, "2026-11");
        let arrears = format!(
            "SELECT COUNT(*) FROM payment_items pi JOIN payments p ON p.id = pi.payment_id JOIN items i ON i.id = pi.item_id \
             JOIN cards c ON c.id = p.card_id WHERE p.run_id = '{run}' AND i.person_id = '{waiting}' AND c.card_no = '{card_no}'"
        );
        assert_eq!(scalar(&db, &arrears).await, 4, "[{}] August to November in one payment to the new card", db.engine);
        let payments = format!("SELECT COUNT(*) FROM payments WHERE run_id = '{run}' AND person_id = '{waiting}'");
        assert_eq!(scalar(&db, &payments).await, 1);
        let amount = format!("SELECT amount_fen FROM payments WHERE run_id = '{run}' AND person_id = '{waiting}'");
        assert_eq!(scalar(&db, &amount).await, 4 * 50_000);

        // December pays December only: the arrears are claimed.
        roster(&db, d, "2026-12", &people);
        let next = approved_run(&db, d, "2026-12");
        let dec = format!(
            "SELECT COUNT(*) FROM payment_items pi JOIN payments p ON p.id = pi.payment_id JOIN items i ON i.id = pi.item_id \
             WHERE p.run_id = '{next}' AND i.person_id = '{waiting}'"
        );
        assert_eq!(scalar(&db, &dec).await, 1, "[{}] only December", db.engine);
        assert_each_key_once(&db).await;

        let status = ok(&db, d, &["status", &waiting]);
        for step in ["(new) -> applied", "applied -> in_production", "in_production -> made", "made -> active"] {
            assert!(status.contains(step), "[{}] status shows {step}:\n{status}", db.engine);
        }
        assert!(status.contains(&card_no));
    }
}

/// The bank's TXT-A return failing every payment of a request with `1005 卡已挂失`.
fn card_lost_return(request: &Path, out: &Path) {
    let bytes = std::fs::read(request).unwrap();
    let (text, _, bad) = encoding_rs::GBK.decode(&bytes);
    assert!(!bad);
    let mut lines = text.split("\r\n").filter(|l| !l.is_empty());
    let h: Vec<&str> = lines.next().unwrap().split('|').collect();
    let mut body = String::new();
    let mut n = 0;
    for l in lines {
        let f: Vec<&str> = l.split('|').collect();
        body.push_str(&format!("D|{}|{}|{}|{}|{}|F|1005|卡已挂失|\r\n", f[1], f[2], f[3], f[4], f[5]));
        n += 1;
    }
    let head = format!("H|{}|{}|{}|{n}|{}|0|0.00|{n}|{}\r\n", h[1], h[2], h[3], h[5], h[5]);
    let text = head + &body;
    std::fs::write(out, encoding_rs::GBK.encode(&text).0).unwrap();
}

#[tokio::test]
async fn a_payment_failed_on_a_lost_card_is_repaid_once_to_the_replacement() {
    for db in databases().await {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let person = pid("440703480215213");
        let old_account = account("622202201200000099");
        let reg = registry(d, "cardholders.csv", &[(&person, "黄伟明", "K00000001", "102", &old_account)]);
        ok(&db, d, &["import", "registry", reg.to_str().unwrap()]);
        roster(&db, d, "2026-10", &[(person.as_str(), "黄伟明")]);
        let run = approved_run(&db, d, "2026-10");
        let export = json(&db, d, &["run", "export", &run, "--outbox", "outbox"]);
        let request = d.join("outbox").join(export["files"][0]["file"].as_str().unwrap());

        // The card is lost after the file went out; a replacement is applied for at once.
        let filed = json(&db, d, &["cards", "replace", "--person", &person, "--lost", "--by", "clerk"]);
        assert_eq!(filed["reported_lost"], "K00000001");
        assert_eq!(filed["bank_code"], "102", "the replacement keeps the bank");
        card_lost_return(&request, &d.join("lost.ret"));
        let rec = json(&db, d, &["reconcile", "lost.ret"]);
        assert_eq!(rec[0]["failed"]["count"], 1, "{rec}");
        let reason =
            format!("SELECT COUNT(*) FROM payments WHERE person_id = '{person}' AND bank_reason = 'card_lost'");
        assert_eq!(scalar(&db, &reason).await, 1);

        // No active card: November holds October, nothing goes to the lost card.
        roster(&db, d, "2026-11", &[(person.as_str(), "黄伟明")]);
        let nov = approved_run(&db, d, "2026-11");
        let paid_nov = format!("SELECT COUNT(*) FROM payments WHERE run_id = '{nov}' AND person_id = '{person}'");
        assert_eq!(scalar(&db, &paid_nov).await, 0, "[{}] nothing to the lost card", db.engine);

        // The replacement is made and handed over; the lost card is cancelled.
        card_round(&db, d, &[]);
        let old = "SELECT COUNT(*) FROM cards WHERE card_no = 'K00000001' AND state = 'cancelled'";
        assert_eq!(scalar(&db, old).await, 1, "[{}] the replaced card is cancelled", db.engine);
        let dec = approved_run(&db, d, "2026-12");
        let repaid = format!(
            "SELECT COUNT(*) FROM payment_items pi JOIN payments p ON p.id = pi.payment_id JOIN items i ON i.id = pi.item_id \
             WHERE p.run_id = '{dec}' AND i.person_id = '{person}' AND i.benefit_month = '2026-10' \
             AND p.account_no <> '{old_account}'"
        );
        assert_eq!(scalar(&db, &repaid).await, 1, "[{}] October re-paid to the new account", db.engine);
        let months = format!(
            "SELECT COUNT(*) FROM payment_items pi JOIN payments p ON p.id = pi.payment_id WHERE p.run_id = '{dec}'"
        );
        assert_eq!(scalar(&db, &months).await, 2, "[{}] October and November, December has no roster", db.engine);
        assert_each_key_once(&db).await;
        let status = ok(&db, d, &["status", &person]);
        assert!(status.contains("active -> lost") && status.contains("lost -> cancelled"), "{status}");
    }
}

/// What the card tables hold, to compare before and after a refused file.
async fn snapshot(db: &TestDb) -> Vec<i64> {
    let mut v = Vec::new();
    for sql in [
        "SELECT COUNT(*) FROM cards WHERE state = 'in_production'",
        "SELECT COUNT(*) FROM cards WHERE state = 'made'",
        "SELECT COUNT(*) FROM card_events",
        "SELECT COUNT(*) FROM source_files",
        "SELECT COUNT(*) FROM anomalies",
    ] {
        v.push(scalar(db, sql).await);
    }
    v
}

#[tokio::test]
async fn bad_card_returns_change_nothing_and_anomalous_lines_are_not_applied() {
    for db in databases().await {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let ids: Vec<String> = ["440703600101011", "440703600101022", "440703600101033", "440703600101044"]
            .iter()
            .map(|l| pid(l))
            .collect();
        let other = pid("440703600101055");
        let mut rows: Vec<(&str, &str, &str, &str, &str)> =
            ids.iter().map(|i| (i.as_str(), "李娜", "", "", "")).collect();
        let other_account = account("622848446500000011");
        rows.push((&other, "王芳", "B55555555", "103", &other_account));
        let reg = registry(d, "cardholders.csv", &rows);
        ok(&db, d, &["import", "registry", reg.to_str().unwrap()]);
        // Bulk applications: a bad row and an unknown person are refused and kept; the rest filed.
        let mut csv = String::from("身份证号,银行代码,申领类型\n");
        for i in &ids {
            csv.push_str(&format!("{i},103,new\n"));
        }
        csv.push_str(&format!("{},103,new\n{},999,new\n", pid("440703600101066"), ids[0]));
        std::fs::write(d.join("apply.csv"), &csv).unwrap();
        let bulk = json(&db, d, &["cards", "apply", "--file", "apply.csv", "--by", "clerk"]);
        assert_eq!((bulk["accepted"].as_u64(), bulk["rejected"].as_u64()), (Some(4), Some(2)), "{bulk}");
        let rejects = std::fs::read_to_string(d.join("apply.csv.rejects.csv")).unwrap();
        assert!(rejects.contains("not in the registry") && rejects.contains("999"), "{rejects}");
        let again = json(&db, d, &["cards", "apply", "--file", "apply.csv", "--by", "clerk"]);
        assert_eq!(again["already_imported"], true);

        let export = json(&db, d, &["cards", "export", "--outbox", "cards-out", "--by", "clerk"]);
        let request = d.join("cards-out").join(export["batches"][0]["file"].as_str().unwrap());
        let sim = json(&db, d, &["bank", "simulate", request.to_str().unwrap(), "--out", "ret"]);
        let good_path = PathBuf::from(sim[0]["file"].as_str().unwrap());
        let good_path = if good_path.is_absolute() { good_path } else { d.join(good_path) };
        let good = std::fs::read(&good_path).unwrap();
        let text = encoding_rs::GBK.decode(&good).0.into_owned();
        let batch = export["batches"][0]["batch_no"].as_str().unwrap();

        let before = snapshot(&db).await;
        let crlf = |s: String| encoding_rs::GBK.encode(&s).0.into_owned();
        let first_line = text.lines().nth(1).unwrap().to_string();
        let bad_files: Vec<(&str, Vec<u8>)> = vec![
            ("count.ret", crlf(text.replacen(&format!("H|{batch}|4|4|0"), &format!("H|{batch}|5|5|0"), 1))),
            ("split.ret", crlf(text.replacen(&format!("H|{batch}|4|4|0"), &format!("H|{batch}|4|3|1"), 1))),
            ("batch.ret", crlf(text.replace(batch, "ZK20990101103001"))),
            ("truncated.ret", good[..good.len() - 30].to_vec()),
            ("luhn.ret", {
                let f: Vec<&str> = first_line.split('|').collect();
                let mut wrong = f[6].to_string();
                let last = wrong.pop().unwrap().to_digit(10).unwrap();
                wrong.push(char::from_digit((last + 1) % 10, 10).unwrap());
                crlf(text.replacen(f[6], &wrong, 1))
            }),
        ];
        for (name, bytes) in &bad_files {
            std::fs::write(d.join(name), bytes).unwrap();
            let out = onecard(&db, d, &["cards", "import", name]);
            assert_eq!(out.status.code(), Some(1), "[{}] {name} must be refused", db.engine);
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(err.contains(name) && err.contains("nothing applied"), "{err}");
            assert_eq!(snapshot(&db).await, before, "[{}] {name} changed something", db.engine);
        }

        // A return whose lines name the wrong person or a card number already held: anomalies, not applied.
        let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
        let f1: Vec<String> = lines[1].split('|').map(str::to_string).collect();
        lines[1] = lines[1].replacen(&f1[3], &ids[3], 1);
        let f2: Vec<String> = lines[2].split('|').map(str::to_string).collect();
        lines[2] = lines[2].replacen(&f2[5], "B55555555", 1);
        std::fs::write(d.join("mixed.ret"), crlf(lines.join("\r\n") + "\r\n")).unwrap();
        let applied = json(&db, d, &["cards", "import", "mixed.ret"]);
        assert_eq!(applied[0]["made"], 2, "{applied}");
        assert_eq!(applied[0]["anomalies"]["card_person_mismatch"], 1);
        assert_eq!(applied[0]["anomalies"]["card_number_taken"], 1);
        assert_eq!(scalar(&db, "SELECT COUNT(*) FROM cards WHERE state = 'made'").await, 2);
        // The genuine return then answers the two left; its other lines are duplicates.
        let rest = json(&db, d, &["cards", "import", good_path.to_str().unwrap()]);
        assert_eq!(rest[0]["made"], 2, "{rest}");
        assert_eq!(rest[0]["anomalies"]["card_duplicate_return"], 2);
        let again = json(&db, d, &["cards", "import", good_path.to_str().unwrap()]);
        assert_eq!(again[0]["already_applied"], true);
        assert_eq!(scalar(&db, "SELECT COUNT(*) FROM cards WHERE state = 'made'").await, 4);
        let holder = "SELECT COUNT(*) FROM cards WHERE card_no = 'B55555555' AND state = 'active'";
        assert_eq!(scalar(&db, holder).await, 1, "the other person's card is untouched");
    }
}

#[tokio::test]
async fn a_death_cancels_cards_in_production_and_the_bank_answer_is_kept_but_not_handed_over() {
    for db in databases().await {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let person = pid("440703300505071");
        let reg = registry(d, "cardholders.csv", &[(&person, "周桂英", "", "", "")]);
        ok(&db, d, &["import", "registry", reg.to_str().unwrap()]);
        ok(&db, d, &["cards", "apply", "--person", &person, "--bank", "403", "--by", "clerk"]);
        let export = json(&db, d, &["cards", "export", "--outbox", "out", "--by", "clerk"]);
        let death = format!("person_id,name,region_code,death_date\n{person},周桂英,{REGION},2026-11-02\n");
        std::fs::write(d.join("death.csv"), death).unwrap();
        ok(&db, d, &["import", "registry", "death.csv"]);
        let request = d.join("out").join(export["batches"][0]["file"].as_str().unwrap());
        let sim = json(&db, d, &["bank", "simulate", request.to_str().unwrap(), "--out", "ret"]);
        let ret = sim[0]["file"].as_str().unwrap().to_string();
        let applied = json(&db, d, &["cards", "import", &ret]);
        assert_eq!(applied[0]["after_cancellation"], 1, "{applied}");
        let card = "SELECT COUNT(*) FROM cards WHERE state = 'cancelled' AND card_no IS NOT NULL";
        assert_eq!(scalar(&db, card).await, 1);
        let batch = export["batches"][0]["batch_no"].as_str().unwrap();
        let out = ok(&db, d, &["cards", "activate", "--batch", batch, "--by", "counter"]);
        assert!(out.contains("no made cards"), "{out}");
        let status = ok(&db, d, &["status", &person]);
        assert!(status.contains("death recorded in the registry"), "{status}");
    }
}
