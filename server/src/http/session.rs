//! Browser sessions: sign in and out, the session cookie, the CSRF check, the page guard, and
//! the optional trusted-proxy mode.
//!
//! One middleware runs before every route: it resolves who is calling (trusted-proxy header, or
//! the session cookie) and stores an [`app::types::CurrentUser`] in the request's extensions,
//! where the role extractors, server functions and pages find it, beside the [`ClientAddr`]. It
//! refuses cross-site state changes made with a cookie or the proxy's header (the `Origin` must
//! be this server), server-function calls whose body is not JSON (415), sends anonymous page
//! views to `/login`, and answers anonymous server-function calls with 401.
//!
//! The Origin check depends on the credential, not on which headers came along. A cookie or the
//! proxy's header is sent by the browser on its own, so a page on another site can make it send
//! them; such a request must carry this server's Origin whatever else it has — an
//! `Authorization` header included, which a proxy adding Basic or Negotiate credentials puts on
//! every request. Only a call that a valid bearer token authenticates (a script) skips it, and
//! then as the token's user alone: the cookie's or the proxy's user is dropped for that request.
//! Server functions take JSON only, because `text/plain` and form bodies are what a cross-site
//! form can send without the browser asking first.
//!
//! The trusted-proxy header is taken only from a peer in `trusted_proxies` (anyone else could
//! simply write it), and only once: two values mean something between the proxy and us added
//! one, and the request is refused rather than guessed at.
//!
//! Sign-in is throttled by (client address, account) (see [`super::limiter`]) and runs argon2 in
//! one of a fixed number of hashing slots (see [`crate::accounts`]): an attempt over either bound
//! is answered 429 with `Retry-After`, before any password is hashed.

use std::net::IpAddr;
use std::time::Duration;

use app::types::CurrentUser;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::post;
use axum::{Form, Router};
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use serde::Deserialize;

use super::client::{self, ClientAddr};
use super::limiter::SignInThrottle;
use super::WebState;
use crate::accounts;
use crate::error::{Error, Result};
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
    State(throttle): State<SignInThrottle>,
    client: Option<axum::Extension<ClientAddr>>,
    headers: HeaderMap,
    jar: CookieJar,
    Form(form): Form<LoginForm>,
) -> Result<Response> {
    let next = local_path(form.next.as_deref());
    let Ok(email) = accounts::normalise_email(&form.email) else {
        return Ok(Redirect::to(&login_url(Some("invalid"), &next)).into_response());
    };
    let client = client.map_or(IpAddr::from([0u8; 16]), |axum::Extension(ClientAddr(ip))| ip);
    if let Err(wait) = throttle.attempt(client, &email) {
        tracing::warn!(%email, %client, wait_s = wait.as_secs(), "sign-in throttled");
        return Ok(too_many(&headers, "too many sign-in attempts for this account from your address", wait, &next));
    }
    let verified = accounts::verify_password(&state.db, &email, &form.password, state.config.sign_in_wait()).await;
    let user_id = match verified {
        Ok(Some(id)) => id,
        Ok(None) => {
            tracing::warn!(%email, %client, "sign-in failed");
            return Ok(Redirect::to(&login_url(Some("invalid"), &next)).into_response());
        }
        Err(Error::TooManyRequests { message, retry_after }) => {
            tracing::warn!(%email, %client, "sign-in refused: every password-hashing slot is busy");
            return Ok(too_many(&headers, &message, retry_after, &next));
        }
        Err(e) => return Err(e),
    };
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

/// 429 with `Retry-After`: the API's JSON error, or for a browser's form post a short page that
/// says how long to wait and leads back to the form.
fn too_many(headers: &HeaderMap, message: &str, wait: Duration, next: &str) -> Response {
    let seconds = crate::error::retry_after_seconds(wait);
    let wants_html = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.split(',').any(|t| t.trim().starts_with("text/html")));
    if !wants_html {
        return Error::TooManyRequests { message: format!("{message}; try again in {seconds} s"), retry_after: wait }
            .into_response();
    }
    let back = html_escape::encode_double_quoted_attribute(&login_url(None, next)).into_owned();
    let page = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Wait a moment · Chartgate</title>\
         <link rel=\"stylesheet\" href=\"/pkg/chartgate.css\"></head><body><main class=\"login\">\
         <h1>Wait a moment</h1><p>{}; try again in {seconds} seconds.</p>\
         <p><a href=\"{back}\">Back to sign-in</a></p></main></body></html>",
        html_escape::encode_text(message),
    );
    let mut response = (StatusCode::TOO_MANY_REQUESTS, axum::response::Html(page)).into_response();
    response.headers_mut().insert(header::RETRY_AFTER, seconds.into());
    response
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

