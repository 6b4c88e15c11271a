//! The real-time channel through real TCP on loopback: every response code,
//! out-of-order answers, timeouts and reversals, a late answer, a killed
//! client, MAC failures both ways, verification holding items, urgent relief
//! excluded from the monthly run — on both databases — and an independent
//! ISO 8583 implementation, written here from iso8583.md alone, talking to
//! the simulator and to the client.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::time::Duration;

use chrono::NaiveDate;
use common::{databases, scalar, TestDb};
use onecard::domain::{AccountNo, PersonId};
use onecard::iso8583::client::{Answer, Client, CreditRef, Endpoint, Stans, Unknown};
use onecard::iso8583::server::{self, Account, AccountStatus, BankSim};
use onecard::iso8583::SharedKey;

const BANK: &str = "105";
const KEY: [u8; 32] = *b"onecard-test-key-32-bytes-long!!";
const NAMES: &[&str] =
    &["张伟", "王芳", "李娜", "刘洋", "陈静", "杨勇", "赵敏", "黄磊", "周婷", "吴刚", "徐丽", "孙强"];

fn key() -> SharedKey {
    SharedKey::from_bytes(KEY)
}

/// Persons of the test registry: valid ids and Luhn accounts at bank 105.
fn person(i: usize) -> (String, String) {
    let id = PersonId::from_parts(
        "440703",
        NaiveDate::from_ymd_opt(1950 + i as i32, 3, 1 + i as u32).unwrap(),
        11 + i as u16,
    )
    .unwrap();
    let account = AccountNo::with_check_digit(&format!("621700044070{:06}", 300 + i)).unwrap();
    (id.as_str().to_string(), account.as_str().to_string())
}

fn endpoint(addr: SocketAddr, timeout_ms: u64) -> Endpoint {
    Endpoint {
        bank_code: BANK.into(),
        host: addr.ip().to_string(),
        port: addr.port(),
        terminal_id: "JMSBK105".into(),
        agency_code: "44070001".into(),
        timeout: Duration::from_millis(timeout_ms),
        echo_interval: Duration::from_secs(60),
        reversal_attempts: 4,
        reversal_backoff: Duration::from_millis(50),
        reversal_backoff_max: Duration::from_millis(200),
    }
}

/// A simulator with an account in each state, and a client to it.
async fn bank_and_client(timeout_ms: u64) -> (Arc<BankSim>, Client, Vec<(String, String)>) {
    let mut accounts = HashMap::new();
    let people: Vec<(String, String)> = (0..6).map(person).collect();
    let states = [AccountStatus::Open, AccountStatus::Lost, AccountStatus::Closed, AccountStatus::Frozen];
    for (i, (id, acct)) in people.iter().enumerate().take(4) {
        accounts.insert(acct.clone(), Account { person_id: id.clone(), status: states[i] });
    }
    let sim = BankSim::new(key(), accounts);
    let (addr, _) = server::spawn("127.0.0.1:0", sim.clone()).await.unwrap();
    let client = Client::start(endpoint(addr, timeout_ms), key(), Stans::in_memory());
    (sim, client, people)
}

async fn code_of(client: &Client, m: &onecard::iso8583::Message) -> String {
    match client.request(m).await.unwrap() {
        Answer::Response(r) => r.get(39).unwrap().to_string(),
        Answer::Unknown(u) => format!("unknown: {u}"),
    }
}

async fn verify_code(client: &Client, account: String, holder: String) -> String {
    let stan = client.next_stan().await.unwrap();
    let rrn = format!("V{stan:0>11}");
    code_of(client, &client.verification(&stan, &rrn, &account, &holder)).await
}

