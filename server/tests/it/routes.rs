//! Every route × every caller. The routes are read from the routers' sources (every
//! `.route("…", get(…).post(…))` under `server/src/http`), each is checked to exist in the real
//! router (a wrong method answers 405, not 404), and each is called anonymously, with a bad
//! token, as viewer, reviewer and lead (bearer tokens), and by a lead's session cookie without
//! `Origin`. The expected answer of each is the table below; a route without a row fails the
//! test, so a new route cannot ship without saying who may call it.
//!
//! The API's routes are registered with utoipa-axum's `routes!`, which takes each route from its
//! handler's `#[utoipa::path]`: those are read from the OpenAPI document, which is built from the
//! same declarations. The OpenAPI checks live here too: a route registered beside `routes!` under
//! `/api/v1` is undocumented, and each operation's `x-role` must say what the table says.

use std::collections::{BTreeMap, BTreeSet};

use reqwest::{Method, StatusCode};

use crate::api::{spawn_server_with, user_with_password, TestServer};

/// `(METHOD, path)` of every route the server registers: the API's operations (`routes!`), and
/// the routes the routers under `server/src/http` register with `.route(…)`.
pub fn registered_routes() -> BTreeSet<(String, String)> {
    let mut routes = source_routes();
    routes.extend(documented_routes());
    routes
}

/// `(METHOD, path)` of every operation in the OpenAPI document.
fn documented_routes() -> BTreeSet<(String, String)> {
    let document = serde_json::to_value(chartgate::http::openapi::document()).unwrap();
    let mut documented = BTreeSet::new();
    for (path, item) in document["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            documented.insert((method.to_uppercase(), path.clone()));
        }
    }
    documented
}

/// `(METHOD, path)` of every route the routers under `server/src/http` register with `.route(…)`,
/// read from their sources. Catch-alls (`{*rest}`) are left out.
fn source_routes() -> BTreeSet<(String, String)> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/http");
    let mut files = vec![root];
    let mut routes = BTreeSet::new();
    while let Some(path) = files.pop() {
        if path.is_dir() {
            for entry in std::fs::read_dir(&path).unwrap() {
                files.push(entry.unwrap().path());
            }
            continue;
        }
        if path.extension().is_none_or(|e| e != "rs") {
            continue;
        }
        let source = std::fs::read_to_string(&path).unwrap();
        let mut rest = source.as_str();
        while let Some(at) = rest.find(".route(") {
            let line_start = rest[..at].rfind('\n').map_or(0, |i| i + 1);
            let in_comment = rest[line_start..at].trim_start().starts_with("//");
            rest = &rest[at + ".route(".len()..];
            let trimmed = rest.trim_start();
            if in_comment || !trimmed.starts_with("\"/") {
                continue;
            }
            rest = &trimmed[1..];
            let end = rest.find('"').unwrap();
            let route = &rest[..end];
            // The method routers: up to the parenthesis that closes `.route(`.
            let (mut depth, mut close) = (1, rest.len());
            for (i, c) in rest.char_indices() {
                match c {
                    '(' => depth += 1,
                    ')' => {
                        depth -= 1;
                        if depth == 0 {
                            close = i;
                            break;
                        }
                    }
                    _ => {}
                }
            }
            let handlers = &rest[end..close];
            if route.contains("{*") {
                continue;
            }
            for method in ["get", "post", "put", "patch", "delete"] {
                let called = handlers
                    .match_indices(&format!("{method}("))
                    .any(|(i, _)| i == 0 || !handlers[..i].ends_with(|c: char| c.is_alphanumeric() || c == '_'));
                if called {
                    routes.insert((method.to_uppercase(), route.to_string()));
                }
            }
        }
    }
    routes
}

/// What a caller gets: a status, or `ok` — let through (neither 401 nor 403, nor a redirect to
/// sign in, nor a 5xx; the route may still refuse the empty request with a 4xx of its own).
const OK: &str = "ok";
/// A browser route sends an unauthenticated caller to the sign-in page.
const SIGN_IN: &str = "303 /login";
/// A browser form refuses a role that may not act by going back with a "forbidden" notice.
const REFUSED: &str = "303 forbidden";

