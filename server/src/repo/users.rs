//! `users`, `api_tokens` and `sessions`: accounts and the credentials that stand for them. Secrets
//! are never stored, only their SHA-256 (see [`crate::accounts`]).
//!
//! A disabled user (`users.disabled = 1`) is filtered out by every lookup that authenticates a
//! request — session, token, trusted-proxy email, password — so disabling takes effect on the
//! next request, not at the next sign-in.

use app::types::Role;

use crate::access::User;
use crate::db::{self, Db};
use crate::error::{Error, Result};

#[derive(sqlx::FromRow)]
struct UserRow {
    id: i64,
    email: String,
    role: String,
}

impl TryFrom<UserRow> for User {
    type Error = Error;

    fn try_from(r: UserRow) -> Result<User> {
        let role: Role = r.role.parse().map_err(|_| Error::internal(format!("unknown role {:?}", r.role)))?;
        Ok(User { id: r.id, email: r.email, role })
    }
}

/// Inserts a user; `None` when the email is taken.
pub async fn insert(db: &Db, email: &str, role: Role, password_hash: Option<&str>) -> Result<Option<User>> {
    let _guard = db.write_guard().await;
    let row: Option<UserRow> = sqlx::query_as(
        "insert into users (email, role, password_hash, created_at) values ($1, $2, $3, $4)
         on conflict (email) do nothing returning id, email, role",
    )
    .bind(email)
    .bind(role.as_str())
    .bind(password_hash)
    .bind(db::now())
    .fetch_optional(&db.pool)
    .await?;
    row.map(User::try_from).transpose()
}

/// Replaces a user's password hash and ends their sessions except the one stored under `keep`,
/// in one transaction; the number of sessions ended, `None` when there is no such user.
pub async fn set_password(db: &Db, email: &str, password_hash: &str, keep: Option<&str>) -> Result<Option<u64>> {
    let _guard = db.write_guard().await;
    let mut tx = db.pool.begin().await?;
    let id: Option<i64> = sqlx::query_scalar("update users set password_hash = $1 where email = $2 returning id")
        .bind(password_hash)
        .bind(email)
        .fetch_optional(&mut *tx)
        .await?;
    let Some(id) = id else { return Ok(None) };
    let ended = sqlx::query("delete from sessions where user_id = $1 and token_hash <> $2")
        .bind(id)
        .bind(keep.unwrap_or_default())
        .execute(&mut *tx)
        .await?
        .rows_affected();
    tx.commit().await?;
    Ok(Some(ended))
}

/// Sets a user's `disabled` flag; disabling also ends every session of theirs, in the same
/// transaction. The user, `None` when there is no such user.
pub async fn set_disabled(db: &Db, email: &str, disabled: bool) -> Result<Option<User>> {
    let _guard = db.write_guard().await;
    let mut tx = db.pool.begin().await?;
    let row: Option<UserRow> =
        sqlx::query_as("update users set disabled = $1 where email = $2 returning id, email, role")
            .bind(i64::from(disabled))
            .bind(email)
            .fetch_optional(&mut *tx)
            .await?;
    let Some(row) = row else { return Ok(None) };
    if disabled {
        sqlx::query("delete from sessions where user_id = $1").bind(row.id).execute(&mut *tx).await?;
    }
    tx.commit().await?;
    User::try_from(row).map(Some)
}

pub async fn by_email(db: &Db, email: &str) -> Result<Option<User>> {
    let row: Option<UserRow> = sqlx::query_as("select id, email, role from users where email = $1")
        .bind(email)
        .fetch_optional(&db.pool)
        .await?;
    row.map(User::try_from).transpose()
}

/// The user of `email` unless disabled.
pub async fn active_by_email(db: &Db, email: &str) -> Result<Option<User>> {
    let row: Option<UserRow> = sqlx::query_as("select id, email, role from users where email = $1 and disabled = 0")
        .bind(email)
        .fetch_optional(&db.pool)
        .await?;
    row.map(User::try_from).transpose()
}

/// A user's id, password hash (`None`: the account signs in through a proxy or not at all) and
/// `disabled` flag (0 or 1).
#[derive(sqlx::FromRow)]
pub struct Credentials {
    pub id: i64,
    pub password_hash: Option<String>,
    pub disabled: i64,
}