#[tokio::test]
async fn the_simulator_answers_every_response_code() {
    let (sim, client, people) = bank_and_client(2000).await;
    let verify = |i: usize, holder: &str| verify_code(&client, people[i].1.clone(), holder.to_string());
    assert_eq!(verify(0, &people[0].0).await, "00");
    assert_eq!(verify(1, &people[1].0).await, "41");
    assert_eq!(verify(2, &people[2].0).await, "54");
    assert_eq!(verify(3, &people[3].0).await, "62");
    assert_eq!(verify(4, &people[4].0).await, "14", "no such account");
    assert_eq!(verify(0, &people[1].0).await, "N1", "holder id does not match");

    let credit = |rrn: &str, stan: String| CreditRef {
        account: people[0].1.clone(),
        amount_fen: 78_000,
        stan,
        rrn: rrn.into(),
        transmitted: onecard::iso8583::client::transmission_time(),
    };
    let c1 = credit("000000000001", client.next_stan().await.unwrap());
    assert_eq!(code_of(&client, &client.credit(&c1, &people[0].0)).await, "00");
    // The same RRN again (a retried credit): 94, and nothing is credited twice.
    let again = credit("000000000001", client.next_stan().await.unwrap());
    assert_eq!(code_of(&client, &client.credit(&again, &people[0].0)).await, "94");
    assert_eq!(sim.standing(), (1, 78_000));
    // An invalid processing code: 12.
    let mut bad = client.credit(&credit("000000000002", client.next_stan().await.unwrap()), &people[0].0);
    bad.set(3, "330000");
    assert_eq!(code_of(&client, &bad).await, "12");
    // A system error on demand: 96, nothing credited.
    sim.misbehave("error@0200*1".parse().unwrap());
    let c3 = credit("000000000003", client.next_stan().await.unwrap());
    assert_eq!(code_of(&client, &client.credit(&c3, &people[0].0)).await, "96");
    assert_eq!(sim.credit("000000000003"), None);
    // Reversals: of a credit made (00), of one never made (25).
    let stan = client.next_stan().await.unwrap();
    assert_eq!(code_of(&client, &client.reversal(&stan, &c1)).await, "00");
    assert!(sim.credit("000000000001").unwrap().reversed);
    assert_eq!(sim.standing(), (0, 0));
    let stan = client.next_stan().await.unwrap();
    assert_eq!(code_of(&client, &client.reversal(&stan, &credit("000000000009", "000009".into()))).await, "25");
    // Echo: 00.
    let stan = client.next_stan().await.unwrap();
    assert_eq!(code_of(&client, &client.echo(&stan)).await, "00");
    // A client with another key: the bank answers A0, signed with its own key,
    // which this client cannot verify and therefore ignores (no answer).
    let (addr, _) = server::spawn("127.0.0.1:0", sim.clone()).await.unwrap();
    let stranger = Client::start(endpoint(addr, 300), SharedKey::from_bytes([1; 32]), Stans::in_memory());
    let stan = stranger.next_stan().await.unwrap();
    let m = stranger.verification(&stan, "V00000000001", &people[0].1, &people[0].0);
    assert_eq!(stranger.request(&m).await.unwrap(), Answer::Unknown(Unknown::Timeout));
    assert_eq!(sim.stats.mac_failures.load(std::sync::atomic::Ordering::Relaxed), 1);
    assert_eq!(stranger.stats().bad_mac.load(std::sync::atomic::Ordering::Relaxed), 1);
}

