//! Browser sessions: sign in and out, the session cookie, the CSRF check, the page guard, the
//! rate limit on sign-in attempts, and the optional trusted-proxy mode.
//!
//! One middleware runs before every route: it resolves who is calling (trusted-proxy header, or
//! the session cookie) and stores an [`app::types::CurrentUser`] in the request's extensions,
//! where API handlers (through [`crate::auth::Caller`]), server functions and pages find it. It
//! refuses cross-site state changes made with a cookie (the `Origin` must be this server), sends
//! anonymous page views to `/login`, and answers anonymous server-function calls with 401.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use app::types::CurrentUser;
use argon2::password_hash::{PasswordHash, PasswordVerifier};
use argon2::Argon2;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::post;
use axum::{Form, Router};
use serde::Deserialize;
use sqlx::Row;

use crate::audit::{self, Event};
use crate::auth::{new_secret, normalise_email, token_hash};
use crate::db;
use crate::error::{Error, Result};
use crate::state::AppState;

pub const COOKIE: &str = "chartgate_session";
const MAX_FAILURES: usize = 5;
const FAILURE_WINDOW: Duration = Duration::from_secs(15 * 60);

pub fn router() -> Router<AppState> {
    Router::new().route("/auth/login", post(login)).route("/auth/logout", post(logout))
}

/// Failed sign-in attempts per email, in this process: five in fifteen minutes lock the email
/// for the rest of the window. (Replicas each count their own; the limit is per replica.)
#[derive(Clone, Default)]
pub struct LoginLimiter {
    failures: Arc<Mutex<HashMap<String, Vec<Instant>>>>,
}

impl LoginLimiter {
    /// How long until `email` may try again, if it is locked.
    fn locked_for(&self, email: &str) -> Option<Duration> {
        let mut map = self.failures.lock().expect("limiter lock");
        let list = map.entry(email.to_string()).or_default();
        list.retain(|t| t.elapsed() < FAILURE_WINDOW);
        (list.len() >= MAX_FAILURES).then(|| FAILURE_WINDOW.saturating_sub(list[0].elapsed()))
    }

    fn failed(&self, email: &str) {
        self.failures.lock().expect("limiter lock").entry(email.to_string()).or_default().push(Instant::now());
    }

    fn succeeded(&self, email: &str) {
        self.failures.lock().expect("limiter lock").remove(email);
    }
}

pub async fn create_session(state: &AppState, user_id: i64) -> Result<String> {
    let (token, hash) = new_secret();
    let expires = time::OffsetDateTime::now_utc() + state.config.session_ttl();
    let _guard = state.db.write_guard().await;
    sqlx::query("insert into sessions (token_hash, user_id, created_at, expires_at) values ($1, $2, $3, $4)")
        .bind(hash)
        .bind(user_id)
        .bind(db::now())
        .bind(db::format_time(expires))
        .execute(&state.db.pool)
        .await?;
    Ok(token)
}

/// The user of a session token, if the session exists and has not expired.
pub async fn session_user(state: &AppState, token: &str) -> Result<Option<CurrentUser>> {
    let row = sqlx::query(
        "select u.id, u.email, u.role, s.expires_at from sessions s join users u on u.id = s.user_id where s.token_hash = $1",
    )
    .bind(token_hash(token))
    .fetch_optional(&state.db.pool)
    .await?;
    let Some(r) = row else { return Ok(None) };
    let expires: String = r.try_get(3)?;
    if db::parse_time(&expires).is_none_or(|t| t <= time::OffsetDateTime::now_utc()) {
        let _guard = state.db.write_guard().await;
        sqlx::query("delete from sessions where token_hash = $1")
            .bind(token_hash(token))
            .execute(&state.db.pool)
            .await?;
        return Ok(None);
    }
    let role: String = r.try_get(2)?;
    Ok(app::types::Role::parse(&role).map(|role| CurrentUser { id: r.get(0), email: r.get(1), role }))
}

fn cookie_value(headers: &HeaderMap, name: &str) -> Option<String> {
    headers.get_all(header::COOKIE).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(';')).find_map(|kv| {
        let (k, v) = kv.trim().split_once('=')?;
        (k == name).then(|| v.to_string())
    })
}

