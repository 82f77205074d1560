//! The HTTP surface of sync (design §4): the GitHub hook, `POST /sync`, and the jobs.

use app::sync::{HookIgnored, JobAccepted, SyncJob, SyncRequest, SyncTrigger};
use app::types::Role;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;

use super::hook::{self, PullRequestEvent};
use super::{enqueue, Enqueued, NewJob};
use crate::api::{ApiJson, ApiQuery};
use crate::auth::Caller;
use crate::error::{Error, Result};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/hooks/github", post(github_hook))
        .route("/api/v1/sync", post(start_sync))
        .route("/api/v1/sync/jobs", get(list_jobs))
        .route("/api/v1/sync/jobs/{id}", get(get_job))
}

/// Longest accepted `Idempotency-Key` or `X-GitHub-Delivery`.
const MAX_KEY: usize = 200;

fn header<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim).filter(|v| !v.is_empty())
}

fn accepted(e: Enqueued) -> Response {
    let location = format!("/api/v1/sync/jobs/{}", e.job_id);
    (StatusCode::ACCEPTED, [(axum::http::header::LOCATION, location)], Json(JobAccepted { job_id: e.job_id }))
        .into_response()
}

fn ignored(why: impl Into<String>) -> Response {
    (StatusCode::OK, Json(HookIgnored { ignored: why.into() })).into_response()
}

/// `POST /hooks/github`. The signature is checked over the raw bytes before anything is parsed;
/// an unsigned or badly signed delivery changes nothing and is logged.
async fn github_hook(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: std::result::Result<Bytes, BytesRejection>,
) -> Result<Response> {
    let secrets: Vec<&str> = [state.config.hook_secret.as_deref(), state.config.hook_secret_previous.as_deref()]
        .into_iter()
        .flatten()
        .filter(|s| !s.is_empty())
        .collect();
    if secrets.is_empty() {
        return Err(Error::Unavailable(
            "the GitHub hook is not configured: set hook_secret (CHARTGATE_HOOK_SECRET)".into(),
        ));
    }
    let body = body.map_err(|r| {
        if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
            Error::TooLarge
        } else {
            Error::BadRequest(r.body_text())
        }
    })?;
    let delivery = header(&headers, "x-github-delivery");
    let event = header(&headers, "x-github-event").unwrap_or("");
    let signature = header(&headers, "x-hub-signature-256");
    if !hook::verify(secrets, &body, signature) {
        tracing::warn!(
            delivery = delivery.unwrap_or("-"),
            event,
            signed = signature.is_some(),
            "rejected a GitHub hook delivery: missing or wrong X-Hub-Signature-256"
        );
        return Err(Error::Unauthorized);
    }
    if delivery.is_some_and(|d| d.len() > MAX_KEY) {
        return Err(Error::BadRequest("X-GitHub-Delivery is too long".into()));
    }
    if event != "pull_request" {
        return Ok(ignored(format!("event {event:?} is not a pull_request")));
    }
    let payload: PullRequestEvent = serde_json::from_slice(&body)
        .map_err(|e| Error::Unprocessable(format!("not a pull_request event payload: {e}")))?;
    let Some(branch) = payload.merged_branch() else {
        return Ok(ignored(format!("pull_request {} without a merge", payload.action)));
    };
    let actor = payload.actor();
    let new = NewJob {
        branch,
        dry_run: false,
        trigger: SyncTrigger::Hook,
        actor: &actor,
        delivery_id: delivery,
        idempotency_key: None,
    };
    match enqueue(&state, new).await {
        Ok(e) => {
            tracing::info!(job = e.job_id, branch, delivery, created = e.created, "GitHub merge hook");
            Ok(accepted(e))
        }
        // A merge of a branch without a staging environment is none of Chartgate's business.
        Err(Error::NotFound(m)) | Err(Error::Conflict(m)) => Ok(ignored(m)),
        Err(e) => Err(e),
    }
}

/// `POST /sync {branch, dry_run}`: leads only (a CI system uses a lead's token), honouring
/// `Idempotency-Key`.
async fn start_sync(
    State(state): State<AppState>,
    Caller(user): Caller,
    headers: HeaderMap,
    ApiJson(body): ApiJson<SyncRequest>,
) -> Result<Response> {
    user.require(Role::Lead)?;
    if body.branch.trim().is_empty() {
        return Err(Error::BadRequest("a branch is required".into()));
    }
    let key = header(&headers, "idempotency-key");
    if key.is_some_and(|k| k.len() > MAX_KEY) {
        return Err(Error::BadRequest(format!("Idempotency-Key has at most {MAX_KEY} characters")));
    }
    let e = enqueue(
        &state,
        NewJob {
            branch: &body.branch,
            dry_run: body.dry_run,
            trigger: SyncTrigger::Api,
            actor: &user.email,
            delivery_id: None,
            idempotency_key: key,
        },
    )
    .await?;
    Ok(accepted(e))
}

#[derive(Deserialize)]
struct JobsQuery {
    branch: Option<String>,
}

async fn list_jobs(
    State(state): State<AppState>,
    Caller(user): Caller,
    ApiQuery(q): ApiQuery<JobsQuery>,
) -> Result<Json<Vec<SyncJob>>> {
    user.require(Role::Viewer)?;
    Ok(Json(super::list_jobs(&state, q.branch.as_deref()).await?))
}

async fn get_job(State(state): State<AppState>, Caller(user): Caller, Path(id): Path<String>) -> Result<Json<SyncJob>> {
    user.require(Role::Viewer)?;
    let id: i64 = id.parse().map_err(|_| Error::NotFound(format!("no sync job {id}")))?;
    Ok(Json(super::get_job(&state.db, id).await?))
}