/// The trusted proxy's header: `Ok(None)` when it is not configured, absent, or sent by a peer
/// that is not a trusted proxy (then it is ignored, and logged); 400 when it came more than once.
fn proxied_email(state: &AppState, peer: Option<IpAddr>, headers: &HeaderMap) -> Result<Option<String>> {
    let Some(name) = state.config.trusted_proxy_header.as_deref() else { return Ok(None) };
    let mut values = headers.get_all(name).iter();
    let Some(first) = values.next() else { return Ok(None) };
    if !peer.is_some_and(|p| state.config.is_trusted_proxy(p)) {
        tracing::warn!(header = name, peer = ?peer, "the trusted-proxy header came from a peer not in trusted_proxies; ignored");
        return Ok(None);
    }
    if values.next().is_some() {
        tracing::warn!(header = name, "the trusted-proxy header came more than once; refused");
        return Err(Error::BadRequest(format!("the {name} header must come once")));
    }
    Ok(first.to_str().ok().map(str::to_string))
}

/// Whether a body is JSON (`application/json`, parameters allowed).
fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json"))
}

pub async fn middleware(State(state): State<AppState>, jar: CookieJar, mut req: Request, next: Next) -> Response {
    let peer = client::peer(&req);
    let client = client::client_addr(&state.config, peer, req.headers());
    req.extensions_mut().insert(ClientAddr(client));
    let headers = req.headers();
    let has_bearer =
        headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).is_some_and(|v| v.starts_with("Bearer "));
    let cookie = jar.get(COOKIE).map(|c| c.value().to_string()).filter(|c| !c.is_empty());
    let proxied = match proxied_email(&state, peer, headers) {
        Ok(p) => p,
        Err(e) => return e.into_response(),
    };

    let user = match (&proxied, &cookie) {
        (Some(email), _) => match accounts::active_user_by_email(&state.db, email).await {
            Ok(Some(u)) => Some(CurrentUser::from(u)),
            Ok(None) => {
                tracing::warn!(%email, "trusted proxy named an unknown or disabled user");
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
    // header) must come with this server's Origin when it changes state — whatever other headers
    // came along: an `Authorization` header does not make a cookie safe to use cross-site. So
    // must sign-in and sign-out. The one exception is a call a bearer token really authenticates
    // (a script, which no other site can make a browser be): it goes on as the token's user
    // alone — the cookie's or the proxy's user is dropped, so nothing that reads the browser's
    // identity (a server function, a form) acts for it.
    let ambient = cookie.is_some() || proxied.is_some();
    let mut user = user;
    if changes_state && (ambient || path.starts_with("/auth/")) && !same_origin(req.headers()) {
        let by_token = has_bearer && {
            let token = req.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).unwrap_or_default();
            let token = token.trim_start_matches("Bearer ").trim();
            matches!(accounts::user_by_token(&state.db, token).await, Ok(Some(_)))
        };
        if !by_token {
            tracing::warn!(%path, "cross-site request refused");
            return Error::Forbidden("cross-site request refused: the Origin is not this server".into())
                .into_response();
        }
        user = None;
    }
    if is_server_fn(&path) && changes_state && !is_json(req.headers()) {
        return Error::UnsupportedMediaType(
            "server functions take JSON bodies (Content-Type: application/json)".into(),
        )
        .into_response();
    }
    if user.is_none() {
        // Server functions act for the browser's user only; a bearer token is no one to them.
        if is_server_fn(&path) {
            return Error::Unauthorized.into_response();
        }
        if !has_bearer && req.method() == Method::GET && is_page(&path) {
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
