//! Review requests and "my reviews" (design §14).

use app::types::{AskForReview, AskedForReview, MyReviews};
use axum::extract::{Path, State};
use axum::Json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::Result;
use crate::http::extract::{ApiJson, ApiQuery, Reviewer, Viewer};
use crate::http::WebState;
use crate::inbox;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<WebState> {
    OpenApiRouter::default().routes(routes!(ask)).routes(routes!(my_reviews))
}

/// Asks people to review a branch, or some of its charts; `notify_url` hears of it, naming them.
#[utoipa::path(post, path = "/api/v1/branches/{branch}/requests", tag = "reviews", operation_id = "request_review",
    extensions(("x-role" = json!("reviewer"))), params(("branch" = String, Path, description = "environment or raw branch name")), request_body = AskForReview,
    responses((status = 201, body = AskedForReview),
        (status = 400, description = "no reviewers, more than 50, or an empty or over-long chart_ids"),
        (status = 404, description = "no such branch"), (status = 409, description = "the branch is closed"),
        (status = 422, description = "a reviewer who is not a user or cannot review, or a chart that is not an item (named)")))]
async fn ask(
    State(state): State<AppState>,
    Reviewer(user): Reviewer,
    Path(branch): Path<String>,
    ApiJson(body): ApiJson<AskForReview>,
) -> Result<(axum::http::StatusCode, Json<AskedForReview>)> {
    Ok((axum::http::StatusCode::CREATED, Json(inbox::ask(&state, &branch, &user, &body).await?)))
}

/// A page of "my reviews".
#[derive(serde::Deserialize, Default, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct Page {
    /// From 1 (0 reads as 1).
    #[param(value_type = Option<u64>, minimum = 0, maximum = 4294967295u64)]
    page: Option<u32>,
    /// Items per page (default 50, at most 500).
    #[param(minimum = 1, maximum = 500)]
    per_page: Option<u32>,
}

/// Across open branches, the items waiting on the caller: requested of them, owned by them and
/// not yet approved, or with their verdict gone stale; each with why.
#[utoipa::path(get, path = "/api/v1/me/reviews", tag = "reviews", operation_id = "my_reviews",
    extensions(("x-role" = json!("viewer"))), params(Page),
    responses((status = 200, body = MyReviews), (status = 400, description = "per_page out of range")))]
async fn my_reviews(
    State(state): State<AppState>,
    Viewer(user): Viewer,
    ApiQuery(q): ApiQuery<Page>,
) -> Result<Json<MyReviews>> {
    Ok(Json(inbox::my_reviews(&state, &user, q.page, q.per_page).await?))
}
