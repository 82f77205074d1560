//! Users, roles and API tokens. Passwords are argon2-hashed; tokens are 256 random bits shown
//! once and stored as their SHA-256 (a fast hash is right for high-entropy secrets: there is
//! nothing to brute-force, and every API request checks one).

use app::types::Role;
use argon2::password_hash::{rand_core::OsRng, PasswordHasher, SaltString};
use argon2::Argon2;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use rand::RngCore;
use sha2::{Digest, Sha256};
use sqlx::Row;

use crate::db::{self, Db};
use crate::error::{Error, Result};
use crate::state::AppState;

#[derive(Clone, Debug, PartialEq)]
pub struct User {
    pub id: i64,
    pub email: String,
    pub role: Role,
}

impl From<&app::types::CurrentUser> for User {
    fn from(u: &app::types::CurrentUser) -> Self {
        User { id: u.id, email: u.email.clone(), role: u.role }
    }
}

impl User {
    /// 403 unless the user has at least `role`.
    pub fn require(&self, role: Role) -> Result<()> {
        if self.role >= role {
            Ok(())
        } else {
            Err(Error::Forbidden(format!(
                "this needs the {} role; {} is a {}",
                role.as_str(),
                self.email,
                self.role.as_str()
            )))
        }
    }
}

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

pub async fn add_user(db: &Db, email: &str, role: Role, password: Option<&str>) -> Result<User> {
    let email = normalise_email(email)?;
    let password_hash = password.map(hash_password).transpose()?;
    let _guard = db.write_guard().await;
    let row = sqlx::query(
        "insert into users (email, role, password_hash, created_at) values ($1, $2, $3, $4)
         on conflict (email) do nothing returning id",
    )
    .bind(&email)
    .bind(role.as_str())
    .bind(password_hash)
    .bind(db::now())
    .fetch_optional(&db.pool)
    .await?;
    match row {
        Some(r) => Ok(User { id: r.try_get(0)?, email, role }),
        None => Err(Error::Conflict(format!("a user {email} already exists"))),
    }
}

pub async fn user_by_email(db: &Db, email: &str) -> Result<Option<User>> {
    let email = normalise_email(email)?;
    let row =
        sqlx::query("select id, email, role from users where email = $1").bind(&email).fetch_optional(&db.pool).await?;
    row.map(|r| user_from_row(&r)).transpose()
}

fn user_from_row(r: &sqlx::any::AnyRow) -> Result<User> {
    let role: String = r.try_get(2)?;
    Ok(User {
        id: r.try_get(0)?,
        email: r.try_get(1)?,
        role: Role::parse(&role).ok_or_else(|| Error::internal(format!("unknown role {role}")))?,
    })
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

/// Creates an API token for a user and returns it; only its hash is kept.
pub async fn create_token(db: &Db, email: &str) -> Result<String> {
    let user = user_by_email(db, email).await?.ok_or_else(|| Error::NotFound(format!("no user {email}")))?;
    let (secret, _) = new_secret();
    let token = format!("cgt_{secret}");
    let _guard = db.write_guard().await;
    sqlx::query("insert into api_tokens (token_hash, user_id, created_at) values ($1, $2, $3)")
        .bind(token_hash(&token))
        .bind(user.id)
        .bind(db::now())
        .execute(&db.pool)
        .await?;
    Ok(token)
}

pub async fn user_by_token(db: &Db, token: &str) -> Result<Option<User>> {
    let row = sqlx::query(
        "select u.id, u.email, u.role from api_tokens t join users u on u.id = t.user_id where t.token_hash = $1",
    )
    .bind(token_hash(token))
    .fetch_optional(&db.pool)
    .await?;
    row.map(|r| user_from_row(&r)).transpose()
}

/// The caller of an API request: `Authorization: Bearer <token>`, or the signed-in browser user
/// the session middleware found (state changes from the browser passed its Origin check). 401
/// otherwise.
pub struct Caller(pub User);

impl FromRequestParts<AppState> for Caller {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self> {
        let header = parts.headers.get(axum::http::header::AUTHORIZATION).and_then(|v| v.to_str().ok());
        if let Some(header) = header {
            let token = header.strip_prefix("Bearer ").map(str::trim).filter(|t| !t.is_empty());
            let Some(token) = token else {
                return Err(Error::Unauthorized);
            };
            return match user_by_token(&state.db, token).await? {
                Some(user) => Ok(Caller(user)),
                None => Err(Error::Unauthorized),
            };
        }
        match parts.extensions.get::<app::types::CurrentUser>() {
            Some(u) => Ok(Caller(u.into())),
            None => Err(Error::Unauthorized),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_are_ordered() {
        let u = User { id: 1, email: "r@x.org".into(), role: Role::Reviewer };
        assert!(u.require(Role::Viewer).is_ok());
        assert!(u.require(Role::Reviewer).is_ok());
        assert!(matches!(u.require(Role::Lead), Err(Error::Forbidden(_))));
    }

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