/// Columns: anonymous, bad token, viewer, reviewer, lead, lead's cookie without Origin.
const EXPECTED: &[(&str, &str, [&str; 6])] = &[
    // Open: probes, docs, metrics (no metrics_token configured), sign-in.
    ("GET", "/healthz", [OK, OK, OK, OK, OK, OK]),
    ("GET", "/readyz", [OK, OK, OK, OK, OK, OK]),
    ("GET", "/api/v1/healthz", [OK, OK, OK, OK, OK, OK]),
    ("GET", "/api/v1/readyz", [OK, OK, OK, OK, OK, OK]),
    ("GET", "/api/v1/openapi.json", [OK, OK, OK, OK, OK, OK]),
    ("GET", "/api/docs", [OK, OK, OK, OK, OK, OK]),
    ("GET", "/api/docs/docs.js", [OK, OK, OK, OK, OK, OK]),
    ("GET", "/api/docs/docs.css", [OK, OK, OK, OK, OK, OK]),
    ("GET", "/metrics", [OK, OK, OK, OK, OK, OK]),
    // Sign-in and sign-out are state changes from a browser: without Origin, refused.
    ("POST", "/auth/login", [OK, OK, OK, OK, OK, "403"]),
    ("POST", "/auth/logout", [SIGN_IN, SIGN_IN, SIGN_IN, SIGN_IN, SIGN_IN, "403"]),
    // The hook authenticates by its signature, never by a user.
    ("POST", "/api/v1/hooks/github", ["401", "401", "401", "401", "401", "403"]),
    // Viewers and up.
    ("GET", "/api/v1/branches", ["401", "401", OK, OK, OK, OK]),
    ("GET", "/api/v1/branches/{branch}", ["401", "401", OK, OK, OK, OK]),
    ("POST", "/api/v1/branches/{branch}/rescan", ["401", "401", OK, OK, OK, "403"]),
    ("GET", "/api/v1/targets", ["401", "401", OK, OK, OK, OK]),
    ("GET", "/api/v1/branches/{branch}/diffs", ["401", "401", OK, OK, OK, OK]),
    ("GET", "/api/v1/branches/{branch}/diffs/{chart_id}", ["401", "401", OK, OK, OK, OK]),
    ("GET", "/api/v1/branches/{branch}/gate", ["401", "401", OK, OK, OK, OK]),
    ("GET", "/api/v1/charts/{chart_id}/history", ["401", "401", OK, OK, OK, OK]),
    ("GET", "/api/v1/sync/jobs", ["401", "401", OK, OK, OK, OK]),
    ("GET", "/api/v1/sync/jobs/{id}", ["401", "401", OK, OK, OK, OK]),
    ("GET", "/api/v1/branches/{branch}/datasets", ["401", "401", OK, OK, OK, OK]),
    ("GET", "/api/v1/branches/{branch}/upgrades", ["401", "401", OK, OK, OK, OK]),
    ("GET", "/api/v1/branches/{branch}/upgrades/{id}", ["401", "401", OK, OK, OK, OK]),
    ("GET", "/api/v1/branches/{branch}/groups", ["401", "401", OK, OK, OK, OK]),
    ("GET", "/api/v1/branches/{branch}/groups/{id}", ["401", "401", OK, OK, OK, OK]),
    ("GET", "/api/v1/branches/{branch}/diffs/{chart_id}/merge", ["401", "401", OK, OK, OK, OK]),
    ("GET", "/api/v1/branches/{branch}/diffs/{chart_id}/comments", ["401", "401", OK, OK, OK, OK]),
    ("GET", "/api/v1/me/reviews", ["401", "401", OK, OK, OK, OK]),
    // Reviewers and leads.
    ("POST", "/api/v1/branches/{branch}/diffs/{chart_id}/review", ["401", "401", "403", OK, OK, "403"]),
    ("POST", "/api/v1/branches/{branch}/diffs/{chart_id}/merge", ["401", "401", "403", OK, OK, "403"]),
    ("POST", "/api/v1/branches/{branch}/reviews/bulk", ["401", "401", "403", OK, OK, "403"]),
    ("POST", "/api/v1/branches/{branch}/upgrades/preview", ["401", "401", "403", OK, OK, "403"]),
    ("POST", "/api/v1/branches/{branch}/upgrades", ["401", "401", "403", OK, OK, "403"]),
    ("POST", "/api/v1/branches/{branch}/upgrades/{id}/undo", ["401", "401", "403", OK, OK, "403"]),
    ("POST", "/api/v1/branches/{branch}/groups/{id}/review", ["401", "401", "403", OK, OK, "403"]),
    ("POST", "/api/v1/branches/{branch}/diffs/{chart_id}/comments", ["401", "401", "403", OK, OK, "403"]),
    ("POST", "/api/v1/branches/{branch}/requests", ["401", "401", "403", OK, OK, "403"]),
    // Leads.
    ("POST", "/api/v1/branches", ["401", "401", "403", "403", OK, "403"]),
    ("POST", "/api/v1/branches/{branch}/diffs/{chart_id}/review/dismiss", ["401", "401", "403", "403", OK, "403"]),
    ("GET", "/api/v1/audit", ["401", "401", "403", "403", OK, OK]),
    ("POST", "/api/v1/sync", ["401", "401", "403", "403", OK, "403"]),
    ("GET", "/api/v1/tokens", ["401", "401", "403", "403", OK, OK]),
    ("DELETE", "/api/v1/tokens/{id}", ["401", "401", "403", "403", OK, "403"]),
    // No-JS forms of the browser: sign in first (a bad token is no sign-in); a role that may not
    // act goes back with a notice; state changes need this server's Origin.
    ("POST", "/branches/{branch}/charts/{chart_id}/review", [SIGN_IN, SIGN_IN, REFUSED, OK, OK, "403"]),
    ("POST", "/branches/{branch}/charts/{chart_id}/merge", [SIGN_IN, SIGN_IN, REFUSED, OK, OK, "403"]),
    ("POST", "/jobs/{id}/rerun", [SIGN_IN, SIGN_IN, REFUSED, REFUSED, OK, "403"]),
    ("POST", "/branches/{branch}/upgrade/apply", [SIGN_IN, SIGN_IN, REFUSED, OK, OK, "403"]),
    ("POST", "/branches/{branch}/upgrades/{id}/undo", [SIGN_IN, SIGN_IN, REFUSED, OK, OK, "403"]),
    ("POST", "/branches/{branch}/upgrades/{id}/approve", [SIGN_IN, SIGN_IN, REFUSED, OK, OK, "403"]),
    ("POST", "/branches/{branch}/groups/{id}/review", [SIGN_IN, SIGN_IN, REFUSED, OK, OK, "403"]),
    ("POST", "/branches/{branch}/charts/{chart_id}/comments", [SIGN_IN, SIGN_IN, REFUSED, OK, OK, "403"]),
    ("POST", "/branches/{branch}/charts/{chart_id}/dismiss", [SIGN_IN, SIGN_IN, REFUSED, REFUSED, OK, "403"]),
    ("POST", "/branches/{branch}/requests", [SIGN_IN, SIGN_IN, REFUSED, OK, OK, "403"]),
];

