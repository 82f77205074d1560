//! Accounts and credentials: users and roles, API tokens, browser sessions, password checks.
//!
//! Passwords are argon2-hashed. API tokens and session cookies are 256 random bits shown once
//! and stored as their SHA-256 (a fast hash is right for high-entropy secrets: there is nothing
//! to brute-force, and every request checks one).
//!
//! Every argon2 hash or check holds one of a fixed number of hashing slots, as many as the
//! machine has cores. Each one takes ~19 MiB and a core for tens of milliseconds, and sign-in is
//! open to anyone: without a bound, a burst of sign-ins for invented emails ran one hash per
//! request at once and grew the server by a gigabyte that it kept. With the slots, memory stays
//! at cores × 19 MiB whatever arrives, and a sign-in that finds them busy waits a little, then is
//! told to come back (429), instead of queueing without end.
//!
//! Accounts can be disabled: a disabled user cannot sign in, and their sessions and API tokens
//! are refused from the next request on (every lookup checks the flag, not only sign-in).

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use app::types::Role;
use argon2::password_hash::{rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use rand::RngCore;
use sha2::{Digest, Sha256};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

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

/// The argon2 slots every hash and check holds (see the module's documentation).
fn hashing_slots() -> &'static Arc<Semaphore> {
    static SLOTS: OnceLock<Arc<Semaphore>> = OnceLock::new();
    SLOTS.get_or_init(|| {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Arc::new(Semaphore::new(cores))
    })
}

/// A slot of `slots`: waits for one, or for at most `wait` when given (429 past it).
async fn slot(slots: &Arc<Semaphore>, wait: Option<Duration>) -> Result<OwnedSemaphorePermit> {
    let acquire = slots.clone().acquire_owned();
    let permit = match wait {
        None => acquire.await,
        Some(wait) => tokio::time::timeout(wait, acquire).await.map_err(|_| Error::TooManyRequests {
            message: "too many sign-ins at once; try again in a moment".into(),
            retry_after: Duration::from_secs(1),
        })?,
    };
    permit.map_err(Error::internal)
}

/// Runs argon2 work on a blocking thread while holding a hashing slot. The slot moves into the
/// thread, so a caller that gives up (a client that hung up) frees it only when the hash is done.
async fn with_hashing_slot<T: Send + 'static>(
    wait: Option<Duration>,
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T> {
    in_slot(hashing_slots(), wait, work).await
}

async fn in_slot<T: Send + 'static>(
    slots: &Arc<Semaphore>,
    wait: Option<Duration>,
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T> {
    let permit = slot(slots, wait).await?;
    tokio::task::spawn_blocking(move || {
        let _permit = permit;
        work()
    })
    .await
    .map_err(Error::internal)
}

fn check_password_rules(password: &str) -> Result<()> {
    if password.chars().count() < 8 {
        return Err(Error::BadRequest("a password needs at least 8 characters".into()));
    }
    Ok(())
}

/// argon2 itself: call only on a blocking thread holding a hashing slot.
fn argon2_hash(password: &str) -> Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default().hash_password(password.as_bytes(), &salt).map(|h| h.to_string()).map_err(Error::internal)
}

/// The argon2 hash of a new password, made in a hashing slot (waiting for one as long as it
/// takes: only leads and the operator set passwords).
pub async fn hash_password(password: &str) -> Result<String> {
    check_password_rules(password)?;
    let password = password.to_string();
    with_hashing_slot(None, move || argon2_hash(&password)).await?
}

/// Creates a user (leads; the CLI's operator is one).
pub async fn add_user(db: &Db, actor: &Actor, email: &str, role: Role, password: Option<&str>) -> Result<User> {
    actor.require(Role::Lead)?;
    let email = normalise_email(email)?;
    let password_hash = match password {
        Some(p) => Some(hash_password(p).await?),
        None => None,
    };
    users::insert(db, &email, role, password_hash.as_deref())
        .await?
        .ok_or_else(|| Error::Conflict(format!("a user {email} already exists")))
}

/// Sets a user's password (leads) and ends the user's sessions but `keep` (the cookie secret of
/// the session that changed it, when users change their own): whoever signed in with the old
/// password is signed out. API tokens stay valid; they are revoked on their own.
pub async fn set_password(db: &Db, actor: &Actor, email: &str, password: &str, keep: Option<&str>) -> Result<()> {
    actor.require(Role::Lead)?;
    let email = normalise_email(email)?;
    let hash = hash_password(password).await?;
    let Some(ended) = users::set_password(db, &email, &hash, keep.map(token_hash).as_deref()).await? else {
        return Err(Error::NotFound(format!("no user {email}")));
    };
    crate::repo::audit::append(
        &db.pool,
        crate::repo::audit::Event {
            actor: &actor.name,
            action: "user.password",
            detail: Some(serde_json::json!({"email": email, "sessions_ended": ended})),
            ..Default::default()
        },
    )
    .await?;
    Ok(())
}

