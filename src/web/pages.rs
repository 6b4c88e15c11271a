//! The desk's pages in Chinese, rendered on the server (askama templates
//! compiled into the binary; no script, no asset from elsewhere) over the
//! same `desk` functions as the API. A page session is an HttpOnly,
//! SameSite=Strict cookie; every form carries the session's CSRF token.

use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use serde::Deserialize;

use askama::Template;

use super::api::{self, AnomalyParams, PageParams, SearchParams};
use super::auth::{self, Caller};
use super::desk::{self, AccessLogView, AnomaliesView, PaymentsView, PersonView, Resolution, SearchView};
use super::{zh, ApiError, Shared};
use crate::jobs::run::RunSummary;

const SESSION: &str = "onecard_session";
const LOGIN_CSRF: &str = "onecard_login_csrf";

pub fn routes() -> Router<Shared> {
    Router::new()
        .route("/login", get(login_page).post(login))
        .route("/logout", post(logout))
        .route("/", get(search_page))
        .route("/persons/{reference}", get(person_page))
        .route("/runs", get(runs_page))
        .route("/runs/{run_id}", get(run_page))
        .route("/runs/{run_id}/approve", post(approve))
        .route("/anomalies", get(anomalies_page))
        .route("/anomalies/{id}/resolve", post(resolve))
        .route("/audit", get(audit_page))
}

mod filters {
    /// Percent-encoding of every byte but unreserved ASCII, for a query value.
    pub fn pct<T: std::fmt::Display>(s: T) -> askama::Result<String> {
        Ok(super::pct(&s.to_string()))
    }

    /// The Chinese word for a state, code or action; unknown words stay as they are.
    pub fn zh<T: std::fmt::Display>(s: T) -> askama::Result<String> {
        Ok(super::zh::word_or(&s.to_string()).to_string())
    }

    /// A card event's note in Chinese: the notes the system writes are
    /// translated, a caseworker's own words are shown as written.
    pub fn zh_note<T: std::fmt::Display>(s: T) -> askama::Result<String> {
        Ok(super::zh::note(&s.to_string()))
    }

    /// An anomaly's or a held item's detail in Chinese; a text of no known
    /// form (a caseworker's own words) is shown as written.
    pub fn zh_detail<T: std::fmt::Display>(s: T) -> askama::Result<String> {
        Ok(super::zh::detail(&s.to_string()))
    }
}

fn pct(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// What the header shows.
pub struct Nav {
    pub username: String,
    pub role: &'static str,
    pub scope: String,
    pub csrf: String,
    pub auditor: bool,
}

fn nav(c: &Caller) -> Option<Nav> {
    Some(Nav {
        username: c.username.clone(),
        role: c.role.label(),
        scope: c.scope.as_str().to_string(),
        csrf: c.csrf.clone().unwrap_or_default(),
        auditor: c.role.audits(),
    })
}

fn render(t: impl Template) -> Response {
    match t.render() {
        Ok(html) => Html(html).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, format!("template: {e}")).into_response(),
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    nav: Option<Nav>,
    title: String,
    message: String,
}

/// An API error as a page; not-found looks the same whether the person does not exist or is out of scope.
fn error_page(c: Option<&Caller>, e: ApiError) -> Response {
    let status = e.status();
    let (title, message) = match &e {
        ApiError::NotFound => ("未找到".to_string(), "没有找到（或不在您的辖区内）。".to_string()),
        ApiError::Forbidden => ("无权限".to_string(), "您的角色不能进行此操作。".to_string()),
        ApiError::BadRequest(m) | ApiError::Conflict(m) => ("未能办理".to_string(), m.clone()),
        other => ("出错了".to_string(), other.to_string()),
    };
    let mut r = render(ErrorPage { nav: c.and_then(nav), title, message });
    *r.status_mut() = status;
    r
}

fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

fn set_cookie(state: &Shared, name: &str, value: &str, max_age: u64) -> String {
    let secure = if state.opts.secure_cookie { "; Secure" } else { "" };
    format!("{name}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}")
}

/// A request with a live page session; otherwise the login page.
pub struct Session(pub Caller);

impl FromRequestParts<Shared> for Session {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &Shared) -> Result<Session, Response> {
        let token = cookie(&parts.headers, SESSION).ok_or_else(|| Redirect::to("/login").into_response())?;
        match api::caller_of(state, token, "session", api::remote_of(parts)).await {
            Ok(c) => Ok(Session(c)),
            Err(ApiError::Unauthorized) => Err(Redirect::to("/login").into_response()),
            Err(e) => Err(error_page(None, e)),
        }
    }
}

