//! `POST /sync` (leads: a CI system uses a lead's token) and the jobs.

use app::sync::{JobAccepted, SyncJob, SyncRequest, SyncTrigger};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::access::Actor;
use crate::error::{Error, Result};
use crate::http::extract::{ApiJson, ApiQuery, Lead, Viewer};
use crate::http::WebState;
use crate::state::AppState;
use crate::sync::{self, Enqueued, NewJob};

pub fn router() -> OpenApiRouter<WebState> {
    OpenApiRouter::default().routes(routes!(start)).routes(routes!(list)).routes(routes!(one))
}

/// Longest accepted `Idempotency-Key` or `X-GitHub-Delivery`.
pub const MAX_KEY: usize = 200;

pub fn header<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim).filter(|v| !v.is_empty())
}

/// 202 with the job and where to follow it (the first, when a delivery started several).
pub fn accepted(jobs: &[Enqueued]) -> Response {
    let first = jobs.first().map_or(0, |e| e.job_id);
    let location = format!("/api/v1/sync/jobs/{first}");
    let job_ids = if jobs.len() > 1 { jobs.iter().map(|e| e.job_id).collect() } else { Vec::new() };
    (StatusCode::ACCEPTED, [(axum::http::header::LOCATION, location)], Json(JobAccepted { job_id: first, job_ids }))
        .into_response()
}

/// `POST /sync {branch, dry_run}`, honouring `Idempotency-Key`.
/// Enqueues a sync of a branch (leads; a CI system uses a lead's token); `Idempotency-Key` honoured.
#[utoipa::path(post, path = "/api/v1/sync", tag = "sync", operation_id = "start_sync",
    extensions(("x-role" = json!("lead"))),
    params(("Idempotency-Key" = Option<String>, Header, max_length = 200, description = "repeats answer with the first job")),
    request_body = SyncRequest,
    responses((status = 202, body = JobAccepted, headers(("Location" = String, description = "the job to follow"))),
        (status = 404, description = "no such branch"),
        (status = 409, description = "the branch cannot be synced now (closed, or its gate does not pass)")))]
async fn start(
    State(state): State<AppState>,
    Lead(user): Lead,
    headers: HeaderMap,
    ApiJson(body): ApiJson<SyncRequest>,
) -> Result<Response> {
    if body.branch.trim().is_empty() {
        return Err(Error::BadRequest("a branch is required".into()));
    }
    let key = header(&headers, "idempotency-key");
    if key.is_some_and(|k| k.len() > MAX_KEY) {
        return Err(Error::BadRequest(format!("Idempotency-Key has at most {MAX_KEY} characters")));
    }
    let new = NewJob {
        branch: &body.branch,
        dry_run: body.dry_run,
        trigger: SyncTrigger::Api,
        delivery_id: None,
        idempotency_key: key,
    };
    Ok(accepted(&[sync::enqueue(&state, &Actor::from(&user), new).await?]))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct JobsQuery {
    /// Only this branch's jobs.
    branch: Option<String>,
}

/// Recent sync jobs.
#[utoipa::path(get, path = "/api/v1/sync/jobs", tag = "sync", operation_id = "list_sync_jobs",
    extensions(("x-role" = json!("viewer"))), params(JobsQuery), responses((status = 200, body = Vec<SyncJob>)))]
async fn list(
    State(state): State<AppState>,
    _: Viewer,
    ApiQuery(q): ApiQuery<JobsQuery>,
) -> Result<Json<Vec<SyncJob>>> {
    Ok(Json(sync::list_jobs(&state, q.branch.as_deref()).await?))
}

/// One sync job with its items.
#[utoipa::path(get, path = "/api/v1/sync/jobs/{id}", tag = "sync", operation_id = "get_sync_job",
    extensions(("x-role" = json!("viewer"))), params(("id" = i64, Path, description = "the job's id")),
    responses((status = 200, body = SyncJob)))]
async fn one(State(state): State<AppState>, _: Viewer, Path(id): Path<String>) -> Result<Json<SyncJob>> {
    let id: i64 = id.parse().map_err(|_| Error::NotFound(format!("no sync job {id}")))?;
    Ok(Json(sync::get_job(&state.db, id).await?))
}