pub async fn credentials(db: &Db, email: &str) -> Result<Option<Credentials>> {
    Ok(sqlx::query_as("select id, password_hash, disabled from users where email = $1")
        .bind(email)
        .fetch_optional(&db.pool)
        .await?)
}

pub async fn insert_token(db: &Db, token_hash: &str, user_id: i64) -> Result<()> {
    let _guard = db.write_guard().await;
    sqlx::query("insert into api_tokens (token_hash, user_id, created_at) values ($1, $2, $3)")
        .bind(token_hash)
        .bind(user_id)
        .bind(db::now())
        .execute(&db.pool)
        .await?;
    Ok(())
}

pub async fn by_token_hash(db: &Db, token_hash: &str) -> Result<Option<User>> {
    let row: Option<UserRow> = sqlx::query_as(
        "select u.id, u.email, u.role from api_tokens t join users u on u.id = t.user_id
         where t.token_hash = $1 and u.disabled = 0",
    )
    .bind(token_hash)
    .fetch_optional(&db.pool)
    .await?;
    row.map(User::try_from).transpose()
}

pub async fn insert_session(db: &Db, token_hash: &str, user_id: i64, expires_at: &str) -> Result<()> {
    let _guard = db.write_guard().await;
    sqlx::query("insert into sessions (token_hash, user_id, created_at, expires_at) values ($1, $2, $3, $4)")
        .bind(token_hash)
        .bind(user_id)
        .bind(db::now())
        .bind(expires_at)
        .execute(&db.pool)
        .await?;
    Ok(())
}

#[derive(sqlx::FromRow)]
struct SessionRow {
    id: i64,
    email: String,
    role: String,
    expires_at: String,
}

/// The user of a session and when the session expires.
pub async fn by_session(db: &Db, token_hash: &str) -> Result<Option<(User, String)>> {
    let row: Option<SessionRow> = sqlx::query_as(
        "select u.id, u.email, u.role, s.expires_at from sessions s join users u on u.id = s.user_id
         where s.token_hash = $1 and u.disabled = 0",
    )
    .bind(token_hash)
    .fetch_optional(&db.pool)
    .await?;
    row.map(|r| Ok((User::try_from(UserRow { id: r.id, email: r.email, role: r.role })?, r.expires_at))).transpose()
}

pub async fn delete_session(db: &Db, token_hash: &str) -> Result<()> {
    let _guard = db.write_guard().await;
    sqlx::query("delete from sessions where token_hash = $1").bind(token_hash).execute(&db.pool).await?;
    Ok(())
}

#[derive(sqlx::FromRow)]
struct TokenRow {
    id: String,
    email: String,
    role: String,
    created_at: String,
}

/// Every API token (of one user, or all), newest first; `id` is a prefix of the token's hash.
pub async fn tokens(db: &Db, email: Option<&str>) -> Result<Vec<app::types::ApiToken>> {
    let rows: Vec<TokenRow> = sqlx::query_as(
        "select substr(t.token_hash, 1, 12) as id, u.email, u.role, t.created_at
         from api_tokens t join users u on u.id = t.user_id
         where $1 = '' or u.email = $1 order by t.created_at desc, id",
    )
    .bind(email.unwrap_or_default())
    .fetch_all(&db.pool)
    .await?;
    rows.into_iter()
        .map(|r| {
            let role: Role = r.role.parse().map_err(|_| Error::internal(format!("unknown role {:?}", r.role)))?;
            Ok(app::types::ApiToken { id: r.id, email: r.email, role, created_at: r.created_at })
        })
        .collect()
}

/// Deletes the one token whose hash starts with `id`; the number of tokens that matched (a
/// prefix that matches several deletes none).
pub async fn delete_token(db: &Db, id: &str) -> Result<usize> {
    let _guard = db.write_guard().await;
    let mut tx = db.pool.begin().await?;
    let matched: crate::db::Count =
        sqlx::query_as("select count(*) as n from api_tokens where substr(token_hash, 1, 12) = $1")
            .bind(id)
            .fetch_one(&mut *tx)
            .await?;
    if matched.n == 1 {
        sqlx::query("delete from api_tokens where substr(token_hash, 1, 12) = $1").bind(id).execute(&mut *tx).await?;
        tx.commit().await?;
    }
    Ok(matched.n as usize)
}
