//! Plain HTML form endpoints behind the pages' controls, so every decision works before (or
//! without) WebAssembly: act, then redirect back to the page with a `notice` it shows.
//! The session middleware has already checked the Origin of these cookie-authenticated POSTs;
//! the role extractors check the caller, and the feature functions check again.
//!
//! Path segments go back into a `Location` percent-encoded, and a segment with a control
//! character is refused with 400 first: no branch, chart or group is named with one, and a raw
//! newline or NUL in a redirect is not a valid header (it used to end in a 500).

use app::sync::SyncTrigger;
use app::types::{
    AskForReview, CommentRequest, DismissRequest, GroupReviewRequest, MergeRequest, MergeSide, ReviewRequest,
    ReviewStatus, SeenItem,
};
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::post;
use axum::{Form, Router};
use serde::Deserialize;

use super::extract::{Lead, Reviewer};
use super::session::{local_path, login_url};
use super::WebState;
use crate::access::Actor;
use crate::error::Error;
use crate::state::AppState;
use crate::{conversations, groups, inbox, merges, reviews, sync};

pub fn router() -> Router<WebState> {
    Router::new()
        .route("/branches/{branch}/charts/{chart_id}/review", post(review))
        .route("/branches/{branch}/charts/{chart_id}/merge", post(merge))
        .route("/branches/{branch}/groups/{id}/review", post(review_group))
        .route("/branches/{branch}/charts/{chart_id}/comments", post(comment))
        .route("/branches/{branch}/charts/{chart_id}/dismiss", post(dismiss))
        .route("/branches/{branch}/requests", post(ask))
        .route("/jobs/{id}/rerun", post(rerun))
}

#[derive(Deserialize)]
struct ReviewForm {
    status: String,
    #[serde(default)]
    staging_hash: String,
    #[serde(default)]
    production_hash: String,
    comment: Option<String>,
    next: Option<String>,
}

/// Bytes kept as they are in a path segment: RFC 3986's unreserved characters.
const UNRESERVED: &percent_encoding::AsciiSet =
    &percent_encoding::NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');

/// A path segment for a `Location`: percent-encoded.
fn seg(s: &str) -> percent_encoding::PercentEncode<'_> {
    percent_encoding::utf8_percent_encode(s, UNRESERVED)
}

/// 400 (the API's error body) when a path segment has a control character.
pub(super) fn control_characters_refused(segments: &[&str]) -> Option<Response> {
    segments
        .iter()
        .any(|s| s.chars().any(char::is_control))
        .then(|| Error::BadRequest("a path segment contains a control character".into()).into_response())
}

/// `next` with the notice of this action, in place of any an earlier action left there.
fn with_notice(next: &str, notice: &str) -> String {
    let (path, query) = next.split_once('?').unwrap_or((next, ""));
    let kept: Vec<&str> = query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .filter(|pair| !matches!(pair.split('=').next(), Some("notice" | "why" | "decided" | "refused")))
        .collect();
    match kept.is_empty() {
        true => format!("{path}?notice={notice}"),
        false => format!("{path}?{}&notice={notice}", kept.join("&")),
    }
}

/// The caller, or where a refused one goes: to sign in when nobody is, else back to `next` with
/// the notice of the refusal.
fn admitted<T>(caller: Result<T, Error>, next: &str) -> Result<T, Redirect> {
    match caller {
        Ok(caller) => Ok(caller),
        Err(Error::Unauthorized) => Err(Redirect::to(&login_url(None, next))),
        Err(e) => Err(Redirect::to(&with_notice(next, notice_of(&e)))),
    }
}

/// The notice a refused or failed action leaves on the page.
fn notice_of(e: &Error) -> &'static str {
    match e {
        Error::Conflict(_) | Error::ConflictWith { .. } => "conflict",
        Error::Forbidden(_) => "forbidden",
        e => {
            if e.status().is_server_error() {
                tracing::error!(error = ?e, "form action failed");
            }
            "error"
        }
    }
}

async fn review(
    State(state): State<AppState>,
    caller: Result<Reviewer, Error>,
    Path((branch, chart_id)): Path<(String, String)>,
    Form(form): Form<ReviewForm>,
) -> Response {
    if let Some(refused) = control_characters_refused(&[&branch, &chart_id]) {
        return refused;
    }
    let next = match form.next.as_deref() {
        Some(_) => local_path(form.next.as_deref()),
        None => format!("/branches/{}/charts/{}", seg(&branch), seg(&chart_id)),
    };
    let Reviewer(user) = match admitted(caller, &next) {
        Ok(caller) => caller,
        Err(refused) => return refused.into_response(),
    };
    let Ok(status) = form.status.parse::<ReviewStatus>() else {
        return Redirect::to(&with_notice(&next, "invalid")).into_response();
    };
    let none_if_empty = |s: String| Some(s).filter(|s| !s.is_empty());
    let request = ReviewRequest {
        status,
        staging_hash: none_if_empty(form.staging_hash),
        production_hash: none_if_empty(form.production_hash),
        comment: form.comment,
    };
    let notice = match reviews::decide(&state, &branch, &chart_id, &user, &request).await {
        Ok(_) => status.as_str(),
        Err(e) => notice_of(&e),
    };
    Redirect::to(&with_notice(&next, notice)).into_response()
}

