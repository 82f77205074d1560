//! The dataset upgrader (design §9) on SQLite and PostgreSQL stores: apply, compare-and-swap
//! skips, undo restoring the exact bytes and skipping edited charts, the items of an upgrade as
//! a group, the sync's `missing indicator` skip and its later write, and the API's refusals of
//! bad input (each leaving everything as it was).

use std::collections::BTreeMap;

use app::sync::SyncTrigger;
use app::types::{DiffQuery, ReviewStatus, Role};
use app::upgrades::{PreviewRequest, UpgradeRequest};
use axum::body::Body;
use axum::http::{Request, StatusCode};
use chartgate::access::Actor;
use chartgate::branches::{self, NewBranch};
use chartgate::charts::indicators::NewIndicator;
use chartgate::charts::{ChartStore, RawChart};
use chartgate::http::WebState;
use chartgate::state::AppState;
use chartgate::sync::{self, NewJob, Worker, WorkerOptions};
use chartgate::upgrades::{self, apply};
use chartgate::{accounts, diffs, reviews};
use serde_json::{json, Value};
use tower::ServiceExt;

use crate::on_both;
use crate::support::{chart, TestEnv};

const OLD: &str = "wb/2025";
const NEW: &str = "wb/2026";

fn actor() -> Actor {
    Actor::operator("reviewer@example.org")
}

fn indicator(dataset: &str, short: &str, name: &str, scale: f64) -> NewIndicator {
    let rows: Vec<Value> = ["France", "Chad"]
        .iter()
        .flat_map(|e| (2000..2004).map(move |y| json!({"entity": e, "time": y, "value": (y - 1999) as f64 * scale})))
        .collect();
    NewIndicator {
        id: format!("{dataset}/{short}"),
        dataset: dataset.into(),
        name: name.into(),
        unit: None,
        rows: Value::Array(rows).to_string(),
    }
}

fn old_indicators() -> Vec<NewIndicator> {
    vec![
        indicator(OLD, "gdp", "GDP per capita (constant 2017 US$)", 1.0),
        indicator(OLD, "pop", "Population, total", 2.0),
        indicator(OLD, "forest", "Forest area (sq. km)", 3.0),
    ]
}

fn new_indicators() -> Vec<NewIndicator> {
    vec![
        indicator(NEW, "gdp_pc", "GDP per capita (constant 2021 US$)", 1.1),
        indicator(NEW, "pop", "Total population", 2.0),
        indicator(NEW, "solar", "Installed solar capacity", 4.0),
    ]
}

/// A chart drawing `indicators` (ids), with their rows as data.
fn drawing(id: &str, indicators: &[&str]) -> RawChart {
    let mut c = chart(id, &format!("Chart {id}"));
    let dims: Vec<Value> = indicators.iter().map(|i| json!({"property": "y", "indicator": i})).collect();
    c.config = json!({"type": "line", "title": format!("Chart {id}"), "dimensions": dims, "note": indicators.first()})
        .to_string();
    let rows: Vec<Value> = indicators
        .iter()
        .flat_map(|i| (2000..2004).map(move |y| json!({"entity": "France", "time": y, "value": 1.0, "series": i})))
        .collect();
    c.data = json!({"rows": rows}).to_string();
    c
}

/// Production and a branch whose staging holds both dataset versions; production only the
/// old one. Charts a, b draw the old GDP/population; c draws forest only; d draws nothing.
async fn setup(env: &TestEnv) -> (AppState, ChartStore, ChartStore) {
    let (state, production) = env.state().await;
    let charts = vec![
        drawing("a", &["wb/2025/gdp"]),
        drawing("b", &["wb/2025/gdp", "wb/2025/pop"]),
        drawing("c", &["wb/2025/forest"]),
        chart("d", "No dimensions"),
    ];
    production.put_many(&charts).await.unwrap();
    production.create_indicators_table().await.unwrap();
    production.put_indicators(&old_indicators()).await.unwrap();
    let staging = env.store("staging").await;
    staging.copy_from(&production).await.unwrap();
    staging.create_indicators_table().await.unwrap();
    staging.put_indicators(&old_indicators()).await.unwrap();
    staging.put_indicators(&new_indicators()).await.unwrap();
    let new = NewBranch {
        branch: "data/wb",
        store_url: Some(&staging.url),
        fork: false,
        preview_url: None,
        target: None,
        repository: None,
    };
    branches::register(&state, &Actor::operator("test"), new).await.unwrap();
    (state, production, staging)
}

