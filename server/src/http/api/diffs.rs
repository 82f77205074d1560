//! A branch's diff and its decisions: the list, one item, deciding one or many, the gate, and a
//! chart's history.

use app::types::{
    AuditEvent, BulkReviewRequest, BulkReviewResult, Comment, CommentRequest, DiffDetail, DiffItem, DiffPage,
    DiffQuery, DismissRequest, Gate, MergePlan, MergeRequest, MergeResult, ReviewRequest,
};
use axum::extract::{Path, State};
use axum::Json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::Result;
use crate::http::extract::{ApiJson, ApiQuery, Lead, Reviewer, Viewer};
use crate::http::WebState;
use crate::state::AppState;
use crate::{audit, conversations, diffs, merges, reviews};

pub fn router() -> OpenApiRouter<WebState> {
    OpenApiRouter::default()
        .routes(routes!(list))
        .routes(routes!(detail))
        .routes(routes!(review))
        .routes(routes!(merge_plan, merge))
        .routes(routes!(review_bulk))
        .routes(routes!(gate))
        .routes(routes!(chart_history))
        .routes(routes!(dismiss))
        .routes(routes!(thread, comment))
}

/// A page of the branch's diff items, filtered and sorted.
#[utoipa::path(get, path = "/api/v1/branches/{branch}/diffs", tag = "diffs", operation_id = "list_diffs",
    extensions(("x-role" = json!("viewer"))), params(("branch" = String, Path, description = "environment or raw branch name"), DiffQuery),
    responses((status = 200, body = DiffPage), (status = 409, description = "`sort=views` while the target's store has no `chart_views` table")))]
async fn list(
    State(state): State<AppState>,
    Viewer(user): Viewer,
    Path(branch): Path<String>,
    ApiQuery(q): ApiQuery<DiffQuery>,
) -> Result<Json<DiffPage>> {
    Ok(Json(diffs::list_for(&state, &branch, &q, user.role, &user.email).await?))
}

/// `?against=approved`: the diffs from the last approved content to staging now (design §11).
#[derive(serde::Deserialize, Default, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct DetailQuery {
    /// `approved`: diff from the content of the last approval on this branch (404 without one);
    /// `production` (the default): from production to staging.
    #[param(inline)]
    against: Option<Against>,
}

/// What a diff's "before" side is.
#[derive(serde::Deserialize, Clone, Copy, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
enum Against {
    Production,
    Approved,
}

impl Against {
    fn as_str(self) -> &'static str {
        match self {
            Against::Production => "production",
            Against::Approved => "approved",
        }
    }
}

/// One item with its config, data and metadata diffs (`?against=approved`: since the last approval).
#[utoipa::path(get, path = "/api/v1/branches/{branch}/diffs/{chart_id}", tag = "diffs", operation_id = "get_diff",
    extensions(("x-role" = json!("viewer"))), params(("branch" = String, Path, description = "environment or raw branch name"), ("chart_id" = String, Path, description = "the chart's id in its store"), DetailQuery),
    responses((status = 200, body = DiffDetail), (status = 502, description = "a store of the branch cannot be read")))]
async fn detail(
    State(state): State<AppState>,
    _: Viewer,
    Path((branch, chart_id)): Path<(String, String)>,
    ApiQuery(q): ApiQuery<DetailQuery>,
) -> Result<Json<DiffDetail>> {
    Ok(Json(diffs::detail_against(&state, &branch, &chart_id, q.against.map(Against::as_str)).await?))
}

/// Records a decision bound to the hashes the reviewer saw; 409 when they are no longer current.
#[utoipa::path(post, path = "/api/v1/branches/{branch}/diffs/{chart_id}/review", tag = "reviews", operation_id = "review_diff",
    extensions(("x-role" = json!("reviewer"))), params(("branch" = String, Path, description = "environment or raw branch name"), ("chart_id" = String, Path, description = "the chart's id in its store")), request_body = ReviewRequest,
    responses((status = 200, body = DiffItem),
        (status = 409, description = "the content moved since the reviewer saw it (`detail` has the current hashes), the item is unreadable, or the branch is closed")))]
async fn review(
    State(state): State<AppState>,
    Reviewer(user): Reviewer,
    Path((branch, chart_id)): Path<(String, String)>,
    ApiJson(body): ApiJson<ReviewRequest>,
) -> Result<Json<DiffItem>> {
    Ok(Json(reviews::decide(&state, &branch, &chart_id, &user, &body).await?))
}

/// A conflict's changes path by path: merged (one side changed) or conflicting (both, differently).
#[utoipa::path(get, path = "/api/v1/branches/{branch}/diffs/{chart_id}/merge", tag = "reviews", operation_id = "get_merge_plan",
    extensions(("x-role" = json!("viewer"))), params(("branch" = String, Path, description = "environment or raw branch name"), ("chart_id" = String, Path, description = "the chart's id in its store")),
    responses((status = 200, body = MergePlan), (status = 409, description = "the item is not a conflict that can be merged"),
        (status = 502, description = "a store of the branch cannot be read")))]
async fn merge_plan(
    State(state): State<AppState>,
    _: Viewer,
    Path((branch, chart_id)): Path<(String, String)>,
) -> Result<Json<MergePlan>> {
    Ok(Json(merges::plan(&state, &branch, &chart_id).await?))
}

