//! Dataset upgrades of a branch (design §9): its datasets, a preview of the mapping, applying
//! (dry run first) and undoing.

use app::upgrades::{Datasets, Preview, PreviewRequest, UndoResult, Upgrade, UpgradeRequest, UpgradeResult};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::access::Actor;
use crate::error::{Error, Result};
use crate::http::extract::{ApiJson, Reviewer, Viewer};
use crate::http::WebState;
use crate::state::AppState;
use crate::upgrades;

pub fn router() -> OpenApiRouter<WebState> {
    OpenApiRouter::default()
        .routes(routes!(datasets))
        .routes(routes!(preview))
        .routes(routes!(list, apply))
        .routes(routes!(one))
        .routes(routes!(undo))
}

/// The datasets the branch's charts use, with the suggested upgrades (design §9).
#[utoipa::path(get, path = "/api/v1/branches/{branch}/datasets", tag = "upgrades", operation_id = "list_datasets",
    extensions(("x-role" = json!("viewer"))), params(("branch" = String, Path, description = "environment or raw branch name")),
    responses((status = 200, body = Datasets), (status = 409, description = "the staging store has no indicators"), (status = 502, description = "the staging store cannot be read")))]
async fn datasets(
    State(state): State<AppState>,
    Viewer(user): Viewer,
    Path(branch): Path<String>,
) -> Result<Json<Datasets>> {
    Ok(Json(upgrades::datasets(&state, &Actor::from(&user), &branch).await?))
}

/// The proposed mapping of one dataset version onto another, with the charts it would change.
#[utoipa::path(post, path = "/api/v1/branches/{branch}/upgrades/preview", tag = "upgrades", operation_id = "preview_upgrade",
    extensions(("x-role" = json!("reviewer"))), params(("branch" = String, Path, description = "environment or raw branch name")), request_body = PreviewRequest,
    responses((status = 200, body = Preview), (status = 404, description = "no such branch, or a dataset the staging store lacks"),
        (status = 409, description = "the staging store has no indicators"),
        (status = 422, description = "`from` and `to` are the same dataset"), (status = 502, description = "the staging store cannot be read")))]
async fn preview(
    State(state): State<AppState>,
    Reviewer(user): Reviewer,
    Path(branch): Path<String>,
    ApiJson(body): ApiJson<PreviewRequest>,
) -> Result<Json<Preview>> {
    Ok(Json(upgrades::preview(&state, &Actor::from(&user), &branch, &body).await?))
}

/// 201 with the upgrade's id; a dry run (nothing written or recorded) answers 200.
#[utoipa::path(post, path = "/api/v1/branches/{branch}/upgrades", tag = "upgrades", operation_id = "apply_upgrade",
    extensions(("x-role" = json!("reviewer"))), params(("branch" = String, Path, description = "environment or raw branch name")), request_body = UpgradeRequest,
    responses((status = 201, body = UpgradeResult), (status = 200, description = "a dry run", body = UpgradeResult),
        (status = 404, description = "no such branch, or a dataset the staging store lacks"),
        (status = 409, description = "the staging store has no indicators, or the branch is closed"),
        (status = 422, description = "`from` and `to` are the same dataset, or the mapping names an indicator they lack or maps none"),
        (status = 502, description = "the staging store cannot be read or written")))]
async fn apply(
    State(state): State<AppState>,
    Reviewer(user): Reviewer,
    Path(branch): Path<String>,
    ApiJson(body): ApiJson<UpgradeRequest>,
) -> Result<(StatusCode, Json<UpgradeResult>)> {
    let result = upgrades::apply(&state, &Actor::from(&user), &branch, &body).await?;
    let status = if result.dry_run { StatusCode::OK } else { StatusCode::CREATED };
    Ok((status, Json(result)))
}

/// The upgrades of a branch, newest first.
#[utoipa::path(get, path = "/api/v1/branches/{branch}/upgrades", tag = "upgrades", operation_id = "list_upgrades",
    extensions(("x-role" = json!("viewer"))), params(("branch" = String, Path, description = "environment or raw branch name")), responses((status = 200, body = Vec<Upgrade>)))]
async fn list(
    State(state): State<AppState>,
    Viewer(user): Viewer,
    Path(branch): Path<String>,
) -> Result<Json<Vec<Upgrade>>> {
    Ok(Json(upgrades::list(&state, &Actor::from(&user), &branch).await?))
}

/// One upgrade with its mapping and charts.
#[utoipa::path(get, path = "/api/v1/branches/{branch}/upgrades/{id}", tag = "upgrades", operation_id = "get_upgrade",
    extensions(("x-role" = json!("viewer"))), params(("branch" = String, Path, description = "environment or raw branch name"), ("id" = i64, Path, description = "the upgrade's id")), responses((status = 200, body = Upgrade)))]
async fn one(
    State(state): State<AppState>,
    Viewer(user): Viewer,
    Path((branch, id)): Path<(String, String)>,
) -> Result<Json<Upgrade>> {
    Ok(Json(upgrades::get(&state, &Actor::from(&user), &branch, upgrade_id(&id)?).await?))
}

/// Puts back what the upgrade replaced, chart by chart (skipping charts edited since).
#[utoipa::path(post, path = "/api/v1/branches/{branch}/upgrades/{id}/undo", tag = "upgrades", operation_id = "undo_upgrade",
    extensions(("x-role" = json!("reviewer"))), params(("branch" = String, Path, description = "environment or raw branch name"), ("id" = i64, Path, description = "the upgrade's id")),
    responses((status = 200, body = UndoResult), (status = 409, description = "the upgrade was undone already, or the branch is closed"),
        (status = 502, description = "the staging store cannot be read or written")))]
async fn undo(
    State(state): State<AppState>,
    Reviewer(user): Reviewer,
    Path((branch, id)): Path<(String, String)>,
) -> Result<Json<UndoResult>> {
    Ok(Json(upgrades::undo(&state, &Actor::from(&user), &branch, upgrade_id(&id)?).await?))
}

fn upgrade_id(id: &str) -> Result<i64> {
    id.parse().map_err(|_| Error::NotFound(format!("no upgrade {id}")))
}
