//! The REST API (`/api/v1`, design §4) and the health probes. Handlers check the caller's role,
//! parse input, and call the feature modules; errors become `{error: {code, message}}`.

use app::types::{
    AuditEvent, AuditQuery, BranchSummary, BulkReviewRequest, BulkReviewResult, DiffDetail, DiffItem, DiffPage,
    DiffQuery, Gate, ReviewRequest, Role,
};
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Path, State};
use axum::http::HeaderMap;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::response::Response;
use axum::routing::{any, get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use crate::audit::query as audit_query;
use crate::auth::Caller;
use crate::branches::{self, NewBranch};
use crate::error::{Error, Result};
use crate::scan::ScanReport;
use crate::state::AppState;
use crate::{diffs, reviews};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/api/v1/healthz", get(healthz))
        .route("/api/v1/readyz", get(readyz))
        .route("/api/v1/branches", get(list_branches).post(add_branch))
        .route("/api/v1/branches/{branch}", get(get_branch))
        .route("/api/v1/branches/{branch}/rescan", post(rescan))
        .route("/api/v1/branches/{branch}/diffs", get(list_diffs))
        .route("/api/v1/branches/{branch}/diffs/{chart_id}", get(get_diff))
        .route("/api/v1/branches/{branch}/diffs/{chart_id}/review", post(review))
        .route("/api/v1/branches/{branch}/reviews/bulk", post(review_bulk))
        .route("/api/v1/branches/{branch}/gate", get(gate))
        .route("/api/v1/charts/{chart_id}/history", get(chart_history))
        .route("/api/v1/audit", get(audit_events))
        .merge(crate::sync::api::router())
        .route("/api/v1/{*rest}", any(api_not_found))
}

/// JSON bodies whose rejections are API errors, not axum's plain-text ones.
#[derive(FromRequest)]
#[from_request(via(axum::Json), rejection(Error))]
pub struct ApiJson<T>(pub T);

impl From<JsonRejection> for Error {
    fn from(r: JsonRejection) -> Self {
        match r {
            JsonRejection::JsonDataError(e) => Error::Unprocessable(e.body_text()),
            JsonRejection::MissingJsonContentType(_) => {
                Error::BadRequest("send the body as JSON (Content-Type: application/json)".into())
            }
            JsonRejection::BytesRejection(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => Error::TooLarge,
            other => Error::BadRequest(other.body_text()),
        }
    }
}

/// Query strings whose rejections are API errors.
#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(Error))]
pub struct ApiQuery<T>(pub T);

impl From<QueryRejection> for Error {
    fn from(r: QueryRejection) -> Self {
        Error::BadRequest(r.body_text())
    }
}

async fn api_not_found() -> Error {
    Error::NotFound("no such API endpoint".into())
}

async fn healthz() -> impl IntoResponse {
    Json(json!({"status": "ok"}))
}

/// Ready when Chartgate's database and the production store answer.
async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    let db = sqlx::query("select 1").execute(&state.db.pool).await.map(|_| ()).map_err(|e| e.to_string());
    let production = match state.production().await {
        Ok(store) => store.ping().await.map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    };
    let ready = db.is_ok() && production.is_ok();
    let status = if ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    let show = |r: &std::result::Result<(), String>| match r {
        Ok(()) => json!("ok"),
        Err(_) => json!("unreachable"),
    };
    if let Err(e) = &production {
        tracing::warn!(error = %e, "production store not ready");
    }
    (status, Json(json!({"ready": ready, "database": show(&db), "production": show(&production)})))
}

async fn list_branches(State(state): State<AppState>, Caller(user): Caller) -> Result<Json<Vec<BranchSummary>>> {
    user.require(Role::Viewer)?;
    Ok(Json(branches::list(&state).await?))
}

async fn get_branch(
    State(state): State<AppState>,
    Caller(user): Caller,
    Path(branch): Path<String>,
) -> Result<Json<BranchSummary>> {
    user.require(Role::Viewer)?;
    Ok(Json(branches::get(&state, &branch).await?))
}

#[derive(Deserialize)]
struct AddBranch {
    branch: String,
    store_url: Option<String>,
    #[serde(default)]
    fork: bool,
    preview_url: Option<String>,
}

