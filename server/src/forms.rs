//! Plain HTML form endpoints behind the pages' controls, so every decision works before (or
//! without) WebAssembly: decide, then redirect back to the page with a `notice` it shows.
//! The session middleware has already checked the Origin of these cookie-authenticated POSTs.

use app::types::{ReviewRequest, ReviewStatus};
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::post;
use axum::{Form, Router};
use serde::Deserialize;

use crate::auth::Caller;
use crate::error::Error;
use crate::reviews;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/branches/{branch}/charts/{chart_id}/review", post(review))
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

fn with_notice(next: &str, notice: &str) -> String {
    let sep = if next.contains('?') { '&' } else { '?' };
    format!("{next}{sep}notice={notice}")
}

async fn review(
    State(state): State<AppState>,
    caller: Result<Caller, Error>,
    Path((branch, chart_id)): Path<(String, String)>,
    Form(form): Form<ReviewForm>,
) -> Response {
    let next = match form.next.as_deref() {
        Some(_) => crate::session::local_path(form.next.as_deref()),
        None => format!("/branches/{branch}/charts/{chart_id}"),
    };
    let Ok(Caller(user)) = caller else {
        let back: String = url::form_urlencoded::byte_serialize(next.as_bytes()).collect();
        return Redirect::to(&format!("/login?next={back}")).into_response();
    };
    let Some(status) = ReviewStatus::parse(&form.status) else {
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
        Err(Error::Conflict(_) | Error::ConflictWith { .. }) => "conflict",
        Err(Error::Forbidden(_)) => "forbidden",
        Err(e) => {
            if e.status().is_server_error() {
                tracing::error!(error = ?e, "form review failed");
            }
            "error"
        }
    };
    Redirect::to(&with_notice(&next, notice)).into_response()
}

/// Runs a finished job's sync again (leads): the retry path after a failed or partial job.
async fn rerun(State(state): State<AppState>, caller: Result<Caller, Error>, Path(id): Path<i64>) -> Response {
    let Ok(Caller(user)) = caller else {
        return Redirect::to(&format!("/login?next=%2Fjobs%2F{id}")).into_response();
    };
    let result = async {
        user.require(app::types::Role::Lead)?;
        let job = crate::sync::get_job(&state.db, id).await?;
        crate::sync::enqueue(
            &state,
            crate::sync::NewJob {
                branch: &job.branch,
                dry_run: job.dry_run,
                trigger: app::sync::SyncTrigger::Api,
                actor: &user.email,
                delivery_id: None,
                idempotency_key: None,
            },
        )
        .await
    }
    .await;
    match result {
        Ok(enqueued) => Redirect::to(&format!("/jobs/{}", enqueued.job_id)).into_response(),
        Err(e) => {
            tracing::warn!(error = %e, job = id, "re-run refused");
            Redirect::to(&format!("/jobs/{id}?notice=error")).into_response()
        }
    }
}
