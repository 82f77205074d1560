//! `GET /healthz` (alive) and `GET /readyz` (Chartgate's database and the production store
//! answer), also under `/api/v1/`. Open to anyone: they reveal no data.
//!
//! Readiness names each target (`production` without `[targets]`) with `ok` or `unreachable`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Json;
use serde_json::json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::http::WebState;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<WebState> {
    OpenApiRouter::default()
        .routes(routes!(healthz))
        .routes(routes!(readyz))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
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
    pub database: Reachable,
}

/// Whether Chartgate could reach a database or store.
#[derive(serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Reachable {
    Ok,
    Unreachable,
}

/// Liveness (also at `/healthz`).
#[utoipa::path(get, path = "/api/v1/healthz", tag = "health", operation_id = "healthz",
    extensions(("x-role" = json!("anyone"))), responses((status = 200, body = Health)))]
async fn healthz() -> impl IntoResponse {
    Json(json!({"status": "ok"}))
}

/// Readiness: Chartgate's database and each target's store (also at `/readyz`).
#[utoipa::path(get, path = "/api/v1/readyz", tag = "health", operation_id = "readyz",
    extensions(("x-role" = json!("anyone"))),
    responses((status = 200, description = "ready", body = Readiness), (status = 503, description = "not ready", body = Readiness)))]
async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    let show = |ok: bool| json!(if ok { Reachable::Ok } else { Reachable::Unreachable });
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
