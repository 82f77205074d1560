//! Server functions: the pages' only way to the server. Each checks who is calling (the signed-in
//! user the server's session middleware found, and the least role the call needs), checks its
//! input, and calls the [`ChartgateService`](crate::service::ChartgateService) provided as
//! context — whose implementation checks the role again in the feature it calls.
//!
//! Every one takes its arguments as JSON (`input = Json`), and the server refuses any other
//! body: `text/plain` and form bodies are what a page on another site can post without the
//! browser asking first, so JSON-only calls cannot be forged by a cross-site form.

use leptos::prelude::*;
use leptos::server_fn::codec::Json;

use crate::error::AppError;
use crate::types::{
    AuditPage, AuditQuery, BranchSummary, ChartVersion, CurrentUser, DiffDetail, DiffItem, DiffPage, DiffQuery,
    ReviewRequest,
};

#[cfg(feature = "ssr")]
fn service() -> Result<crate::service::SharedService, AppError> {
    use_context::<crate::service::SharedService>().ok_or(AppError::Internal)
}

#[cfg(feature = "ssr")]
fn signed_in() -> Result<CurrentUser, AppError> {
    use_context::<http::request::Parts>()
        .and_then(|p| p.extensions.get::<CurrentUser>().cloned())
        .ok_or(AppError::Unauthorized)
}

/// The signed-in user, if their role is at least `role`; 403 otherwise.
#[cfg(feature = "ssr")]
pub(crate) fn signed_in_as(role: crate::types::Role) -> Result<CurrentUser, AppError> {
    let user = signed_in()?;
    if user.can(role) {
        Ok(user)
    } else {
        Err(AppError::Forbidden(format!("this needs the {} role; you are a {}", role.as_str(), user.role.as_str())))
    }
}

/// Who is signed in (the server's session middleware put them in the request).
#[server(input = Json)]
pub async fn whoami() -> Result<Option<CurrentUser>, AppError> {
    Ok(signed_in().ok())
}

#[server(input = Json)]
pub async fn list_branches() -> Result<Vec<BranchSummary>, AppError> {
    signed_in()?;
    service()?.branches().await
}

/// The targets, in chain order (each after the one it promotes to).
#[server(input = Json)]
pub async fn list_targets() -> Result<Vec<crate::types::TargetSummary>, AppError> {
    signed_in()?;
    service()?.targets().await
}

/// (A query whose fields are all empty still arrives as a query: JSON keeps it whole.)
#[server(input = Json)]
pub async fn list_diffs(branch: String, query: DiffQuery) -> Result<DiffPage, AppError> {
    let user = signed_in()?;
    if branch.is_empty() {
        return Err(AppError::BadRequest("no branch given".into()));
    }
    service()?.diffs(&user, &branch, &query).await
}

/// Adds a comment to an item's thread.
#[server(input = Json)]
pub async fn comment_item(
    branch: String,
    chart_id: String,
    comment: crate::types::CommentRequest,
) -> Result<crate::types::Comment, AppError> {
    let user = signed_in_as(crate::types::Role::Reviewer)?;
    service()?.comment(&user, &branch, &chart_id, &comment).await
}

/// A lead dismisses a reviewer's rejection, with a reason.
#[server(input = Json)]
pub async fn dismiss_rejection(
    branch: String,
    chart_id: String,
    dismissal: crate::types::DismissRequest,
) -> Result<DiffItem, AppError> {
    let user = signed_in_as(crate::types::Role::Lead)?;
    service()?.dismiss(&user, &branch, &chart_id, &dismissal).await
}

/// Asks people to review a branch or some of its charts.
#[server(input = Json)]
pub async fn ask_for_review(
    branch: String,
    request: crate::types::AskForReview,
) -> Result<crate::types::AskedForReview, AppError> {
    let user = signed_in_as(crate::types::Role::Reviewer)?;
    service()?.ask(&user, &branch, &request).await
}

/// Across open branches, the items waiting on the signed-in person.
#[server(input = Json)]
pub async fn my_reviews(page: Option<u32>) -> Result<crate::types::MyReviews, AppError> {
    let user = signed_in()?;
    service()?.my_reviews(&user, page).await
}

/// How many items wait on the signed-in person (the header's badge); 0 when nobody is signed in.
#[server(input = Json)]
pub async fn waiting_count() -> Result<i64, AppError> {
    match signed_in() {
        Ok(user) => service()?.waiting_count(&user).await,
        Err(_) => Ok(0),
    }
}

#[server(input = Json)]
pub async fn get_diff(branch: String, chart_id: String) -> Result<DiffDetail, AppError> {
    signed_in()?;
    service()?.diff_detail(&branch, &chart_id).await
}

/// Records a decision bound to the hashes the reviewer saw.
#[server(input = Json)]
pub async fn review_item(branch: String, chart_id: String, review: ReviewRequest) -> Result<DiffItem, AppError> {
    let user = signed_in_as(crate::types::Role::Reviewer)?;
    service()?.decide(&user, &branch, &chart_id, &review).await
}

#[server(input = Json)]
pub async fn audit_events(query: AuditQuery) -> Result<AuditPage, AppError> {
    let user = signed_in_as(crate::types::Role::Lead)?;
    service()?.audit(&user, &query).await
}

#[server(input = Json)]
pub async fn get_version(hash: String) -> Result<ChartVersion, AppError> {
    signed_in()?;
    service()?.version(&hash).await
}

/// The groups of a branch's items with the same change (design §11).
#[server(input = Json)]
pub async fn list_groups(branch: String) -> Result<Vec<crate::types::ChangeGroup>, AppError> {
    signed_in()?;
    service()?.groups(&branch).await
}

#[server(input = Json)]
pub async fn get_group(branch: String, id: String) -> Result<crate::types::GroupDetail, AppError> {
    signed_in()?;
    service()?.group(&branch, &id).await
}

/// Decides a group: one decision per item, each bound to the hashes the page showed.
#[server(input = Json)]
pub async fn review_group(
    branch: String,
    id: String,
    review: crate::types::GroupReviewRequest,
) -> Result<crate::types::BulkReviewResult, AppError> {
    let user = signed_in_as(crate::types::Role::Reviewer)?;
    service()?.decide_group(&user, &branch, &id, &review).await
}

#[server(input = Json)]
pub async fn list_jobs(branch: Option<String>) -> Result<Vec<crate::sync::SyncJob>, AppError> {
    signed_in()?;
    service()?.jobs(branch).await
}

#[server(input = Json)]
pub async fn get_job(id: i64) -> Result<crate::sync::SyncJob, AppError> {
    signed_in()?;
    service()?.job(id).await
}