/// Every form posts the session's CSRF token; a missing or wrong one is refused.
fn csrf_ok(c: &Caller, given: &str) -> bool {
    c.csrf.as_deref().is_some_and(|want| auth::constant_time_eq(want, given))
}

fn csrf_refused() -> Response {
    (StatusCode::FORBIDDEN, "CSRF token missing or wrong").into_response()
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    nav: Option<Nav>,
    error: Option<String>,
    csrf: String,
}

fn login_form(state: &Shared, error: Option<String>, status: StatusCode) -> Response {
    let csrf = auth::new_token("");
    let mut r = render(LoginPage { nav: None, error, csrf: csrf.clone() });
    *r.status_mut() = status;
    if let Ok(v) = set_cookie(state, LOGIN_CSRF, &csrf, 3600).parse() {
        r.headers_mut().append(header::SET_COOKIE, v);
    }
    r
}

async fn login_page(State(state): State<Shared>) -> Response {
    login_form(&state, None, StatusCode::OK)
}

#[derive(Deserialize)]
struct LoginForm {
    username: String,
    password: String,
    #[serde(default)]
    csrf: String,
}

async fn login(
    State(state): State<Shared>,
    headers: HeaderMap,
    axum::extract::ConnectInfo(addr): axum::extract::ConnectInfo<std::net::SocketAddr>,
    Form(f): Form<LoginForm>,
) -> Response {
    let expected = cookie(&headers, LOGIN_CSRF).unwrap_or("");
    if expected.is_empty() || !auth::constant_time_eq(expected, &f.csrf) {
        return csrf_refused();
    }
    match api::open(&state, f.username.trim(), &f.password, &addr.ip().to_string(), "session").await {
        Ok((token, _)) => {
            let mut r = Redirect::to("/").into_response();
            let ttl = state.opts.token_ttl.as_secs();
            for c in [set_cookie(&state, SESSION, &token, ttl), set_cookie(&state, LOGIN_CSRF, "", 0)] {
                if let Ok(v) = c.parse() {
                    r.headers_mut().append(header::SET_COOKIE, v);
                }
            }
            r
        }
        Err(ApiError::Throttled) => {
            login_form(&state, Some("登录失败次数过多，请稍后再试。".into()), StatusCode::TOO_MANY_REQUESTS)
        }
        Err(ApiError::Unauthorized) => login_form(&state, Some("用户名或密码错误。".into()), StatusCode::UNAUTHORIZED),
        Err(e) => error_page(None, e),
    }
}

#[derive(Deserialize)]
struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

async fn logout(State(state): State<Shared>, Session(c): Session, Form(f): Form<CsrfForm>) -> Response {
    if !csrf_ok(&c, &f.csrf) {
        return csrf_refused();
    }
    let _ = crate::store::users::revoke(state.store.pool(), &c.token_hash).await;
    state.audit.record(&c.username, "logout", "", &c.remote, "").await;
    let mut r = Redirect::to("/login").into_response();
    if let Ok(v) = set_cookie(&state, SESSION, "", 0).parse() {
        r.headers_mut().append(header::SET_COOKIE, v);
    }
    r
}

#[derive(Template)]
#[template(path = "search.html")]
struct SearchPage {
    nav: Option<Nav>,
    q: String,
    result: Option<SearchView>,
}

