//! Browser sessions: sign in and out, the session cookie, the CSRF check, the page guard, and
//! the optional trusted-proxy mode.
//!
//! One middleware runs before every route: it resolves who is calling (trusted-proxy header, or
//! the session cookie) and stores an [`app::types::CurrentUser`] in the request's extensions,
//! where the role extractors, server functions and pages find it. It refuses cross-site state
//! changes made with a cookie (the `Origin` must be this server), sends anonymous page views to
//! `/login`, and answers anonymous server-function calls with 401.

use app::types::CurrentUser;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::post;
use axum::{Form, Router};
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use serde::Deserialize;

use super::limiter::LoginLimiter;
use super::WebState;
use crate::accounts;
use crate::error::Result;
use crate::repo::audit::{self, Event};
use crate::state::AppState;

pub const COOKIE: &str = "chartgate_session";

pub fn router() -> Router<WebState> {
    Router::new().route("/auth/login", post(login)).route("/auth/logout", post(logout))
}

fn secure(state: &AppState, headers: &HeaderMap) -> bool {
    state.config.secure_cookies.unwrap_or_else(|| {
        headers.get("x-forwarded-proto").and_then(|v| v.to_str().ok()).is_some_and(|p| p.eq_ignore_ascii_case("https"))
    })
}

fn session_cookie(value: String, max_age: time::Duration, secure: bool) -> Cookie<'static> {
    Cookie::build((COOKIE, value))
        .http_only(true)
        .same_site(SameSite::Lax)
        .path("/")
        .max_age(max_age)
        .secure(secure)
        .build()
}

/// Only local paths are followed after sign-in, so `next` cannot send anyone elsewhere.
///
/// `next` is resolved the way a browser resolves a `Location` (WHATWG URL parsing: tabs and
/// newlines dropped, `\\` read as `/`), against this server; anything that leaves the server's
/// origin is refused, and what stays is written back as a clean path, query and fragment.
pub fn local_path(next: Option<&str>) -> String {
    let base = url::Url::parse("http://chartgate.invalid/").expect("a valid base URL");
    let Some(next) = next.filter(|n| n.starts_with('/')) else { return "/".to_string() };
    match base.join(next) {
        Ok(url) if url.origin() == base.origin() => {
            let mut out = url.path().to_string();
            if let Some(q) = url.query() {
                out.push('?');
                out.push_str(q);
            }
            if let Some(f) = url.fragment() {
                out.push('#');
                out.push_str(f);
            }
            out
        }
        _ => "/".to_string(),
    }
}

/// `/login?next=…` (with `error=` when sign-in was refused).
pub fn login_url(error: Option<&str>, next: &str) -> String {
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    if let Some(error) = error {
        query.append_pair("error", error);
    }
    query.append_pair("next", next);
    format!("/login?{}", query.finish())
}

#[derive(Deserialize)]
pub struct LoginForm {
    email: String,
    password: String,
    next: Option<String>,
}

async fn login(
    State(state): State<AppState>,
    State(limiter): State<LoginLimiter>,
    headers: HeaderMap,
    jar: CookieJar,
    Form(form): Form<LoginForm>,
) -> Result<Response> {
    let next = local_path(form.next.as_deref());
    let Ok(email) = accounts::normalise_email(&form.email) else {
        return Ok(Redirect::to(&login_url(Some("invalid"), &next)).into_response());
    };
    if limiter.locked_for(&email).is_some() {
        tracing::warn!(%email, "sign-in refused: too many failed attempts");
        return Ok(Redirect::to(&login_url(Some("locked"), &next)).into_response());
    }
    let Some(user_id) = accounts::verify_password(&state.db, &email, &form.password).await? else {
        limiter.failed(&email);
        tracing::warn!(%email, "sign-in failed");
        return Ok(Redirect::to(&login_url(Some("invalid"), &next)).into_response());
    };
    limiter.succeeded(&email);
    // A new session id at every sign-in; a session the browser already carried (perhaps one an
    // attacker planted) ends here.
    if let Some(old) = jar.get(COOKIE).map(|c| c.value().to_string()).filter(|c| !c.is_empty()) {
        accounts::end_session(&state.db, &old).await?;
    }
    let token = accounts::create_session(&state.db, user_id, state.config.session_ttl()).await?;
    audit::append(&state.db.pool, Event { actor: &email, action: "session.sign_in", ..Default::default() }).await?;
    let ttl = time::Duration::try_from(state.config.session_ttl()).unwrap_or(time::Duration::hours(12));
    let jar = jar.add(session_cookie(token, ttl, secure(&state, &headers)));
    Ok((jar, Redirect::to(&next)).into_response())
}