/// Writes the merge (a side for every conflicting path) to staging, compare-and-swap on the row
/// the plan was read from; 409 when staging or production moved, 400 when a choice is missing.
#[utoipa::path(post, path = "/api/v1/branches/{branch}/diffs/{chart_id}/merge", tag = "reviews", operation_id = "merge_conflict",
    extensions(("x-role" = json!("reviewer"))), params(("branch" = String, Path, description = "environment or raw branch name"), ("chart_id" = String, Path, description = "the chart's id in its store")), request_body = MergeRequest,
    responses((status = 200, body = MergeResult),
        (status = 409, description = "staging or production moved since the plan was read (`detail` has the current hashes), or the item is not a conflict, or the branch is closed"),
        (status = 400, description = "a required field missing (named in the message), a conflicting path without a choice, or a choice for a path that is not conflicting (the paths named)"),
        (status = 502, description = "the staging store cannot be read or written")))]
async fn merge(
    State(state): State<AppState>,
    Reviewer(user): Reviewer,
    Path((branch, chart_id)): Path<(String, String)>,
    ApiJson(body): ApiJson<MergeRequest>,
) -> Result<Json<MergeResult>> {
    Ok(Json(merges::apply(&state, &branch, &chart_id, &user, &body).await?))
}

/// Records one decision for many items, each bound to its current hashes.
#[utoipa::path(post, path = "/api/v1/branches/{branch}/reviews/bulk", tag = "reviews", operation_id = "review_many",
    extensions(("x-role" = json!("reviewer"))), params(("branch" = String, Path, description = "environment or raw branch name")), request_body = BulkReviewRequest,
    responses((status = 200, body = BulkReviewResult), (status = 409, description = "the branch is closed")))]
async fn review_bulk(
    State(state): State<AppState>,
    Reviewer(user): Reviewer,
    Path(branch): Path<String>,
    ApiJson(body): ApiJson<BulkReviewRequest>,
) -> Result<Json<BulkReviewResult>> {
    Ok(Json(reviews::decide_many(&state, &branch, &user, &body).await?))
}

/// The review gate of a branch, for a CI check.
#[utoipa::path(get, path = "/api/v1/branches/{branch}/gate", tag = "reviews", operation_id = "get_gate",
    extensions(("x-role" = json!("viewer"))), params(("branch" = String, Path, description = "environment or raw branch name")), responses((status = 200, body = Gate)))]
async fn gate(State(state): State<AppState>, _: Viewer, Path(branch): Path<String>) -> Result<Json<Gate>> {
    Ok(Json(reviews::gate(&state, &branch).await?))
}

/// The audit events of one chart.
#[utoipa::path(get, path = "/api/v1/charts/{chart_id}/history", tag = "audit", operation_id = "get_chart_history",
    extensions(("x-role" = json!("viewer"))), params(("chart_id" = String, Path, description = "the chart's id in its store")), responses((status = 200, body = Vec<AuditEvent>)))]
async fn chart_history(
    State(state): State<AppState>,
    Viewer(user): Viewer,
    Path(chart_id): Path<String>,
) -> Result<Json<Vec<AuditEvent>>> {
    Ok(Json(audit::chart_history(&state, &user, &chart_id).await?))
}

/// A lead dismisses a reviewer's current rejection, with a reason (design §14); audited.
#[utoipa::path(post, path = "/api/v1/branches/{branch}/diffs/{chart_id}/review/dismiss", tag = "reviews", operation_id = "dismiss_rejection",
    extensions(("x-role" = json!("lead"))), params(("branch" = String, Path, description = "environment or raw branch name"), ("chart_id" = String, Path, description = "the chart's id in its store")), request_body = DismissRequest,
    responses((status = 200, body = DiffItem), (status = 400, description = "no reason, or a reason over 4,000 characters"),
        (status = 404, description = "the chart is not an item, or that reviewer has no current rejection of it"),
        (status = 409, description = "the branch is closed")))]
async fn dismiss(
    State(state): State<AppState>,
    Lead(user): Lead,
    Path((branch, chart_id)): Path<(String, String)>,
    ApiJson(body): ApiJson<DismissRequest>,
) -> Result<Json<DiffItem>> {
    Ok(Json(reviews::dismiss(&state, &branch, &chart_id, &user, &body).await?))
}

/// The item's conversation, oldest first; each comment says whether it saw older content.
#[utoipa::path(get, path = "/api/v1/branches/{branch}/diffs/{chart_id}/comments", tag = "reviews", operation_id = "list_comments",
    extensions(("x-role" = json!("viewer"))), params(("branch" = String, Path, description = "environment or raw branch name"), ("chart_id" = String, Path, description = "the chart's id in its store")),
    responses((status = 200, body = Vec<Comment>), (status = 404, description = "the chart is not an item of the branch")))]
async fn thread(
    State(state): State<AppState>,
    _: Viewer,
    Path((branch, chart_id)): Path<(String, String)>,
) -> Result<Json<Vec<Comment>>> {
    Ok(Json(conversations::thread(&state, &branch, &chart_id).await?))
}

/// Adds a comment on the item's current content (1 to 4,000 characters, shown as text).
#[utoipa::path(post, path = "/api/v1/branches/{branch}/diffs/{chart_id}/comments", tag = "reviews", operation_id = "add_comment",
    extensions(("x-role" = json!("reviewer"))), params(("branch" = String, Path, description = "environment or raw branch name"), ("chart_id" = String, Path, description = "the chart's id in its store")), request_body = CommentRequest,
    responses((status = 201, body = Comment), (status = 400, description = "an empty comment, or one over 4,000 characters"),
        (status = 404, description = "the chart is not an item of the branch"), (status = 409, description = "the branch is closed")))]
async fn comment(
    State(state): State<AppState>,
    Reviewer(user): Reviewer,
    Path((branch, chart_id)): Path<(String, String)>,
    ApiJson(body): ApiJson<CommentRequest>,
) -> Result<(axum::http::StatusCode, Json<Comment>)> {
    Ok((axum::http::StatusCode::CREATED, Json(conversations::post(&state, &branch, &chart_id, &user, &body).await?)))
}
