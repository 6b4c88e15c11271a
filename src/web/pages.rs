//! The desk's pages (placeholder until the templates land).
use axum::Router;

pub fn routes() -> Router<super::Shared> {
    Router::new()
}
