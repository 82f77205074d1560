//! Groups of items with the same change (design §11): the groups of a branch, one group with its
//! representative item, and deciding a group.

use app::types::{BulkReviewResult, ChangeGroup, GroupDetail, GroupReviewRequest};
use axum::extract::{Path, State};
use axum::Json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::Result;
use crate::groups;
use crate::http::extract::{ApiJson, Reviewer, Viewer};
use crate::http::WebState;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<WebState> {
    OpenApiRouter::default().routes(routes!(list)).routes(routes!(detail)).routes(routes!(review))
}

/// Items whose change is the same, largest groups first (design §11).
#[utoipa::path(get, path = "/api/v1/branches/{branch}/groups", tag = "reviews", operation_id = "list_groups",
    extensions(("x-role" = json!("viewer"))), params(("branch" = String, Path, description = "environment or raw branch name")), responses((status = 200, body = Vec<ChangeGroup>)))]
async fn list(State(state): State<AppState>, _: Viewer, Path(branch): Path<String>) -> Result<Json<Vec<ChangeGroup>>> {
    Ok(Json(groups::list(&state, &branch).await?))
}

/// One group: its first item in full and previews of the next ones.
#[utoipa::path(get, path = "/api/v1/branches/{branch}/groups/{id}", tag = "reviews", operation_id = "get_group",
    extensions(("x-role" = json!("viewer"))), params(("branch" = String, Path, description = "environment or raw branch name"), ("id" = String, Path, description = "the group's id, as the list of groups gives it")),
    responses((status = 200, body = GroupDetail), (status = 502, description = "a store of the branch cannot be read")))]
async fn detail(
    State(state): State<AppState>,
    _: Viewer,
    Path((branch, id)): Path<(String, String)>,
) -> Result<Json<GroupDetail>> {
    Ok(Json(groups::detail(&state, &branch, &id).await?))
}

/// Decides a group: one decision per item, each bound to its own current hashes; with `items`,
/// an item that moved since the caller saw it is refused.
#[utoipa::path(post, path = "/api/v1/branches/{branch}/groups/{id}/review", tag = "reviews", operation_id = "review_group",
    extensions(("x-role" = json!("reviewer"))), params(("branch" = String, Path, description = "environment or raw branch name"), ("id" = String, Path, description = "the group's id, as the list of groups gives it")), request_body = GroupReviewRequest,
    responses((status = 200, body = BulkReviewResult), (status = 409, description = "the branch is closed")))]
async fn review(
    State(state): State<AppState>,
    Reviewer(user): Reviewer,
    Path((branch, id)): Path<(String, String)>,
    ApiJson(body): ApiJson<GroupReviewRequest>,
) -> Result<Json<BulkReviewResult>> {
    Ok(Json(groups::decide(&state, &branch, &id, &user, &body).await?))
}
