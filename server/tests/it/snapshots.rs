//! The API's JSON answers as snapshots (insta): a change to a shape, a field name or an order shows
//! as a snapshot diff in the failure message. Times that depend on when the test ran are redacted;
//! hashes are not (the scenario's content is fixed, so its versions are too).

use app::types::Role;
use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use chartgate::access::Actor;
use chartgate::accounts;
use chartgate::http::WebState;
use chartgate::state::AppState;
use serde_json::{json, Value};
use tower::ServiceExt;

use crate::engine::scenario;
use crate::support::{Kind, TestEnv};

async fn call(state: &AppState, token: &str, method: &str, path: &str, body: Option<Value>) -> Value {
    let req = Request::builder()
        .method(method)
        .uri(path)
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(body.map(|b| Body::from(b.to_string())).unwrap_or_default())
        .unwrap();
    let resp = chartgate::http::router(WebState::new(state.clone())).oneshot(req).await.unwrap();
    let status = resp.status();
    let bytes = axum::body::to_bytes(resp.into_body(), 1 << 24).await.unwrap();
    let value: Value = serde_json::from_slice(&bytes).unwrap();
    assert!(status == StatusCode::OK || status == StatusCode::CREATED, "{method} {path}: {status} {value}");
    value
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_answers_keep_their_shape() {
    let env = TestEnv::new(Kind::Sqlite).await;
    let (state, _, _) = scenario(&env).await;
    let operator = Actor::operator("test");
    accounts::add_user(&state.db, &operator, "rex@example.org", Role::Reviewer, None).await.unwrap();
    let token = accounts::create_token(&state.db, &operator, "rex@example.org").await.unwrap();

    let list = call(&state, &token, "GET", "/api/v1/branches/feature-x/diffs?sort=slug", None).await;
    insta::assert_json_snapshot!("diff_list", list, { ".last_scan_at" => "[scan time]" });

    let detail = call(&state, &token, "GET", "/api/v1/branches/feature-x/diffs/data", None).await;
    insta::assert_json_snapshot!("diff_detail_data", detail);

    let item = &list["items"].as_array().unwrap().iter().find(|i| i["chart_id"] == "cfg").unwrap().clone();
    let body = json!({
        "status": "approved",
        "staging_hash": item["staging_hash"],
        "production_hash": item["production_hash"],
        "comment": "fine",
    });
    let decided = call(&state, &token, "POST", "/api/v1/branches/feature-x/diffs/cfg/review", Some(body)).await;
    insta::assert_json_snapshot!("review_decided", decided, {
        ".review.at" => "[decision time]",
        ".review.approvals[].at" => "[decision time]",
    });

    let bulk = json!({"status": "rejected", "chart_ids": ["meta", "conflict", "nope"]});
    let result = call(&state, &token, "POST", "/api/v1/branches/feature-x/reviews/bulk", Some(bulk)).await;
    insta::assert_json_snapshot!("review_bulk", result);

    let gate = call(&state, &token, "GET", "/api/v1/branches/feature-x/gate", None).await;
    insta::assert_json_snapshot!("gate", gate);
    env.cleanup().await;
}
