//! The JSON API of reports.md ("Caseworker API"): every call but login needs
//! `Authorization: Bearer <token>`; answers come from `desk`.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;

use super::auth::{self, Caller, Role};
use super::desk::{self, Resolution};
use super::{ApiError, Shared};
use crate::domain::ids::RegionScope;
use crate::store::anomalies::Filter as AnomalyFilter;
use crate::store::users;

pub fn routes() -> Router<Shared> {
    Router::new()
        .route("/api/v1/login", post(login))
        .route("/api/v1/logout", post(logout))
        .route("/api/v1/me", get(me))
        .route("/api/v1/persons", get(search))
        .route("/api/v1/persons/{person_id}", get(person))
        .route("/api/v1/persons/{person_id}/payments", get(payments))
        .route("/api/v1/runs", get(runs))
        .route("/api/v1/runs/{run_id}", get(run))
        .route("/api/v1/runs/{run_id}/approve", post(approve))
        .route("/api/v1/anomalies", get(anomalies))
        .route("/api/v1/anomalies/{id}/resolve", post(resolve))
        .route("/api/v1/access-log", get(access_log))
}

/// The caller's address as seen by the server.
pub fn remote_of(parts: &Parts) -> String {
    parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip().to_string()).unwrap_or_default()
}

/// The holder of a live token of `kind`, as a `Caller`.
pub async fn caller_of(state: &Shared, token: &str, kind: &str, remote: String) -> Result<Caller, ApiError> {
    let hash = auth::token_hash(token);
    let holder = users::holder(state.store.pool(), &hash, &crate::store::now_text()).await?;
    let h = holder.filter(|h| h.kind == kind).ok_or(ApiError::Unauthorized)?;
    let role = Role::parse(&h.role).ok_or(ApiError::Unauthorized)?;
    let scope = RegionScope::parse(&h.scope).map_err(|_| ApiError::Unauthorized)?;
    Ok(Caller { username: h.username, role, scope, remote, csrf: h.csrf, token_hash: hash })
}

/// A request authenticated by a bearer token.
pub struct Bearer(pub Caller);

impl FromRequestParts<Shared> for Bearer {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &Shared) -> Result<Bearer, ApiError> {
        let header = parts.headers.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or("");
        let token =
            header.strip_prefix("Bearer ").map(str::trim).filter(|t| !t.is_empty()).ok_or(ApiError::Unauthorized)?;
        Ok(Bearer(caller_of(state, token, "api", remote_of(parts)).await?))
    }
}

/// Checks a login and opens a token of `kind` ("api" or "session"); returns
/// the token and, for a session, its CSRF token. A wrong user costs the same
/// argon2 work as a wrong password, and both are the same 401.
pub async fn open(
    state: &Shared,
    username: &str,
    password: &str,
    remote: &str,
    kind: &str,
) -> Result<(String, Option<String>), ApiError> {
    let actor = super::mask::scrub(username);
    if !state.throttle.allows(username, remote) {
        state.audit.record(&actor, "login", "", remote, "throttled").await;
        return Err(ApiError::Throttled);
    }
    let user = users::by_name(state.store.pool(), username).await?;
    let (hash, usable) = match &user {
        Some(u) => (u.password_hash.clone(), u.disabled == 0),
        None => (state.dummy_hash.clone(), false),
    };
    let password = password.to_string();
    let matches = tokio::task::spawn_blocking(move || auth::verify_password(&password, &hash))
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    let user = match user {
        Some(u) if matches && usable => u,
        _ => {
            state.throttle.failed(username, remote);
            state.audit.record(&actor, "login", "", remote, &format!("failed ({kind})")).await;
            return Err(ApiError::Unauthorized);
        }
    };
    state.throttle.succeeded(username);
    let token = auth::new_token(if kind == "api" { "oc_" } else { "os_" });
    let csrf = (kind == "session").then(|| auth::new_token(""));
    let ttl = chrono::Duration::from_std(state.opts.token_ttl).unwrap_or(chrono::Duration::hours(8));
    let expires = (chrono::Utc::now() + ttl).format("%Y-%m-%dT%H:%M:%SZ").to_string();
    users::insert_token(state.store.pool(), &auth::token_hash(&token), user.id, kind, csrf.as_deref(), &expires)
        .await?;
    if !state.audit.record(&user.username, "login", "", remote, &format!("ok ({kind})")).await {
        return Err(ApiError::Internal("the access log cannot be written".into()));
    }
    Ok((token, csrf))
}

#[derive(Deserialize)]
struct LoginBody {
    username: String,
    password: String,
}

async fn login(
    State(state): State<Shared>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    Json(body): Json<LoginBody>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let (token, _) = open(&state, &body.username, &body.password, &addr.ip().to_string(), "api").await?;
    Ok(Json(serde_json::json!({ "token": token })))
}

