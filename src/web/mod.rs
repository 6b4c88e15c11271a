//! `onecard serve`: the caseworker's desk — the JSON API of reports.md
//! ("Caseworker API") and server-rendered pages in Chinese over the same
//! functions (`desk`), which call the same jobs and store as the command line.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;

use crate::config::Config;
use crate::store::{Store, StoreError};

pub mod api;
pub mod audit;
pub mod auth;
pub mod desk;
pub mod mask;
pub mod pages;
pub mod zh;

/// How the server runs.
#[derive(Debug, Clone)]
pub struct Options {
    pub listen: String,
    /// Lifetime of an API token and of a page session.
    pub token_ttl: Duration,
    /// Mark the session cookie `Secure` (off only behind a TLS-terminating proxy on another host).
    pub secure_cookie: bool,
}

/// What every request shares.
pub struct AppState {
    pub store: Store,
    pub config: Config,
    pub audit: audit::AuditLog,
    pub throttle: auth::Throttle,
    pub refs: Refs,
    pub opts: Options,
    /// An argon2 hash no password matches: a wrong user costs what a wrong password does.
    pub dummy_hash: String,
}

pub type Shared = Arc<AppState>;

/// Opaque references to persons, handed out in lists so that links need no
/// whole id; a reference names a person, it does not grant access (the
/// scope is checked on every use).
#[derive(Default)]
pub struct Refs {
    maps: Mutex<(HashMap<String, String>, HashMap<String, String>)>,
}

impl Refs {
    const MAX: usize = 200_000;

    pub fn issue(&self, person_id: &str) -> String {
        let mut m = self.maps.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(r) = m.1.get(person_id) {
            return r.clone();
        }
        if m.0.len() >= Refs::MAX {
            m.0.clear();
            m.1.clear();
        }
        let r = auth::new_token("p-")[..26].to_string();
        m.0.insert(r.clone(), person_id.to_string());
        m.1.insert(person_id.to_string(), r.clone());
        r
    }

    pub fn lookup(&self, reference: &str) -> Option<String> {
        if !reference.starts_with("p-") {
            return None;
        }
        self.maps.lock().unwrap_or_else(|e| e.into_inner()).0.get(reference).cloned()
    }
}

/// The API's error answers. A person or anomaly that does not exist and one
/// outside the caller's scope are the same `NotFound`, with the same body.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("not found")]
    NotFound,
    #[error("unauthorized")]
    Unauthorized,
    #[error("forbidden for this role")]
    Forbidden,
    #[error("too many failed logins; try again later")]
    Throttled,
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Conflict(String),
    #[error("internal error")]
    Internal(String),
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        ApiError::Internal(mask::scrub(&e.to_string()))
    }
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::NotFound => StatusCode::NOT_FOUND,
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden => StatusCode::FORBIDDEN,
            ApiError::Throttled => StatusCode::TOO_MANY_REQUESTS,
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let ApiError::Internal(detail) = &self {
            tracing::error!("request failed: {detail}");
        }
        let mut r = (self.status(), Json(serde_json::json!({ "error": self.to_string() }))).into_response();
        if matches!(self, ApiError::Unauthorized) {
            r.headers_mut().insert("www-authenticate", axum::http::HeaderValue::from_static("Bearer"));
        }
        r
    }
}

/// Binds, prints the address, and serves until SIGTERM or Ctrl-C.
pub async fn serve(store: Store, config: Config, opts: Options) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(&opts.listen)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", opts.listen))?;
    let addr = listener.local_addr()?;
    let dummy_hash = auth::hash_password(&auth::new_token(""))?;
    let state = Arc::new(AppState {
        audit: audit::AuditLog::start(store.clone()),
        store,
        config,
        throttle: auth::Throttle::new(Duration::from_secs(15 * 60), 5, 30),
        refs: Refs::default(),
        opts,
        dummy_hash,
    });
    let app = api::routes().merge(pages::routes()).with_state(state);
    println!("onecard desk listening on http://{addr}/");
    use std::io::Write;
    std::io::stdout().flush()?;
    axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(shutdown())
        .await?;
    Ok(())
}

async fn shutdown() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term => {}
    }
}
