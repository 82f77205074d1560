//! The API's description (design §12): an OpenAPI 3.1 document generated from the handlers'
//! `#[utoipa::path]` annotations and the wire types' `ToSchema` derives, served at
//! `/api/v1/openapi.json`, and a page that renders it at `/api/docs`.
//!
//! The page and its script are compiled into the binary (`include_str!`), so the docs work offline
//! and without the browser bundle. Both routes are open, like `/healthz`: they describe the API
//! and reveal no data.
//!
//! Every `/api/v1` route must appear in the document; `tests::every_api_route_is_documented`
//! reads the routers' sources and names any route that is missing.

use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::WebState;
use crate::error::{ErrorBody, ErrorDetail};

pub fn router() -> Router<WebState> {
    Router::new()
        .route("/api/v1/openapi.json", get(openapi_json))
        .route("/api/docs", get(|| async { page(PAGE, "text/html; charset=utf-8") }))
        .route("/api/docs/docs.js", get(|| async { page(SCRIPT, "text/javascript; charset=utf-8") }))
        .route("/api/docs/docs.css", get(|| async { page(STYLE, "text/css; charset=utf-8") }))
}

const PAGE: &str = include_str!("openapi/docs.html");
const SCRIPT: &str = include_str!("openapi/docs.js");
const STYLE: &str = include_str!("openapi/docs.css");

fn page(body: &'static str, content_type: &'static str) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, content_type), (header::CACHE_CONTROL, "no-cache")], body)
}

/// The OpenAPI document of this API.
#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "docs",
    responses((status = 200, description = "this document", content_type = "application/json", body = serde_json::Value)))]
async fn openapi_json() -> impl IntoResponse {
    Json(document())
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Chartgate API",
        description = "Review chart changes on a staging branch before they are synced to production. \
            Callers authenticate with `Authorization: Bearer <token>` (`chartgate tokens create EMAIL`) or, \
            from the browser, with the session cookie. Errors are `{error: {code, message}}`."
    ),
    paths(openapi_json),
    components(schemas(ErrorBody, ErrorDetail)),
    modifiers(&SecuritySchemes),
    tags(
        (name = "branches", description = "staging environments"),
        (name = "diffs", description = "what a branch changes"),
        (name = "reviews", description = "decisions and the gate"),
        (name = "audit", description = "who did what"),
        (name = "sync", description = "sync jobs"),
        (name = "tokens", description = "API tokens"),
        (name = "hooks", description = "GitHub webhook"),
        (name = "health", description = "probes"),
        (name = "docs", description = "this document"),
    )
)]
struct Base;

struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let mut bearer = Http::new(HttpAuthScheme::Bearer);
        bearer.description = Some("an API token: `chartgate tokens create EMAIL`".into());
        components.add_security_scheme("bearer", SecurityScheme::Http(bearer));
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                super::session::COOKIE,
                "the browser's session after signing in at /login; state changes need this server's Origin",
            ))),
        );
    }
}

/// The whole document: the base (info, security schemes, error shape) and every API module's
/// paths.
pub fn document() -> utoipa::openapi::OpenApi {
    let mut doc = Base::openapi();
    for part in super::api::docs() {
        doc.merge(part);
    }
    doc.info.version = env!("CARGO_PKG_VERSION").to_string();
    doc
}

#[cfg(test)]
mod tests {
    use super::*;

    // The route coverage check reads the routers' sources with the route × caller table:
    // `server/tests/it/routes.rs`.
    #[test]
    fn the_document_is_openapi_3_1_with_auth_and_errors() {
        let doc = serde_json::to_value(document()).unwrap();
        assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"), "{}", doc["openapi"]);
        let schemes = &doc["components"]["securitySchemes"];
        assert_eq!(schemes["bearer"]["scheme"], "bearer");
        assert_eq!(schemes["session"]["in"], "cookie");
        assert!(doc["components"]["schemas"]["ErrorBody"].is_object());
        let list = &doc["paths"]["/api/v1/branches/{branch}/diffs"]["get"];
        assert!(list["responses"]["200"]["content"]["application/json"]["schema"].is_object(), "{list}");
        assert!(list["security"].is_array(), "{list}");
        let review = &doc["paths"]["/api/v1/branches/{branch}/diffs/{chart_id}/review"]["post"];
        assert!(review["requestBody"]["content"]["application/json"]["schema"].is_object(), "{review}");
        // Every referenced schema is defined.
        let text = doc.to_string();
        for reference in text.split("\"$ref\":\"#/components/schemas/").skip(1) {
            let name = &reference[..reference.find('"').unwrap()];
            assert!(doc["components"]["schemas"][name].is_object(), "schema {name} is referenced but not defined");
        }
    }
}
