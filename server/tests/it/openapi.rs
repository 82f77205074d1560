//! The OpenAPI document as the real server serves it (`/api/v1/openapi.json`): unique operation
//! ids, the bounds the server enforces, and the 400 that names a missing required field — the
//! merge's hashes included. `scripts/contract.sh` runs a validator and a property-based fuzzer
//! against the same document and server.

use std::collections::BTreeMap;

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::api::{assert_error, spawn_server, token_for};

/// Every operation of the document, `(id, "METHOD path", operation)`.
fn operations(doc: &Value) -> Vec<(String, String, Value)> {
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let id = op["operationId"].as_str().unwrap_or_default().to_string();
            out.push((id, format!("{} {path}", method.to_uppercase()), op.clone()));
        }
    }
    out
}

fn param<'a>(op: &'a Value, name: &str) -> &'a Value {
    op["parameters"].as_array().unwrap().iter().find(|p| p["name"] == name).unwrap_or(&Value::Null)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_served_document_has_unique_ids_and_the_servers_bounds() {
    let s = spawn_server();
    let (st, doc) = s.get("/api/v1/openapi.json", None).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(doc, serde_json::to_value(chartgate::http::openapi::document()).unwrap(), "served as built");

    let ops = operations(&doc);
    assert!(ops.len() > 30, "{} operations", ops.len());
    let mut seen: BTreeMap<&str, &str> = BTreeMap::new();
    for (id, at, _) in &ops {
        assert!(!id.is_empty(), "{at} has no operationId");
        assert!(!["list", "one", "detail", "review"].contains(&id.as_str()), "{at}: {id:?} says too little");
        if let Some(other) = seen.insert(id, at) {
            panic!("{at} and {other} share the operation id {id:?}");
        }
    }

    let by_id = |id: &str| ops.iter().find(|(i, _, _)| i == id).map(|(_, _, op)| op.clone()).unwrap();
    let (list, detail) = (by_id("list_diffs"), by_id("get_diff"));
    let per_page = &param(&list, "per_page")["schema"];
    assert_eq!(per_page["minimum"], 1, "{per_page}");
    assert_eq!(per_page["maximum"], chartgate::diffs::MAX_PER_PAGE, "{per_page}");
    let against = &param(&detail, "against")["schema"];
    assert!(against.to_string().contains("approved"), "an enum: {against}");
    // Every route's errors carry the error body; the hook lists its 503.
    let hook = by_id("github_hook");
    assert!(hook["responses"]["503"]["content"]["application/json"]["schema"].is_object(), "{hook}");
    for (_, at, op) in &ops {
        for (status, answer) in op["responses"].as_object().unwrap() {
            if status.starts_with('4') || status.starts_with('5') {
                let schema = &answer["content"]["application/json"]["schema"];
                assert!(schema.to_string().contains("ErrorBody") || at.contains("readyz"), "{at} {status}: {answer}");
            }
        }
    }
    // The merge request's hashes are required; bodies' non-empty fields say so.
    let schemas = &doc["components"]["schemas"];
    let required = |name: &str| schemas[name]["required"].as_array().cloned().unwrap_or_default();
    for field in ["staging_hash", "production_hash"] {
        assert!(required("MergeRequest").contains(&json!(field)), "{}", schemas["MergeRequest"]);
    }
    assert_eq!(schemas["BulkReviewRequest"]["properties"]["chart_ids"]["minItems"], 1);
    assert_eq!(schemas["SyncRequest"]["properties"]["branch"]["minLength"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_required_field_is_a_400_naming_it() {
    let s = spawn_server();
    let reviewer = token_for(s.dir.path(), "rita@example.org", "reviewer");
    let branch = "/api/v1/branches/feature-energy-update";
    let (_, page) = s.get(&format!("{branch}/diffs"), Some(&s.viewer)).await;
    let chart = page["items"][0]["chart_id"].as_str().expect("a demo item").to_string();

    let missing = [
        ("/api/v1/sync".to_string(), json!({"dry_run": true}), "`branch`"),
        (format!("{branch}/diffs/{chart}/review"), json!({"staging_hash": null}), "`status`"),
        (format!("{branch}/reviews/bulk"), json!({"status": "approved"}), "`chart_ids`"),
        (format!("{branch}/upgrades/preview"), json!({"from": "a"}), "`to`"),
        (
            format!("{branch}/groups/g/review"),
            json!({"status": "approved", "items": [{"staging_hash": null}]}),
            "items[0].chart_id",
        ),
    ];
    for (path, body, field) in missing {
        let token = if path == "/api/v1/sync" { &s.lead } else { &reviewer };
        let (st, err) = s.post(&path, Some(token), body).await;
        assert_error(st, &err, StatusCode::BAD_REQUEST, "bad_request");
        let message = err["error"]["message"].as_str().unwrap();
        assert!(message.contains(field), "POST {path}: the message names {field}: {message}");
    }
    // A value of the wrong type is still a 422.
    let (st, err) = s.post("/api/v1/sync", Some(&s.lead), json!({"branch": 7})).await;
    assert_error(st, &err, StatusCode::UNPROCESSABLE_ENTITY, "unprocessable");
    // Out of the document's bounds: 400.
    let (st, err) = s.get(&format!("{branch}/diffs?per_page=0"), Some(&s.viewer)).await;
    assert_error(st, &err, StatusCode::BAD_REQUEST, "bad_request");
    let (st, err) = s.get(&format!("{branch}/diffs/{chart}?against=yesterday"), Some(&s.viewer)).await;
    assert_error(st, &err, StatusCode::BAD_REQUEST, "bad_request");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_merge_without_the_plans_hashes_is_a_400_naming_them() {
    let s = spawn_server();
    let reviewer = token_for(s.dir.path(), "rita@example.org", "reviewer");
    let branch = "/api/v1/branches/feature-energy-update";
    let (_, page) = s.get(&format!("{branch}/diffs?conflict=true"), Some(&s.viewer)).await;
    let chart = page["items"][0]["chart_id"].as_str().expect("a demo conflict").to_string();
    let merge = format!("{branch}/diffs/{chart}/merge");
    let (st, plan) = s.get(&merge, Some(&reviewer)).await;
    assert_eq!(st, StatusCode::OK, "{plan}");

    let (st, err) = s.post(&merge, Some(&reviewer), json!({"choices": {}})).await;
    assert_error(st, &err, StatusCode::BAD_REQUEST, "bad_request");
    assert!(err["error"]["message"].as_str().unwrap().contains("`staging_hash`"), "{err}");
    let (st, err) = s.post(&merge, Some(&reviewer), json!({"staging_hash": plan["staging_hash"]})).await;
    assert_error(st, &err, StatusCode::BAD_REQUEST, "bad_request");
    assert!(err["error"]["message"].as_str().unwrap().contains("`production_hash`"), "{err}");
    // With the hashes it is about the content again: other hashes than the plan's are a 409.
    let (st, err) =
        s.post(&merge, Some(&reviewer), json!({"staging_hash": "0".repeat(64), "production_hash": null})).await;
    assert_error(st, &err, StatusCode::CONFLICT, "conflict");
}