fn secure(state: &AppState, headers: &HeaderMap) -> bool {
    state.config.secure_cookies.unwrap_or_else(|| {
        headers.get("x-forwarded-proto").and_then(|v| v.to_str().ok()).is_some_and(|p| p.eq_ignore_ascii_case("https"))
    })
}

fn session_cookie(value: &str, max_age: u64, secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!("{COOKIE}={value}; HttpOnly; SameSite=Lax; Path=/; Max-Age={max_age}{secure}"))
        .expect("cookie text is ASCII")
}

/// Only local paths are followed after sign-in, so `next` cannot send anyone elsewhere.
pub fn local_path(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.contains('\\') => n.to_string(),
        _ => "/".to_string(),
    }
}

fn login_redirect(error: &str, next: &str) -> Response {
    let next: String = url::form_urlencoded::byte_serialize(next.as_bytes()).collect();
    Redirect::to(&format!("/login?error={error}&next={next}")).into_response()
}

#[derive(Deserialize)]
pub struct LoginForm {
    email: String,
    password: String,
    next: Option<String>,
}

async fn login(State(state): State<AppState>, headers: HeaderMap, Form(form): Form<LoginForm>) -> Result<Response> {
    let next = local_path(form.next.as_deref());
    let Ok(email) = normalise_email(&form.email) else {
        return Ok(login_redirect("invalid", &next));
    };
    if state.login_limiter.locked_for(&email).is_some() {
        tracing::warn!(%email, "sign-in refused: too many failed attempts");
        return Ok(login_redirect("locked", &next));
    }
    let row = sqlx::query("select id, password_hash from users where email = $1")
        .bind(&email)
        .fetch_optional(&state.db.pool)
        .await?;
    let user = row.and_then(|r| Some((r.get::<i64, _>(0), r.get::<Option<String>, _>(1)?)));
    let verified = match &user {
        Some((_, hash)) => {
            let hash = hash.clone();
            let password = form.password.clone();
            tokio::task::spawn_blocking(move || {
                PasswordHash::new(&hash)
                    .map(|h| Argon2::default().verify_password(password.as_bytes(), &h).is_ok())
                    .unwrap_or(false)
            })
            .await
            .map_err(Error::internal)?
        }
        None => false,
    };
    let Some((user_id, _)) = user.filter(|_| verified) else {
        state.login_limiter.failed(&email);
        tracing::warn!(%email, "sign-in failed");
        return Ok(login_redirect("invalid", &next));
    };
    state.login_limiter.succeeded(&email);
    let token = create_session(&state, user_id).await?;
    audit::append(&state.db.pool, Event { actor: &email, action: "session.sign_in", ..Default::default() }).await?;
    let mut response = Redirect::to(&next).into_response();
    let cookie = session_cookie(&token, state.config.session_ttl().as_secs(), secure(&state, &headers));
    response.headers_mut().insert(header::SET_COOKIE, cookie);
    Ok(response)
}

async fn logout(State(state): State<AppState>, headers: HeaderMap) -> Result<Response> {
    if let Some(token) = cookie_value(&headers, COOKIE) {
        let _guard = state.db.write_guard().await;
        sqlx::query("delete from sessions where token_hash = $1")
            .bind(token_hash(&token))
            .execute(&state.db.pool)
            .await?;
    }
    let mut response = Redirect::to("/login?signed_out=1").into_response();
    response.headers_mut().insert(header::SET_COOKIE, session_cookie("", 0, secure(&state, &headers)));
    Ok(response)
}

/// The origin this request was sent to, as a browser would write it in `Origin`.
fn own_origin(headers: &HeaderMap) -> Option<String> {
    let host = headers.get(header::HOST)?.to_str().ok()?;
    let proto = headers.get("x-forwarded-proto").and_then(|v| v.to_str().ok()).unwrap_or("http");
    Some(format!("{proto}://{host}"))
}

fn same_origin(headers: &HeaderMap) -> bool {
    let Some(own) = own_origin(headers) else { return false };
    if let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) {
        return origin == own;
    }
    // No Origin (older browsers on same-origin POSTs): fall back to the Referer.
    headers
        .get(header::REFERER)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|r| r == own || r.starts_with(&format!("{own}/")))
}

/// Pages that need a signed-in user.
fn is_page(path: &str) -> bool {
    path == "/"
        || ["/branches", "/audit", "/jobs", "/versions"]
            .iter()
            .any(|p| path == *p || path.starts_with(&format!("{p}/")))
}

