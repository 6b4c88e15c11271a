//! Shared by the desk's HTTP and browser tests: a small HTTP/1.1 client, a
//! running `onecard serve`, and a paid, reconciled city with two neighbouring
//! communities and users scoped to them.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};

use sqlx::Connection;

use crate::common::{generate, json, ok, rosters, TestDb};

/// One HTTP answer.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Answer {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    pub fn headers_named(&self, name: &str) -> Vec<&str> {
        self.headers.iter().filter(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str()).collect()
    }
}

/// One request over a fresh connection (`Connection: close`).
pub fn request(addr: &str, method: &str, path: &str, headers: &[(&str, &str)], body: Option<&str>) -> Answer {
    let mut s = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect {addr}: {e}"));
    s.set_read_timeout(Some(std::time::Duration::from_secs(60))).unwrap();
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    let body = body.unwrap_or("");
    req.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    s.write_all(req.as_bytes()).unwrap();
    // Read the head, then exactly the body (a server may keep the connection open).
    let mut raw = Vec::new();
    let mut buf = [0u8; 65536];
    let split = loop {
        if let Some(i) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        let n = s.read(&mut buf).unwrap();
        assert!(n > 0, "connection closed before the response head");
        raw.extend_from_slice(&buf[..n]);
    };
    let head = String::from_utf8_lossy(&raw[..split]).to_string();
    let mut body = raw[split + 4..].to_vec();
    let mut lines = head.lines();
    let status: u16 = lines.next().unwrap().split(' ').nth(1).unwrap().parse().unwrap();
    let headers: Vec<(String, String)> =
        lines.filter_map(|l| l.split_once(':').map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))).collect();
    let find = |name: &str| headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.clone());
    if let Some(len) = find("content-length").and_then(|v| v.parse::<usize>().ok()) {
        while body.len() < len {
            let n = s.read(&mut buf).unwrap();
            assert!(n > 0, "connection closed inside the body");
            body.extend_from_slice(&buf[..n]);
        }
    } else if find("transfer-encoding").is_some_and(|v| v.contains("chunked")) {
        while !body.ends_with(b"0\r\n\r\n") {
            let n = s.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            body.extend_from_slice(&buf[..n]);
        }
        body = dechunk(&body);
    } else {
        s.read_to_end(&mut body).unwrap();
    }
    Answer { status, headers, body: String::from_utf8_lossy(&body).to_string() }
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(end) = b.windows(2).position(|w| w == b"\r\n") {
        let size = usize::from_str_radix(String::from_utf8_lossy(&b[..end]).trim(), 16).unwrap_or(0);
        if size == 0 {
            break;
        }
        out.extend_from_slice(&b[end + 2..end + 2 + size]);
        b = &b[end + 2 + size + 2..];
    }
    out
}

/// A running `onecard serve`, stopped when dropped.
pub struct Server {
    pub addr: String,
    child: Child,
}