/// The detail page's merge form: `staging_hash`, `production_hash`, and `choice:<path>` =
/// `staging` | `production` for each conflicting path.
async fn merge(
    State(state): State<AppState>,
    caller: Result<Reviewer, Error>,
    Path((branch, chart_id)): Path<(String, String)>,
    Form(fields): Form<Vec<(String, String)>>,
) -> Response {
    if let Some(refused) = control_characters_refused(&[&branch, &chart_id]) {
        return refused;
    }
    let next = format!("/branches/{}/charts/{}", seg(&branch), seg(&chart_id));
    let Reviewer(user) = match admitted(caller, &next) {
        Ok(caller) => caller,
        Err(refused) => return refused.into_response(),
    };
    let mut request = MergeRequest::default();
    for (name, value) in fields {
        match name.as_str() {
            "staging_hash" => request.staging_hash = Some(value).filter(|v| !v.is_empty()),
            "production_hash" => request.production_hash = Some(value).filter(|v| !v.is_empty()),
            _ => {
                let Some(path) = name.strip_prefix("choice:") else { continue };
                let side = match value.as_str() {
                    "staging" => MergeSide::Staging,
                    "production" => MergeSide::Production,
                    _ => return Redirect::to(&with_notice(&next, "invalid")).into_response(),
                };
                request.choices.insert(path.to_string(), side);
            }
        }
    }
    let (to, notice) = match merges::apply(&state, &branch, &chart_id, &user, &request).await {
        Ok(done) if done.item.is_some() => (next, "merged"),
        // Staging now equals production: the chart left the list, so back to the list.
        Ok(_) => (format!("/branches/{}", seg(&branch)), "merged-away"),
        Err(Error::BadRequest(_)) => (next, "merge-incomplete"),
        Err(e) => (next, notice_of(&e)),
    };
    Redirect::to(&with_notice(&to, notice)).into_response()
}

#[derive(Deserialize)]
struct GroupForm {
    status: String,
    comment: Option<String>,
    /// JSON `[{chart_id, staging_hash, production_hash}]`: the items the page showed.
    seen: String,
    next: Option<String>,
}

/// Decides a group (design §11) from the group page's plain form: the items and hashes the page
/// showed come back in `seen`, so an item that moved since is refused, not decided. The notice
/// says how many were decided and refused.
async fn review_group(
    State(state): State<AppState>,
    caller: Result<Reviewer, Error>,
    Path((branch, id)): Path<(String, String)>,
    Form(form): Form<GroupForm>,
) -> Response {
    if let Some(refused) = control_characters_refused(&[&branch, &id]) {
        return refused;
    }
    let next = match form.next.as_deref() {
        Some(_) => local_path(form.next.as_deref()),
        None => format!("/branches/{}/groups/{}", seg(&branch), seg(&id)),
    };
    let Reviewer(user) = match admitted(caller, &next) {
        Ok(caller) => caller,
        Err(refused) => return refused.into_response(),
    };
    let (Ok(status), Ok(seen)) =
        (form.status.parse::<ReviewStatus>(), serde_json::from_str::<Vec<SeenItem>>(&form.seen))
    else {
        return Redirect::to(&with_notice(&next, "invalid")).into_response();
    };
    let request = GroupReviewRequest { status, comment: form.comment, items: Some(seen) };
    let notice = match groups::decide(&state, &branch, &id, &user, &request).await {
        Ok(r) => format!("group-{}&decided={}&refused={}", status.as_str(), r.decided.len(), r.refused.len()),
        Err(e) => notice_of(&e).to_string(),
    };
    Redirect::to(&with_notice(&next, &notice)).into_response()
}

/// Where a form goes back to: its `next` (a local path), else `fallback`.
fn back_to(next: Option<&str>, fallback: String) -> String {
    match next {
        Some(_) => local_path(next),
        None => fallback,
    }
}

/// The notice of a refusal the person can fix (their input), with its message for the page.
fn refusal(next: &str, e: &Error) -> String {
    match e {
        Error::BadRequest(m) | Error::Unprocessable(m) | Error::NotFound(m) => {
            with_notice(next, &format!("invalid&why={}", percent_encoding::utf8_percent_encode(m, UNRESERVED)))
        }
        e => with_notice(next, notice_of(e)),
    }
}

/// Every field has a default, so the caller's role is checked (and a stranger sent to sign in)
/// before what they sent is: an empty form is the feature's 400, not the extractor's.
#[derive(Deserialize)]
struct CommentForm {
    #[serde(default)]
    body: String,
    next: Option<String>,
}