async fn search_page(State(state): State<Shared>, Session(c): Session, Query(p): Query<SearchParams>) -> Response {
    let result = if p.q.trim().is_empty() {
        None
    } else {
        match desk::search(&state, &c, &p.q, p.page, p.per_page).await {
            Ok(v) => Some(v),
            Err(e) => return error_page(Some(&c), e),
        }
    };
    render(SearchPage { nav: nav(&c), q: super::mask::scrub(&p.q), result })
}

#[derive(Template)]
#[template(path = "person.html")]
struct PersonPage {
    nav: Option<Nav>,
    p: PersonView,
    pays: PaymentsView,
}

async fn person_page(State(state): State<Shared>, Session(c): Session, Path(reference): Path<String>) -> Response {
    let p = match desk::person(&state, &c, &reference).await {
        Ok(p) => p,
        Err(e) => return error_page(Some(&c), e),
    };
    match desk::payments(&state, &c, &reference, None, None).await {
        Ok(pays) => render(PersonPage { nav: nav(&c), p, pays }),
        Err(e) => error_page(Some(&c), e),
    }
}

#[derive(Template)]
#[template(path = "runs.html")]
struct RunsPage {
    nav: Option<Nav>,
    runs: Vec<RunSummary>,
}

async fn runs_page(State(state): State<Shared>, Session(c): Session) -> Response {
    match desk::runs(&state, &c).await {
        Ok(runs) => render(RunsPage { nav: nav(&c), runs }),
        Err(e) => error_page(Some(&c), e),
    }
}

pub struct Bar {
    pub label: String,
    pub value: String,
    pub width: i64,
    pub y: i64,
}

pub struct Chart {
    pub title: String,
    pub height: i64,
    pub bars: Vec<Bar>,
}

/// Horizontal bars scaled to the largest value (integer arithmetic; 440 px at most).
fn chart(title: &str, rows: Vec<(String, i64, String)>) -> Chart {
    let max = rows.iter().map(|r| r.1).max().unwrap_or(0).max(1);
    let bars: Vec<Bar> = rows
        .into_iter()
        .enumerate()
        .map(|(i, (label, v, value))| Bar { label, value, width: v * 440 / max, y: i as i64 * 22 })
        .collect();
    Chart { title: title.to_string(), height: bars.len() as i64 * 22 + 4, bars }
}

fn fen_of(amount: &str) -> i64 {
    crate::domain::Money::parse(amount).map(crate::domain::Money::fen).unwrap_or(0)
}

#[derive(Template)]
#[template(path = "run.html")]
struct RunPage {
    nav: Option<Nav>,
    r: RunSummary,
    charts: Vec<Chart>,
    can_approve: bool,
    csrf: String,
    msg: Option<String>,
}

#[derive(Deserialize)]
struct MsgParams {
    msg: Option<String>,
}

async fn run_page(
    State(state): State<Shared>,
    Session(c): Session,
    Path(run_id): Path<String>,
    Query(m): Query<MsgParams>,
) -> Response {
    let r = match desk::run(&state, &c, &run_id).await {
        Ok(r) => r,
        Err(e) => return error_page(Some(&c), e),
    };
    let label = |k: &str| zh::word(k).map(|z| format!("{z} {k}")).unwrap_or_else(|| k.to_string());
    let charts = vec![
        chart(
            "按项目（金额）",
            r.by_program
                .iter()
                .map(|(k, f)| (label(k), fen_of(&f.amount), format!("{} 项 {}", f.count, f.amount)))
                .collect(),
        ),
        chart(
            "按银行（金额）",
            r.by_bank
                .iter()
                .map(|(k, f)| (format!("银行 {k}"), fen_of(&f.amount), format!("{} 笔 {}", f.count, f.amount)))
                .collect(),
        ),
        chart("暂缓（项）", r.held.iter().map(|(k, v)| (label(k), *v, v.to_string())).collect()),
        chart("不予发放的异常（项）", r.anomalies.iter().map(|(k, v)| (label(k), *v, v.to_string())).collect()),
    ];
    let can_approve = c.role.decides() && r.state == "draft" && r.created_by != c.username;
    render(RunPage { nav: nav(&c), csrf: c.csrf.clone().unwrap_or_default(), r, charts, can_approve, msg: m.msg })
}

