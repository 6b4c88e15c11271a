//! Users of the caseworker desk and their bearer tokens and page sessions.
//! Passwords arrive already hashed (argon2, in `web::auth`); tokens arrive as
//! their SHA-256 hex: nothing secret is stored.

use sqlx::AnyPool;

use super::{now_text, StoreError};

#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct User {
    pub id: i64,
    pub username: String,
    #[serde(skip)]
    pub password_hash: String,
    pub role: String,
    pub scope: String,
    pub disabled: i64,
    pub created_at: String,
}

const USER_COLUMNS: &str = "id, username, password_hash, role, scope, disabled, created_at";

pub async fn add(
    pool: &AnyPool,
    username: &str,
    password_hash: &str,
    role: &str,
    scope: &str,
) -> Result<i64, StoreError> {
    let exists: Option<i64> =
        sqlx::query_scalar("SELECT id FROM users WHERE username = $1").bind(username).fetch_optional(pool).await?;
    if exists.is_some() {
        return Err(StoreError::Conflict(format!("user {username} exists already")));
    }
    Ok(sqlx::query_scalar(
        "INSERT INTO users (username, password_hash, role, scope, disabled, created_at) VALUES ($1, $2, $3, $4, 0, $5) \
         RETURNING id",
    )
    .bind(username)
    .bind(password_hash)
    .bind(role)
    .bind(scope)
    .bind(now_text())
    .fetch_one(pool)
    .await?)
}

pub async fn by_name(pool: &AnyPool, username: &str) -> Result<Option<User>, StoreError> {
    let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE username = $1");
    Ok(sqlx::query_as(&sql).bind(username).fetch_optional(pool).await?)
}

pub async fn list(pool: &AnyPool) -> Result<Vec<User>, StoreError> {
    let sql = format!("SELECT {USER_COLUMNS} FROM users ORDER BY username");
    Ok(sqlx::query_as(&sql).fetch_all(pool).await?)
}

/// Disables a user and revokes every token and session they hold.
pub async fn disable(pool: &AnyPool, username: &str) -> Result<bool, StoreError> {
    let n = sqlx::query("UPDATE users SET disabled = 1 WHERE username = $1").bind(username).execute(pool).await?;
    revoke_all(pool, username).await?;
    Ok(n.rows_affected() > 0)
}

/// A new password; every token and session of the user is revoked.
pub async fn set_password(pool: &AnyPool, username: &str, password_hash: &str) -> Result<bool, StoreError> {
    let n = sqlx::query("UPDATE users SET password_hash = $1 WHERE username = $2")
        .bind(password_hash)
        .bind(username)
        .execute(pool)
        .await?;
    revoke_all(pool, username).await?;
    Ok(n.rows_affected() > 0)
}

async fn revoke_all(pool: &AnyPool, username: &str) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE api_tokens SET revoked_at = $1 WHERE revoked_at IS NULL \
         AND user_id = (SELECT id FROM users WHERE username = $2)",
    )
    .bind(now_text())
    .bind(username)
    .execute(pool)
    .await?;
    Ok(())
}

pub async fn insert_token(
    pool: &AnyPool,
    token_hash: &str,
    user_id: i64,
    kind: &str,
    csrf: Option<&str>,
    expires_at: &str,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO api_tokens (token_hash, user_id, created_at, expires_at, kind, csrf) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(token_hash)
    .bind(user_id)
    .bind(now_text())
    .bind(expires_at)
    .bind(kind)
    .bind(csrf)
    .execute(pool)
    .await?;
    Ok(())
}

/// Who holds a live token: not revoked, not expired, user not disabled.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TokenHolder {
    pub user_id: i64,
    pub username: String,
    pub role: String,
    pub scope: String,
    pub kind: String,
    pub csrf: Option<String>,
}

pub async fn holder(pool: &AnyPool, token_hash: &str, now: &str) -> Result<Option<TokenHolder>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT u.id AS user_id, u.username, u.role, u.scope, t.kind, t.csrf FROM api_tokens t \
         JOIN users u ON u.id = t.user_id \
         WHERE t.token_hash = $1 AND t.revoked_at IS NULL AND t.expires_at > $2 AND u.disabled = 0",
    )
    .bind(token_hash)
    .bind(now)
    .fetch_optional(pool)
    .await?)
}

pub async fn revoke(pool: &AnyPool, token_hash: &str) -> Result<(), StoreError> {
    sqlx::query("UPDATE api_tokens SET revoked_at = $1 WHERE token_hash = $2 AND revoked_at IS NULL")
        .bind(now_text())
        .bind(token_hash)
        .execute(pool)
        .await?;
    Ok(())
}
