//! Branches: list, register, one, rescan.

use app::types::{BranchSummary, TargetSummary};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;

use crate::access::Actor;
use crate::branches::{self, NewBranch};
use crate::error::Result;
use crate::http::extract::{ApiJson, ApiQuery, Lead, Viewer};
use crate::http::WebState;
use crate::scans::{self, ScanReport};
use crate::state::AppState;

pub fn router() -> Router<WebState> {
    Router::new()
        .route("/api/v1/branches", get(list).post(add))
        .route("/api/v1/branches/{branch}", get(one))
        .route("/api/v1/branches/{branch}/rescan", post(rescan))
        .route("/api/v1/targets", get(targets))
}

#[derive(utoipa::OpenApi)]
#[openapi(paths(list, add, one, rescan, targets))]
pub(super) struct Doc;

/// The targets in chain order (design §10).
#[utoipa::path(get, path = "/api/v1/targets", tag = "branches", security(("bearer" = []), ("session" = [])),
    responses((status = 200, body = Vec<TargetSummary>), (status = "4XX", description = "an error: `{error: {code, message}}`", body = crate::error::ErrorBody)))]
async fn targets(State(state): State<AppState>, Viewer(user): Viewer) -> Json<Vec<TargetSummary>> {
    Json(branches::targets(&state, user.role))
}

/// Staging environments with their counts per status.
#[utoipa::path(get, path = "/api/v1/branches", tag = "branches", security(("bearer" = []), ("session" = [])),
    responses((status = 200, body = Vec<BranchSummary>), (status = "4XX", description = "an error: `{error: {code, message}}`", body = crate::error::ErrorBody)))]
async fn list(State(state): State<AppState>, Viewer(user): Viewer) -> Result<Json<Vec<BranchSummary>>> {
    Ok(Json(branches::list(&state, user.role).await?))
}

/// One branch (raw or environment name) with its counts.
#[utoipa::path(get, path = "/api/v1/branches/{branch}", tag = "branches", security(("bearer" = []), ("session" = [])),
    params(("branch" = String, Path, description = "environment or raw branch name")),
    responses((status = 200, body = BranchSummary), (status = "4XX", description = "an error: `{error: {code, message}}`", body = crate::error::ErrorBody)))]
async fn one(
    State(state): State<AppState>,
    Viewer(user): Viewer,
    Path(branch): Path<String>,
) -> Result<Json<BranchSummary>> {
    Ok(Json(branches::get(&state, &branch, user.role).await?))
}

#[derive(Deserialize, utoipa::ToSchema)]
struct AddBranch {
    branch: String,
    store_url: Option<String>,
    #[serde(default)]
    fork: bool,
    preview_url: Option<String>,
    /// The target (default: `default_target`).
    target: Option<String>,
}

/// Registers a staging environment and takes its baseline (leads); 409 if it exists.
#[utoipa::path(post, path = "/api/v1/branches", tag = "branches", security(("bearer" = []), ("session" = [])),
    request_body = AddBranch,
    responses((status = 201, body = BranchSummary), (status = "4XX", description = "an error: `{error: {code, message}}`", body = crate::error::ErrorBody)))]
async fn add(
    State(state): State<AppState>,
    Lead(user): Lead,
    ApiJson(body): ApiJson<AddBranch>,
) -> Result<impl IntoResponse> {
    let new = NewBranch {
        branch: &body.branch,
        store_url: body.store_url.as_deref(),
        fork: body.fork,
        preview_url: body.preview_url.as_deref(),
        target: body.target.as_deref(),
    };
    let summary = branches::register(&state, &Actor::from(&user), new).await?;
    Ok((StatusCode::CREATED, Json(summary)))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct RescanQuery {
    /// Re-read every chart, not only those whose `updated_at` moved.
    #[serde(default)]
    full: bool,
}

/// Rescans the branch's stores now; answers when done.
#[utoipa::path(post, path = "/api/v1/branches/{branch}/rescan", tag = "branches", security(("bearer" = []), ("session" = [])),
    params(("branch" = String, Path, description = "environment or raw branch name"), RescanQuery),
    responses((status = 200, body = ScanReport), (status = "4XX", description = "an error: `{error: {code, message}}`", body = crate::error::ErrorBody)))]
async fn rescan(
    State(state): State<AppState>,
    Viewer(user): Viewer,
    Path(branch): Path<String>,
    ApiQuery(q): ApiQuery<RescanQuery>,
) -> Result<Json<ScanReport>> {
    Ok(Json(scans::rescan(&state, &Actor::from(&user), &branch, q.full).await?))
}