/// The detail page's comment box.
async fn comment(
    State(state): State<AppState>,
    caller: Result<Reviewer, Error>,
    Path((branch, chart_id)): Path<(String, String)>,
    Form(form): Form<CommentForm>,
) -> Response {
    if let Some(refused) = control_characters_refused(&[&branch, &chart_id]) {
        return refused;
    }
    let next = back_to(form.next.as_deref(), format!("/branches/{}/charts/{}", seg(&branch), seg(&chart_id)));
    let Reviewer(user) = match admitted(caller, &next) {
        Ok(caller) => caller,
        Err(refused) => return refused.into_response(),
    };
    let request = CommentRequest { body: form.body };
    match conversations::post(&state, &branch, &chart_id, &user, &request).await {
        Ok(c) => Redirect::to(&format!("{}#comment-{}", with_notice(&next, "commented"), c.id)).into_response(),
        Err(e) => Redirect::to(&refusal(&next, &e)).into_response(),
    }
}

#[derive(Deserialize)]
struct DismissForm {
    #[serde(default)]
    reviewer: String,
    #[serde(default)]
    reason: String,
    next: Option<String>,
}

/// A lead's "dismiss this rejection" form on the detail page.
async fn dismiss(
    State(state): State<AppState>,
    caller: Result<Lead, Error>,
    Path((branch, chart_id)): Path<(String, String)>,
    Form(form): Form<DismissForm>,
) -> Response {
    if let Some(refused) = control_characters_refused(&[&branch, &chart_id]) {
        return refused;
    }
    let next = back_to(form.next.as_deref(), format!("/branches/{}/charts/{}", seg(&branch), seg(&chart_id)));
    let Lead(user) = match admitted(caller, &next) {
        Ok(caller) => caller,
        Err(refused) => return refused.into_response(),
    };
    let request = DismissRequest { reviewer: form.reviewer, reason: form.reason };
    match reviews::dismiss(&state, &branch, &chart_id, &user, &request).await {
        Ok(_) => Redirect::to(&with_notice(&next, "dismissed")).into_response(),
        Err(e) => Redirect::to(&refusal(&next, &e)).into_response(),
    }
}

#[derive(Deserialize)]
struct AskForm {
    /// Emails separated by commas, spaces or lines.
    #[serde(default)]
    reviewers: String,
    /// One chart; absent or empty: the whole branch.
    chart_id: Option<String>,
    next: Option<String>,
}

/// "Ask for a review" on the list and detail pages.
async fn ask(
    State(state): State<AppState>,
    caller: Result<Reviewer, Error>,
    Path(branch): Path<String>,
    Form(form): Form<AskForm>,
) -> Response {
    if let Some(refused) = control_characters_refused(&[&branch]) {
        return refused;
    }
    let next = back_to(form.next.as_deref(), format!("/branches/{}", seg(&branch)));
    let Reviewer(user) = match admitted(caller, &next) {
        Ok(caller) => caller,
        Err(refused) => return refused.into_response(),
    };
    let reviewers = form
        .reviewers
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|r| !r.is_empty())
        .map(str::to_string)
        .collect();
    let chart_ids = form.chart_id.filter(|c| !c.is_empty()).map(|c| vec![c]);
    match inbox::ask(&state, &branch, &user, &AskForReview { reviewers, chart_ids }).await {
        Ok(_) => Redirect::to(&with_notice(&next, "requested")).into_response(),
        Err(e) => Redirect::to(&refusal(&next, &e)).into_response(),
    }
}

/// Runs a finished job's sync again (leads): the retry path after a failed or partial job.
async fn rerun(State(state): State<AppState>, caller: Result<Lead, Error>, Path(id): Path<i64>) -> Response {
    let back = format!("/jobs/{id}");
    let user = match caller {
        Ok(Lead(user)) => user,
        Err(Error::Unauthorized) => return Redirect::to(&login_url(None, &back)).into_response(),
        Err(e) => {
            tracing::warn!(error = %e, job = id, "re-run refused");
            return Redirect::to(&with_notice(&back, notice_of(&e))).into_response();
        }
    };
    let result = async {
        let job = sync::get_job(&state.db, id).await?;
        let new = sync::NewJob {
            branch: &job.branch,
            dry_run: job.dry_run,
            trigger: SyncTrigger::Api,
            delivery_id: None,
            idempotency_key: None,
        };
        sync::enqueue(&state, &Actor::from(&user), new).await
    }
    .await;
    match result {
        Ok(enqueued) => Redirect::to(&format!("/jobs/{}", enqueued.job_id)).into_response(),
        Err(e) => {
            tracing::warn!(error = %e, job = id, "re-run refused");
            Redirect::to(&with_notice(&back, "error")).into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::with_notice;

    #[test]
    fn a_notice_replaces_the_one_an_earlier_action_left() {
        assert_eq!(with_notice("/branches/b", "commented"), "/branches/b?notice=commented");
        assert_eq!(with_notice("/branches/b?kind=new", "approved"), "/branches/b?kind=new&notice=approved");
        assert_eq!(
            with_notice("/branches/b/charts/c?notice=invalid&why=no%20reason&layout=stacked", "dismissed"),
            "/branches/b/charts/c?layout=stacked&notice=dismissed"
        );
        assert_eq!(
            with_notice("/branches/b/groups/g?notice=group-approved&decided=3&refused=0", "group-rejected&decided=1"),
            "/branches/b/groups/g?notice=group-rejected&decided=1"
        );
    }
}
