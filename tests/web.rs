//! The caseworker desk through a running `onecard serve` on both databases:
//! every endpoint and role, region scope (by id, search, paging, anomaly id),
//! login throttling, token expiry and revocation, CSRF on the pages, and the
//! access log's chain.

mod common;
mod desk;

use common::{databases, ok, onecard, TestDb};
use desk::{exec, paid_city, request, rows, Server};
use serde_json::json;

fn masked(id: &str) -> String {
    format!("{}********{}", &id[..6], &id[14..])
}

#[tokio::test]
async fn a_caseworker_finds_their_community_and_nothing_beyond_it() {
    for db in databases().await {
        let dir = tempfile::tempdir().unwrap();
        let city = paid_city(&db, dir.path(), 600).await;
        let server = Server::start(&db, dir.path(), &[]);
        let cw = server.login("cw-a", city.password("cw-a"));
        let e = db.engine;

        // The person of the caseworker's community: masked id, payments with bank reasons.
        let p = server.get(&format!("/api/v1/persons/{}", city.person), &cw);
        assert_eq!(p.status, 200, "[{e}] {}", p.body);
        let pv = p.json();
        assert_eq!(pv["person_id"], masked(&city.person));
        assert_eq!(pv["name"], city.person_name);
        assert_eq!(pv["region_code"], city.community);
        assert!(!pv["entitlements"].as_object().unwrap().is_empty(), "{pv}");
        assert!(!p.body.contains(&city.person), "[{e}] the whole id leaked: {}", p.body);
        let pay = server.get(&format!("/api/v1/persons/{}/payments?from=2026-01&to=2026-12", city.person), &cw);
        assert_eq!(pay.status, 200, "{}", pay.body);
        let months = pay.json()["months"].as_array().unwrap().clone();
        let payments: Vec<&serde_json::Value> =
            months.iter().flat_map(|m| m["payments"].as_array().unwrap().iter()).collect();
        let failed = payments.iter().find(|p| p["state"] == "failed").expect("the failed payment");
        assert!(failed["bank_reason"].is_string(), "a bank reason: {failed}");
        assert!(failed["account_no"].as_str().unwrap().starts_with("****"), "{failed}");
        assert!(!failed["items"].as_array().unwrap().is_empty());
        // A payment the bank paid: its time and code are those of the return line that paid it.
        let sql = format!(
            "SELECT p.person_id, f.imported_at, COALESCE(l.reason_code, '') FROM payments p \
             JOIN persons r ON r.person_id = p.person_id JOIN return_lines l ON l.payment_id = p.id \
             JOIN source_files f ON f.id = l.source_file_id WHERE p.state = 'paid' AND l.outcome = 'paid' \
             AND r.region_code LIKE '{}%' ORDER BY p.person_id LIMIT 1",
            &city.community[..6]
        );
        let paid = &rows(&db, &sql).await[0];
        let sup = server.login("sup", city.password("sup"));
        let pay = server.get(&format!("/api/v1/persons/{}/payments?from=2026-01&to=2026-12", paid[0]), &sup);
        let months = pay.json()["months"].as_array().unwrap().clone();
        let p = months.iter().flat_map(|m| m["payments"].as_array().unwrap().clone()).find(|p| p["state"] == "paid");
        let p = p.expect("the paid payment");
        assert_eq!(p["settled_at"], paid[1].as_str(), "[{e}] {p}");
        assert_eq!(p["bank_reason_code"].as_str().unwrap_or(""), paid[2], "[{e}] {p}");
        // By reference, as the pages link.
        let r = pv["ref"].as_str().unwrap();
        assert_eq!(server.get(&format!("/api/v1/persons/{r}"), &cw).status, 200);
        let bad = server.get(&format!("/api/v1/persons/{}/payments?from=2026-13", city.person), &cw);
        assert_eq!(bad.status, 400);

        // The neighbour community is a 404, exactly as a person who does not exist.
        let out = server.get(&format!("/api/v1/persons/{}", city.other), &cw);
        let none = server.get("/api/v1/persons/11010519491231002X", &cw);
        assert_eq!(out.status, 404, "[{e}] {}", out.body);
        assert_eq!((out.status, &out.body), (none.status, &none.body));
        assert_eq!(server.get(&format!("/api/v1/persons/{}/payments", city.other), &cw).status, 404);
        assert_eq!(server.get("/api/v1/persons/not-an-id", &cw).status, 404);
        // The other caseworker sees the neighbour and not the first.
        let cwb = server.login("cw-b", city.password("cw-b"));
        assert_eq!(server.get(&format!("/api/v1/persons/{}", city.other), &cwb).status, 200);
        assert_eq!(server.get(&format!("/api/v1/persons/{}", city.person), &cwb).status, 404);
        // A reference handed to one caseworker gives another nothing outside their scope.
        assert_eq!(server.get(&format!("/api/v1/persons/{r}"), &cwb).status, 404);

        // Search: by whole id, by id suffix, by card number, by name; scope applies to rows and totals.
        let s = server.get(&format!("/api/v1/persons?q={}", city.person), &cw).json();
        assert_eq!(s["total"], 1, "{s}");
        assert_eq!(s["persons"][0]["person_id"], masked(&city.person));
        let s = server.get(&format!("/api/v1/persons?q={}", city.other), &cw).json();
        assert_eq!((s["total"].as_i64(), s["persons"].as_array().unwrap().len()), (Some(0), 0), "{s}");
        let s = server.get(&format!("/api/v1/persons?q={}", &city.other[10..]), &cw).json();
        assert!(s["persons"].as_array().unwrap().iter().all(|p| p["region_code"] == city.community.as_str()), "{s}");
        let card =
            rows(&db, &format!("SELECT card_no FROM cards WHERE person_id = '{}' AND card_no IS NOT NULL", city.other))
                .await;
        if let Some(c) = card.first() {
            let s = server.get(&format!("/api/v1/persons?q={}", c[0]), &cw).json();
            assert_eq!(s["total"], 0, "card number of another community: {s}");
            assert_eq!(server.get(&format!("/api/v1/persons?q={}", c[0]), &cwb).json()["total"], 1);
        }
        let surname: String = city.person_name.chars().take(1).collect();
        let enc = |t: &str| t.bytes().map(|b| format!("%{b:02X}")).collect::<String>();
        let in_scope: i64 = common::scalar(
            &db,
            &format!(
                "SELECT COUNT(*) FROM persons WHERE name LIKE '{surname}%' AND region_code = '{}'",
                city.community
            ),
        )
        .await;
        let mut seen = 0;
        for page in 1..=50 {
            let s = server.get(&format!("/api/v1/persons?q={}&page={page}&per_page=2", enc(&surname)), &cw).json();
            assert_eq!(s["total"].as_i64(), Some(in_scope), "[{e}] the total counts only the scope: {s}");
            let hits = s["persons"].as_array().unwrap();
            assert!(hits.iter().all(|p| p["region_code"] == city.community.as_str()), "{s}");
            seen += hits.len() as i64;
            if hits.is_empty() {
                break;
            }
        }
        assert_eq!(seen, in_scope, "paging shows every in-scope row and nothing else");

        // Anomalies: only the scope's; an out-of-scope anomaly id is 404.
        let a = server.get("/api/v1/anomalies?per_page=100", &cw).json();
        let total_in: i64 = common::scalar(
            &db,
            &format!("SELECT COUNT(*) FROM anomalies WHERE region_code LIKE '{}%'", city.community),
        )
        .await;
        assert_eq!(a["total"].as_i64(), Some(total_in), "{a}");
        for x in a["anomalies"].as_array().unwrap() {
            assert_eq!(x["region_code"], city.community.as_str());
        }
        let a = server.get("/api/v1/anomalies?code=bank_failed", &cw).json();
        assert!(a["anomalies"].as_array().unwrap().iter().all(|x| x["code"] == "bank_failed"));
        let foreign = rows(
            &db,
            &format!(
                "SELECT CAST(id AS TEXT) FROM anomalies WHERE region_code LIKE '{}%' AND code = 'bank_failed' \
                 AND region_code NOT LIKE '{}%' ORDER BY id LIMIT 1",
                &city.community[..6],
                city.community
            ),
        )
        .await;
        let sup = server.login("sup", city.password("sup"));
        if let Some(fid) = foreign.first() {
            let path = format!("/api/v1/anomalies/{}/resolve", fid[0]);
            let body = json!({"action": "retry", "note": "x"});
            let a1 = server.post_json(&path, &cw, &body);
            let a2 = server.post_json("/api/v1/anomalies/999999999/resolve", &cw, &body);
            assert_eq!((a1.status, &a1.body), (a2.status, &a2.body), "[{e}] out of scope is not found");
            assert_eq!(a1.status, 404);
        }

        // A supervisor resolves a failed payment's anomaly with a retry, through the casework job.
        let mine = server.get("/api/v1/anomalies?code=bank_failed&state=open", &cw).json();
        let target = mine["anomalies"][0]["id"].as_i64().expect("an open bank_failed in scope");
        let path = format!("/api/v1/anomalies/{target}/resolve");
        let refused = server.post_json(&path, &cw, &json!({"action": "retry", "note": "caseworker"}));
        assert_eq!(refused.status, 403, "a caseworker does not resolve");
        let wrong = server.post_json(&path, &sup, &json!({"action": "confirm_paid", "note": "x"}));
        assert_eq!(wrong.status, 400, "{}", wrong.body);
        let done = server.post_json(&path, &sup, &json!({"action": "retry", "note": "new account given"}));
        assert_eq!(done.status, 200, "[{e}] {}", done.body);
        assert_eq!(done.json()["state"], "resolved");
        let retried = common::scalar(
            &db,
            &format!(
                "SELECT COUNT(*) FROM items i JOIN payment_items pi ON pi.item_id = i.id \
                 JOIN anomalies a ON a.payment_id = pi.payment_id WHERE a.id = {target} AND i.retry_ordered = 0"
            ),
        )
        .await;
        assert_eq!(retried, 0, "every item of the failed payment has its retry ordered");
        assert_eq!(server.post_json(&path, &sup, &json!({"action": "retry", "note": "again"})).status, 409);

        // An unconfirmed payment confirmed failed by the supervisor (district scope).
        let unconf = server.get("/api/v1/anomalies?code=missing_in_return&state=open", &sup).json();
        if let Some(u) = unconf["anomalies"].as_array().unwrap().first() {
            let path = format!("/api/v1/anomalies/{}/resolve", u["id"]);
            let r = server.post_json(&path, &sup, &json!({"action": "confirm_failed", "note": "bank says no"}));
            assert_eq!(r.status, 200, "{}", r.body);
        }

        // Runs: every reader sees them; approve is maker–checker and supervisor-only.
        let runs = server.get("/api/v1/runs", &cw).json();
        assert_eq!(runs[0]["run_id"], "R202611-01");
        assert!(runs[0]["held"]["no_active_card"].is_i64());
        assert_eq!(server.get("/api/v1/runs/R202611-01", &cw).json()["state"], "closed");
        assert_eq!(server.get("/api/v1/runs/R209901-01", &cw).status, 404);
        ok(&db, dir.path(), &["run", "create", "--period", "2026-12", "--by", "maker"]);
        assert_eq!(server.post_json("/api/v1/runs/R202612-01/approve", &cw, &json!({})).status, 403);
        let maker = server.login("maker", city.password("maker"));
        let same = server.post_json("/api/v1/runs/R202612-01/approve", &maker, &json!({}));
        assert_eq!(same.status, 409, "the maker may not approve: {}", same.body);
        let approved = server.post_json("/api/v1/runs/R202612-01/approve", &sup, &json!({}));
        assert_eq!(approved.status, 200, "{}", approved.body);
        assert_eq!(approved.json()["state"], "approved");

        // Roles: the admin reads no person; only the auditor reads the access log.
        let adm = server.login("adm", city.password("adm"));
        assert_eq!(server.get(&format!("/api/v1/persons/{}", city.person), &adm).status, 403);
        assert_eq!(server.get("/api/v1/access-log", &cw).status, 403);
        let aud = server.login("aud", city.password("aud"));
        assert_eq!(server.get(&format!("/api/v1/persons/{}", city.person), &aud).status, 200);
        let log = server.get("/api/v1/access-log?per_page=100", &aud);
        assert_eq!(log.status, 200);
        assert!(!log.body.contains(&city.person), "[{e}] the log view masks ids");
        let entries = log.json()["entries"].as_array().unwrap().clone();
        let reads: Vec<_> = entries
            .iter()
            .filter(|x| {
                x["actor"] == "cw-a" && x["action"] == "person.read" && x["subject"] == masked(&city.person).as_str()
            })
            .collect();
        assert!(!reads.is_empty(), "the caseworker's read is logged");
        assert!(entries.iter().any(|x| x["action"] == "anomaly.resolve" && x["actor"] == "sup"));
        assert!(reads[0]["remote_addr"] == "127.0.0.1", "{}", reads[0]);
        assert_eq!(server.get("/api/v1/me", &cw).json()["role"], "caseworker");

        // No token, a wrong token: 401.
        assert_eq!(request(&server.addr, "GET", "/api/v1/runs", &[], None).status, 401);
        assert_eq!(server.get("/api/v1/runs", "oc_0000").status, 401);
        // Logout revokes the token.
        assert_eq!(server.post_json("/api/v1/logout", &cwb, &json!({})).status, 200);
        assert_eq!(server.get("/api/v1/runs", &cwb).status, 401);
        // Disabling a user revokes their tokens.
        ok(&db, dir.path(), &["users", "disable", "aud"]);
        assert_eq!(server.get("/api/v1/runs", &aud).status, 401);
        drop(server);

        // The chain verifies.
        let v = onecard(&db, dir.path(), &["audit", "verify"]);
        assert!(v.status.success(), "[{e}] {}", String::from_utf8_lossy(&v.stderr));
    }
}

