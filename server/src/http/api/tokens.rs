//! API tokens for leads: list them (never the secrets) and revoke one; the next request with a
//! revoked token gets 401.

use app::types::ApiToken;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, get};
use axum::{Json, Router};
use serde::Deserialize;

use crate::access::Actor;
use crate::accounts;
use crate::error::Result;
use crate::http::extract::{ApiQuery, Lead};
use crate::http::WebState;
use crate::state::AppState;

pub fn router() -> Router<WebState> {
    Router::new().route("/api/v1/tokens", get(list)).route("/api/v1/tokens/{id}", delete(revoke))
}

#[derive(utoipa::OpenApi)]
#[openapi(paths(list, revoke))]
pub(super) struct Doc;

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct TokensQuery {
    /// Only this user's tokens.
    email: Option<String>,
}

/// API tokens (leads): ids, owners and roles, never the secrets.
#[utoipa::path(get, path = "/api/v1/tokens", tag = "tokens", security(("bearer" = []), ("session" = [])), params(TokensQuery), responses((status = 200, body = Vec<ApiToken>), (status = "4XX", description = "an error: `{error: {code, message}}`", body = crate::error::ErrorBody)))]
async fn list(
    State(state): State<AppState>,
    Lead(user): Lead,
    ApiQuery(q): ApiQuery<TokensQuery>,
) -> Result<Json<Vec<ApiToken>>> {
    let email = q.email.as_deref().map(str::trim).filter(|e| !e.is_empty());
    Ok(Json(accounts::list_tokens(&state.db, &Actor::from(&user), email).await?))
}

/// Revokes a token; the next request with it gets 401.
#[utoipa::path(delete, path = "/api/v1/tokens/{id}", tag = "tokens", security(("bearer" = []), ("session" = [])), params(("id" = String, Path, description = "the token's id")), responses((status = 204, description = "revoked"), (status = "4XX", description = "an error: `{error: {code, message}}`", body = crate::error::ErrorBody)))]
async fn revoke(State(state): State<AppState>, Lead(user): Lead, Path(id): Path<String>) -> Result<StatusCode> {
    accounts::revoke_token(&state.db, &Actor::from(&user), &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
