//! The API's description (design §12): an OpenAPI 3.1 document served at `/api/v1/openapi.json`,
//! and a page that renders it at `/api/docs`.
//!
//! One declaration serves both the route and the document: each API module registers its
//! handlers with utoipa-axum's `routes!`, which takes the method and path from the handler's
//! `#[utoipa::path]` and adds the operation to the document of the same router, so a route
//! cannot be served undocumented, nor documented at another path. What every operation shares
//! is applied here once, by [`Defaults`], from the operation's `x-role` (who may call it:
//! `anyone`, `github` — the hook's signature —, `viewer`, `reviewer` or `lead`):
//!
//! - security: a bearer token or the session cookie, for the roles;
//! - the error answers the edge gives every route of its kind — 401 and 403 for the roles, 400,
//!   413 and 422 for a JSON body, 400 for parameters, 404 for path parameters, 500 and
//!   503 for anything that reads the database — each with the `{error: {code, message}}` body;
//! - that body on every other error answer a handler declares with only a description.
//!
//! A handler's own attribute says only what is its own: its operation id, parameters, body, its
//! success answers and the errors of its feature (a 409, a 502 from a chart store, ...).
//!
//! The page and its script are compiled into the binary (`include_str!`), so the docs work offline
//! and without the browser bundle. Both routes are open, like `/healthz`: they describe the API
//! and reveal no data.

use std::sync::OnceLock;

use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use utoipa::openapi::path::{Operation, ParameterIn, PathItem};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, Http, HttpAuthScheme, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::WebState;
use crate::error::{ErrorBody, ErrorDetail};

/// `/api/v1/openapi.json` and the docs page. The API's own routes are [`super::api::router`].
pub fn router() -> Router<WebState> {
    let (json, _) = OpenApiRouter::<WebState>::default().routes(routes!(openapi_json)).split_for_parts();
    json.route("/api/docs", get(|| async { page(PAGE, "text/html; charset=utf-8") }))
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
#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "docs", operation_id = "openapi_document",
    extensions(("x-role" = json!("anyone"))),
    responses((status = 200, description = "this document", content_type = "application/json", body = serde_json::Value)))]
async fn openapi_json() -> impl IntoResponse {
    static TEXT: OnceLock<String> = OnceLock::new();
    let text = TEXT.get_or_init(|| serde_json::to_string(&document()).expect("the document serialises"));
    ([(header::CONTENT_TYPE, "application/json")], text.as_str())
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Chartgate API",
        description = "Review chart changes on a staging branch before they are synced to production. \
            Callers authenticate with `Authorization: Bearer <token>` (`chartgate tokens create EMAIL`) or, \
            from the browser, with the session cookie. Each operation's `x-role` says who may call it. \
            Errors are `{error: {code, message}}`."
    ),
    components(schemas(ErrorBody, ErrorDetail)),
    modifiers(&SecuritySchemes),
    tags(
        (name = "branches", description = "staging environments"),
        (name = "diffs", description = "what a branch changes"),
        (name = "reviews", description = "decisions and the gate"),
        (name = "upgrades", description = "dataset upgrades"),
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

/// Who may call an operation: its `x-role`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Caller {
    /// Open: probes and this document.
    Anyone,
    /// The GitHub hook: a delivery signed with the hook's secret, no user.
    GitHub,
    /// A signed-in user or token of at least this role.
    Role(app::types::Role),
}

impl Caller {
    pub fn of(operation: &Operation) -> Option<Caller> {
        let role = operation.extensions.as_ref()?.get("x-role")?.as_str()?;
        Some(match role {
            "anyone" => Caller::Anyone,
            "github" => Caller::GitHub,
            other => Caller::Role(other.parse().ok()?),
        })
    }
}

/// The error answers a route of each kind can give (see the module's documentation), with the
/// error body on every error answer.
struct Defaults;

/// What each error status means, as every operation's document says it.
const ERRORS: &[(u16, &str)] = &[
    (400, "bad_request: a parameter or field out of its bounds, a required field missing (named in the message), or a body that is not JSON"),
    (401, "unauthorized: no valid bearer token or session"),
    (403, "forbidden: the caller's role may not call this route, or a browser's state change did not come from this server's Origin"),
    (404, "not_found: nothing of that name (branch, chart, group, job, upgrade or token)"),
    (409, "conflict: the state moved (the message says what)"),
    (413, "too_large: the body is over the server's `body_limit`"),
    (422, "unprocessable: JSON of another shape than the schema's, or a request that cannot be carried out as given (the message says why)"),
    (500, "internal: something went wrong on the server's side; it was logged"),
    (502, "store_unavailable: a chart store cannot be read or written"),
    (503, "unavailable: Chartgate's database cannot be reached, or the feature is not configured"),
];

