//! Who is calling: argon2 passwords (equal work for a wrong user and a wrong
//! password), random bearer tokens and page sessions stored as SHA-256,
//! roles and region scopes, and the throttle on failed logins.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use argon2::password_hash::rand_core::{OsRng, RngCore};
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use sha2::{Digest, Sha256};

use crate::domain::ids::RegionScope;

/// The four roles of reports.md.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Reads persons, payments, runs and anomalies.
    Caseworker,
    /// Also resolves anomalies and approves runs.
    Supervisor,
    /// Reads everything, including the access log.
    Auditor,
    /// Manages users.
    Admin,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Caseworker, Role::Supervisor, Role::Auditor, Role::Admin];

    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Caseworker => "caseworker",
            Role::Supervisor => "supervisor",
            Role::Auditor => "auditor",
            Role::Admin => "admin",
        }
    }

    /// Persons, payments, runs and anomalies.
    pub fn reads(self) -> bool {
        matches!(self, Role::Caseworker | Role::Supervisor | Role::Auditor)
    }

    pub fn decides(self) -> bool {
        self == Role::Supervisor
    }

    pub fn audits(self) -> bool {
        self == Role::Auditor
    }

    /// The role's name on the pages.
    pub fn label(self) -> &'static str {
        match self {
            Role::Caseworker => "经办人",
            Role::Supervisor => "审核人",
            Role::Auditor => "审计员",
            Role::Admin => "管理员",
        }
    }
}

/// The authenticated caller of one request.
#[derive(Debug, Clone)]
pub struct Caller {
    pub username: String,
    pub role: Role,
    pub scope: RegionScope,
    pub remote: String,
    /// The page session's CSRF token (none for a bearer token).
    pub csrf: Option<String>,
    pub token_hash: String,
}

/// SHA-256 hex of a token: what the database keeps.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// A fresh random token: 32 bytes from the OS, hex, with a prefix saying what it is.
pub fn new_token(prefix: &str) -> String {
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    format!("{prefix}{}", hex::encode(bytes))
}

/// A generated password: 16 characters without look-alikes (0/O, 1/l/I).
pub fn generate_password() -> String {
    const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut bytes = [0u8; 16];
    OsRng.fill_bytes(&mut bytes);
    bytes.iter().map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char).collect()
}

#[derive(Debug, thiserror::Error)]
#[error("password hashing failed: {0}")]
pub struct HashError(String);

pub fn hash_password(password: &str) -> Result<String, HashError> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| HashError(e.to_string()))
}

/// True if the password matches the stored hash. A malformed hash never matches.
pub fn verify_password(password: &str, stored: &str) -> bool {
    match PasswordHash::new(stored) {
        Ok(h) => Argon2::default().verify_password(password.as_bytes(), &h).is_ok(),
        Err(_) => false,
    }
}

/// Equality in time independent of where the strings differ.
pub fn constant_time_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Failed logins counted per user name and per address in a sliding window;
/// past the limit, logins are refused until the window has passed.
pub struct Throttle {
    window: Duration,
    per_user: u32,
    per_addr: u32,
    failures: Mutex<HashMap<String, (u32, Instant)>>,
}

impl Throttle {
    pub fn new(window: Duration, per_user: u32, per_addr: u32) -> Throttle {
        Throttle { window, per_user, per_addr, failures: Mutex::new(HashMap::new()) }
    }

    /// Whether a login for `user` from `addr` may be tried now.
    pub fn allows(&self, user: &str, addr: &str) -> bool {
        let now = Instant::now();
        let mut map = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        map.retain(|_, (_, since)| now.duration_since(*since) < self.window);
        let over = |key: String, limit: u32| map.get(&key).is_some_and(|(n, _)| *n >= limit);
        !(over(format!("u:{user}"), self.per_user) || over(format!("a:{addr}"), self.per_addr))
    }

    pub fn failed(&self, user: &str, addr: &str) {
        let now = Instant::now();
        let mut map = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        for key in [format!("u:{user}"), format!("a:{addr}")] {
            map.entry(key).or_insert((0, now)).0 += 1;
        }
    }

    pub fn succeeded(&self, user: &str) {
        let mut map = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        map.remove(&format!("u:{user}"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_hash_and_verify() {
        let h = hash_password("s3cret").unwrap();
        assert!(verify_password("s3cret", &h));
        assert!(!verify_password("s3cre", &h));
        assert!(!verify_password("s3cret", "not a hash"));
    }

    #[test]
    fn throttle_locks_a_user_and_an_address() {
        let t = Throttle::new(Duration::from_secs(60), 2, 3);
        assert!(t.allows("a", "1"));
        t.failed("a", "1");
        t.failed("a", "1");
        assert!(!t.allows("a", "2"), "user locked from any address");
        assert!(t.allows("b", "2"));
        t.failed("b", "1");
        assert!(!t.allows("c", "1"), "address locked for any user");
    }

    #[test]
    fn tokens_are_random_and_compared_in_constant_time() {
        let (a, b) = (new_token("oc_"), new_token("oc_"));
        assert_ne!(a, b);
        assert_eq!(a.len(), 67);
        assert!(constant_time_eq(&a, &a.clone()));
        assert!(!constant_time_eq(&a, &b));
        assert_eq!(generate_password().len(), 16);
    }
}
