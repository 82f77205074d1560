//! Accounts and credentials: users and roles, API tokens, browser sessions, password checks.
//!
//! Passwords are argon2-hashed. API tokens and session cookies are 256 random bits shown once
//! and stored as their SHA-256 (a fast hash is right for high-entropy secrets: there is nothing
//! to brute-force, and every request checks one).

use app::types::Role;
use argon2::password_hash::{rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::access::{Actor, User};
use crate::db::{self, Db};
use crate::error::{Error, Result};
use crate::repo::users;

pub fn normalise_email(email: &str) -> Result<String> {
    let email = email.trim().to_lowercase();
    let valid = email.len() <= 254
        && email
            .split_once('@')
            .is_some_and(|(local, domain)| !local.is_empty() && domain.contains('.') && !domain.starts_with('.'))
        && !email.chars().any(char::is_whitespace);
    if valid {
        Ok(email)
    } else {
        Err(Error::BadRequest(format!("{email:?} is not an email address")))
    }
}

pub fn hash_password(password: &str) -> Result<String> {
    if password.chars().count() < 8 {
        return Err(Error::BadRequest("a password needs at least 8 characters".into()));
    }
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default().hash_password(password.as_bytes(), &salt).map(|h| h.to_string()).map_err(Error::internal)
}

/// Creates a user (leads; the CLI's operator is one).
pub async fn add_user(db: &Db, actor: &Actor, email: &str, role: Role, password: Option<&str>) -> Result<User> {
    actor.require(Role::Lead)?;
    let email = normalise_email(email)?;
    let password_hash = password.map(hash_password).transpose()?;
    users::insert(db, &email, role, password_hash.as_deref())
        .await?
        .ok_or_else(|| Error::Conflict(format!("a user {email} already exists")))
}

/// Sets a user's password (leads); the user's sessions and tokens stay valid.
pub async fn set_password(db: &Db, actor: &Actor, email: &str, password: &str) -> Result<()> {
    actor.require(Role::Lead)?;
    let email = normalise_email(email)?;
    let hash = hash_password(password)?;
    if users::set_password(db, &email, &hash).await? {
        Ok(())
    } else {
        Err(Error::NotFound(format!("no user {email}")))
    }
}

/// A password to show once: 16 random letters and digits (about 95 bits), without the look-alikes
/// `0/O` and `1/l/I`, so it can be typed from a terminal.
pub fn generate_password() -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut rng = rand::rngs::OsRng;
    (0..16).map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char).collect()
}

pub async fn user_by_email(db: &Db, email: &str) -> Result<Option<User>> {
    users::by_email(db, &normalise_email(email)?).await
}

/// The stored form of a secret token (API token or session cookie).
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// A new 256-bit secret in hex, and the hash under which it is stored.
pub fn new_secret() -> (String, String) {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let secret = hex::encode(bytes);
    let hash = token_hash(&secret);
    (secret, hash)
}

/// Creates an API token for a user (leads) and returns it; only its hash is kept.
pub async fn create_token(db: &Db, actor: &Actor, email: &str) -> Result<String> {
    actor.require(Role::Lead)?;
    let user = user_by_email(db, email).await?.ok_or_else(|| Error::NotFound(format!("no user {email}")))?;
    let (secret, _) = new_secret();
    let token = format!("cgt_{secret}");
    let hash = token_hash(&token);
    users::insert_token(db, &hash, user.id).await?;
    crate::repo::audit::append(
        &db.pool,
        crate::repo::audit::Event {
            actor: &actor.name,
            action: "token.create",
            detail: Some(serde_json::json!({"token": &hash[..12], "email": user.email})),
            ..Default::default()
        },
    )
    .await?;
    Ok(token)
}

/// Every API token (of one user, or all), for leads; never the secrets.
pub async fn list_tokens(db: &Db, actor: &Actor, email: Option<&str>) -> Result<Vec<app::types::ApiToken>> {
    actor.require(Role::Lead)?;
    let email = email.map(normalise_email).transpose()?;
    users::tokens(db, email.as_deref()).await
}