impl Server {
    pub fn start(db: &TestDb, cwd: &Path, extra: &[&str]) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_onecard"))
            .current_dir(cwd)
            .args(["--db", &db.url, "serve", "--listen", "127.0.0.1:0"])
            .args(extra)
            .env_remove("ONECARD_CONFIG")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start onecard serve");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let addr = line
            .split("http://")
            .nth(1)
            .unwrap_or_else(|| panic!("serve printed no address: {line:?}"))
            .trim()
            .trim_end_matches('/')
            .to_string();
        Server { addr, child }
    }

    pub fn get(&self, path: &str, token: &str) -> Answer {
        request(&self.addr, "GET", path, &[("Authorization", &format!("Bearer {token}"))], None)
    }

    pub fn post_json(&self, path: &str, token: &str, body: &serde_json::Value) -> Answer {
        let auth = format!("Bearer {token}");
        let mut h = vec![("Content-Type", "application/json")];
        if !token.is_empty() {
            h.push(("Authorization", &auth));
        }
        request(&self.addr, "POST", path, &h, Some(&body.to_string()))
    }

    pub fn login(&self, user: &str, password: &str) -> String {
        let a = self.post_json("/api/v1/login", "", &serde_json::json!({"username": user, "password": password}));
        assert_eq!(a.status, 200, "login {user}: {}", a.body);
        a.json()["token"].as_str().unwrap().to_string()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Rows of text from the database.
pub async fn rows(db: &TestDb, sql: &str) -> Vec<Vec<String>> {
    use sqlx::Row;
    sqlx::any::install_default_drivers();
    let mut conn = sqlx::AnyConnection::connect(&db.url).await.expect("connect");
    let out = sqlx::query(sql)
        .fetch_all(&mut conn)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .iter()
        .map(|r| (0..r.len()).map(|i| r.try_get::<String, _>(i).unwrap_or_default()).collect())
        .collect();
    conn.close().await.ok();
    out
}

pub async fn exec(db: &TestDb, sql: &str) {
    sqlx::any::install_default_drivers();
    let mut conn = sqlx::AnyConnection::connect(&db.url).await.expect("connect");
    sqlx::raw_sql(sql).execute(&mut conn).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
    conn.close().await.ok();
}

/// A city paid for one month: some payments failed with bank reasons, some unconfirmed.
pub struct City {
    /// A community (12 digits) with a person whose payment failed.
    pub community: String,
    /// A neighbouring community of the same street.
    pub neighbour: String,
    /// A person of `community` with a failed payment.
    pub person: String,
    pub person_name: String,
    /// A person of `neighbour`.
    pub other: String,
    pub other_name: String,
    /// username -> password
    pub users: Vec<(String, String)>,
}

impl City {
    pub fn password(&self, user: &str) -> &str {
        &self.users.iter().find(|(u, _)| u == user).unwrap().1
    }
}

pub const PERIOD: &str = "2026-11";

pub async fn paid_city(db: &TestDb, dir: &Path, persons: u64) -> City {
    let city = generate(db, dir, persons, PERIOD, 5);
    let p = |x: &Path| x.to_str().unwrap().to_string();
    ok(db, dir, &["import", "registry", &p(&city.join("cardholders.csv"))]);
    for r in rosters(&city) {
        ok(db, dir, &["import", "roster", &p(&r)]);
    }
    ok(db, dir, &["run", "create", "--period", PERIOD, "--by", "maker"]);
    ok(db, dir, &["run", "approve", "R202611-01", "--by", "checker"]);
    let outbox = dir.join("outbox");
    ok(db, dir, &["run", "export", "R202611-01", "--outbox", &p(&outbox)]);
    let returns = dir.join("returns");
    let mut files: Vec<_> = std::fs::read_dir(&outbox)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|f| !f.to_string_lossy().ends_with(".json") && !f.to_string_lossy().contains("sha256"))
        .collect();
    files.sort();
    for f in &files {
        let out = crate::common::onecard(
            db,
            dir,
            &[
                "bank",
                "simulate",
                &p(f),
                "--out",
                &p(&returns),
                "--fail-rate",
                "0.15",
                "--omit-rate",
                "0.05",
                "--seed",
                "3",
            ],
        );
        let _ = out; // manifests and digests are not request files
    }
    let rets: Vec<String> = std::fs::read_dir(&returns).unwrap().map(|e| p(&e.unwrap().path())).collect();
    let mut args = vec!["reconcile".to_string()];
    args.extend(rets);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let _ = crate::common::onecard(db, dir, &args);
    let batches = rows(db, "SELECT batch_no FROM batches").await;
    for b in batches {
        ok(db, dir, &["batch", "close", &b[0]]);
    }
    // A community with a failed payment, and another person of its street in another community.
    let failed = rows(
        db,
        "SELECT p.person_id, r.name, r.region_code FROM payments p JOIN persons r ON r.person_id = p.person_id \
         WHERE p.state = 'failed' ORDER BY p.person_id",
    )
    .await;
    let mut pick = None;
    for f in &failed {
        let street = &f[2][..9];
        let sql = format!(
            "SELECT person_id, name, region_code FROM persons WHERE region_code LIKE '{street}%' \
             AND region_code <> '{}' ORDER BY person_id LIMIT 1",
            f[2]
        );
        if let Some(o) = rows(db, &sql).await.into_iter().next() {
            pick = Some((f.clone(), o));
            break;
        }
    }
    let (f, o) = pick.expect("a failed payment in a street with two communities");
    let far = rows(
        db,
        &format!(
            "SELECT region_code FROM persons WHERE region_code NOT LIKE '{}%' ORDER BY region_code LIMIT 1",
            &f[2][..9]
        ),
    )
    .await;
    let mut users = Vec::new();
    for (name, role, scope) in [
        ("cw-a", "caseworker", f[2].clone()),
        ("cw-b", "caseworker", o[2].clone()),
        ("cw-far", "caseworker", far[0][0][..9].to_string()),
        ("sup", "supervisor", f[2][..6].to_string()),
        ("maker", "supervisor", f[2][..4].to_string()),
        ("aud", "auditor", f[2][..4].to_string()),
        ("adm", "admin", f[2][..4].to_string()),
    ] {
        let v = json(db, dir, &["users", "add", name, "--role", role, "--scope", &scope]);
        users.push((name.to_string(), v["password"].as_str().unwrap().to_string()));
    }
    City {
        community: f[2].clone(),
        neighbour: o[2].clone(),
        person: f[0].clone(),
        person_name: f[1].clone(),
        other: o[0].clone(),
        other_name: o[1].clone(),
        users,
    }
}
