//! Who may change what, through every door. Each state-changing entry point checks its role twice:
//! at the edge (the REST role extractors, the server functions, the form endpoints) and in the
//! feature function itself (which the CLI and the hook reach directly). Each check is proved here
//! with a caller whose role is one short, and with what did not change afterwards.

use std::time::Duration;

use app::sync::SyncTrigger;
use app::types::{AuditQuery, BulkReviewRequest, ReviewRequest, ReviewStatus, Role};
use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use chartgate::access::{Actor, User};
use chartgate::branches::{self, NewBranch};
use chartgate::demo::{self, DemoOptions};
use chartgate::error::Error;
use chartgate::http::WebState;
use chartgate::state::AppState;
use chartgate::sync::{self, NewJob};
use chartgate::{accounts, audit, diffs, reviews};
use serde_json::{json, Value};
use sqlx::Row;
use tower::ServiceExt;

use crate::engine::scenario;
use crate::support::{Kind, TestEnv};

/// Rows of the tables a refused call must leave alone.
async fn footprint(state: &AppState) -> Vec<i64> {
    let mut out = Vec::new();
    for table in ["branches", "reviews", "sync_jobs", "users", "api_tokens", "audit_events"] {
        let row = sqlx::query(&format!("select count(*) as n from {table}")).fetch_one(&state.db.pool).await.unwrap();
        out.push(row.get("n"));
    }
    out
}

fn forbidden<T: std::fmt::Debug>(result: Result<T, Error>, what: &str) {
    assert!(matches!(result, Err(Error::Forbidden(_))), "{what}: {result:?}");
}