#[tokio::test]
async fn logins_are_throttled_and_tokens_expire() {
    for db in databases().await {
        let dir = tempfile::tempdir().unwrap();
        let pw = common::json(&db, dir.path(), &["users", "add", "ann", "--role", "caseworker", "--scope", "4407"]);
        let pw = pw["password"].as_str().unwrap().to_string();
        let server = Server::start(&db, dir.path(), &["--token-ttl-secs", "2"]);
        let login = |u: &str, p: &str| server.post_json("/api/v1/login", "", &json!({"username": u, "password": p}));
        // A wrong password and a wrong user: the same 401, the same body, about the same time.
        let t = std::time::Instant::now();
        let wrong_pw = login("ann", "nope");
        let t_pw = t.elapsed();
        let t = std::time::Instant::now();
        let wrong_user = login("nobody", "nope");
        let t_user = t.elapsed();
        assert_eq!((wrong_pw.status, &wrong_pw.body), (wrong_user.status, &wrong_user.body));
        assert_eq!(wrong_pw.status, 401);
        let (a, b) = (t_pw.as_secs_f64(), t_user.as_secs_f64());
        assert!(a.max(b) < 4.0 * a.min(b) + 0.05, "[{}] timing differs: {t_pw:?} vs {t_user:?}", db.engine);

        let token = server.login("ann", &pw);
        assert_eq!(server.get("/api/v1/runs", &token).status, 200);
        std::thread::sleep(std::time::Duration::from_millis(3100));
        assert_eq!(server.get("/api/v1/runs", &token).status, 401, "an expired token is refused");

        // Five failures lock the user, even with the right password afterwards.
        for _ in 0..5 {
            assert_eq!(login("ann", "nope").status, 401);
        }
        assert_eq!(login("ann", &pw).status, 429, "the user is locked");
        // The address is throttled too: many users failing from one address.
        let mut last = 0;
        for i in 0..40 {
            last = login(&format!("u{i}"), "nope").status;
        }
        assert_eq!(last, 429, "the address is locked");
        drop(server);

        // A new password revokes and replaces.
        let v = common::json(&db, dir.path(), &["users", "passwd", "ann"]);
        assert_ne!(v["password"].as_str().unwrap(), pw);
        let list = ok(&db, dir.path(), &["users", "list"]);
        assert!(list.contains("ann") && list.contains("caseworker") && list.contains("4407"), "{list}");
        let bad = onecard(&db, dir.path(), &["users", "add", "x", "--role", "boss", "--scope", "4407"]);
        assert_eq!(bad.status.code(), Some(1));
    }
}

