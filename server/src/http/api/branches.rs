//! Branches: list, register, one, rescan.

use app::types::{BranchSummary, TargetSummary};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;
use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::access::Actor;
use crate::branches::{self, NewBranch};
use crate::error::Result;
use crate::http::extract::{ApiJson, ApiQuery, Lead, Viewer};
use crate::http::WebState;
use crate::scans::{self, ScanReport};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<WebState> {
    OpenApiRouter::default()
        .routes(routes!(list, add))
        .routes(routes!(one))
        .routes(routes!(rescan))
        .routes(routes!(targets))
}

/// The targets in chain order (design §10).
#[utoipa::path(get, path = "/api/v1/targets", tag = "branches", operation_id = "list_targets",
    extensions(("x-role" = json!("viewer"))), responses((status = 200, body = Vec<TargetSummary>)))]
async fn targets(State(state): State<AppState>, Viewer(user): Viewer) -> Json<Vec<TargetSummary>> {
    Json(branches::targets(&state, user.role))
}

/// Staging environments with their counts per status.
#[utoipa::path(get, path = "/api/v1/branches", tag = "branches", operation_id = "list_branches",
    extensions(("x-role" = json!("viewer"))), responses((status = 200, body = Vec<BranchSummary>)))]
async fn list(State(state): State<AppState>, Viewer(user): Viewer) -> Result<Json<Vec<BranchSummary>>> {
    Ok(Json(branches::list(&state, user.role).await?))
}

/// One branch (raw or environment name) with its counts.
#[utoipa::path(get, path = "/api/v1/branches/{branch}", tag = "branches", operation_id = "get_branch",
    extensions(("x-role" = json!("viewer"))),
    params(("branch" = String, Path, description = "environment or raw branch name")),
    responses((status = 200, body = BranchSummary)))]
async fn one(
    State(state): State<AppState>,
    Viewer(user): Viewer,
    Path(branch): Path<String>,
) -> Result<Json<BranchSummary>> {
    Ok(Json(branches::get(&state, &branch, user.role).await?))
}

/// A staging environment to register: its store (`store_url`), or `fork: true` to create one
/// from `staging_url_template` as a copy of the target's store — one of the two.
#[derive(Deserialize, utoipa::ToSchema)]
struct AddBranch {
    /// The branch's raw name (the environment's name is derived from it).
    #[schema(min_length = 1, pattern = r"\S")]
    branch: String,
    /// The staging store's URL (`sqlite://…`, `postgres://…`, `mysql://…`, `files://…`); required
    /// unless `fork`.
    #[schema(min_length = 1, pattern = r"\S")]
    store_url: Option<String>,
    #[serde(default)]
    fork: bool,
    preview_url: Option<String>,
    /// The target (default: `default_target`).
    target: Option<String>,
    /// The GitHub repository (`owner/name`) whose pull requests may act on the branch (default:
    /// bound by the first signed hook event for the branch's exact name).
    repository: Option<String>,
}

/// Registers a staging environment and takes its baseline (leads); 409 if it exists.
#[utoipa::path(post, path = "/api/v1/branches", tag = "branches", operation_id = "register_branch",
    extensions(("x-role" = json!("lead"))), request_body = AddBranch,
    responses((status = 201, body = BranchSummary), (status = 404, description = "no such target"),
        (status = 409, description = "the branch is registered already, or its name is a target's"),
        (status = 422, description = "the store cannot be opened, both or neither of `store_url` and `fork`, \
            an unknown target, or a repository or preview URL that is not one"),
        (status = 502, description = "the target's store cannot be read")))]
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
        repository: body.repository.as_deref(),
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
#[utoipa::path(post, path = "/api/v1/branches/{branch}/rescan", tag = "branches", operation_id = "rescan_branch",
    extensions(("x-role" = json!("viewer"))),
    params(("branch" = String, Path, description = "environment or raw branch name"), RescanQuery),
    responses((status = 200, body = ScanReport), (status = 502, description = "a store of the branch cannot be read")))]
async fn rescan(
    State(state): State<AppState>,
    Viewer(user): Viewer,
    Path(branch): Path<String>,
    ApiQuery(q): ApiQuery<RescanQuery>,
) -> Result<Json<ScanReport>> {
    Ok(Json(scans::rescan(&state, &Actor::from(&user), &branch, q.full).await?))
}