async fn add_branch(
    State(state): State<AppState>,
    Caller(user): Caller,
    ApiJson(body): ApiJson<AddBranch>,
) -> Result<impl IntoResponse> {
    user.require(Role::Lead)?;
    let summary = branches::register(
        &state,
        NewBranch {
            branch: &body.branch,
            store_url: body.store_url.as_deref(),
            fork: body.fork,
            preview_url: body.preview_url.as_deref(),
            actor: &user.email,
        },
    )
    .await?;
    Ok((StatusCode::CREATED, Json(summary)))
}

#[derive(Deserialize)]
struct RescanQuery {
    #[serde(default)]
    full: bool,
}

async fn rescan(
    State(state): State<AppState>,
    Caller(user): Caller,
    Path(branch): Path<String>,
    ApiQuery(q): ApiQuery<RescanQuery>,
) -> Result<Json<ScanReport>> {
    user.require(Role::Viewer)?;
    let name = branches::resolve(&state, &branch);
    Ok(Json(branches::rescan(&state, &name, q.full).await?))
}

async fn list_diffs(
    State(state): State<AppState>,
    Caller(user): Caller,
    Path(branch): Path<String>,
    ApiQuery(q): ApiQuery<DiffQuery>,
) -> Result<Json<DiffPage>> {
    user.require(Role::Viewer)?;
    Ok(Json(diffs::list(&state, &branch, &q).await?))
}

async fn get_diff(
    State(state): State<AppState>,
    Caller(user): Caller,
    Path((branch, chart_id)): Path<(String, String)>,
) -> Result<Json<DiffDetail>> {
    user.require(Role::Viewer)?;
    Ok(Json(diffs::detail(&state, &branch, &chart_id).await?))
}

async fn review(
    State(state): State<AppState>,
    Caller(user): Caller,
    Path((branch, chart_id)): Path<(String, String)>,
    ApiJson(body): ApiJson<ReviewRequest>,
) -> Result<Json<DiffItem>> {
    Ok(Json(reviews::decide(&state, &branch, &chart_id, &user, &body).await?))
}

async fn review_bulk(
    State(state): State<AppState>,
    Caller(user): Caller,
    Path(branch): Path<String>,
    ApiJson(body): ApiJson<BulkReviewRequest>,
) -> Result<Json<BulkReviewResult>> {
    Ok(Json(reviews::decide_many(&state, &branch, &user, &body).await?))
}

async fn gate(State(state): State<AppState>, Caller(user): Caller, Path(branch): Path<String>) -> Result<Json<Gate>> {
    user.require(Role::Viewer)?;
    Ok(Json(reviews::gate(&state, &branch).await?))
}

async fn chart_history(
    State(state): State<AppState>,
    Caller(user): Caller,
    Path(chart_id): Path<String>,
) -> Result<Json<Vec<AuditEvent>>> {
    user.require(Role::Viewer)?;
    Ok(Json(audit_query::chart_history(&state.db, &chart_id).await?))
}

#[derive(Deserialize)]
struct Format {
    format: Option<String>,
}

/// Audit events as JSON pages, or as one streamed CSV with `Accept: text/csv` (or `format=csv`,
/// for a plain download link).
async fn audit_events(
    State(state): State<AppState>,
    Caller(user): Caller,
    headers: HeaderMap,
    ApiQuery(q): ApiQuery<AuditQuery>,
    ApiQuery(format): ApiQuery<Format>,
) -> Result<Response> {
    user.require(Role::Lead)?;
    let wants_csv = format.format.as_deref() == Some("csv")
        || headers
            .get(axum::http::header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("text/csv"));
    if !wants_csv {
        return Ok(Json(audit_query::list(&state.db, &q).await?).into_response());
    }
    let stream = audit_query::csv_stream(state.db.clone(), q)?;
    Ok((
        [
            (axum::http::header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (axum::http::header::CONTENT_DISPOSITION, "attachment; filename=\"chartgate-audit.csv\""),
        ],
        axum::body::Body::from_stream(stream),
    )
        .into_response())
}