#[tokio::test]
async fn an_edited_access_log_entry_is_named_by_audit_verify() {
    for db in databases().await {
        let dir = tempfile::tempdir().unwrap();
        let pw = common::json(&db, dir.path(), &["users", "add", "ann", "--role", "caseworker", "--scope", "4407"]);
        let server = Server::start(&db, dir.path(), &[]);
        let token = server.login("ann", pw["password"].as_str().unwrap());
        for _ in 0..5 {
            assert_eq!(server.get("/api/v1/persons/11010519491231002X", &token).status, 404);
        }
        drop(server);
        let v = common::json(&db, dir.path(), &["audit", "verify"]);
        assert_eq!(v["entries"], 6, "a login and five reads: {v}");
        assert!(v["first_broken"].is_null());

        // The log refuses edits…
        assert_refused(&db, "UPDATE access_log SET actor = 'mallory' WHERE id = 3").await;
        assert_refused(&db, "DELETE FROM access_log WHERE id = 3").await;
        // …so a tamperer drops the trigger first; verify names the edited entry.
        let ids = rows(&db, "SELECT CAST(id AS TEXT) FROM access_log ORDER BY id").await;
        let third = &ids[2][0];
        match db.engine {
            "sqlite" => exec(&db, "DROP TRIGGER access_log_no_update").await,
            _ => exec(&db, "DROP TRIGGER access_log_no_change ON access_log").await,
        }
        exec(&db, &format!("UPDATE access_log SET actor = 'mallory' WHERE id = {third}")).await;
        let out = onecard(&db, dir.path(), &["audit", "verify"]);
        assert_eq!(out.status.code(), Some(1));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(&format!("entry {third}")), "[{}] {err}", db.engine);
    }
}