async fn logout(State(state): State<AppState>, headers: HeaderMap, jar: CookieJar) -> Result<Response> {
    if let Some(token) = jar.get(COOKIE).map(|c| c.value().to_string()) {
        accounts::end_session(&state.db, &token).await?;
    }
    let jar = jar.add(session_cookie(String::new(), time::Duration::ZERO, secure(&state, &headers)));
    Ok((jar, Redirect::to("/login?signed_out=1")).into_response())
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

/// Server functions live under `/api/` beside the REST API's `/api/v1/` and the open API docs
/// page (`/api/docs`).
fn is_server_fn(path: &str) -> bool {
    path.starts_with("/api/") && !path.starts_with("/api/v1/") && path != "/api/docs" && !path.starts_with("/api/docs/")
}

pub async fn middleware(State(state): State<AppState>, jar: CookieJar, mut req: Request, next: Next) -> Response {
    let headers = req.headers();
    let has_bearer = headers.contains_key(header::AUTHORIZATION);
    let cookie = jar.get(COOKIE).map(|c| c.value().to_string()).filter(|c| !c.is_empty());
    let proxied = state
        .config
        .trusted_proxy_header
        .as_deref()
        .and_then(|h| headers.get(h))
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);

    let user = match (&proxied, &cookie) {
        (Some(email), _) => match accounts::user_by_email(&state.db, email).await {
            Ok(Some(u)) => Some(CurrentUser::from(u)),
            Ok(None) => {
                tracing::warn!(%email, "trusted proxy named an unknown user");
                None
            }
            Err(e) => return e.into_response(),
        },
        (None, Some(token)) => match accounts::session_user(&state.db, token).await {
            Ok(u) => u.map(CurrentUser::from),
            Err(e) => return e.into_response(),
        },
        _ => None,
    };
    if let Some(u) = &user {
        super::observe::record_user(&u.email);
    }

    let changes_state = !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    let path = req.uri().path().to_string();
    // Whatever authenticates a browser without the page's help (a cookie, or the SSO proxy's
    // header) must come with this server's Origin when it changes state.
    let ambient = cookie.is_some() || proxied.is_some() || path.starts_with("/auth/");
    if changes_state && !has_bearer && ambient && !same_origin(req.headers()) {
        tracing::warn!(%path, "cross-site request refused");
        return crate::error::Error::Forbidden("cross-site request refused: the Origin is not this server".into())
            .into_response();
    }
    if user.is_none() && !has_bearer {
        if is_server_fn(&path) {
            return crate::error::Error::Unauthorized.into_response();
        }
        if req.method() == Method::GET && is_page(&path) {
            let target = req.uri().path_and_query().map(|p| p.as_str()).unwrap_or("/");
            return Redirect::to(&login_url(None, target)).into_response();
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
        for bad in [
            "https://evil.example",
            "//evil.example",
            "/\\evil",
            "javascript:alert(1)",
            "/\t/evil.example",
            "/\n/evil.example",
            "/\r\n/evil.example",
            "\t//evil.example",
            "/\\/evil.example",
            "http://chartgate.invalid/branches",
        ] {
            assert_eq!(local_path(Some(bad)), "/", "{bad:?}");
        }
        assert_eq!(local_path(Some("/branches/a b?q=x y#top")), "/branches/a%20b?q=x%20y#top");
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
    fn cookies_are_read_by_name() {
        let mut h = HeaderMap::new();
        h.insert(header::COOKIE, HeaderValue::from_static("a=1; chartgate_session=abc; b=2"));
        let jar = CookieJar::from_headers(&h);
        assert_eq!(jar.get(COOKIE).map(|c| c.value()), Some("abc"));
        assert!(jar.get("c").is_none());
    }

    #[test]
    fn session_cookies_carry_their_attributes() {
        let text = session_cookie("abc".into(), time::Duration::hours(1), true).to_string();
        for part in ["chartgate_session=abc", "HttpOnly", "SameSite=Lax", "Path=/", "Max-Age=3600", "Secure"] {
            assert!(text.contains(part), "{text} lacks {part}");
        }
        assert!(!session_cookie("abc".into(), time::Duration::ZERO, false).to_string().contains("Secure"));
    }

    #[test]
    fn login_urls_encode_next() {
        assert_eq!(
            login_url(Some("locked"), "/branches/a b?x=1"),
            "/login?error=locked&next=%2Fbranches%2Fa+b%3Fx%3D1"
        );
    }
}