/// Revokes an API token by its id (leads); the next request with it is refused. Audited.
pub async fn revoke_token(db: &Db, actor: &Actor, id: &str) -> Result<()> {
    actor.require(Role::Lead)?;
    let id = id.trim().to_lowercase();
    if id.len() != 12 || !id.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(Error::BadRequest(format!("{id:?} is not a token id (12 hex digits, as `tokens list` shows)")));
    }
    match users::delete_token(db, &id).await? {
        0 => return Err(Error::NotFound(format!("no token {id}"))),
        1 => {}
        n => return Err(Error::Conflict(format!("{n} tokens share the id {id}; revoke them by user instead"))),
    }
    crate::repo::audit::append(
        &db.pool,
        crate::repo::audit::Event {
            actor: &actor.name,
            action: "token.revoke",
            detail: Some(serde_json::json!({"token": id})),
            ..Default::default()
        },
    )
    .await?;
    Ok(())
}

pub async fn user_by_token(db: &Db, token: &str) -> Result<Option<User>> {
    users::by_token_hash(db, &token_hash(token)).await
}

/// The account of `email` if `password` is its password. Runs argon2 on a blocking thread.
///
/// An email without an account (or without a password) is checked against a stand-in hash with
/// the same parameters, so the answer takes as long either way: timing does not tell which
/// emails have accounts.
pub async fn verify_password(db: &Db, email: &str, password: &str) -> Result<Option<i64>> {
    let credentials = users::credentials(db, email).await?;
    let (id, hash) = match credentials {
        Some(users::Credentials { id, password_hash: Some(hash) }) => (Some(id), hash),
        _ => (None, stand_in_hash().to_string()),
    };
    let password = password.to_string();
    let verified = tokio::task::spawn_blocking(move || {
        PasswordHash::new(&hash).map(|h| Argon2::default().verify_password(password.as_bytes(), &h).is_ok())
    })
    .await
    .map_err(Error::internal)?
    .unwrap_or(false);
    Ok(id.filter(|_| verified))
}

/// An argon2 hash of a random password, made once, with the parameters real hashes use.
fn stand_in_hash() -> &'static str {
    static HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HASH.get_or_init(|| {
        let (secret, _) = new_secret();
        hash_password(&secret).expect("a 64-character password hashes")
    })
}

/// Starts a browser session for a user; returns the cookie's secret.
pub async fn create_session(db: &Db, user_id: i64, ttl: std::time::Duration) -> Result<String> {
    let (token, hash) = new_secret();
    let expires = time::OffsetDateTime::now_utc() + ttl;
    users::insert_session(db, &hash, user_id, &db::format_time(expires)).await?;
    Ok(token)
}

/// The user of a session cookie, if the session exists and has not expired (an expired one is
/// deleted on sight).
pub async fn session_user(db: &Db, token: &str) -> Result<Option<User>> {
    let hash = token_hash(token);
    let Some((user, expires)) = users::by_session(db, &hash).await? else { return Ok(None) };
    if db::parse_time(&expires).is_none_or(|t| t <= time::OffsetDateTime::now_utc()) {
        users::delete_session(db, &hash).await?;
        return Ok(None);
    }
    Ok(Some(user))
}

pub async fn end_session(db: &Db, token: &str) -> Result<()> {
    users::delete_session(db, &token_hash(token)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_checked_and_lower_cased() {
        assert_eq!(normalise_email(" Ana@Example.ORG ").unwrap(), "ana@example.org");
        for bad in ["", "ana", "@x.org", "ana@x", "a b@x.org"] {
            assert!(normalise_email(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn short_passwords_are_refused_and_hashes_are_salted() {
        assert!(hash_password("short").is_err());
        let a = hash_password("correct horse").unwrap();
        let b = hash_password("correct horse").unwrap();
        assert!(a.starts_with("$argon2"));
        assert_ne!(a, b);
    }
}
