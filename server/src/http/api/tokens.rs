//! API tokens for leads: list them (never the secrets) and revoke one; the next request with a
//! revoked token gets 401.

use app::types::ApiToken;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::access::Actor;
use crate::accounts;
use crate::error::Result;
use crate::http::extract::{ApiQuery, Lead};
use crate::http::WebState;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<WebState> {
    OpenApiRouter::default().routes(routes!(list)).routes(routes!(revoke))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct TokensQuery {
    /// Only this user's tokens (empty: everyone's).
    #[param(schema_with = email_or_empty)]
    email: Option<String>,
}

fn email_or_empty() -> utoipa::openapi::schema::Schema {
    use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, OneOfBuilder, SchemaFormat, Type};
    let email = ObjectBuilder::new()
        .schema_type(Type::String)
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Email)))
        .max_length(Some(254));
    OneOfBuilder::new().item(email).item(ObjectBuilder::new().schema_type(Type::String).max_length(Some(0))).into()
}

/// API tokens (leads): ids, owners and roles, never the secrets.
#[utoipa::path(get, path = "/api/v1/tokens", tag = "tokens", operation_id = "list_tokens",
    extensions(("x-role" = json!("lead"))), params(TokensQuery), responses((status = 200, body = Vec<ApiToken>)))]
async fn list(
    State(state): State<AppState>,
    Lead(user): Lead,
    ApiQuery(q): ApiQuery<TokensQuery>,
) -> Result<Json<Vec<ApiToken>>> {
    let email = q.email.as_deref().map(str::trim).filter(|e| !e.is_empty());
    Ok(Json(accounts::list_tokens(&state.db, &Actor::from(&user), email).await?))
}

/// Revokes a token; the next request with it gets 401.
#[utoipa::path(delete, path = "/api/v1/tokens/{id}", tag = "tokens", operation_id = "revoke_token",
    extensions(("x-role" = json!("lead"))),
    params(("id" = String, Path, pattern = "^[0-9A-Fa-f]{12}$", description = "the token's id: 12 hex digits, as the list gives it")),
    responses((status = 204, description = "revoked"), (status = 409, description = "several tokens share the id; revoke them by user")))]
async fn revoke(State(state): State<AppState>, Lead(user): Lead, Path(id): Path<String>) -> Result<StatusCode> {
    accounts::revoke_token(&state.db, &Actor::from(&user), &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
