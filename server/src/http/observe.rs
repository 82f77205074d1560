//! Request ids, the one log line per request, and the HTTP metrics (design §12).
//!
//! Every request gets an id: the caller's `X-Request-Id` when it is short and printable (a proxy
//! in front may have set one), otherwise a new random one. The id is answered as
//! `X-Request-Id` and is a field of the `request` span the rest of the request runs in, so every
//! log line the request causes carries it (with `log_format = "json"`, as `span.request_id`).
//! When the request is answered, one line says method, route, status, duration and user.
//!
//! Every label comes from a closed set, so `/metrics` stays a bounded set of series whatever
//! callers send: the route is the matched template (`/api/v1/branches/{branch}`), never the raw
//! path, and `unmatched` when no route matched; the method is one of the methods the server
//! answers (`GET`, `HEAD`, `POST`, `PUT`, `PATCH`, `DELETE`, `OPTIONS`) or `other`. HTTP lets a
//! client invent methods of any length, and each label value Prometheus has seen is kept for the
//! life of the process: a method taken as sent was memory any caller could add to.

use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderName, HeaderValue, Method};
use axum::middleware::Next;
use axum::response::Response;
use rand::RngCore;
use tracing::Instrument;

pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The label of requests no route matched (static files, unknown paths).
const UNMATCHED: &str = "unmatched";

/// The label of a method outside [`method_label`]'s set.
const OTHER_METHOD: &str = "other";

/// The method as a label from a closed set: a method the server answers, or `other`.
fn method_label(method: &Method) -> &'static str {
    match method.as_str() {
        "GET" => "GET",
        "HEAD" => "HEAD",
        "POST" => "POST",
        "PUT" => "PUT",
        "PATCH" => "PATCH",
        "DELETE" => "DELETE",
        "OPTIONS" => "OPTIONS",
        _ => OTHER_METHOD,
    }
}

/// Notes the signed-in user in the current request's span (and so in its log line).
pub fn record_user(email: &str) {
    tracing::Span::current().record("user", email);
}

fn new_id() -> String {
    let mut bytes = [0u8; 12];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    hex::encode(bytes)
}

fn usable(id: &HeaderValue) -> Option<String> {
    let id = id.to_str().ok()?.trim();
    let ok = !id.is_empty()
        && id.len() <= 64
        && id.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':'));
    ok.then(|| id.to_string())
}

pub async fn middleware(req: Request, next: Next) -> Response {
    let started = Instant::now();
    let id = req.headers().get(&REQUEST_ID).and_then(usable).unwrap_or_else(new_id);
    let method = method_label(req.method());
    let route = req.extensions().get::<MatchedPath>().map_or(UNMATCHED, |p| p.as_str()).to_string();
    let span = tracing::info_span!(
        "request",
        request_id = %id,
        method,
        route = %route,
        user = tracing::field::Empty,
    );
    let mut response = next.run(req).instrument(span.clone()).await;
    let elapsed = started.elapsed();
    let status = response.status().as_u16();
    span.in_scope(|| {
        let ms = (elapsed.as_secs_f64() * 1000.0 * 1000.0).round() / 1000.0;
        if status >= 500 {
            tracing::error!(status, ms, "request");
        } else {
            tracing::info!(status, ms, "request");
        }
    });
    crate::telemetry::http_request(method, &route, status, elapsed);
    if let Ok(v) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(REQUEST_ID, v);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_from_callers_are_kept_only_when_tame() {
        assert_eq!(usable(&HeaderValue::from_static("abc-123")), Some("abc-123".into()));
        assert_eq!(usable(&HeaderValue::from_static("")), None);
        assert_eq!(usable(&HeaderValue::from_static("a b")), None);
        assert_eq!(usable(&HeaderValue::from_str(&"x".repeat(65)).unwrap()), None);
        assert_eq!(new_id().len(), 24);
    }

    #[test]
    fn methods_are_labelled_from_a_closed_set() {
        assert_eq!(method_label(&Method::GET), "GET");
        assert_eq!(method_label(&Method::OPTIONS), "OPTIONS");
        assert_eq!(method_label(&Method::TRACE), "other");
        assert_eq!(method_label(&Method::from_bytes(b"FROBNICATE").unwrap()), "other");
    }
}
