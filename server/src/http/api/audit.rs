//! `GET /audit`: audit events as JSON pages, or one streamed CSV with `Accept: text/csv` (or
//! `format=csv`, for a plain download link). Leads only.

use app::types::{AuditPage, AuditQuery};
use axum::extract::State;
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::audit;
use crate::error::Result;
use crate::http::extract::{ApiQuery, Lead};
use crate::http::WebState;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<WebState> {
    OpenApiRouter::default().routes(routes!(events))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct Format {
    /// `csv` for one CSV download (as `Accept: text/csv`); `json` (the default) for pages.
    #[param(inline)]
    format: Option<AuditFormat>,
}

#[derive(Deserialize, Clone, Copy, PartialEq, Eq, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
enum AuditFormat {
    Json,
    Csv,
}

/// Audit events (leads): JSON pages, or CSV with `Accept: text/csv` or `format=csv`.
#[utoipa::path(get, path = "/api/v1/audit", tag = "audit", operation_id = "list_audit_events",
    extensions(("x-role" = json!("lead"))), params(AuditQuery, Format),
    responses((status = 200, description = "a page of events, or CSV", content((AuditPage = "application/json"), (String = "text/csv")))))]
async fn events(
    State(state): State<AppState>,
    Lead(user): Lead,
    headers: HeaderMap,
    ApiQuery(q): ApiQuery<AuditQuery>,
    ApiQuery(format): ApiQuery<Format>,
) -> Result<Response> {
    let wants_csv = format.format == Some(AuditFormat::Csv)
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
