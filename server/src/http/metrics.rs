//! `GET /metrics`: Prometheus text format (design §12); the names are listed in
//! [`crate::telemetry`]. Open like `/healthz` unless `metrics_token` is set, then that bearer
//! token is required. The queue depth is read from the database at each scrape.

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use super::WebState;
use crate::error::Error;
use crate::state::AppState;

pub fn router() -> Router<WebState> {
    Router::new().route("/metrics", get(metrics))
}

async fn metrics(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Some(expected) = state.config.metrics_token.as_deref().filter(|t| !t.is_empty()) {
        let given = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim);
        let ok = given.is_some_and(|g| {
            use sha2::{Digest, Sha256};
            // Equal-length digests compared without an early exit: no timing hint about the token.
            let (a, b) = (Sha256::digest(g.as_bytes()), Sha256::digest(expected.as_bytes()));
            a.iter().zip(b.iter()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
        });
        if !ok {
            return Error::Unauthorized.into_response();
        }
    }
    match crate::repo::jobs::queued_count(&state.db).await {
        Ok(n) => crate::telemetry::queue_depth(n),
        Err(e) => tracing::warn!(error = %e, "metrics: could not count queued sync jobs"),
    }
    let Some(text) = crate::telemetry::render() else {
        return (StatusCode::SERVICE_UNAVAILABLE, "metrics are not installed in this process\n").into_response();
    };
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], text).into_response()
}