/// Disables or enables a user (leads). Disabling ends their sessions at once, and every later
/// request with one of their API tokens or through the trusted proxy is refused until they are
/// enabled again (their tokens then work again; sessions do not come back). Audited.
pub async fn set_disabled(db: &Db, actor: &Actor, email: &str, disabled: bool) -> Result<User> {
    actor.require(Role::Lead)?;
    let email = normalise_email(email)?;
    let user =
        users::set_disabled(db, &email, disabled).await?.ok_or_else(|| Error::NotFound(format!("no user {email}")))?;
    crate::repo::audit::append(
        &db.pool,
        crate::repo::audit::Event {
            actor: &actor.name,
            action: if disabled { "user.disable" } else { "user.enable" },
            detail: Some(serde_json::json!({"email": user.email})),
            ..Default::default()
        },
    )
    .await?;
    Ok(user)
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

/// The user of `email` unless the account is disabled (the trusted proxy's sign-in).
pub async fn active_user_by_email(db: &Db, email: &str) -> Result<Option<User>> {
    users::active_by_email(db, &normalise_email(email)?).await
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

/// The account of `email` if `password` is its password and the account is not disabled. Runs
/// argon2 on a blocking thread in a hashing slot, waiting at most `wait` for one (then
/// [`Error::TooManyRequests`]).
///
/// An email without an account (or without a password, or disabled) is checked against a
/// stand-in hash with the same parameters, so the answer takes as long either way: timing does
/// not tell which emails have accounts.
pub async fn verify_password(db: &Db, email: &str, password: &str, wait: Duration) -> Result<Option<i64>> {
    let credentials = users::credentials(db, email).await?;
    let (id, hash) = match credentials {
        Some(users::Credentials { id, password_hash: Some(hash), disabled: 0 }) => (Some(id), Some(hash)),
        _ => (None, None),
    };
    let password = password.to_string();
    let verified = with_hashing_slot(Some(wait), move || {
        let hash = hash.as_deref().unwrap_or_else(|| stand_in_hash());
        PasswordHash::new(hash).map(|h| Argon2::default().verify_password(password.as_bytes(), &h).is_ok())
    })
    .await?
    .unwrap_or(false);
    Ok(id.filter(|_| verified))
}

/// An argon2 hash of a random password, made once, with the parameters real hashes use. Made
/// inside the first check that needs it (a blocking thread holding a slot).
fn stand_in_hash() -> &'static str {
    static HASH: OnceLock<String> = OnceLock::new();
    HASH.get_or_init(|| {
        let (secret, _) = new_secret();
        argon2_hash(&secret).expect("a 64-character password hashes")
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

    #[tokio::test]
    async fn short_passwords_are_refused_and_hashes_are_salted() {
        assert!(hash_password("short").await.is_err());
        let a = hash_password("correct horse").await.unwrap();
        let b = hash_password("correct horse").await.unwrap();
        assert!(a.starts_with("$argon2"));
        assert_ne!(a, b);
    }

    async fn database() -> (tempfile::TempDir, Db) {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::connect(&format!("sqlite://{}/chartgate.db", dir.path().display())).await.unwrap();
        db.migrate().await.unwrap();
        (dir, db)
    }

    #[tokio::test]
    async fn a_new_password_ends_every_session_but_the_one_kept_and_a_disabled_user_is_nobody() {
        let (_dir, db) = database().await;
        let op = Actor::operator("test");
        let user = add_user(&db, &op, "ana@x.org", Role::Reviewer, Some("first password")).await.unwrap();
        let day = Duration::from_secs(86400);
        let (mine, other, third) = (
            create_session(&db, user.id, day).await.unwrap(),
            create_session(&db, user.id, day).await.unwrap(),
            create_session(&db, user.id, day).await.unwrap(),
        );
        set_password(&db, &op, "ana@x.org", "second password", Some(&mine)).await.unwrap();
        assert!(session_user(&db, &mine).await.unwrap().is_some(), "the session that changed it stays");
        assert!(session_user(&db, &other).await.unwrap().is_none());
        assert!(session_user(&db, &third).await.unwrap().is_none());
        let wait = Duration::from_secs(30);
        assert_eq!(verify_password(&db, "ana@x.org", "first password", wait).await.unwrap(), None);
        assert_eq!(verify_password(&db, "ana@x.org", "second password", wait).await.unwrap(), Some(user.id));

        let token = create_token(&db, &op, "ana@x.org").await.unwrap();
        set_disabled(&db, &op, "ana@x.org", true).await.unwrap();
        assert!(session_user(&db, &mine).await.unwrap().is_none(), "disabling ends sessions");
        assert!(user_by_token(&db, &token).await.unwrap().is_none(), "and refuses tokens");
        assert!(active_user_by_email(&db, "ana@x.org").await.unwrap().is_none(), "and the proxy's sign-in");
        assert_eq!(verify_password(&db, "ana@x.org", "second password", wait).await.unwrap(), None);
        set_disabled(&db, &op, "ana@x.org", false).await.unwrap();
        assert_eq!(user_by_token(&db, &token).await.unwrap().map(|u| u.id), Some(user.id), "tokens come back");
        assert!(matches!(set_disabled(&db, &op, "nobody@x.org", true).await, Err(Error::NotFound(_))));
    }

    #[tokio::test]
    async fn no_more_hashes_run_at_once_than_there_are_slots() {
        let slots = Arc::new(Semaphore::new(2));
        // Every slot taken: a check that may wait 50 ms is told to come back, with a delay.
        let held = (slot(&slots, None).await.unwrap(), slot(&slots, None).await.unwrap());
        let refused = in_slot(&slots, Some(Duration::from_millis(50)), || ()).await;
        match refused {
            Err(Error::TooManyRequests { retry_after, .. }) => assert!(retry_after >= Duration::from_secs(1)),
            other => panic!("expected 429, got {other:?}"),
        }
        // One freed while a check waits: it runs.
        let waiting = tokio::spawn({
            let slots = slots.clone();
            async move { in_slot(&slots, Some(Duration::from_secs(30)), || "hashed").await }
        });
        drop(held.0);
        assert_eq!(waiting.await.unwrap().unwrap(), "hashed");
        drop(held.1);
        assert_eq!(slots.available_permits(), 2, "every slot comes back when its work is done");
    }
}
