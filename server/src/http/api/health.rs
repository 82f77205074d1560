//! `GET /healthz` (alive) and `GET /readyz` (Chartgate's database and the production store
//! answer), also under `/api/v1/`. Open to anyone: they reveal no data.
//!
//! Readiness names each target (`production` without `[targets]`) with `ok` or `unreachable`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

use crate::http::WebState;
use crate::state::AppState;

pub fn router() -> Router<WebState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/api/v1/healthz", get(healthz))
        .route("/api/v1/readyz", get(readyz))
}

/// `GET /healthz`.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct Health {
    /// Always `ok`.
    pub status: String,
}

/// `GET /readyz`: `ready`, `database` and one more key per target (`production` without
/// `[targets]`), each `ok` or `unreachable`.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct Readiness {
    pub ready: bool,
    pub database: String,
}

#[derive(utoipa::OpenApi)]
#[openapi(paths(healthz, readyz))]
pub(super) struct Doc;

/// Liveness (also at `/healthz`).
#[utoipa::path(get, path = "/api/v1/healthz", tag = "health", responses((status = 200, body = Health), (status = "4XX", description = "an error: `{error: {code, message}}`", body = crate::error::ErrorBody)))]
async fn healthz() -> impl IntoResponse {
    Json(json!({"status": "ok"}))
}

/// Readiness: Chartgate's database and each target's store (also at `/readyz`).
#[utoipa::path(get, path = "/api/v1/readyz", tag = "health", responses((status = 200, body = Readiness), (status = 503, body = Readiness), (status = "4XX", description = "an error: `{error: {code, message}}`", body = crate::error::ErrorBody)))]
async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    let show = |ok: bool| if ok { json!("ok") } else { json!("unreachable") };
    let db = sqlx::query("select 1").execute(&state.db.pool).await.is_ok();
    let mut ready = db;
    let mut answer = json!({"database": show(db)});
    for target in state.targets.iter() {
        let reached = match state.target_store(target).await {
            Ok(store) => store.ping().await,
            Err(e) => Err(e),
        };
        if let Err(e) = &reached {
            tracing::warn!(target = %target.name, error = %e, "a target's store is not ready");
        }
        ready &= reached.is_ok();
        answer[target.name.as_str()] = show(reached.is_ok());
    }
    answer["ready"] = json!(ready);
    let status = if ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (status, Json(answer))
}
