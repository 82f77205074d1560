//! `GET /audit`: audit events as JSON pages, or one streamed CSV with `Accept: text/csv` (or
//! `format=csv`, for a plain download link). Leads only.

use app::types::{AuditPage, AuditQuery};
use axum::extract::State;
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;

use crate::audit;
use crate::error::Result;
use crate::http::extract::{ApiQuery, Lead};
use crate::http::WebState;
use crate::state::AppState;

pub fn router() -> Router<WebState> {
    Router::new().route("/api/v1/audit", get(events))
}

#[derive(utoipa::OpenApi)]
#[openapi(paths(events))]
pub(super) struct Doc;

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct Format {
    /// `csv` for one CSV download (as `Accept: text/csv`).
    format: Option<String>,
}

/// Audit events (leads): JSON pages, or CSV with `Accept: text/csv` or `format=csv`.
#[utoipa::path(get, path = "/api/v1/audit", tag = "audit", security(("bearer" = []), ("session" = [])), params(AuditQuery, Format), responses((status = 200, description = "a page of events, or CSV", content((AuditPage = "application/json"), (String = "text/csv"))), (status = "4XX", description = "an error: `{error: {code, message}}`", body = crate::error::ErrorBody)))]
async fn events(
    State(state): State<AppState>,
    Lead(user): Lead,
    headers: HeaderMap,
    ApiQuery(q): ApiQuery<AuditQuery>,
    ApiQuery(format): ApiQuery<Format>,
) -> Result<Response> {
    let wants_csv = format.format.as_deref() == Some("csv")
        || headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|v| v.contains("text/csv"));
    if !wants_csv {
        return Ok(Json(audit::list(&state, &user, &q).await?).into_response());
    }
    let stream = audit::csv(&state, &user, q)?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (header::CONTENT_DISPOSITION, "attachment; filename=\"chartgate-audit.csv\""),
        ],
        axum::body::Body::from_stream(stream),
    )
        .into_response())
}
