//! The desk in a real headless Chromium, driven over WebDriver (chromedriver's
//! W3C JSON protocol, spoken with the tests' small HTTP client): log in,
//! search a person, open the payments, resolve an anomaly as a supervisor,
//! and see nothing as a caseworker of another street. A screenshot of the
//! person page is saved under the target directory.

mod common;
mod desk;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use desk::{paid_city, request, rows, Server};
use serde_json::{json, Value};

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

fn which(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var("PATH").unwrap_or_default();
    names.iter().find_map(|n| {
        path.split(':')
            .map(|d| PathBuf::from(d).join(n))
            .chain([PathBuf::from("/usr/lib/chromium").join(n)])
            .find(|p| p.is_file())
    })
}

/// Chromium and chromedriver, or a loud skip (a failure under CI=true).
fn browser() -> Option<(PathBuf, PathBuf)> {
    match (which(&["chromium", "chromium-browser"]), which(&["chromedriver"])) {
        (Some(c), Some(d)) => Some((c, d)),
        _ => {
            if std::env::var("CI").as_deref() == Ok("true") {
                panic!("CI=true but chromium or chromedriver is missing: apt-get install -y chromium chromium-driver");
            }
            eprintln!(
                "\n*** chromium/chromedriver not found: the BROWSER TESTS ARE SKIPPED. \
                 Install them with `apt-get install -y chromium chromium-driver`. ***\n"
            );
            None
        }
    }
}

struct Driver {
    addr: String,
    session: String,
    child: Child,
    _profile: tempfile::TempDir,
}

impl Driver {
    fn start(chromium: &std::path::Path, chromedriver: &std::path::Path) -> Driver {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = Command::new(chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let addr = format!("127.0.0.1:{port}");
        for _ in 0..100 {
            if std::net::TcpStream::connect(&addr).is_ok() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        let profile = tempfile::tempdir().unwrap();
        let args = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            "--window-size=1100,1400",
            &format!("--user-data-dir={}", profile.path().display()),
        ];
        let caps = json!({"capabilities": {"alwaysMatch": {"browserName": "chrome",
            "goog:chromeOptions": {"binary": chromium.to_str().unwrap(), "args": args}}}});
        let a = request(&addr, "POST", "/session", &[("Content-Type", "application/json")], Some(&caps.to_string()));
        assert_eq!(a.status, 200, "new WebDriver session: {}", a.body);
        let session = a.json()["value"]["sessionId"].as_str().unwrap().to_string();
        Driver { addr, session, child, _profile: profile }
    }

    fn call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let path = format!("/session/{}{path}", self.session);
        let body = body.map(|b| b.to_string());
        let a = request(&self.addr, method, &path, &[("Content-Type", "application/json")], body.as_deref());
        assert_eq!(a.status, 200, "{method} {path}: {}", a.body);
        a.json()["value"].clone()
    }

    fn go(&self, url: &str) {
        self.call("POST", "/url", Some(json!({ "url": url })));
    }

    fn find(&self, css: &str) -> String {
        let v = self.call("POST", "/element", Some(json!({"using": "css selector", "value": css})));
        v[ELEMENT].as_str().unwrap().to_string()
    }

    fn type_into(&self, css: &str, text: &str) {
        let e = self.find(css);
        self.call("POST", &format!("/element/{e}/value"), Some(json!({ "text": text })));
    }

    fn click(&self, css: &str) {
        let e = self.find(css);
        self.call("POST", &format!("/element/{e}/click"), Some(json!({})));
    }

    fn source(&self) -> String {
        self.call("GET", "/source", None).as_str().unwrap().to_string()
    }