async fn logout(State(state): State<Shared>, Bearer(c): Bearer) -> Result<Json<serde_json::Value>, ApiError> {
    users::revoke(state.store.pool(), &c.token_hash).await?;
    state.audit.record(&c.username, "logout", "", &c.remote, "").await;
    Ok(Json(serde_json::json!({ "revoked": true })))
}

async fn me(Bearer(c): Bearer) -> Json<serde_json::Value> {
    Json(serde_json::json!({ "username": c.username, "role": c.role, "scope": c.scope.as_str() }))
}

#[derive(Deserialize)]
pub struct SearchParams {
    #[serde(default)]
    pub q: String,
    pub page: Option<i64>,
    pub per_page: Option<i64>,
}

async fn search(
    State(state): State<Shared>,
    Bearer(c): Bearer,
    Query(p): Query<SearchParams>,
) -> Result<Json<desk::SearchView>, ApiError> {
    Ok(Json(desk::search(&state, &c, &p.q, p.page, p.per_page).await?))
}

async fn person(
    State(state): State<Shared>,
    Bearer(c): Bearer,
    Path(id): Path<String>,
) -> Result<Json<desk::PersonView>, ApiError> {
    Ok(Json(desk::person(&state, &c, &id).await?))
}

#[derive(Deserialize)]
pub struct MonthRange {
    pub from: Option<String>,
    pub to: Option<String>,
}

async fn payments(
    State(state): State<Shared>,
    Bearer(c): Bearer,
    Path(id): Path<String>,
    Query(r): Query<MonthRange>,
) -> Result<Json<desk::PaymentsView>, ApiError> {
    Ok(Json(desk::payments(&state, &c, &id, r.from.as_deref(), r.to.as_deref()).await?))
}

async fn runs(
    State(state): State<Shared>,
    Bearer(c): Bearer,
) -> Result<Json<Vec<crate::jobs::run::RunSummary>>, ApiError> {
    Ok(Json(desk::runs(&state, &c).await?))
}

async fn run(
    State(state): State<Shared>,
    Bearer(c): Bearer,
    Path(id): Path<String>,
) -> Result<Json<crate::jobs::run::RunSummary>, ApiError> {
    Ok(Json(desk::run(&state, &c, &id).await?))
}

async fn approve(
    State(state): State<Shared>,
    Bearer(c): Bearer,
    Path(id): Path<String>,
) -> Result<Json<crate::jobs::run::RunSummary>, ApiError> {
    Ok(Json(desk::approve(&state, &c, &id).await?))
}

#[derive(Deserialize, Default)]
pub struct AnomalyParams {
    pub code: Option<String>,
    pub period: Option<String>,
    pub region: Option<String>,
    pub state: Option<String>,
    pub page: Option<i64>,
    pub per_page: Option<i64>,
}

impl AnomalyParams {
    pub fn filter(&self) -> Result<AnomalyFilter, ApiError> {
        let keep = |v: &Option<String>| v.as_ref().map(|s| s.trim().to_string()).filter(|s| !s.is_empty());
        let region = keep(&self.region);
        if let Some(r) = &region {
            if r.len() > 12 || !r.bytes().all(|b| b.is_ascii_digit()) {
                return Err(ApiError::BadRequest(format!("region '{r}' must be a prefix of digits")));
            }
        }
        Ok(AnomalyFilter {
            code: keep(&self.code),
            period: keep(&self.period),
            region_prefix: region,
            run_id: None,
            state: keep(&self.state),
        })
    }
}

async fn anomalies(
    State(state): State<Shared>,
    Bearer(c): Bearer,
    Query(p): Query<AnomalyParams>,
) -> Result<Json<desk::AnomaliesView>, ApiError> {
    Ok(Json(desk::anomalies(&state, &c, p.filter()?, p.page, p.per_page).await?))
}

async fn resolve(
    State(state): State<Shared>,
    Bearer(c): Bearer,
    Path(id): Path<String>,
    Json(r): Json<Resolution>,
) -> Result<Json<desk::AnomalyView>, ApiError> {
    let id: i64 = id.parse().map_err(|_| ApiError::NotFound)?;
    Ok(Json(desk::resolve(&state, &c, id, &r).await?))
}

#[derive(Deserialize)]
pub struct PageParams {
    pub page: Option<i64>,
    pub per_page: Option<i64>,
}

async fn access_log(
    State(state): State<Shared>,
    Bearer(c): Bearer,
    Query(p): Query<PageParams>,
) -> Result<Json<desk::AccessLogView>, ApiError> {
    Ok(Json(desk::access_log(&state, &c, p.page, p.per_page).await?))
}