async fn assert_refused(db: &TestDb, sql: &str) {
    use sqlx::Connection;
    sqlx::any::install_default_drivers();
    let mut conn = sqlx::AnyConnection::connect(&db.url).await.unwrap();
    assert!(sqlx::raw_sql(sql).execute(&mut conn).await.is_err(), "[{}] {sql} was allowed", db.engine);
}

/// Logs in through the page form: the login CSRF cookie and field, then the session cookie.
fn page_login(server: &Server, user: &str, password: &str) -> (String, String) {
    let form = request(&server.addr, "GET", "/login", &[], None);
    let cookie = form.header("set-cookie").unwrap().split(';').next().unwrap().to_string();
    assert!(form.header("set-cookie").unwrap().contains("HttpOnly"));
    let csrf = form.body.split("name=\"csrf\" value=\"").nth(1).unwrap().split('"').next().unwrap().to_string();
    let body = format!("username={user}&password={password}&csrf={csrf}");
    let h = [("Content-Type", "application/x-www-form-urlencoded"), ("Cookie", cookie.as_str())];
    let a = request(&server.addr, "POST", "/login", &h, Some(&body));
    assert_eq!(a.status, 303, "{}", a.body);
    let session =
        a.headers_named("set-cookie").into_iter().find(|c| c.starts_with("onecard_session=")).unwrap().to_string();
    for attr in ["HttpOnly", "SameSite=Strict", "Secure"] {
        assert!(session.contains(attr), "{session}");
    }
    let session = session.split(';').next().unwrap().to_string();
    let page = request(&server.addr, "GET", "/anomalies", &[("Cookie", session.as_str())], None);
    let csrf = page.body.split("name=\"csrf\" value=\"").nth(1).unwrap().split('"').next().unwrap().to_string();
    (session, csrf)
}

