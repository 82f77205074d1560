//! The REST API (`/api/v1`, design §4) and the health probes: one router per feature. Handlers
//! name their caller's role with an extractor, parse input, and call the feature functions;
//! errors become `{error: {code, message}}`.
//!
//! Each module's `router()` registers its handlers with utoipa-axum's `routes!`: the handler's
//! `#[utoipa::path]` gives the route's method and path and its operation in the OpenAPI document
//! (see [`super::openapi`]), so the two are one declaration.

mod audit;
mod branches;
mod diffs;
pub mod github;
mod groups;
mod health;
mod inbox;
mod sync;
mod tokens;
mod upgrades;

use axum::routing::any;
use axum::Router;
use utoipa_axum::router::OpenApiRouter;

use super::WebState;
use crate::error::Error;

/// Every API route with its OpenAPI operation.
pub fn routes() -> OpenApiRouter<WebState> {
    OpenApiRouter::default()
        .merge(health::router())
        .merge(branches::router())
        .merge(diffs::router())
        .merge(groups::router())
        .merge(inbox::router())
        .merge(audit::router())
        .merge(sync::router())
        .merge(github::router())
        .merge(tokens::router())
        .merge(upgrades::router())
}

/// The API's routes as the server serves them; anything else under `/api/v1/` is a JSON 404.
pub fn router() -> Router<WebState> {
    let (router, _) = routes().split_for_parts();
    router.route("/api/v1/{*rest}", any(api_not_found))
}

async fn api_not_found() -> Error {
    Error::NotFound("no such API endpoint".into())
}