    /// The page source once it satisfies `ok` (a click's navigation may still be under way).
    fn wait_for(&self, what: &str, ok: impl Fn(&str) -> bool) -> String {
        for _ in 0..100 {
            let s = self.source();
            if ok(&s) {
                return s;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        panic!("waited 10 s for {what}: {}", self.source());
    }

    fn login(&self, base: &str, user: &str, password: &str) {
        self.go(&format!("{base}/login"));
        self.type_into("#username", user);
        self.type_into("#password", password);
        self.click("#login");
        let who = format!("{user}（");
        self.wait_for(&format!("logged in as {user}"), |s| s.contains(&who));
    }

    fn logout(&self) {
        self.click("header button");
        self.wait_for("the login page", |s| s.contains("id=\"login\""));
    }

    fn screenshot(&self, to: &std::path::Path) {
        let b64 = self.call("GET", "/screenshot", None).as_str().unwrap().to_string();
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::write(to, base64_decode(&b64)).unwrap();
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = request(&self.addr, "DELETE", &format!("/session/{}", self.session), &[], None);
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn base64_decode(s: &str) -> Vec<u8> {
    let val = |c: u8| match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        _ => 63,
    };
    let clean: Vec<u8> = s.bytes().filter(|b| !b.is_ascii_whitespace() && *b != b'=').collect();
    let mut out = Vec::with_capacity(clean.len() * 3 / 4);
    for chunk in clean.chunks(4) {
        let n = chunk.iter().enumerate().fold(0u32, |acc, (i, c)| acc | (u32::from(val(*c)) << (18 - 6 * i)));
        for i in 0..chunk.len().saturating_sub(1) {
            out.push((n >> (16 - 8 * i)) as u8);
        }
    }
    out
}

#[tokio::test]
async fn a_caseworker_finds_the_money_and_a_supervisor_resolves_in_a_real_browser() {
    let Some((chromium, chromedriver)) = browser() else { return };
    for db in common::databases().await {
        let dir = tempfile::tempdir().unwrap();
        let city = paid_city(&db, dir.path(), 600).await;
        let server = Server::start(&db, dir.path(), &[]);
        let base = format!("http://{}", server.addr);
        let d = Driver::start(&chromium, &chromedriver);
        let masked = format!("{}********{}", &city.person[..6], &city.person[14..]);

        // A caseworker logs in, searches the person, opens their payments.
        d.login(&base, "cw-a", city.password("cw-a"));
        d.type_into("#q", &city.person);
        d.click("#search");
        d.wait_for("one hit", |s| s.contains("共 1 人"));
        d.click("#hits a");
        let page = d.wait_for("the person page", |s| s.contains("id=\"person\""));
        assert!(page.contains(&masked) && page.contains(&city.person_name), "{page}");
        assert!(!page.contains(&city.person), "the whole id is never on a page");
        assert!(page.contains("bank-reason") && page.contains("失败"), "the bank's reason for the failure: {page}");
        let shot =
            PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("../browser").join(format!("person-{}.png", db.engine));
        d.screenshot(&shot);
        assert!(std::fs::metadata(&shot).unwrap().len() > 5000, "a real screenshot at {}", shot.display());
        eprintln!("person page screenshot: {}", shot.display());
        // The neighbour community's person is not found, by search or by id.
        d.go(&format!("{base}/?q={}", city.other));
        assert!(d.source().contains("共 0 人"));
        d.go(&format!("{base}/persons/{}", city.other));
        assert!(d.source().contains("未找到"));
        d.logout();

        // A supervisor resolves a failed payment by ordering a retry.
        d.login(&base, "sup", city.password("sup"));
        d.go(&format!("{base}/anomalies?code=bank_failed&state=open"));
        // Codes, programs and details in Chinese; the filter shows the code chosen.
        let page = d.source();
        assert!(page.contains(r#"value="bank_failed" selected"#), "the chosen code: {page}");
        let details: Vec<&str> =
            page.split(r#"<td class="detail""#).skip(1).filter_map(|c| c.split_once('>')).map(|(_, t)| t).collect();
        assert!(!details.is_empty(), "[{}] no failed payment on the page", db.engine);
        for text in details {
            let text: String = text.chars().take(60).collect();
            assert!(
                !text.starts_with(|c: char| c.is_ascii_alphabetic()),
                "[{}] a detail in English: {text}",
                db.engine
            );
        }
        let shot =
            PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("../browser").join(format!("anomalies-{}.png", db.engine));
        d.screenshot(&shot);
        let first = d.find("#anomalies form");
        let id = rows(
            &db,
            &format!(
                "SELECT CAST(id AS TEXT) FROM anomalies WHERE code = 'bank_failed' AND state = 'open' \
                 AND region_code LIKE '{}%' ORDER BY id DESC LIMIT 1",
                &city.community[..6]
            ),
        )
        .await[0][0]
            .clone();
        let note = d.call(
            "POST",
            &format!("/element/{first}/element"),
            Some(json!({"using": "css selector", "value": "input[name=note]"})),
        );
        let note = note[ELEMENT].as_str().unwrap().to_string();
        d.call("POST", &format!("/element/{note}/value"), Some(json!({"text": "新账户已登记"})));
        let button = d.call(
            "POST",
            &format!("/element/{first}/element"),
            Some(json!({"using": "css selector", "value": "button"})),
        );
        d.call("POST", &format!("/element/{}/click", button[ELEMENT].as_str().unwrap()), Some(json!({})));
        let done = format!("异常 {id} 已处理");
        d.wait_for("the resolution", |s| s.contains(&done));
        let state = rows(&db, &format!("SELECT state FROM anomalies WHERE id = {id}")).await;
        assert_eq!(state[0][0], "resolved", "[{}]", db.engine);
        d.logout();

        // A caseworker of another street sees nothing of this one.
        d.login(&base, "cw-far", city.password("cw-far"));
        d.go(&format!("{base}/?q={}", city.person));
        let scopes = rows(&db, "SELECT username, scope FROM users ORDER BY username").await;
        assert!(d.source().contains("共 0 人"), "[{}] {scopes:?} {} {}", db.engine, city.community, d.source());
        d.go(&format!("{base}/persons/{}", city.person));
        assert!(d.source().contains("未找到"));
        d.go(&format!("{base}/anomalies"));
        assert!(!d.source().contains(&city.community), "no anomaly of the other street");
    }
}