async fn user(state: &AppState, email: &str, role: Role) -> User {
    accounts::add_user(&state.db, &Actor::operator("test"), email, role, None).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_feature_checks_its_callers_role() {
    let env = TestEnv::new(Kind::Sqlite).await;
    let (state, _, _) = scenario(&env).await;
    let viewer = user(&state, "vic@example.org", Role::Viewer).await;
    let reviewer = user(&state, "rex@example.org", Role::Reviewer).await;
    let before = footprint(&state).await;

    let as_viewer = Actor::from(&viewer);
    let as_reviewer = Actor::from(&reviewer);
    let new = || NewBranch {
        branch: "feature/other",
        store_url: None,
        fork: true,
        preview_url: None,
        target: None,
        repository: None,
    };
    forbidden(branches::register(&state, &as_reviewer, new()).await, "a reviewer registers a branch");
    forbidden(branches::archive(&state, &as_reviewer, "feature-x").await, "a reviewer archives a branch");
    let item = diffs::item(&state, "feature-x", "cfg").await.unwrap();
    let decision = ReviewRequest {
        status: ReviewStatus::Approved,
        staging_hash: item.staging_hash.clone(),
        production_hash: item.production_hash.clone(),
        comment: None,
    };
    forbidden(reviews::decide(&state, "feature-x", "cfg", &viewer, &decision).await, "a viewer decides");
    let bulk = BulkReviewRequest { status: ReviewStatus::Approved, chart_ids: vec!["cfg".into()], comment: None };
    forbidden(reviews::decide_many(&state, "feature-x", &viewer, &bulk).await, "a viewer decides in bulk");
    let job = NewJob {
        branch: "feature-x",
        dry_run: false,
        trigger: SyncTrigger::Api,
        delivery_id: None,
        idempotency_key: None,
    };
    forbidden(sync::enqueue(&state, &as_reviewer, job).await, "a reviewer starts a sync");
    forbidden(
        accounts::add_user(&state.db, &as_reviewer, "new@example.org", Role::Lead, None).await,
        "a reviewer adds a user",
    );
    forbidden(accounts::create_token(&state.db, &as_reviewer, "rex@example.org").await, "a reviewer makes a token");
    forbidden(audit::list(&state, &reviewer, &AuditQuery::default()).await, "a reviewer reads the audit trail");
    forbidden(demo::run(&state, &as_viewer, &DemoOptions::default()).await, "a viewer runs the demo");

    assert_eq!(footprint(&state).await, before, "a refused call changes nothing");
    env.cleanup().await;
}

/// A request to the in-process router, as a token holder or as a browser with a session cookie.
struct Caller {
    token: Option<String>,
    cookie: Option<String>,
}

impl Caller {
    fn anonymous() -> Caller {
        Caller { token: None, cookie: None }
    }

    async fn token(state: &AppState, user: &User) -> Caller {
        let token = accounts::create_token(&state.db, &Actor::operator("test"), &user.email).await.unwrap();
        Caller { token: Some(token), cookie: None }
    }

    async fn browser(state: &AppState, user: &User) -> Caller {
        let secret = accounts::create_session(&state.db, user.id, Duration::from_secs(3600)).await.unwrap();
        Caller { token: None, cookie: Some(format!("chartgate_session={secret}")) }
    }

    fn request(&self, method: &str, path: &str, content_type: &str, body: String) -> Request<Body> {
        let mut req = Request::builder()
            .method(method)
            .uri(path)
            .header(header::HOST, "chartgate.test")
            .header(header::ORIGIN, "http://chartgate.test")
            .header(header::CONTENT_TYPE, content_type);
        if let Some(t) = &self.token {
            req = req.header(header::AUTHORIZATION, format!("Bearer {t}"));
        }
        if let Some(c) = &self.cookie {
            req = req.header(header::COOKIE, c);
        }
        req.body(Body::from(body)).unwrap()
    }

    fn json(&self, method: &str, path: &str, body: Value) -> Request<Body> {
        self.request(method, path, "application/json", body.to_string())
    }

    fn form(&self, path: &str, fields: &[(&str, &str)]) -> Request<Body> {
        let body = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(fields).finish();
        self.request("POST", path, "application/x-www-form-urlencoded", body)
    }
}

async fn send(state: &AppState, req: Request<Body>) -> (StatusCode, String, String) {
    let app = chartgate::http::router(WebState::new(state.clone()));
    let resp = app.oneshot(req).await.unwrap();
    let status = resp.status();
    let location = resp.headers().get(header::LOCATION).and_then(|l| l.to_str().ok()).unwrap_or("").to_string();
    let bytes = axum::body::to_bytes(resp.into_body(), 1 << 24).await.unwrap();
    (status, location, String::from_utf8_lossy(&bytes).into_owned())
}

/// The path of a server function of `app::api`, as Leptos registered it.
fn server_fn(name: &str) -> String {
    leptos::server_fn::axum::server_fn_paths()
        .map(|(path, _)| path.to_string())
        .find(|p| p.trim_start_matches("/api/").starts_with(name))
        .unwrap_or_else(|| panic!("no server function {name}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_door_checks_the_role_at_the_edge() {
    let env = TestEnv::new(Kind::Sqlite).await;
    let (state, _, _) = scenario(&env).await;
    let viewer = user(&state, "vic@example.org", Role::Viewer).await;
    let reviewer = user(&state, "rex@example.org", Role::Reviewer).await;
    let item = diffs::item(&state, "feature-x", "cfg").await.unwrap();
    let decision =
        json!({"status": "approved", "staging_hash": item.staging_hash, "production_hash": item.production_hash});
    let viewer_token = Caller::token(&state, &viewer).await;
    let reviewer_token = Caller::token(&state, &reviewer).await;
    let viewer_browser = Caller::browser(&state, &viewer).await;
    let reviewer_browser = Caller::browser(&state, &reviewer).await;
    let before = footprint(&state).await;

    // REST: each state-changing route, by a caller one role short.
    let rest = [
        (
            &viewer_token,
            "POST",
            "/api/v1/branches",
            json!({"branch": "feature/y", "fork": true}),
            StatusCode::FORBIDDEN,
        ),
        (
            &reviewer_token,
            "POST",
            "/api/v1/branches",
            json!({"branch": "feature/y", "fork": true}),
            StatusCode::FORBIDDEN,
        ),
        (&viewer_token, "POST", "/api/v1/branches/feature-x/diffs/cfg/review", decision.clone(), StatusCode::FORBIDDEN),
        (
            &viewer_browser,
            "POST",
            "/api/v1/branches/feature-x/diffs/cfg/review",
            decision.clone(),
            StatusCode::FORBIDDEN,
        ),
        (
            &viewer_token,
            "POST",
            "/api/v1/branches/feature-x/reviews/bulk",
            json!({"status": "approved", "chart_ids": ["cfg"]}),
            StatusCode::FORBIDDEN,
        ),
        (&reviewer_token, "POST", "/api/v1/sync", json!({"branch": "feature-x"}), StatusCode::FORBIDDEN),
        (&reviewer_browser, "POST", "/api/v1/sync", json!({"branch": "feature-x"}), StatusCode::FORBIDDEN),
        (&Caller::anonymous(), "POST", "/api/v1/branches/feature-x/rescan", json!({}), StatusCode::UNAUTHORIZED),
        (&reviewer_token, "GET", "/api/v1/audit", Value::Null, StatusCode::FORBIDDEN),
    ];
    for (caller, method, path, body, expected) in rest {
        let (status, _, text) = send(&state, caller.json(method, path, body)).await;
        assert_eq!(status, expected, "{method} {path}: {text}");
        if expected == StatusCode::FORBIDDEN {
            assert!(text.contains("this route needs the"), "{method} {path} is refused by its extractor: {text}");
        }
    }

    // Server functions: a viewer's session cannot decide, a reviewer's cannot read the audit trail.
    let call = json!({"branch": "feature-x", "chart_id": "cfg", "review": decision});
    let (status, _, text) = send(&state, viewer_browser.json("POST", &server_fn("review_item"), call)).await;
    assert!(!status.is_success() && text.contains("you are a viewer"), "review_item as a viewer: {status} {text}");
    let query = json!({"query": {}});
    let (status, _, text) = send(&state, reviewer_browser.json("POST", &server_fn("audit_events"), query)).await;
    assert!(!status.is_success() && text.contains("you are a reviewer"), "audit_events as a reviewer: {status} {text}");

    // Forms: a viewer's decision and a reviewer's re-run come back refused.
    let fields = [
        ("status", "approved"),
        ("staging_hash", item.staging_hash.as_deref().unwrap_or("")),
        ("production_hash", item.production_hash.as_deref().unwrap_or("")),
        ("next", "/branches/feature-x/charts/cfg"),
    ];
    let (status, location, _) =
        send(&state, viewer_browser.form("/branches/feature-x/charts/cfg/review", &fields)).await;
    assert_eq!((status, location.as_str()), (StatusCode::SEE_OTHER, "/branches/feature-x/charts/cfg?notice=forbidden"));
    let (status, location, _) = send(&state, reviewer_browser.form("/jobs/1/rerun", &[])).await;
    assert_eq!((status, location.as_str()), (StatusCode::SEE_OTHER, "/jobs/1?notice=forbidden"));

    assert_eq!(footprint(&state).await, before, "no refused request changed anything");

    // The same doors open for the right role (so the refusals above are about the role).
    let (status, _, text) =
        send(&state, reviewer_token.json("POST", "/api/v1/branches/feature-x/diffs/cfg/review", decision)).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    env.cleanup().await;
}