/// Server functions live under `/api/` beside the REST API's `/api/v1/`.
fn is_server_fn(path: &str) -> bool {
    path.starts_with("/api/") && !path.starts_with("/api/v1/")
}

pub async fn middleware(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let headers = req.headers();
    let has_bearer = headers.contains_key(header::AUTHORIZATION);
    let cookie = cookie_value(headers, COOKIE).filter(|c| !c.is_empty());
    let proxied = state
        .config
        .trusted_proxy_header
        .as_deref()
        .and_then(|h| headers.get(h))
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);

    let user = match (&proxied, &cookie) {
        (Some(email), _) => match crate::auth::user_by_email(&state.db, email).await {
            Ok(Some(u)) => Some(CurrentUser { id: u.id, email: u.email, role: u.role }),
            Ok(None) => {
                tracing::warn!(%email, "trusted proxy named an unknown user");
                None
            }
            Err(e) => return e.into_response(),
        },
        (None, Some(token)) => match session_user(&state, token).await {
            Ok(u) => u,
            Err(e) => return e.into_response(),
        },
        _ => None,
    };

    let changes_state = !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    let path = req.uri().path().to_string();
    // Whatever authenticates a browser without the page's help (a cookie, or the SSO proxy's
    // header) must come with this server's Origin when it changes state.
    let ambient = cookie.is_some() || proxied.is_some() || path.starts_with("/auth/");
    if changes_state && !has_bearer && ambient && !same_origin(req.headers()) {
        tracing::warn!(%path, "cross-site request refused");
        return Error::Forbidden("cross-site request refused: the Origin is not this server".into()).into_response();
    }
    if user.is_none() && !has_bearer {
        if is_server_fn(&path) {
            return Error::Unauthorized.into_response();
        }
        if req.method() == Method::GET && is_page(&path) {
            let target = req.uri().path_and_query().map(|p| p.as_str()).unwrap_or("/");
            let next: String = url::form_urlencoded::byte_serialize(target.as_bytes()).collect();
            return Redirect::to(&format!("/login?next={next}")).into_response();
        }
    }
    if let Some(u) = user {
        req.extensions_mut().insert(u);
    }
    let mut response = next.run(req).await;
    // Pages show who is signed in: never let a shared cache keep them.
    if is_page(&path) {
        response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("private, no-store"));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_local_paths_are_followed() {
        assert_eq!(local_path(Some("/branches/x?kind=new")), "/branches/x?kind=new");
        for bad in ["https://evil.example", "//evil.example", "/\\evil", "javascript:alert(1)"] {
            assert_eq!(local_path(Some(bad)), "/", "{bad}");
        }
        assert_eq!(local_path(None), "/");
    }

    #[test]
    fn origins_must_match_the_host() {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, HeaderValue::from_static("127.0.0.1:3000"));
        assert!(!same_origin(&h), "no Origin and no Referer");
        h.insert(header::ORIGIN, HeaderValue::from_static("http://127.0.0.1:3000"));
        assert!(same_origin(&h));
        h.insert(header::ORIGIN, HeaderValue::from_static("http://evil.example"));
        assert!(!same_origin(&h));
        h.remove(header::ORIGIN);
        h.insert(header::REFERER, HeaderValue::from_static("http://127.0.0.1:3000/branches/x"));
        assert!(same_origin(&h));
        h.insert(header::REFERER, HeaderValue::from_static("http://127.0.0.1:3000.evil.example/"));
        assert!(!same_origin(&h));
    }

    #[test]
    fn the_limiter_locks_after_five_failures() {
        let l = LoginLimiter::default();
        for _ in 0..4 {
            l.failed("a@x.org");
        }
        assert!(l.locked_for("a@x.org").is_none());
        l.failed("a@x.org");
        assert!(l.locked_for("a@x.org").is_some());
        assert!(l.locked_for("b@x.org").is_none(), "per email");
        l.succeeded("a@x.org");
        assert!(l.locked_for("a@x.org").is_none());
    }

    #[test]
    fn cookies_are_read_by_name() {
        let mut h = HeaderMap::new();
        h.insert(header::COOKIE, HeaderValue::from_static("a=1; chartgate_session=abc; b=2"));
        assert_eq!(cookie_value(&h, COOKIE).as_deref(), Some("abc"));
        assert_eq!(cookie_value(&h, "c"), None);
    }
}