#[tokio::test]
async fn responses_out_of_order_are_matched_by_stan_and_rrn() {
    let (sim, client, people) = bank_and_client(3000).await;
    sim.misbehave("reorder=6@0100*6".parse().unwrap());
    let client = Arc::new(client);
    let expected: [&'static str; 6] = ["00", "41", "54", "62", "14", "N1"];
    let mut tasks = Vec::new();
    for (i, want) in expected.into_iter().enumerate() {
        let (client, people) = (client.clone(), people.clone());
        tasks.push(tokio::spawn(async move {
            let holder = if i == 5 { people[4].0.clone() } else { people[i.min(4)].0.clone() };
            let account = if i == 5 { people[0].1.clone() } else { people[i].1.clone() };
            let stan = client.next_stan().await.unwrap();
            let m = client.verification(&stan, &format!("V{stan:0>11}"), &account, &holder);
            (code_of(&client, &m).await, want)
        }));
    }
    for t in tasks {
        let (got, want) = t.await.unwrap();
        assert_eq!(got, want);
    }
    assert_eq!(client.stats().unmatched.load(std::sync::atomic::Ordering::Relaxed), 0);
}

#[tokio::test]
async fn a_closed_connection_is_reopened_and_echoes_keep_it_alive() {
    let (sim, _, people) = bank_and_client(1000).await;
    let (addr, _) = server::spawn("127.0.0.1:0", sim.clone()).await.unwrap();
    let mut e = endpoint(addr, 1000);
    e.echo_interval = Duration::from_millis(100);
    let client = Client::start(e, key(), Stans::in_memory());
    sim.misbehave("close@0100*1".parse().unwrap());
    let stan = client.next_stan().await.unwrap();
    let m = client.verification(&stan, "V00000000001", &people[0].1, &people[0].0);
    assert_eq!(client.request(&m).await.unwrap(), Answer::Unknown(Unknown::ConnectionLost));
    let stan = client.next_stan().await.unwrap();
    let m = client.verification(&stan, "V00000000002", &people[0].1, &people[0].0);
    assert_eq!(code_of(&client, &m).await, "00");
    assert_eq!(client.stats().connects.load(std::sync::atomic::Ordering::Relaxed), 2);
    let before = sim.stats.received.load(std::sync::atomic::Ordering::Relaxed);
    tokio::time::sleep(Duration::from_millis(450)).await;
    let echoes = sim.stats.received.load(std::sync::atomic::Ordering::Relaxed) - before;
    assert!(echoes >= 3, "echoes every 100 ms on an idle line: {echoes}");
}

// ---------- the card centre end to end, on both databases ----------

/// A registry of `n` persons with cards at bank 105, a simulator for the
/// bank with their accounts, and a configuration that points at it.
struct World {
    db: TestDb,
    dir: tempfile::TempDir,
    sim: Arc<BankSim>,
    _addr: SocketAddr,
    people: Vec<(String, String)>,
    key_file: PathBuf,
}

const TIMEOUT_MS: u64 = 500;

impl World {
    async fn new(db: TestDb, n: usize) -> World {
        let dir = tempfile::tempdir().unwrap();
        let people: Vec<(String, String)> = (0..n).map(person).collect();
        let mut csv = String::from("person_id,name,region_code,phone,death_date,card_no,bank_code,account_no\n");
        for (i, (id, acct)) in people.iter().enumerate() {
            csv.push_str(&format!("{id},{},440703001001,,,K{:08},{BANK},{acct}\n", NAMES[i % NAMES.len()], 1000 + i));
        }
        std::fs::write(dir.path().join("cardholders.csv"), csv).unwrap();
        let key_file = dir.path().join("iso.keys");
        std::fs::write(&key_file, format!("{BANK} = {}\n", hex::encode_upper(KEY))).unwrap();
        let w0 = World {
            db,
            dir,
            sim: BankSim::new(key(), HashMap::new()),
            _addr: "127.0.0.1:1".parse().unwrap(),
            people,
            key_file,
        };
        w0.write_config(1, TIMEOUT_MS);
        w0.ok(&["import", "registry", "cardholders.csv"]);
        let mut accounts = HashMap::new();
        for (id, acct) in &w0.people {
            accounts.insert(acct.clone(), Account { person_id: id.clone(), status: AccountStatus::Open });
        }
        let sim = BankSim::new(key(), accounts);
        let (addr, _) = server::spawn("127.0.0.1:0", sim.clone()).await.unwrap();
        let w = World { sim, _addr: addr, ..w0 };
        w.write_config(addr.port(), TIMEOUT_MS);
        w
    }

    /// The bank files: 105 with a channel to `port`, the others as built in, without one.
    fn write_config(&self, port: u16, timeout_ms: u64) {
        let banks = self.dir.path().join("banks");
        std::fs::create_dir_all(&banks).unwrap();
        for (name, text) in onecard::config::EMBEDDED_BANKS {
            let plain = text.split("\n[iso8583]").next().unwrap().to_string();
            let text = if name.starts_with(BANK) {
                format!(
                    "{plain}\n[iso8583]\nhost = \"127.0.0.1\"\nport = {port}\nterminal_id = \"JMSBK105\"\n\
                     timeout_ms = {timeout_ms}\nreversal_attempts = 4\nreversal_backoff_ms = 50\n\
                     reversal_backoff_max_ms = 200\n"
                )
            } else {
                plain
            };
            std::fs::write(banks.join(name), text).unwrap();
        }
        std::fs::write(self.dir.path().join("onecard.toml"), "bank_formats_dir = \"banks\"\n").unwrap();
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_onecard"));
        c.current_dir(self.dir.path())
            .arg("--db")
            .arg(&self.db.url)
            .arg("--config")
            .arg(self.dir.path().join("onecard.toml"))
            .args(args)
            .env("ONECARD_ISO_KEY_FILE", &self.key_file)
            .env_remove("ONECARD_ISO_KEY_105")
            .env_remove("ONECARD_CONFIG");
        c
    }

    fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("run onecard")
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "[{}] onecard {args:?} failed:\nstdout: {}\nstderr: {}",
            self.db.engine,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// `--json` output, whatever the exit status; the status is returned too.
    fn json(&self, args: &[&str]) -> (serde_json::Value, i32) {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        let out = self.run(&all);
        let text = String::from_utf8_lossy(&out.stdout);
        let v = serde_json::from_str(&text).unwrap_or_else(|e| {
            panic!("[{}] {args:?}: no JSON ({e}): {text}\n{}", self.db.engine, String::from_utf8_lossy(&out.stderr))
        });
        (v, out.status.code().unwrap_or(-1))
    }

    fn relief(&self, i: usize, amount: &str) -> (serde_json::Value, i32) {
        let id = self.people[i].0.clone();
        self.json(&[
            "relief",
            "pay",
            "--person",
            &id,
            "--amount",
            amount,
            "--reason",
            "house fire",
            "--by",
            "alice",
            "--month",
            "2026-11",
        ])
    }

    async fn count(&self, sql: &str) -> i64 {
        scalar(&self.db, sql).await
    }

    async fn credit_state(&self, i: usize) -> String {
        let sql = format!(
            "SELECT CAST(CASE state WHEN 'sent' THEN 1 WHEN 'paid' THEN 2 WHEN 'failed' THEN 3 WHEN 'unknown' THEN 4 \
             WHEN 'reversing' THEN 5 WHEN 'reversed' THEN 6 END AS BIGINT) FROM realtime_credits \
             WHERE person_id = '{}' ORDER BY id DESC LIMIT 1",
            self.people[i].0
        );
        ["", "sent", "paid", "failed", "unknown", "reversing", "reversed"][self.count(&sql).await as usize].to_string()
    }

    async fn item_state(&self, i: usize) -> String {
        let sql = format!(
            "SELECT CAST(CASE state WHEN 'paid' THEN 1 WHEN 'failed' THEN 2 WHEN 'held' THEN 3 WHEN 'sent' THEN 4 \
             ELSE 9 END AS BIGINT) FROM items WHERE person_id = '{}' AND program = 'temp_relief'",
            self.people[i].0
        );
        ["", "paid", "failed", "held", "sent", "", "", "", "", "other"][self.count(&sql).await as usize].to_string()
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

/// Blocking CLI calls off the runtime's threads, so that the simulator keeps serving.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.unwrap()
}

macro_rules! world_call {
    ($w:expr, $method:ident ( $($arg:expr),* )) => {{
        let w = $w.clone();
        blocking(move || w.$method($($arg),*)).await
    }};
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn urgent_relief_is_paid_at_once_shown_in_status_and_excluded_from_the_monthly_run() {
    for db in databases().await {
        let w = Arc::new(World::new(db, 4).await);
        let (r, code) = world_call!(w, relief(0, "800.00"));
        assert_eq!((r["outcome"].as_str(), code), (Some("paid"), 0), "{r}");
        assert_eq!(r["response_code"], "00");
        assert_eq!(w.sim.standing(), (1, 80_000));
        assert_eq!(w.item_state(0).await, "paid");
        let id = w.people[0].0.clone();
        let st = {
            let w = w.clone();
            let id = id.clone();
            blocking(move || w.ok(&["status", &id])).await
        };
        assert!(st.contains("Real-time credits") && st.contains("paid") && st.contains("temp_relief"), "{st}");
        let (sj, _) = {
            let w = w.clone();
            let id = id.clone();
            blocking(move || w.json(&["status", &id])).await
        };
        assert_eq!(sj["realtime"][0]["state"], "paid");
        assert_eq!(sj["cards"][0]["verification"], "verified", "an unverified card is verified before the credit");

        // The same command again: already_paid, nothing sent.
        let (again, code) = world_call!(w, relief(0, "800.00"));
        assert_eq!((again["outcome"].as_str(), code), (Some("already_paid"), 0), "{again}");
        assert_eq!(w.sim.standing(), (1, 80_000));

        // The month's roster lists the same key: the run flags it already_paid and pays it no more.
        let roster = format!(
            "program,period,person_id,name,amount,region_code,for_period,source_ref\n\
             temp_relief,2026-11,{id},{},800.00,440703001001,,MZ1\n\
             temp_relief,2026-11,{},{},300.00,440703001001,,MZ2\n",
            NAMES[0], w.people[1].0, NAMES[1]
        );
        std::fs::write(w.path("roster_temp_relief_2026-11.csv"), roster).unwrap();
        {
            let w = w.clone();
            blocking(move || w.ok(&["import", "roster", "roster_temp_relief_2026-11.csv"])).await
        };
        let (run, _) = {
            let w = w.clone();
            blocking(move || w.json(&["run", "create", "--period", "2026-11", "--by", "maker"])).await
        };
        assert_eq!(run["anomalies"]["already_paid"], 1, "{run}");
        assert_eq!(run["payments"]["count"], 1, "only the other person is paid by the run: {run}");
        let claimed = format!(
            "SELECT COUNT(*) FROM payment_items pi JOIN items i ON i.id = pi.item_id WHERE i.person_id = '{id}'"
        );
        assert_eq!(w.count(&claimed).await, 0);
        assert_eq!(w.item_state(0).await, "paid");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unanswered_credit_is_reversed_and_settled_as_not_paid_then_paid_once_on_retry() {
    for db in databases().await {
        let w = Arc::new(World::new(db, 3).await);
        w.sim.misbehave("drop@0200*1".parse().unwrap());
        let (r, code) = world_call!(w, relief(1, "1200.00"));
        assert_eq!((r["outcome"].as_str(), code), (Some("reversed"), 1), "{r}");
        assert_eq!(r["reversal_code"], "00", "the bank had credited it: the reversal undoes it");
        assert_eq!(w.sim.standing(), (0, 0));
        assert_eq!(w.credit_state(1).await, "reversed");
        assert_eq!(w.item_state(1).await, "failed");
        // Paying again is a new credit with a new RRN, paid once.
        let (r, code) = world_call!(w, relief(1, "1200.00"));
        assert_eq!((r["outcome"].as_str(), code), (Some("paid"), 0), "{r}");
        assert_eq!(w.sim.standing(), (1, 120_000));
        assert_eq!(w.count("SELECT COUNT(*) FROM realtime_credits").await, 2);
        assert_eq!(w.count("SELECT COUNT(*) FROM realtime_credits WHERE state = 'paid'").await, 1);

        // A credit the bank never got: its reversal is answered 25, settled as not paid.
        w.sim.misbehave("lose@0200*1".parse().unwrap());
        let (r, _) = world_call!(w, relief(2, "50.00"));
        assert_eq!((r["outcome"].as_str(), r["reversal_code"].as_str()), (Some("reversed"), Some("25")), "{r}");
        assert_eq!(w.item_state(2).await, "failed");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_response_arriving_after_the_reversal_changes_nothing() {
    for db in databases().await {
        let w = Arc::new(World::new(db, 2).await);
        // The bank credits at once but answers after the client's timeout.
        w.sim.misbehave(format!("delay={}@0200*1", TIMEOUT_MS * 3).parse().unwrap());
        let (r, code) = world_call!(w, relief(0, "66.00"));
        assert_eq!((r["outcome"].as_str(), code), (Some("reversed"), 1), "{r}");
        assert_eq!(w.sim.standing(), (0, 0), "the reversal undid the credit");
        assert_eq!(w.credit_state(0).await, "reversed");
        assert_eq!(w.item_state(0).await, "failed");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_killed_between_sending_and_the_answer_is_finished_at_the_next_start() {
    for db in databases().await {
        let w = Arc::new(World::new(db, 3).await);
        // Neither the credit nor its reversals are answered while the client lives.
        w.sim.misbehave("drop@0200".parse().unwrap());
        w.sim.misbehave("drop@0400".parse().unwrap());
        let id = w.people[0].0.clone();
        let mut child = w
            .command(&[
                "relief", "pay", "--person", &id, "--amount", "99.00", "--reason", "flood", "--by", "alice", "--month",
                "2026-11",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        for _ in 0..200 {
            if w.sim.standing().0 == 1 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(w.sim.standing(), (1, 9_900), "the bank got the credit");
        child.kill().unwrap();
        child.wait().unwrap();
        let state = w.credit_state(0).await;
        assert!(["sent", "unknown", "reversing"].contains(&state.as_str()), "open after the kill: {state}");
        assert_eq!(w.item_state(0).await, "sent", "neither paid nor failed");
        w.sim.behave();
        // A live process would have touched it by now: the next start finishes it.
        tokio::time::sleep(Duration::from_millis(TIMEOUT_MS + 200 + 1_100)).await;
        let (done, code) = {
            let w = w.clone();
            blocking(move || w.json(&["relief", "recover"])).await
        };
        assert_eq!(code, 0, "{done}");
        assert_eq!(done[0]["state"], "reversed", "{done}");
        assert_eq!(w.sim.standing(), (0, 0));
        assert_eq!(w.item_state(0).await, "failed");
        // Nothing is left open; paying now is one credit.
        let (r, _) = world_call!(w, relief(0, "99.00"));
        assert_eq!(r["outcome"], "paid", "{r}");
        assert_eq!(w.sim.standing(), (1, 9_900));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mac_failures_both_ways_never_pay_and_never_fail_a_credit() {
    for db in databases().await {
        let w = Arc::new(World::new(db, 3).await);
        // The bank's answer carries a bad MAC: ignored, so unknown, so reversed.
        w.sim.misbehave("badmac@0200*1".parse().unwrap());
        let (r, _) = world_call!(w, relief(0, "10.00"));
        assert_eq!(r["outcome"], "reversed", "{r}");
        assert_eq!(w.sim.standing(), (0, 0));

        // The client's key is wrong: the bank answers A0 and credits nothing;
        // the client cannot verify that answer either, so the credit stays
        // unknown (reversals unanswered too), never failed.
        let wrong = w.path("wrong.keys");
        std::fs::write(&wrong, format!("{BANK} = {}\n", "AB".repeat(32))).unwrap();
        let id = w.people[1].0.clone();
        let out = {
            let (w, wrong, id) = (w.clone(), wrong.clone(), id.clone());
            blocking(move || {
                w.command(&[
                    "--json", "relief", "pay", "--person", &id, "--amount", "10.00", "--reason", "fire", "--by",
                    "alice", "--month", "2026-11",
                ])
                .env("ONECARD_ISO_KEY_FILE", &wrong)
                .output()
                .unwrap()
            })
            .await
        };
        let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!((r["outcome"].as_str(), out.status.code()), (Some("unknown"), Some(1)), "{r}");
        assert!(w.sim.stats.mac_failures.load(std::sync::atomic::Ordering::Relaxed) >= 2);
        assert_eq!(w.sim.standing(), (0, 0));
        assert_eq!(w.credit_state(1).await, "reversing");
        assert_eq!(w.item_state(1).await, "sent");
        // With the right key the next start settles it: the bank never credited it (25).
        tokio::time::sleep(Duration::from_millis(TIMEOUT_MS + 200 + 1_100)).await;
        let (done, code) = {
            let w = w.clone();
            blocking(move || w.json(&["relief", "recover"])).await
        };
        assert_eq!((done[0]["state"].as_str(), code), (Some("reversed"), 0), "{done}");
        let sql = format!("SELECT COUNT(*) FROM realtime_credits WHERE person_id = '{id}' AND reversal_code = '25'");
        assert_eq!(w.count(&sql).await, 1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn declined_credits_fail_and_an_invalid_account_holds_the_persons_items() {
    for db in databases().await {
        let w = World::new(db, 8).await;
        // The bank's view: person 2's account closed, 3's held by someone else, 4's unknown, 5's frozen, 6's lost.
        let mut accounts = HashMap::new();
        for (i, (id, acct)) in w.people.iter().enumerate() {
            let (holder, status) = match i {
                2 => (id.clone(), AccountStatus::Closed),
                3 => (w.people[0].0.clone(), AccountStatus::Open),
                4 => continue,
                5 => (id.clone(), AccountStatus::Frozen),
                6 => (id.clone(), AccountStatus::Lost),
                _ => (id.clone(), AccountStatus::Open),
            };
            accounts.insert(acct.clone(), Account { person_id: holder, status });
        }
        let sim = BankSim::new(key(), accounts);
        let (addr, _) = server::spawn("127.0.0.1:0", sim.clone()).await.unwrap();
        w.write_config(addr.port(), TIMEOUT_MS);
        let w = Arc::new(World { sim, _addr: addr, ..w });

        let (s, code) = {
            let w = w.clone();
            blocking(move || w.json(&["iso", "verify", "--all"])).await
        };
        assert_eq!(code, 0, "{s}");
        assert_eq!(
            (s["checked"].as_u64(), s["verified"].as_u64(), s["invalid"].as_u64()),
            (Some(8), Some(3), Some(4)),
            "{s}"
        );
        assert_eq!(s["by_code"]["41"], 1, "card lost: not an invalid account, stays unverified: {s}");
        for (code, n) in [("00", 3), ("54", 1), ("N1", 1), ("14", 1), ("62", 1)] {
            assert_eq!(s["by_code"][code], n, "{code}: {s}");
        }
        assert_eq!(w.count("SELECT COUNT(*) FROM cards WHERE verification = 'invalid'").await, 4);
        assert_eq!(w.count("SELECT COUNT(*) FROM account_verifications").await, 8);
        // A second pass checks only what is still unverified (the lost card).
        let (s2, _) = {
            let w = w.clone();
            blocking(move || w.json(&["iso", "verify", "--all"])).await
        };
        assert_eq!(s2["checked"], 1, "{s2}");

        // The run holds an invalid account's items with no_active_card.
        let mut roster = String::from("program,period,person_id,name,amount,region_code,for_period,source_ref\n");
        for i in [1usize, 2] {
            roster.push_str(&format!("dibao,2026-11,{},{},780.00,440703001001,,MZ{i}\n", w.people[i].0, NAMES[i]));
        }
        std::fs::write(w.path("roster_dibao_2026-11.csv"), roster).unwrap();
        {
            let w = w.clone();
            blocking(move || w.ok(&["import", "roster", "roster_dibao_2026-11.csv"])).await
        };
        let (run, _) = {
            let w = w.clone();
            blocking(move || w.json(&["run", "create", "--period", "2026-11", "--by", "maker"])).await
        };
        assert_eq!(run["held"]["no_active_card"], 1, "{run}");
        assert_eq!(run["payments"]["count"], 1, "{run}");
        let held = format!(
            "SELECT COUNT(*) FROM items WHERE person_id = '{}' AND state = 'held' AND hold_code = 'no_active_card'",
            w.people[2].0
        );
        assert_eq!(w.count(&held).await, 1);

        // Urgent relief to an account the bank declines: failed, not paid, and the card marked invalid.
        let (r, code) = world_call!(w, relief(5, "20.00"));
        assert_eq!((r["outcome"].as_str(), code), (Some("held"), 1), "an invalid card holds relief too: {r}");
        let (r, code) = world_call!(w, relief(6, "20.00"));
        assert_eq!((r["outcome"].as_str(), r["response_code"].as_str(), code), (Some("failed"), Some("41"), 1), "{r}");
        assert_eq!(w.item_state(6).await, "failed");
        assert_eq!(w.sim.standing(), (0, 0));
    }
}

// ---------- an independent implementation, from iso8583.md alone ----------

/// A minimal ISO 8583 encoder and decoder written straight from the spec's
/// tables, sharing no code with `onecard::iso8583`.
mod indie {
    use std::collections::BTreeMap;

    use sha2::{Digest, Sha256};

    /// (field, fixed length or 0 for LLVAR)
    const TABLE: &[(u8, usize)] = &[
        (2, 0),
        (3, 6),
        (4, 12),
        (7, 10),
        (11, 6),
        (12, 6),
        (13, 4),
        (32, 0),
        (37, 12),
        (39, 2),
        (41, 8),
        (49, 3),
        (70, 3),
        (90, 42),
        (102, 0),
        (128, 16),
    ];

    fn hmac_sha256(key: &[u8], msg: &[u8]) -> Vec<u8> {
        let mut k = [0u8; 64];
        k[..key.len()].copy_from_slice(key);
        let inner: Vec<u8> = k.iter().map(|b| b ^ 0x36).chain(msg.iter().copied()).collect();
        let inner = Sha256::digest(&inner);
        let outer: Vec<u8> = k.iter().map(|b| b ^ 0x5c).chain(inner.iter().copied()).collect();
        Sha256::digest(&outer).to_vec()
    }

    pub fn mac(key: &[u8], bytes: &[u8]) -> String {
        hmac_sha256(key, bytes)[..8].iter().map(|b| format!("{b:02X}")).collect()
    }

    pub fn encode(mti: &str, fields: &BTreeMap<u8, String>, key: Option<&[u8]>) -> Vec<u8> {
        let mut numbers: Vec<u8> = fields.keys().copied().collect();
        if key.is_some() {
            numbers.push(128);
        }
        let mut bitmap = [0u8; 16];
        for n in &numbers {
            let bit = (*n - 1) as usize;
            bitmap[bit / 8] |= 0x80 >> (bit % 8);
        }
        let secondary = numbers.iter().any(|n| *n > 64);
        if secondary {
            bitmap[0] |= 0x80;
        }
        let mut out = mti.as_bytes().to_vec();
        let hexmap: String = bitmap.iter().map(|b| format!("{b:02X}")).collect();
        out.extend_from_slice(if secondary { &hexmap.as_bytes()[..32] } else { &hexmap.as_bytes()[..16] });
        for (n, v) in fields {
            let len = TABLE.iter().find(|(f, _)| f == n).unwrap().1;
            if len == 0 {
                out.extend_from_slice(format!("{:02}", v.len()).as_bytes());
            } else {
                assert_eq!(v.len(), len, "field {n}");
            }
            out.extend_from_slice(v.as_bytes());
        }
        if let Some(k) = key {
            let m = mac(k, &out);
            out.extend_from_slice(m.as_bytes());
        }
        out
    }

    /// (MTI, fields, MAC verifies?) — the MAC field excluded from the map.
    pub fn decode(bytes: &[u8], key: &[u8]) -> (String, BTreeMap<u8, String>, Option<bool>) {
        let text = std::str::from_utf8(bytes).unwrap();
        let mti = text[..4].to_string();
        let mut at = 4;
        let primary = u64::from_str_radix(&text[at..at + 16], 16).unwrap();
        at += 16;
        let secondary = if primary >> 63 == 1 {
            at += 16;
            u64::from_str_radix(&text[at - 16..at], 16).unwrap()
        } else {
            0
        };
        let mut fields = BTreeMap::new();
        let mut mac_ok = None;
        for n in 2..=128u8 {
            let word = if n <= 64 { primary } else { secondary };
            if word >> (63 - (n as u32 - 1) % 64) & 1 == 0 {
                continue;
            }
            let len = TABLE.iter().find(|(f, _)| *f == n).unwrap_or_else(|| panic!("field {n}")).1;
            let len = if len == 0 {
                at += 2;
                text[at - 2..at].parse().unwrap()
            } else {
                len
            };
            if n == 128 {
                mac_ok = Some(mac(key, &bytes[..at]) == text[at..at + 16]);
            } else {
                fields.insert(n, text[at..at + len].to_string());
            }
            at += len;
        }
        assert_eq!(at, bytes.len());
        (mti, fields, mac_ok)
    }

    pub fn send(s: &mut std::net::TcpStream, bytes: &[u8]) {
        use std::io::Write;
        let mut framed = (bytes.len() as u16).to_be_bytes().to_vec();
        framed.extend_from_slice(bytes);
        s.write_all(&framed).unwrap();
    }

    pub fn recv(s: &mut std::net::TcpStream) -> Vec<u8> {
        use std::io::Read;
        let mut len = [0u8; 2];
        s.read_exact(&mut len).unwrap();
        let mut buf = vec![0u8; u16::from_be_bytes(len) as usize];
        s.read_exact(&mut buf).unwrap();
        buf
    }
}

fn fields(pairs: &[(u8, &str)]) -> BTreeMap<u8, String> {
    pairs.iter().map(|(n, v)| (*n, v.to_string())).collect()
}

#[test]
fn an_independent_implementation_talks_to_the_simulator() {
    let dir = tempfile::tempdir().unwrap();
    let (holder, account) = person(0);
    std::fs::write(dir.path().join("accounts.csv"), format!("account_no,person_id,status\n{account},{holder},open\n"))
        .unwrap();
    let mut sim = Command::new(env!("CARGO_BIN_EXE_onecard"))
        .current_dir(dir.path())
        .args(["bank", "serve-iso", "--listen", "127.0.0.1:0", "--bank", BANK, "--accounts", "accounts.csv"])
        .env("ONECARD_ISO_KEY_105", hex::encode(KEY))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(sim.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let addr = line.split("listening on ").nth(1).unwrap().split(' ').next().unwrap().to_string();
    let mut s = TcpStream::connect(&addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();

    // Echo.
    indie::send(&mut s, &indie::encode("0800", &fields(&[(7, "1105093000"), (11, "000001"), (70, "301")]), None));
    let (mti, f, mac) = indie::decode(&indie::recv(&mut s), &KEY);
    assert_eq!((mti.as_str(), f[&39].as_str(), f[&11].as_str(), mac), ("0810", "00", "000001", None));

    let request = |mti: &str, stan: &str, proc_code: &str, amount: &str, rrn: &str| {
        fields(&[
            (2, &account),
            (3, proc_code),
            (4, amount),
            (7, "1105093000"),
            (11, stan),
            (12, "173000"),
            (13, "1105"),
            (32, "44070001"),
            (37, rrn),
            (41, "INDIE001"),
            (49, "156"),
            (102, &holder),
        ])
        .into_iter()
        .filter(|(n, _)| mti != "0400" || ![12, 13, 102].contains(n))
        .collect::<BTreeMap<_, _>>()
    };
    // Verification, credit, the same credit again, a reversal, a bad MAC.
    let mut f0100 = request("0100", "000002", "330000", "000000000000", "V00000000002");
    f0100.remove(&49);
    indie::send(&mut s, &indie::encode("0100", &f0100, Some(&KEY)));
    let (mti, f, mac) = indie::decode(&indie::recv(&mut s), &KEY);
    assert_eq!((mti.as_str(), f[&39].as_str(), mac), ("0110", "00", Some(true)));
    assert_eq!(f.keys().copied().collect::<Vec<_>>(), [2, 3, 4, 7, 11, 32, 37, 39, 41]);

    indie::send(
        &mut s,
        &indie::encode("0200", &request("0200", "000003", "280000", "000000078000", "000000000042"), Some(&KEY)),
    );
    let (mti, f, mac) = indie::decode(&indie::recv(&mut s), &KEY);
    assert_eq!((mti.as_str(), f[&39].as_str(), f[&4].as_str(), mac), ("0210", "00", "000000078000", Some(true)));
    assert_eq!(f.keys().copied().collect::<Vec<_>>(), [2, 3, 4, 7, 11, 32, 37, 39, 41, 49]);
    indie::send(
        &mut s,
        &indie::encode("0200", &request("0200", "000004", "280000", "000000078000", "000000000042"), Some(&KEY)),
    );
    let (_, f, _) = indie::decode(&indie::recv(&mut s), &KEY);
    assert_eq!(f[&39], "94");

    let mut rev = request("0400", "000005", "280000", "000000078000", "000000000042");
    rev.insert(90, format!("0200{}{}{:0>11}{}", "000003", "1105093000", "44070001", "0".repeat(11)));
    indie::send(&mut s, &indie::encode("0400", &rev, Some(&KEY)));
    let (mti, f, mac) = indie::decode(&indie::recv(&mut s), &KEY);
    assert_eq!((mti.as_str(), f[&39].as_str(), f[&90].len(), mac), ("0410", "00", 42, Some(true)));

    indie::send(&mut s, &indie::encode("0100", &f0100, Some(b"another key of thirty-two bytes!")));
    let (_, f, mac) = indie::decode(&indie::recv(&mut s), &KEY);
    assert_eq!((f[&39].as_str(), mac), ("A0", Some(true)), "A0, itself signed by the bank");
    sim.kill().unwrap();
    sim.wait().unwrap();
}

/// A minimal bank written from the spec: answers every 0100/0200 `00`,
/// signed; records the requests it saw.
/// What the independent bank saw: (MTI, fields, MAC verified).
type Seen = Arc<std::sync::Mutex<Vec<(String, BTreeMap<u8, String>, Option<bool>)>>>;

fn independent_bank() -> (SocketAddr, Seen) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let seen: Seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = seen.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut s) = conn else { return };
            let log = log.clone();
            std::thread::spawn(move || loop {
                let mut len = [0u8; 2];
                if s.read_exact(&mut len).is_err() {
                    return;
                }
                let mut buf = vec![0u8; u16::from_be_bytes(len) as usize];
                s.read_exact(&mut buf).unwrap();
                let (mti, f, mac) = indie::decode(&buf, &KEY);
                log.lock().unwrap().push((mti.clone(), f.clone(), mac));
                let (rmti, echo): (&str, &[u8]) = match mti.as_str() {
                    "0100" => ("0110", &[2, 3, 4, 7, 11, 32, 37, 41]),
                    "0200" => ("0210", &[2, 3, 4, 7, 11, 32, 37, 41, 49]),
                    "0800" => ("0810", &[7, 11, 70]),
                    _ => continue,
                };
                let mut r: BTreeMap<u8, String> =
                    echo.iter().filter_map(|n| f.get(n).map(|v| (*n, v.clone()))).collect();
                r.insert(39, "00".into());
                let bytes = indie::encode(rmti, &r, if rmti == "0810" { None } else { Some(&KEY) });
                let mut framed = (bytes.len() as u16).to_be_bytes().to_vec();
                framed.extend_from_slice(&bytes);
                if s.write_all(&framed).is_err() {
                    return;
                }
            });
        }
    });
    (addr, seen)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_independent_bank_talks_to_the_client() {
    for db in databases().await {
        let w = World::new(db, 2).await;
        let (addr, seen) = independent_bank();
        w.write_config(addr.port(), 2000);
        let w = Arc::new(w);
        let (r, code) = world_call!(w, relief(0, "2000.00"));
        assert_eq!((r["outcome"].as_str(), code), (Some("paid"), 0), "{r}");
        let seen = seen.lock().unwrap().clone();
        let (mti, f, mac) = &seen[0];
        assert_eq!((mti.as_str(), *mac), ("0100", Some(true)), "verification first");
        assert_eq!(f.keys().copied().collect::<Vec<_>>(), [2, 3, 4, 7, 11, 12, 13, 32, 37, 41, 49, 102]);
        assert_eq!((f[&3].as_str(), f[&4].as_str()), ("330000", "000000000000"));
        let (mti, f, mac) = &seen[1];
        assert_eq!((mti.as_str(), *mac), ("0200", Some(true)));
        assert_eq!(f.keys().copied().collect::<Vec<_>>(), [2, 3, 4, 7, 11, 12, 13, 32, 37, 41, 49, 102]);
        assert_eq!(
            (f[&2].as_str(), f[&3].as_str(), f[&4].as_str()),
            (w.people[0].1.as_str(), "280000", "000000200000")
        );
        assert_eq!(
            (f[&32].as_str(), f[&41].as_str(), f[&49].as_str(), f[&102].as_str()),
            ("44070001", "JMSBK105", "156", w.people[0].0.as_str())
        );
        let serial: String = {
            let sql = format!("SELECT serial_no FROM realtime_credits WHERE person_id = '{}'", w.people[0].0);
            sqlx::any::install_default_drivers();
            let mut c = <sqlx::AnyConnection as sqlx::Connection>::connect(&w.db.url).await.unwrap();
            sqlx::query_scalar(&sql).fetch_one(&mut c).await.unwrap()
        };
        assert_eq!(f[&37], serial[serial.len() - 12..], "RRN: the last 12 characters of the serial number");
        assert_eq!(w.item_state(0).await, "paid");
    }
}