fn error_response(status: u16, description: Option<String>) -> RefOr<utoipa::openapi::Response> {
    let description = description
        .or_else(|| ERRORS.iter().find(|(s, _)| *s == status).map(|(_, d)| d.to_string()))
        .unwrap_or_else(|| "an error".into());
    let content = ContentBuilder::new().schema(Some(Ref::from_schema_name("ErrorBody"))).build();
    RefOr::T(ResponseBuilder::new().description(description).content("application/json", content).build())
}

/// The operations of a path with their methods (`GET`, ...).
fn operations(item: &mut PathItem) -> impl Iterator<Item = (&'static str, &mut Operation)> {
    [
        ("GET", item.get.as_mut()),
        ("POST", item.post.as_mut()),
        ("PUT", item.put.as_mut()),
        ("PATCH", item.patch.as_mut()),
        ("DELETE", item.delete.as_mut()),
    ]
    .into_iter()
    .filter_map(|(method, op)| op.map(|op| (method, op)))
}

impl Modify for Defaults {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for item in openapi.paths.paths.values_mut() {
            for (method, op) in operations(item) {
                let caller = Caller::of(op).unwrap_or(Caller::Anyone);
                let mut statuses: Vec<u16> = Vec::new();
                match caller {
                    Caller::Anyone => {}
                    Caller::GitHub => statuses.extend([401, 500, 503]),
                    Caller::Role(role) => {
                        op.security = Some(vec![
                            SecurityRequirement::new("bearer", Vec::<String>::new()),
                            SecurityRequirement::new("session", Vec::<String>::new()),
                        ]);
                        statuses.extend([401, 500, 503]);
                        if role > app::types::Role::Viewer {
                            statuses.push(403);
                        }
                    }
                }
                if caller != Caller::Anyone && method != "GET" {
                    // A browser's state change without this server's Origin (session cookie).
                    statuses.push(403);
                }
                if op.request_body.is_some() {
                    statuses.extend([400, 413, 422]);
                }
                let params = op.parameters.as_deref().unwrap_or_default();
                if !params.is_empty() {
                    // A value outside its schema: a bound, a pattern, a type.
                    statuses.push(400);
                }
                if params.iter().any(|p| p.parameter_in == ParameterIn::Path) {
                    statuses.push(404);
                }
                let responses = &mut op.responses.responses;
                for status in statuses {
                    responses.entry(status.to_string()).or_insert_with(|| error_response(status, None));
                }
                // Errors declared with a description only get the error body.
                for (status, response) in responses.iter_mut() {
                    let is_error = status.starts_with('4') || status.starts_with('5');
                    if let RefOr::T(r) = response {
                        if is_error && r.content.is_empty() {
                            *response = error_response(status.parse().unwrap_or(0), Some(r.description.clone()));
                        }
                    }
                }
            }
        }
    }
}

/// The whole document: the base (info, security schemes, error shape), every API route's
/// operation as [`super::api::router`] serves it, and the defaults applied.
pub fn document() -> utoipa::openapi::OpenApi {
    let (_, mut doc) = OpenApiRouter::<WebState>::with_openapi(Base::openapi())
        .merge(super::api::routes())
        .routes(routes!(openapi_json))
        .split_for_parts();
    Defaults.modify(&mut doc);
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
        assert!(list["responses"]["401"]["content"]["application/json"]["schema"].is_object(), "{list}");
        let review = &doc["paths"]["/api/v1/branches/{branch}/diffs/{chart_id}/review"]["post"];
        assert!(review["requestBody"]["content"]["application/json"]["schema"].is_object(), "{review}");
        for status in ["400", "401", "403", "404", "409", "413", "422"] {
            assert!(review["responses"][status]["content"].is_object(), "{status} of {review}");
        }
        let health = &doc["paths"]["/api/v1/healthz"]["get"];
        assert!(health["security"].is_null() && health["responses"]["401"].is_null(), "{health}");
        // Every referenced schema is defined.
        let text = doc.to_string();
        for reference in text.split("\"$ref\":\"#/components/schemas/").skip(1) {
            let name = &reference[..reference.find('"').unwrap()];
            assert!(doc["components"]["schemas"][name].is_object(), "schema {name} is referenced but not defined");
        }
    }

    #[test]
    fn every_operation_says_who_may_call_it_and_has_its_own_id() {
        let mut doc = document();
        let mut ids = std::collections::BTreeMap::new();
        for (path, item) in doc.paths.paths.iter_mut() {
            for (method, op) in operations(item) {
                let at = format!("{method} {path}");
                assert!(Caller::of(op).is_some(), "{at} has no x-role (anyone, github, viewer, reviewer or lead)");
                let id = op.operation_id.clone().unwrap_or_default();
                if let Some(other) = ids.insert(id.clone(), at.clone()) {
                    panic!("{at} and {other} share the operation id {id:?}");
                }
            }
        }
    }
}