fn request(mapping: &[(&str, Option<&str>)], dry_run: bool) -> UpgradeRequest {
    UpgradeRequest {
        from: OLD.into(),
        to: NEW.into(),
        mapping: mapping.iter().map(|(o, n)| (o.to_string(), n.map(str::to_string))).collect(),
        dry_run,
    }
}

fn outcomes(charts: &[app::upgrades::ChartOutcome]) -> BTreeMap<String, (String, Option<String>)> {
    charts.iter().map(|c| (c.chart_id.clone(), (c.outcome.clone(), c.reason.clone()))).collect()
}

async fn upgrade_preview_apply_and_group_review(env: &TestEnv) {
    let (state, _, staging) = setup(env).await;
    let a = actor();
    let ds = upgrades::datasets(&state, &a, "data/wb").await.unwrap();
    let used: Vec<(&str, i64, i64)> =
        ds.datasets.iter().map(|d| (d.dataset.as_str(), d.indicators, d.charts)).collect();
    assert_eq!(used, [(OLD, 3, 3), (NEW, 3, 0)]);
    assert_eq!(ds.suggested.len(), 1);
    assert_eq!((ds.suggested[0].from.as_str(), ds.suggested[0].to.as_str()), (OLD, NEW));

    let p =
        upgrades::preview(&state, &a, "data/wb", &PreviewRequest { from: OLD.into(), to: NEW.into() }).await.unwrap();
    let pairs: Vec<(&str, Option<&str>)> = p.pairs.iter().map(|p| (p.old.as_str(), p.new.as_deref())).collect();
    // Old indicators in id order.
    assert_eq!(
        pairs,
        [("wb/2025/forest", None), ("wb/2025/gdp", Some("wb/2026/gdp_pc")), ("wb/2025/pop", Some("wb/2026/pop"))]
    );
    let (forest, gdp, pop) = (&p.pairs[0], &p.pairs[1], &p.pairs[2]);
    assert_eq!((forest.score, forest.old_rows, forest.rows_in_common), (0.0, 8, 0));
    assert!(gdp.score < 1.0 && gdp.score >= 0.6, "{gdp:?}");
    assert_eq!(pop.score, 1.0, "same words, other order");
    assert_eq!((gdp.rows_in_common, gdp.values_changed), (8, 8));
    assert!((gdp.max_relative_change.unwrap() - 0.1).abs() < 1e-9);
    assert_eq!((pop.rows_in_common, pop.values_changed, pop.max_relative_change), (8, 0, None));
    assert_eq!(p.unmatched_new, ["wb/2026/solar"]);
    assert_eq!(p.charts, ["a", "b", "c"]);

    // A dry run writes nothing.
    let before = staging.get("a").await.unwrap().unwrap();
    let mapping =
        [("wb/2025/gdp", Some("wb/2026/gdp_pc")), ("wb/2025/pop", Some("wb/2026/pop")), ("wb/2025/forest", None)];
    let dry = apply(&state, &a, "data/wb", &request(&mapping, true)).await.unwrap();
    assert_eq!(dry.id, None);
    assert_eq!(outcomes(&dry.charts).len(), 2, "c draws only an unmapped indicator");
    assert_eq!(staging.get("a").await.unwrap().unwrap(), before);

    let done = apply(&state, &a, "data/wb", &request(&mapping, false)).await.unwrap();
    let id = done.id.expect("recorded");
    assert_eq!(
        outcomes(&done.charts),
        BTreeMap::from([("a".into(), ("updated".into(), None)), ("b".into(), ("updated".into(), None))])
    );
    let a_now = staging.get("a").await.unwrap().unwrap();
    let config: Value = serde_json::from_str(&a_now.config).unwrap();
    assert_eq!(config["dimensions"][0]["indicator"], "wb/2026/gdp_pc");
    assert_eq!(config["note"], "wb/2026/gdp_pc", "any config string equal to the old id");
    let data: Value = serde_json::from_str(&a_now.data).unwrap();
    let rows = data["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 8, "the new indicator's rows");
    assert!(rows.iter().all(|r| r["series"] == "wb/2026/gdp_pc"));
    assert_ne!(a_now.updated_at, before.updated_at);
    let c_now = staging.get("c").await.unwrap().unwrap();
    assert!(c_now.config.contains("wb/2025/forest"), "mapped to null: left alone");

    // The items of the upgrade, as a group: filtered, tagged, bulk-approved.
    let q = DiffQuery { upgrade: Some(id), per_page: Some(500), ..Default::default() };
    let page = diffs::list(&state, "data/wb", &q, Role::Lead).await.unwrap();
    let ids: Vec<&str> = page.items.iter().map(|i| i.chart_id.as_str()).collect();
    assert_eq!(ids.len(), 2);
    assert!(ids.contains(&"a") && ids.contains(&"b"));
    assert!(page.items.iter().all(|i| i.upgrade == Some(id)));
    let none = DiffQuery { upgrade: Some(id + 100), ..Default::default() };
    assert_eq!(diffs::list(&state, "data/wb", &none, Role::Lead).await.unwrap().total, 0);
    let reviewer =
        accounts::add_user(&state.db, &Actor::operator("t"), "r@example.org", Role::Reviewer, None).await.unwrap();
    let bulk = app::types::BulkReviewRequest {
        status: ReviewStatus::Approved,
        chart_ids: page.items.iter().map(|i| i.chart_id.clone()).collect(),
        comment: None,
    };
    reviews::decide_many(&state, "data/wb", &reviewer, &bulk).await.unwrap();
    let approved = DiffQuery { upgrade: Some(id), status: Some("approved".into()), ..Default::default() };
    assert_eq!(diffs::list(&state, "data/wb", &approved, Role::Lead).await.unwrap().total, 2);

    // Listed and audited with its mapping.
    let list = upgrades::list(&state, &a, "data/wb").await.unwrap();
    assert_eq!((list.len(), list[0].updated, list[0].skipped), (1, 2, 0));
    let one = upgrades::get(&state, &a, "data/wb", id).await.unwrap();
    assert_eq!(one.mapping.get("wb/2025/gdp"), Some(&Some("wb/2026/gdp_pc".to_string())));
    assert_eq!(one.mapping.get("wb/2025/forest"), Some(&None));
    let audit: i64 = sqlx::Row::get(
        &sqlx::query(
            "select count(*) as n from audit_events where action = 'upgrade.apply' and detail like '%wb/2026/gdp_pc%'",
        )
        .fetch_one(&state.db.pool)
        .await
        .unwrap(),
        "n",
    );
    assert_eq!(audit, 1);
}
on_both!(upgrade_preview_apply_and_group_review);

async fn a_chart_edited_after_the_read_is_skipped(env: &TestEnv) {
    let (state, _, staging) = setup(env).await;
    let a = actor();
    let mapping = [("wb/2025/gdp", Some("wb/2026/gdp_pc"))];
    let plan = apply::plan(&state, &a, "data/wb", &request(&mapping, false)).await.unwrap();
    assert_eq!(plan.charts.len(), 2);
    // Someone edits chart b between the read and the write.
    let mut b = staging.get("b").await.unwrap().unwrap();
    b.metadata = json!({"unit": "edited meanwhile"}).to_string();
    b.updated_at = "2025-03-03T00:00:00Z".into();
    staging.put_many(std::slice::from_ref(&b)).await.unwrap();
    let done = apply::execute(&state, &a, plan, false, &indicatif::ProgressBar::hidden()).await.unwrap();
    assert_eq!(
        outcomes(&done.charts),
        BTreeMap::from([
            ("a".into(), ("updated".into(), None)),
            ("b".into(), ("skipped".into(), Some(apply::CHANGED_SINCE_READ.into())))
        ])
    );
    assert_eq!(staging.get("b").await.unwrap().unwrap(), b, "the edit stands");
}
on_both!(a_chart_edited_after_the_read_is_skipped);

async fn undo_restores_the_exact_bytes_and_skips_edited_charts(env: &TestEnv) {
    let (state, _, staging) = setup(env).await;
    let a = actor();
    // Bytes no serializer would write: spaces, key order.
    let mut original = staging.get("a").await.unwrap().unwrap();
    original.config = original.config.replacen('{', "{ ", 1).replace(",\"", ",  \"");
    staging.put_many(std::slice::from_ref(&original)).await.unwrap();
    let before_b = staging.get("b").await.unwrap().unwrap();
    let mapping = [("wb/2025/gdp", Some("wb/2026/gdp_pc")), ("wb/2025/pop", Some("wb/2026/pop"))];
    let id = apply(&state, &a, "data/wb", &request(&mapping, false)).await.unwrap().id.unwrap();
    // b is edited after the upgrade.
    let mut b = staging.get("b").await.unwrap().unwrap();
    b.slug = "edited-after".into();
    b.updated_at = "2026-01-01T00:00:00Z".into();
    staging.put_many(std::slice::from_ref(&b)).await.unwrap();

    let undone = upgrades::undo(&state, &a, "data/wb", id).await.unwrap();
    assert_eq!(
        outcomes(&undone.charts),
        BTreeMap::from([
            ("a".into(), ("updated".into(), None)),
            ("b".into(), ("skipped".into(), Some(apply::EDITED_SINCE.into())))
        ])
    );
    assert_eq!(staging.get("a").await.unwrap().unwrap(), original, "every byte, updated_at included");
    assert_eq!(staging.get("b").await.unwrap().unwrap(), b);
    assert_ne!(b, before_b);
    // The upgrade's items are gone with its content; a second undo is refused.
    let q = DiffQuery { upgrade: Some(id), ..Default::default() };
    let left: Vec<String> =
        diffs::list(&state, "data/wb", &q, Role::Lead).await.unwrap().items.into_iter().map(|i| i.chart_id).collect();
    assert!(left.is_empty(), "{left:?}");
    let again = upgrades::undo(&state, &a, "data/wb", id).await.unwrap_err();
    assert_eq!(again.status(), StatusCode::CONFLICT, "{again}");
    let one = upgrades::get(&state, &a, "data/wb", id).await.unwrap();
    assert!(one.undone_at.is_some());
}
on_both!(undo_restores_the_exact_bytes_and_skips_edited_charts);

async fn run_sync(state: &AppState, branch: &str) -> app::sync::SyncJob {
    let new = NewJob { branch, dry_run: false, trigger: SyncTrigger::Api, delivery_id: None, idempotency_key: None };
    let id = sync::enqueue(state, &Actor::operator("lead@example.org"), new).await.unwrap().job_id;
    let worker = Worker::new(state.clone(), WorkerOptions::default());
    while worker.run_next().await.unwrap().is_some() {}
    let job = sync::get_job(&state.db, id).await.unwrap();
    assert!(job.status.is_finished(), "{job:?}");
    job
}

async fn sync_waits_for_the_indicators_to_reach_production(env: &TestEnv) {
    let (state, production, _) = setup(env).await;
    let a = actor();
    let mapping = [("wb/2025/gdp", Some("wb/2026/gdp_pc"))];
    let id = apply(&state, &a, "data/wb", &request(&mapping, false)).await.unwrap().id.unwrap();
    let lead = accounts::add_user(&state.db, &Actor::operator("t"), "l@example.org", Role::Lead, None).await.unwrap();
    let ids: Vec<String> =
        diffs::list(&state, "data/wb", &DiffQuery { upgrade: Some(id), ..Default::default() }, Role::Lead)
            .await
            .unwrap()
            .items
            .into_iter()
            .map(|i| i.chart_id)
            .collect();
    let bulk = app::types::BulkReviewRequest { status: ReviewStatus::Approved, chart_ids: ids, comment: None };
    reviews::decide_many(&state, "data/wb", &lead, &bulk).await.unwrap();

    let job = run_sync(&state, "data/wb").await;
    let skipped: Vec<(&str, Option<&str>)> = job
        .items
        .iter()
        .filter(|i| i.chart_id == "a" || i.chart_id == "b")
        .map(|i| (i.chart_id.as_str(), i.reason.as_deref()))
        .collect();
    assert_eq!(skipped, [("a", Some("missing indicator")), ("b", Some("missing indicator"))], "{job:?}");
    assert!(production.get("a").await.unwrap().unwrap().config.contains("wb/2025/gdp"), "nothing written");

    // The data deploy reaches production; the next sync writes the charts.
    production.put_indicators(&new_indicators()).await.unwrap();
    let job = run_sync(&state, "data/wb").await;
    let written: Vec<(&str, Option<app::sync::SyncOutcome>)> = job
        .items
        .iter()
        .filter(|i| i.chart_id == "a" || i.chart_id == "b")
        .map(|i| (i.chart_id.as_str(), i.outcome))
        .collect();
    assert_eq!(
        written,
        [("a", Some(app::sync::SyncOutcome::Updated)), ("b", Some(app::sync::SyncOutcome::Updated))],
        "{job:?}"
    );
    assert!(production.get("a").await.unwrap().unwrap().config.contains("wb/2026/gdp_pc"));
}
on_both!(sync_waits_for_the_indicators_to_reach_production);

async fn call(state: &AppState, token: &str, method: &str, path: &str, body: Option<Value>) -> (StatusCode, Value) {
    let app = chartgate::http::api::router().with_state(WebState::new(state.clone()));
    let mut req = Request::builder().method(method).uri(path).header("authorization", format!("Bearer {token}"));
    let body = match body {
        Some(b) => {
            req = req.header("content-type", "application/json");
            Body::from(b.to_string())
        }
        None => Body::empty(),
    };
    let resp = app.oneshot(req.body(body).unwrap()).await.unwrap();
    let status = resp.status();
    let bytes = axum::body::to_bytes(resp.into_body(), 1 << 24).await.unwrap();
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

/// Every bad input is a 4xx naming the problem, and nothing is written or recorded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_refuses_bad_input_and_writes_nothing() {
    let env = TestEnv::new(crate::support::Kind::Sqlite).await;
    let (state, production, staging) = setup(&env).await;
    let op = Actor::operator("t");
    accounts::add_user(&state.db, &op, "r@example.org", Role::Reviewer, None).await.unwrap();
    accounts::add_user(&state.db, &op, "v@example.org", Role::Viewer, None).await.unwrap();
    let reviewer = accounts::create_token(&state.db, &op, "r@example.org").await.unwrap();
    let viewer = accounts::create_token(&state.db, &op, "v@example.org").await.unwrap();
    let snapshot = |s: &ChartStore| {
        let s = s.clone();
        async move {
            let mut ids: Vec<String> = s.stamps().await.unwrap().into_iter().map(|x| x.id).collect();
            ids.sort();
            s.read(&ids).await.unwrap()
        }
    };
    let before = snapshot(&staging).await;

    let path = "/api/v1/branches/data-wb/upgrades";
    let cases: Vec<(Value, StatusCode, &str)> = vec![
        (json!({"from": "wb/1999", "to": NEW, "mapping": {}}), StatusCode::NOT_FOUND, "unknown dataset \"wb/1999\""),
        (json!({"from": OLD, "to": "xx/2026", "mapping": {}}), StatusCode::NOT_FOUND, "unknown dataset \"xx/2026\""),
        (
            json!({"from": OLD, "to": NEW, "mapping": {"wb/2025/gdp": "wb/2025/pop"}}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "is an indicator of dataset wb/2025, not of the to dataset wb/2026",
        ),
        (
            json!({"from": OLD, "to": NEW, "mapping": {"wb/2025/gdp": "wb/2026/nothing"}}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "there is no indicator \"wb/2026/nothing\"",
        ),
        (
            json!({"from": OLD, "to": NEW, "mapping": {"wb/2026/pop": "wb/2026/pop"}}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "not of the from dataset",
        ),
        (
            json!({"from": OLD, "to": NEW, "mapping": {"wb/2025/gdp": "wb/2026/pop", "wb/2025/pop": "wb/2026/pop"}}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "is mapped from more than one old indicator (wb/2025/gdp, wb/2025/pop)",
        ),
        (json!({"from": OLD, "to": OLD, "mapping": {}}), StatusCode::UNPROCESSABLE_ENTITY, "the same dataset"),
        (
            json!({"from": OLD, "to": NEW, "mapping": {"wb/2025/gdp": null}}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "no old indicator is mapped",
        ),
    ];
    for (body, status, message) in cases {
        let (got, answer) = call(&state, &reviewer, "POST", path, Some(body.clone())).await;
        assert_eq!(got, status, "{body}: {answer}");
        let text = answer["error"]["message"].as_str().unwrap_or_default();
        assert!(text.contains(message), "{body}: {text:?} should say {message:?}");
    }
    let (got, answer) =
        call(&state, &reviewer, "POST", &format!("{path}/preview"), Some(json!({"from": "nope/1", "to": NEW}))).await;
    assert_eq!(got, StatusCode::NOT_FOUND, "{answer}");

    // Viewers may look, not change.
    let (got, _) = call(&state, &viewer, "GET", "/api/v1/branches/data-wb/datasets", None).await;
    assert_eq!(got, StatusCode::OK);
    let good = json!({"from": OLD, "to": NEW, "mapping": {"wb/2025/gdp": "wb/2026/gdp_pc"}});
    let (got, _) = call(&state, &viewer, "POST", path, Some(good.clone())).await;
    assert_eq!(got, StatusCode::FORBIDDEN);
    let (got, _) =
        call(&state, &viewer, "POST", &format!("{path}/preview"), Some(json!({"from": OLD, "to": NEW}))).await;
    assert_eq!(got, StatusCode::FORBIDDEN);
    let (got, answer) = call(&state, &reviewer, "GET", &format!("{path}/77"), None).await;
    assert_eq!(got, StatusCode::NOT_FOUND, "{answer}");
    let (got, _) = call(&state, &reviewer, "POST", &format!("{path}/77/undo"), None).await;
    assert_eq!(got, StatusCode::NOT_FOUND);

    assert_eq!(snapshot(&staging).await, before, "nothing written");
    let (_, list) = call(&state, &viewer, "GET", path, None).await;
    assert_eq!(list, json!([]), "nothing recorded");

    // A branch whose store has no indicators table.
    let plain = env.store("plain").await;
    plain.copy_from(&production).await.unwrap();
    let new = NewBranch {
        branch: "plain",
        store_url: Some(&plain.url),
        fork: false,
        preview_url: None,
        target: None,
        repository: None,
    };
    branches::register(&state, &op, new).await.unwrap();
    let (got, answer) = call(&state, &reviewer, "POST", "/api/v1/branches/plain/upgrades", Some(good)).await;
    assert_eq!(got, StatusCode::CONFLICT, "{answer}");
    assert!(answer["error"]["message"].as_str().unwrap().contains("has no indicators table"), "{answer}");
    let (got, _) = call(&state, &viewer, "GET", "/api/v1/branches/plain/datasets", None).await;
    assert_eq!(got, StatusCode::CONFLICT);

    // The good request, over HTTP: 201, then its page and undo.
    let good = json!({"from": OLD, "to": NEW, "mapping": {"wb/2025/gdp": "wb/2026/gdp_pc"}});
    let (got, answer) = call(&state, &reviewer, "POST", path, Some(good)).await;
    assert_eq!(got, StatusCode::CREATED, "{answer}");
    let id = answer["id"].as_i64().unwrap();
    let (got, one) = call(&state, &viewer, "GET", &format!("{path}/{id}"), None).await;
    assert_eq!((got, one["updated"].as_i64()), (StatusCode::OK, Some(2)), "{one}");
    let (got, undone) = call(&state, &reviewer, "POST", &format!("{path}/{id}/undo"), None).await;
    assert_eq!(got, StatusCode::OK, "{undone}");
    assert_eq!(snapshot(&staging).await, before, "undo put every byte back");
    env.cleanup().await;
}