const CALLERS: [&str; 6] = ["anonymous", "bad token", "viewer", "reviewer", "lead", "cookie, no Origin"];

fn client() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

/// What one caller got, in the table's terms.
fn seen(status: StatusCode, location: Option<&str>) -> String {
    match status.as_u16() {
        401 | 403 => status.as_u16().to_string(),
        303 if location.is_some_and(|l| l.starts_with("/login")) => SIGN_IN.to_string(),
        // The review forms say `notice=forbidden`; the upgrade forms carry the refusal's text.
        303 if location.is_some_and(|l| l.contains("notice=forbidden") || l.contains("error=this%20route%20needs")) => {
            REFUSED.to_string()
        }
        s if s >= 500 => format!("{s} (server error)"),
        _ => OK.to_string(),
    }
}

async fn call(s: &TestServer, method: &str, path: &str, caller: usize, tokens: &[String; 3], cookie: &str) -> String {
    let method: Method = method.parse().unwrap();
    let mut req = client().request(method.clone(), format!("{}{path}", s.base));
    if method != Method::GET {
        // Browser routes take forms, the API takes JSON: an empty one of each kind it expects.
        req = if path.starts_with("/api/") {
            req.header("content-type", "application/json").body("{}")
        } else {
            // A form a page would send (the review forms' `status`, the group form's `seen`), so the
            // role is what decides.
            req.header("content-type", "application/x-www-form-urlencoded").body("status=approved&seen=%5B%5D")
        };
    }
    req = match caller {
        0 => req,
        1 => req.bearer_auth("cgt_not-a-real-token"),
        2..=4 => req.bearer_auth(&tokens[caller - 2]),
        _ => req.header("cookie", cookie),
    };
    if caller < 5 && method != Method::GET && !path.starts_with("/api/") {
        // A browser's form post carries this server's Origin (the column without it is the last).
        req = req.header("origin", &s.base);
    }
    let resp = req.send().await.unwrap();
    let location = resp.headers().get("location").and_then(|l| l.to_str().ok()).map(str::to_string);
    seen(resp.status(), location.as_deref())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_answers_each_caller_as_its_table_says() {
    let s = spawn_server_with(&[("CHARTGATE_HOOK_SECRET", "s3cret")]);
    let reviewer = crate::api::token_for(s.dir.path(), "rita@example.org", "reviewer");
    let tokens = [s.viewer.clone(), reviewer, s.lead.clone()];
    user_with_password(s.dir.path(), "leo@example.org", "lead", "correct horse battery");
    let cookie = crate::api::sign_in(&s, "leo@example.org", "correct horse battery").await.expect("a session");

    let (_, items) = s.get("/api/v1/branches/feature-energy-update/diffs", Some(&s.lead)).await;
    let chart = items["items"][0]["chart_id"].as_str().expect("a demo item").to_string();
    let fill = |route: &str| {
        route.replace("{branch}", "feature-energy-update").replace("{chart_id}", &chart).replace("{id}", "1")
    };

    let registered = registered_routes();
    assert!(registered.len() > 30, "the route scan found too few routes: {registered:?}");
    let table: BTreeMap<(String, String), [&str; 6]> =
        EXPECTED.iter().map(|(m, p, row)| ((m.to_string(), p.to_string()), *row)).collect();
    let without_row: Vec<_> = registered.iter().filter(|r| !table.contains_key(*r)).collect();
    assert!(without_row.is_empty(), "routes without a row in EXPECTED (say who may call them): {without_row:?}");
    let stale: Vec<_> = table.keys().filter(|r| !registered.contains(*r)).collect();
    assert!(stale.is_empty(), "rows for routes that no longer exist: {stale:?}");

    let mut wrong = Vec::new();
    for ((method, route), row) in &table {
        let path = fill(route);
        // The route is really in the router: another method is refused with 405, not 404.
        let other = if method == "DELETE" { Method::PATCH } else { Method::PUT };
        let probe = client().request(other, format!("{}{path}", s.base)).bearer_auth(&s.lead).send().await.unwrap();
        assert_eq!(probe.status(), StatusCode::METHOD_NOT_ALLOWED, "{method} {route} is not in the router");

        for (caller, expected) in row.iter().enumerate() {
            let got = call(&s, method, &path, caller, &tokens, &cookie).await;
            if got != *expected {
                wrong.push(format!("{method} {route} as {}: expected {expected}, got {got}", CALLERS[caller]));
            }
        }
    }
    assert!(wrong.is_empty(), "{} answers differ from the table:\n{}", wrong.len(), wrong.join("\n"));
    println!("routes × callers: {} routes × {} callers checked", table.len(), CALLERS.len());
}

/// Every `/api/v1` route is in the OpenAPI document: none is registered beside `routes!`.
#[test]
fn every_api_route_is_documented() {
    let documented = documented_routes();
    assert!(documented.len() > 30, "the document has too few operations: {documented:?}");
    let beside: Vec<_> = source_routes().into_iter().filter(|(_, p)| p.starts_with("/api/v1/")).collect();
    let missing: Vec<_> = beside.iter().filter(|r| !documented.contains(*r)).collect();
    assert!(
        missing.is_empty(),
        "these /api/v1 routes are registered with `.route(…)`, not in the OpenAPI document (give the handler \
         a #[utoipa::path] and register it with `routes!`): {missing:?}"
    );
}

/// Each operation's `x-role` (what the document says, and what gives it its security and its
/// 401/403 answers) is what the route × caller table finds: the least role let through.
#[test]
fn every_operations_role_is_the_tables() {
    let document = serde_json::to_value(chartgate::http::openapi::document()).unwrap();
    let mut wrong = Vec::new();
    for (method, path, row) in EXPECTED.iter().filter(|(_, p, _)| p.starts_with("/api/v1/")) {
        let op = &document["paths"][path][method.to_lowercase()];
        let documented = op["x-role"].as_str().unwrap_or("(none)");
        let table = match row {
            [OK, ..] => "anyone",
            [_, _, OK, ..] => "viewer",
            [_, _, _, OK, ..] => "reviewer",
            [_, _, _, _, OK, _] => "lead",
            _ => "github",
        };
        if documented != table {
            wrong.push(format!("{method} {path}: x-role {documented}, the table says {table}"));
        }
        let secured = op["security"].is_array();
        if secured != matches!(table, "viewer" | "reviewer" | "lead") {
            wrong.push(format!("{method} {path}: security {}", op["security"]));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