async fn approve(
    State(state): State<Shared>,
    Session(c): Session,
    Path(run_id): Path<String>,
    Form(f): Form<CsrfForm>,
) -> Response {
    if !csrf_ok(&c, &f.csrf) {
        return csrf_refused();
    }
    match desk::approve(&state, &c, &run_id).await {
        Ok(_) => Redirect::to(&format!("/runs/{run_id}?msg=%E5%B7%B2%E5%AE%A1%E6%A0%B8")).into_response(),
        Err(e) => error_page(Some(&c), e),
    }
}

#[derive(Template)]
#[template(path = "anomalies.html")]
struct AnomaliesPage {
    nav: Option<Nav>,
    v: AnomaliesView,
    /// Every anomaly code with its Chinese name, for the filter, the chosen one ` selected`.
    codes: Vec<(&'static str, &'static str, &'static str)>,
    period: String,
    region: String,
    state: String,
    link: String,
    can_resolve: bool,
    csrf: String,
    msg: Option<String>,
}

#[derive(Deserialize, Default)]
struct AnomalyPageParams {
    #[serde(flatten)]
    filter: AnomalyParams,
    msg: Option<String>,
}

async fn anomalies_page(
    State(state): State<Shared>,
    Session(c): Session,
    Query(p): Query<AnomalyPageParams>,
) -> Response {
    let f = &p.filter;
    let filter = match f.filter() {
        Ok(x) => x,
        Err(e) => return error_page(Some(&c), e),
    };
    let v = match desk::anomalies(&state, &c, filter, f.page, f.per_page).await {
        Ok(v) => v,
        Err(e) => return error_page(Some(&c), e),
    };
    let s = |o: &Option<String>| o.clone().unwrap_or_default();
    let enc = |o: &Option<String>| pct(&s(o));
    let link = format!(
        "/anomalies?code={}&period={}&region={}&state={}",
        enc(&f.code),
        enc(&f.period),
        enc(&f.region),
        enc(&f.state)
    );
    let codes = crate::domain::AnomalyCode::ALL
        .iter()
        .map(|code| {
            let c = code.as_str();
            (c, zh::word_or(c), if f.code.as_deref() == Some(c) { " selected" } else { "" })
        })
        .collect();
    render(AnomaliesPage {
        nav: nav(&c),
        v,
        codes,
        period: s(&f.period),
        region: s(&f.region),
        state: s(&f.state),
        link,
        can_resolve: c.role.decides(),
        csrf: c.csrf.clone().unwrap_or_default(),
        msg: p.msg,
    })
}

#[derive(Deserialize)]
struct ResolveForm {
    #[serde(default)]
    csrf: String,
    action: String,
    #[serde(default)]
    note: String,
    #[serde(default)]
    keep: Option<String>,
}

async fn resolve(
    State(state): State<Shared>,
    Session(c): Session,
    Path(id): Path<String>,
    Form(f): Form<ResolveForm>,
) -> Response {
    if !csrf_ok(&c, &f.csrf) {
        return csrf_refused();
    }
    let Ok(id) = id.parse::<i64>() else { return error_page(Some(&c), ApiError::NotFound) };
    let r = Resolution { action: f.action, note: f.note, keep: f.keep.filter(|k| !k.trim().is_empty()) };
    match desk::resolve(&state, &c, id, &r).await {
        Ok(_) => {
            let msg = format!("异常 {id} 已处理");
            Redirect::to(&format!("/anomalies?msg={}", pct(&msg))).into_response()
        }
        Err(e) => error_page(Some(&c), e),
    }
}

#[derive(Template)]
#[template(path = "audit.html")]
struct AuditPage {
    nav: Option<Nav>,
    v: AccessLogView,
}

async fn audit_page(State(state): State<Shared>, Session(c): Session, Query(p): Query<PageParams>) -> Response {
    match desk::access_log(&state, &c, p.page, p.per_page).await {
        Ok(v) => render(AuditPage { nav: nav(&c), v }),
        Err(e) => error_page(Some(&c), e),
    }
}
