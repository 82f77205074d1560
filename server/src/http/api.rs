//! The REST API (`/api/v1`, design §4) and the health probes: one router per feature. Handlers
//! name their caller's role with an extractor, parse input, and call the feature functions;
//! errors become `{error: {code, message}}`.

mod audit;
mod branches;
mod diffs;
pub mod github;
mod groups;
mod health;
mod sync;
mod tokens;
mod upgrades;

use axum::routing::any;
use axum::Router;

use super::WebState;
use crate::error::Error;

pub fn router() -> Router<WebState> {
    Router::new()
        .merge(health::router())
        .merge(branches::router())
        .merge(diffs::router())
        .merge(groups::router())
        .merge(audit::router())
        .merge(sync::router())
        .merge(github::router())
        .merge(tokens::router())
        .merge(upgrades::router())
        .route("/api/v1/{*rest}", any(api_not_found))
}

/// The OpenAPI paths of every module above, merged by [`super::openapi::document`]. A module
/// with `/api/v1` routes lists its annotated handlers in a `Doc` and is added here.
pub fn docs() -> Vec<utoipa::openapi::OpenApi> {
    use utoipa::OpenApi;
    vec![
        health::Doc::openapi(),
        branches::Doc::openapi(),
        diffs::Doc::openapi(),
        groups::Doc::openapi(),
        audit::Doc::openapi(),
        sync::Doc::openapi(),
        github::Doc::openapi(),
        tokens::Doc::openapi(),
        upgrades::Doc::openapi(),
    ]
}

async fn api_not_found() -> Error {
    Error::NotFound("no such API endpoint".into())
}