#[tokio::test]
async fn every_page_form_needs_its_csrf_token() {
    for db in databases().await {
        let dir = tempfile::tempdir().unwrap();
        let pw = common::json(&db, dir.path(), &["users", "add", "sue", "--role", "supervisor", "--scope", "4407"]);
        let pw = pw["password"].as_str().unwrap().to_string();
        let server = Server::start(&db, dir.path(), &[]);
        // No login CSRF: refused before the password is even looked at.
        let h = [("Content-Type", "application/x-www-form-urlencoded")];
        let a = request(&server.addr, "POST", "/login", &h, Some(&format!("username=sue&password={pw}&csrf=x")));
        assert_eq!(a.status, 403);
        // Pages without a session go to the login page.
        assert_eq!(request(&server.addr, "GET", "/", &[], None).status, 303);

        let (session, csrf) = page_login(&server, "sue", &pw);
        let get = |path: &str| request(&server.addr, "GET", path, &[("Cookie", session.as_str())], None);
        assert_eq!(get("/").status, 200);
        assert!(get("/").body.contains("查询"));
        assert_eq!(get("/runs").status, 200);
        assert_eq!(get("/persons/11010519491231002X").status, 404);
        assert_eq!(get("/audit").status, 403, "a supervisor is no auditor");
        let h = [("Content-Type", "application/x-www-form-urlencoded"), ("Cookie", session.as_str())];
        let post = |path: &str, body: &str| request(&server.addr, "POST", path, &h, Some(body));
        for (path, body) in
            [("/anomalies/1/resolve", "action=retry&note=x"), ("/runs/R202611-01/approve", ""), ("/logout", "")]
        {
            assert_eq!(post(path, body).status, 403, "{path} without a CSRF token");
            assert_eq!(post(path, &format!("{body}&csrf=wrong")).status, 403, "{path} with a wrong one");
        }
        // The session cookie is not an API token, nor the token a session.
        assert_eq!(server.get("/api/v1/runs", session.trim_start_matches("onecard_session=")).status, 401);
        // With the token, logout works and ends the session.
        assert_eq!(post("/logout", &format!("csrf={csrf}")).status, 303);
        assert_eq!(get("/").status, 303);
    }
}
