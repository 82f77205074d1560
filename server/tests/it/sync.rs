//! Sync on merge, on SQLite and PostgreSQL: only approved content is written, every skip has its
//! reason, compare-and-swap against production, hook signatures (GitHub's published vector,
//! rotation), redelivery and idempotency, jobs of one store one after the other, dry runs, a
//! production store that is down, the archive sweep — and, through the real binary, a server
//! killed with SIGKILL mid-job whose restart finishes the job with every chart whole.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use app::sync::{JobStatus, SyncJob, SyncOutcome, SyncTrigger};
use app::types::{DiffItem, ReviewRequest, ReviewStatus, Role};
use axum::body::Body;
use axum::http::{Request, StatusCode};
use chartgate::access::{Actor, User};
use chartgate::accounts;
use chartgate::branches::{self, NewBranch};
use chartgate::charts::store::{Swap, Target};
use chartgate::charts::{canonicalize, ChartStore, RawChart};
use chartgate::config::Config;
use chartgate::error::Error;
use chartgate::http::api::github as hook;
use chartgate::http::WebState;
use chartgate::state::AppState;
use chartgate::sync::{self, NewJob, Worker, WorkerOptions};
use chartgate::{diffs, reviews};
use serde_json::{json, Value};
use sqlx::Row;
use tower::ServiceExt;

use crate::engine::scenario;
use crate::support::{chart, edited, TestEnv};
use crate::{on_both, on_stores};

const DEADLINE: Duration = Duration::from_secs(90);

async fn lead(state: &AppState) -> User {
    match accounts::user_by_email(&state.db, "lead@example.org").await.unwrap() {
        Some(u) => u,
        None => {
            accounts::add_user(&state.db, &Actor::operator("test"), "lead@example.org", Role::Lead, None).await.unwrap()
        }
    }
}

/// Decides one item of `branch` on its current hashes.
pub(crate) async fn decide(state: &AppState, branch: &str, id: &str, status: ReviewStatus) -> DiffItem {
    let user = lead(state).await;
    let item = diffs::item(state, branch, id).await.unwrap();
    let req = ReviewRequest {
        status,
        staging_hash: item.staging_hash.clone(),
        production_hash: item.production_hash.clone(),
        comment: None,
    };
    reviews::decide(state, branch, id, &user, &req).await.unwrap()
}

pub(crate) async fn enqueue(state: &AppState, branch: &str, dry_run: bool) -> i64 {
    let new = NewJob { branch, dry_run, trigger: SyncTrigger::Api, delivery_id: None, idempotency_key: None };
    sync::enqueue(state, &Actor::operator("lead@example.org"), new).await.unwrap().job_id
}

/// Runs the queue in this task until `job` has ended.
pub(crate) async fn run(state: &AppState, job: i64) -> SyncJob {
    let worker = Worker::new(state.clone(), WorkerOptions::default());
    while worker.run_next().await.unwrap().is_some() {}
    let job = sync::get_job(&state.db, job).await.unwrap();
    assert!(job.status.is_finished(), "{job:?}");
    job
}

/// Polls a job until it has ended.
async fn finished(state: &AppState, id: i64) -> SyncJob {
    let started = Instant::now();
    loop {
        let job = sync::get_job(&state.db, id).await.unwrap();
        if job.status.is_finished() {
            return job;
        }
        assert!(started.elapsed() < DEADLINE, "job {id} did not finish: {job:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

pub(crate) fn outcomes(job: &SyncJob) -> BTreeMap<String, (SyncOutcome, Option<String>)> {
    job.items
        .iter()
        .map(|i| (i.chart_id.clone(), (i.outcome.expect("every item has an outcome"), i.reason.clone())))
        .collect()
}

fn done(o: SyncOutcome) -> (SyncOutcome, Option<String>) {
    (o, None)
}

fn skipped(why: &str) -> (SyncOutcome, Option<String>) {
    (SyncOutcome::Skipped, Some(why.to_string()))
}

async fn hash_in(store: &ChartStore, id: &str) -> Option<String> {
    store.get(id).await.unwrap().map(|r| canonicalize(&r).expect("a whole chart").hash)
}

async fn all_rows(store: &ChartStore) -> Vec<RawChart> {
    let ids: Vec<String> = store.stamps().await.unwrap().into_iter().map(|s| s.id).collect();
    let mut rows = store.read(&ids).await.unwrap();
    rows.sort_by(|a, b| a.id.cmp(&b.id));
    rows
}

/// The `n` of a `select count(*) as n …` statement.
async fn count(state: &AppState, sql: &str) -> i64 {
    sqlx::query(sql).fetch_one(&state.db.pool).await.unwrap().get("n")
}

/// A branch state: `open`, `merged` or `archived`.
async fn branch_state(state: &AppState, name: &str) -> (String, Option<String>) {
    let b = branches::get(state, name, Role::Lead).await.unwrap();
    (b.state, b.merged_at)
}

async fn only_approved_items_are_written(env: &TestEnv) {
    let (state, production, staging) = scenario(env).await;
    let approved: HashMap<&str, DiffItem> = {
        let mut m = HashMap::new();
        for id in ["cfg", "data", "gone", "new"] {
            m.insert(id, decide(&state, "feature-x", id, ReviewStatus::Approved).await);
        }
        m
    };
    decide(&state, "feature-x", "meta", ReviewStatus::Rejected).await;
    let meta_before = hash_in(&production, "meta").await;
    let conflict_before = hash_in(&production, "conflict").await;

    // Staging changes `data` behind Chartgate's back (same updated_at, so an incremental scan
    // does not see it): the job must write the approved version, not what staging holds now.
    let mut sneaky = staging.get("data").await.unwrap().unwrap();
    sneaky = RawChart {
        updated_at: sneaky.updated_at.clone(),
        ..edited(&sneaky, "data", |v| v["rows"][1]["value"] = json!(99))
    };
    staging.put_many(&[sneaky.clone()]).await.unwrap();

    let id = enqueue(&state, "feature/x", false).await;
    let job = run(&state, id).await;
    assert_eq!(job.status, JobStatus::Partial, "{job:?}");
    assert_eq!(job.branch, "feature-x");
    assert_eq!((job.total, job.done, job.attempts), (6, 6, 1));
    let expected: BTreeMap<String, _> = [
        ("cfg", done(SyncOutcome::Updated)),
        ("conflict", skipped("conflict")),
        ("data", done(SyncOutcome::Updated)),
        ("gone", done(SyncOutcome::Deleted)),
        ("meta", skipped("rejected")),
        ("new", done(SyncOutcome::Created)),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    assert_eq!(outcomes(&job), expected);

    for id in ["cfg", "data", "new"] {
        assert_eq!(hash_in(&production, id).await, approved[id].staging_hash, "{id} holds the approved version");
    }
    assert_ne!(hash_in(&production, "data").await, Some(canonicalize(&sneaky).unwrap().hash));
    assert_eq!(hash_in(&production, "gone").await, None, "deleted");
    assert_eq!(hash_in(&production, "meta").await, meta_before, "rejected: untouched");
    assert_eq!(hash_in(&production, "conflict").await, conflict_before, "pending conflict: untouched");
    let untouched = production.get("prodonly").await.unwrap().unwrap();
    assert!(untouched.metadata.contains('‰'), "a production-only change is never reverted");

    let (st, merged_at) = branch_state(&state, "feature-x").await;
    assert_eq!(st, "merged");
    assert!(merged_at.is_some());
    let items = count(&state, "select count(*) as n from audit_events where action = 'sync.item'").await;
    assert_eq!(items, 6, "every outcome is audited once");
    for action in ["sync.enqueue", "sync.start", "sync.plan", "sync.finish", "branch.merge"] {
        let n = count(&state, &format!("select count(*) as n from audit_events where action = '{action}'")).await;
        assert_eq!(n, 1, "{action}");
    }

    // Again: what production already holds as approved is `unchanged`, and nothing is rewritten.
    let stamps = production.stamps().await.unwrap();
    let again = run(&state, enqueue(&state, "feature-x", false).await).await;
    let o = outcomes(&again);
    for id in ["cfg", "data", "gone", "new"] {
        assert_eq!(o[id], done(SyncOutcome::Unchanged), "{id}: {again:?}");
    }
    assert_eq!(o["meta"], skipped("rejected"));
    assert_eq!(production.stamps().await.unwrap(), stamps, "a second run writes nothing");
}
on_stores!(only_approved_items_are_written, sql);

async fn every_skip_has_its_reason(env: &TestEnv) {
    let (state, production, staging) = scenario(env).await;
    // stale: approved, then staging changed.
    decide(&state, "feature-x", "cfg", ReviewStatus::Approved).await;
    let cfg = staging.get("cfg").await.unwrap().unwrap();
    let changed = edited(&cfg, "config", |v| v["title"] = json!("Changed after approval"));
    staging.put_many(&[RawChart { updated_at: "2026-01-01T00:00:00Z".into(), ..changed }]).await.unwrap();
    // production changed: approved, then production edited the chart.
    decide(&state, "feature-x", "data", ReviewStatus::Approved).await;
    let prod_data = production.get("data").await.unwrap().unwrap();
    let prod_edit = edited(&prod_data, "metadata", |v| v["unit"] = json!("hotfix"));
    production.put_many(std::slice::from_ref(&prod_edit)).await.unwrap();
    // rejected; conflict (pending); pending; applied.
    decide(&state, "feature-x", "meta", ReviewStatus::Rejected).await;
    decide(&state, "feature-x", "gone", ReviewStatus::Approved).await;
    // unreadable: staging breaks a chart.
    let same = staging.get("same").await.unwrap().unwrap();
    staging
        .put_many(&[RawChart { data: "{\"rows\": [".into(), updated_at: "2026-03-03T00:00:00Z".into(), ..same }])
        .await
        .unwrap();

    let job = run(&state, enqueue(&state, "feature-x", false).await).await;
    assert_eq!(job.status, JobStatus::Partial);
    let expected: BTreeMap<String, _> = [
        ("cfg", skipped("stale")),
        ("conflict", skipped("conflict")),
        ("data", skipped("production changed")),
        ("gone", done(SyncOutcome::Deleted)),
        ("meta", skipped("rejected")),
        ("new", skipped("pending")),
        ("same", skipped("unreadable")),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    assert_eq!(outcomes(&job), expected);
    assert_eq!(production.get("data").await.unwrap().unwrap(), prod_edit, "production's own edit stays");
    let cfg_now = production.get("cfg").await.unwrap().unwrap();
    assert_eq!(cfg_now.config, chart("cfg", "Chart cfg").config, "stale: production keeps its version");
    let reasons: Vec<String> = sqlx::query(
        "select detail from audit_events where action = 'sync.item' and chart_id in ('cfg', 'data') order by chart_id",
    )
    .fetch_all(&state.db.pool)
    .await
    .unwrap()
    .iter()
    .map(|r| {
        serde_json::from_str::<Value>(&r.get::<String, _>("detail")).unwrap()["reason"].as_str().unwrap().to_string()
    })
    .collect();
    assert_eq!(reasons, ["stale", "production changed"], "reasons reach the audit trail");
}
on_stores!(every_skip_has_its_reason, sql);

/// The compare-and-swap itself, on a real store.
async fn compare_and_swap_writes_only_over_the_expected_version(env: &TestEnv) {
    let store = env.store("cas").await;
    let a = chart("a", "Alpha");
    store.put_many(&[a.clone(), chart("other", "Other")]).await.unwrap();
    let a_hash = canonicalize(&a).unwrap().hash;
    let b = canonicalize(&edited(&a, "config", |v| v["title"] = json!("Beta"))).unwrap();
    let target = Target {
        hash: &b.hash,
        slug: &b.slug,
        config: &b.config,
        data: &b.data,
        metadata: &b.metadata,
        document: None,
    };

    let wrong = store.compare_and_swap("a", Some("0000"), Some(&target), false).await.unwrap();
    assert_eq!(wrong, Swap::Changed { found: Some(a_hash.clone()) });
    assert_eq!(hash_in(&store, "a").await.as_deref(), Some(a_hash.as_str()), "nothing written");
    assert_eq!(store.compare_and_swap("a", Some(&a_hash), Some(&target), true).await.unwrap(), Swap::Written);
    assert_eq!(hash_in(&store, "a").await.as_deref(), Some(a_hash.as_str()), "a dry run writes nothing");
    assert_eq!(store.compare_and_swap("a", Some(&a_hash), Some(&target), false).await.unwrap(), Swap::Written);
    assert_eq!(hash_in(&store, "a").await.as_deref(), Some(b.hash.as_str()), "exactly the target version");
    assert_eq!(store.compare_and_swap("a", Some(&a_hash), Some(&target), false).await.unwrap(), Swap::AlreadyThere);
    assert_eq!(store.compare_and_swap("a", Some(&b.hash), None, false).await.unwrap(), Swap::Written);
    assert_eq!(store.get("a").await.unwrap(), None, "deleted");
    assert_eq!(store.compare_and_swap("a", Some(&b.hash), None, false).await.unwrap(), Swap::AlreadyThere);
    assert_eq!(store.compare_and_swap("a", None, Some(&target), false).await.unwrap(), Swap::Written, "created");

    // A slug another chart holds: the write fails as a conflict, the transaction rolls back.
    // (A directory of files has no unique constraint to break: design §13.)
    if env.kind != crate::support::Kind::Files {
        let clash = canonicalize(&RawChart { slug: "slug-other".into(), ..a.clone() }).unwrap();
        let clash_target = Target {
            hash: &clash.hash,
            slug: &clash.slug,
            config: &clash.config,
            data: &clash.data,
            metadata: &clash.metadata,
            document: None,
        };
        let err = store.compare_and_swap("a", Some(&b.hash), Some(&clash_target), false).await.unwrap_err();
        assert!(matches!(&err, Error::Conflict(m) if m.contains("slug-other")), "{err:?}");
        assert_eq!(hash_in(&store, "a").await.as_deref(), Some(b.hash.as_str()));
    }

    let broken = RawChart { config: "{".into(), ..chart("broken", "Broken") };
    store.put_many(&[broken]).await.unwrap();
    assert!(matches!(
        store.compare_and_swap("broken", Some(&a_hash), Some(&target), false).await.unwrap(),
        Swap::Unreadable(_)
    ));
}
on_stores!(compare_and_swap_writes_only_over_the_expected_version);

/// Production changes after the job fixed its plan, before it reaches the chart.
async fn production_changing_mid_job_is_skipped_by_compare_and_swap(env: &TestEnv) {
    let (state, production, _) = scenario(env).await;
    for id in ["cfg", "data", "gone", "new"] {
        decide(&state, "feature-x", id, ReviewStatus::Approved).await;
    }
    let id = enqueue(&state, "feature-x", false).await;
    // Creates come last and every item waits 300 ms first: a second or more between the plan and
    // the write of `new`.
    let slow = WorkerOptions { item_delay: Duration::from_millis(300), ..WorkerOptions::default() };
    let worker = Worker::new(state.clone(), slow);
    let running = tokio::spawn(async move { worker.run_next().await.unwrap() });
    let started = Instant::now();
    loop {
        let job = sync::get_job(&state.db, id).await.unwrap();
        if job.total > 0 {
            assert!(job.items.iter().all(|i| i.chart_id != "new" || i.outcome.is_none()), "planned, not yet written");
            break;
        }
        assert!(started.elapsed() < DEADLINE);
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let someone = chart("new", "Created by hand in production");
    production.put_many(&[RawChart { slug: "hand-made".into(), ..someone.clone() }]).await.unwrap();
    assert_eq!(running.await.unwrap(), Some(id));
    let job = sync::get_job(&state.db, id).await.unwrap();
    let o = outcomes(&job);
    assert_eq!(o["new"], skipped("production changed"), "{job:?}");
    assert_eq!(o["cfg"], done(SyncOutcome::Updated));
    assert_eq!(production.get("new").await.unwrap().unwrap().slug, "hand-made", "the hand-made chart stays");
    assert_eq!(job.status, JobStatus::Partial);
}
on_stores!(production_changing_mid_job_is_skipped_by_compare_and_swap);

async fn dry_run_writes_nothing(env: &TestEnv) {
    let (state, production, _) = scenario(env).await;
    for id in ["cfg", "data", "gone", "new"] {
        decide(&state, "feature-x", id, ReviewStatus::Approved).await;
    }
    decide(&state, "feature-x", "meta", ReviewStatus::Rejected).await;
    let before = all_rows(&production).await;
    let dry = run(&state, enqueue(&state, "feature-x", true).await).await;
    assert!(dry.dry_run);
    assert_eq!(all_rows(&production).await, before, "a dry run writes nothing");
    assert_eq!(branch_state(&state, "feature-x").await.0, "open", "a dry run does not merge");
    let o = outcomes(&dry);
    assert_eq!(o["cfg"], done(SyncOutcome::Updated));
    assert_eq!(o["gone"], done(SyncOutcome::Deleted));
    assert_eq!(o["new"], done(SyncOutcome::Created));
    assert_eq!(o["meta"], skipped("rejected"));
    let flagged = count(
        &state,
        "select count(*) as n from audit_events where action = 'sync.item' and detail like '%\"dry_run\":true%'",
    )
    .await;
    assert_eq!(flagged, dry.items.len() as i64, "dry outcomes are audited as such");

    let real = run(&state, enqueue(&state, "feature-x", false).await).await;
    assert_eq!(outcomes(&real), o, "the dry run predicted the real run");
    assert_ne!(all_rows(&production).await, before);
}
on_stores!(dry_run_writes_nothing);

fn merged_payload(branch: &str) -> Vec<u8> {
    json!({
        "action": "closed",
        "number": 12,
        "pull_request": {"number": 12, "merged": true, "base": {"ref": "main"},
                         "head": {"ref": branch, "sha": "0123abc", "repo": {"full_name": "example/charts"}}},
        "repository": {"full_name": "example/charts"},
        "sender": {"login": "octocat"}
    })
    .to_string()
    .into_bytes()
}

fn hook_request(event: &str, delivery: &str, body: &[u8], signature: Option<String>) -> Request<Body> {
    let mut req = Request::post("/api/v1/hooks/github")
        .header("content-type", "application/json")
        .header("x-github-event", event)
        .header("x-github-delivery", delivery);
    if let Some(s) = signature {
        req = req.header("x-hub-signature-256", s);
    }
    req.body(Body::from(body.to_vec())).unwrap()
}

async fn call(state: &AppState, req: Request<Body>) -> (StatusCode, Value) {
    let app = chartgate::http::api::router().with_state(WebState::new(state.clone()));
    let resp = app.oneshot(req).await.unwrap();
    let status = resp.status();
    let bytes = axum::body::to_bytes(resp.into_body(), 1 << 24).await.unwrap();
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

fn with_secrets(state: &AppState, current: Option<&str>, previous: Option<&str>) -> AppState {
    let config = Config {
        hook_secret: current.map(str::to_string),
        hook_secret_previous: previous.map(str::to_string),
        ..(*state.config).clone()
    };
    AppState { config: Arc::new(config), ..state.clone() }
}

fn sync_request(token: &str, body: Value, key: Option<&str>) -> Request<Body> {
    let mut req = Request::post("/api/v1/sync")
        .header("content-type", "application/json")
        .header("authorization", format!("Bearer {token}"));
    if let Some(k) = key {
        req = req.header("idempotency-key", k);
    }
    req.body(Body::from(body.to_string())).unwrap()
}

async fn jobs(state: &AppState) -> i64 {
    count(state, "select count(*) as n from sync_jobs").await
}

const GITHUB_SECRET: &str = "It's a Secret to Everybody";
const GITHUB_SIGNATURE: &str = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";

async fn hook_signatures_are_checked_before_anything(env: &TestEnv) {
    let (state, _, _) = scenario(env).await;
    let merge = merged_payload("feature/x");

    // No secret configured: 503, nothing enqueued.
    let (st, body) =
        call(&state, hook_request("pull_request", "d-0", &merge, Some(hook::signature("x", &merge)))).await;
    assert_eq!((st, body["error"]["code"].as_str()), (StatusCode::SERVICE_UNAVAILABLE, Some("unavailable")));

    // GitHub's published test vector passes the check (a ping-like event: acknowledged, ignored).
    let state = with_secrets(&state, Some(GITHUB_SECRET), None);
    let vector = |sig: Option<&str>, body: &'static [u8]| hook_request("ping", "d-1", body, sig.map(str::to_string));
    let (st, body) = call(&state, vector(Some(GITHUB_SIGNATURE), b"Hello, World!")).await;
    assert_eq!(st, StatusCode::OK, "{body}");
    assert!(body["ignored"].is_string(), "{body}");
    for (sig, payload) in [
        (None, &b"Hello, World!"[..]),
        (Some(GITHUB_SIGNATURE), &b"Hello, World?"[..]),
        (Some("sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e18"), &b"Hello, World!"[..]),
        (Some("757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"), &b"Hello, World!"[..]),
        (Some("sha256="), &b"Hello, World!"[..]),
    ] {
        let (st, body) = call(&state, vector(sig, payload)).await;
        assert_eq!((st, body["error"]["code"].as_str()), (StatusCode::UNAUTHORIZED, Some("unauthorized")), "{sig:?}");
    }

    // A merge signed with another secret, or unsigned, enqueues nothing.
    let (st, _) =
        call(&state, hook_request("pull_request", "d-2", &merge, Some(hook::signature("guess", &merge)))).await;
    assert_eq!(st, StatusCode::UNAUTHORIZED);
    let (st, _) = call(&state, hook_request("pull_request", "d-3", &merge, None)).await;
    assert_eq!(st, StatusCode::UNAUTHORIZED);
    assert_eq!(jobs(&state).await, 0);

    // Rotation: the new and the previous secret are both accepted, nothing else.
    let rotating = with_secrets(&state, Some("new secret"), Some(GITHUB_SECRET));
    let (st, body) = call(&rotating, vector(Some(GITHUB_SIGNATURE), b"Hello, World!")).await;
    assert_eq!(st, StatusCode::OK, "the previous secret still verifies: {body}");
    let (st, body) =
        call(&rotating, hook_request("pull_request", "d-4", &merge, Some(hook::signature("new secret", &merge)))).await;
    assert_eq!(st, StatusCode::ACCEPTED, "{body}");
    assert!(body["job_id"].is_i64());
    let (st, _) =
        call(&rotating, hook_request("pull_request", "d-5", &merge, Some(hook::signature("older", &merge)))).await;
    assert_eq!(st, StatusCode::UNAUTHORIZED);
    let rotated = with_secrets(&state, Some("new secret"), None);
    let (st, _) = call(&rotated, vector(Some(GITHUB_SIGNATURE), b"Hello, World!")).await;
    assert_eq!(st, StatusCode::UNAUTHORIZED, "once rotation is over the old secret is refused");
    assert_eq!(jobs(&state).await, 1);
}
on_both!(hook_signatures_are_checked_before_anything);

async fn redelivery_and_idempotency_key_give_one_job(env: &TestEnv) {
    let (state, _, _) = scenario(env).await;
    let state = with_secrets(&state, Some("s3cret"), None);
    let sign = |body: &[u8]| Some(hook::signature("s3cret", body));
    let merge = merged_payload("feature/x");

    let started = Instant::now();
    let (st, first) = call(&state, hook_request("pull_request", "delivery-1", &merge, sign(&merge))).await;
    assert_eq!(st, StatusCode::ACCEPTED, "{first}");
    assert!(started.elapsed() < Duration::from_secs(2), "the hook answers at once");
    let (st, again) = call(&state, hook_request("pull_request", "delivery-1", &merge, sign(&merge))).await;
    assert_eq!((st, &again), (StatusCode::ACCEPTED, &first), "a redelivery answers with the first job");
    assert_eq!(jobs(&state).await, 1);
    let enqueued = count(&state, "select count(*) as n from audit_events where action = 'sync.enqueue'").await;
    assert_eq!(enqueued, 1);
    let job = sync::get_job(&state.db, first["job_id"].as_i64().unwrap()).await.unwrap();
    assert_eq!((job.trigger, job.actor.as_str(), job.status), (SyncTrigger::Hook, "github:octocat", JobStatus::Queued));

    // Events the hook does not act on: 200 {ignored}, no job.
    let closed = String::from_utf8(merge.clone()).unwrap().replace("\"merged\":true", "\"merged\":false").into_bytes();
    let other = merged_payload("feature/not-registered");
    for (event, body) in [("pull_request", &closed), ("push", &merge), ("pull_request", &other)] {
        let (st, answer) =
            call(&state, hook_request(event, &format!("d-{event}-{}", body.len()), body, sign(body))).await;
        assert_eq!(st, StatusCode::OK, "{answer}");
        assert!(answer["ignored"].is_string(), "{answer}");
    }
    let (st, _) = call(&state, hook_request("pull_request", "d-bad", b"{not json", sign(b"{not json"))).await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(jobs(&state).await, 1);

    // POST /sync: leads only; Idempotency-Key gives one job.
    let lead_token = {
        lead(&state).await;
        accounts::create_token(&state.db, &Actor::operator("test"), "lead@example.org").await.unwrap()
    };
    accounts::add_user(&state.db, &Actor::operator("test"), "rev@example.org", Role::Reviewer, None).await.unwrap();
    let reviewer_token = accounts::create_token(&state.db, &Actor::operator("test"), "rev@example.org").await.unwrap();
    let body = json!({"branch": "feature/x"});
    let (st, _) = call(&state, sync_request(&reviewer_token, body.clone(), None)).await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    let (st, _) = call(&state, sync_request("cgt_nope", body.clone(), None)).await;
    assert_eq!(st, StatusCode::UNAUTHORIZED);
    let (st, a) = call(&state, sync_request(&lead_token, body.clone(), Some("merge-42"))).await;
    assert_eq!(st, StatusCode::ACCEPTED, "{a}");
    let (st, b) = call(&state, sync_request(&lead_token, body.clone(), Some("merge-42"))).await;
    assert_eq!((st, &b), (StatusCode::ACCEPTED, &a));
    let (st, err) =
        call(&state, sync_request(&lead_token, json!({"branch": "feature/x", "dry_run": true}), Some("merge-42")))
            .await;
    assert_eq!(st, StatusCode::CONFLICT, "a key reused for another request: {err}");
    let (st, c) = call(&state, sync_request(&lead_token, body.clone(), None)).await;
    assert_eq!(st, StatusCode::ACCEPTED);
    assert_ne!(c, a, "without a key, a new job");
    let (st, _) = call(&state, sync_request(&lead_token, json!({"branch": "nope"}), None)).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    assert_eq!(jobs(&state).await, 3);

    // The job over HTTP.
    let get = |id: &str| {
        Request::get(format!("/api/v1/sync/jobs/{id}"))
            .header("authorization", format!("Bearer {reviewer_token}"))
            .body(Body::empty())
            .unwrap()
    };
    let (st, shown) = call(&state, get(&a["job_id"].to_string())).await;
    assert_eq!(st, StatusCode::OK, "{shown}");
    for key in ["id", "branch", "status", "dry_run", "trigger", "created_at", "finished_at", "items"] {
        assert!(shown.get(key).is_some(), "job lacks {key}: {shown}");
    }
    assert_eq!((shown["branch"].as_str(), shown["trigger"].as_str()), (Some("feature-x"), Some("api")));
    let (st, _) = call(&state, get("not-a-number")).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
}
on_both!(redelivery_and_idempotency_key_give_one_job);

/// A second branch `feature/y` on its own staging copy, changing other charts than `feature/x`.
async fn second_branch(env: &TestEnv, state: &AppState, production: &ChartStore) -> ChartStore {
    let staging = env.store("staging_y").await;
    staging.copy_from(production).await.unwrap();
    branches::register(
        state,
        &Actor::operator("test"),
        NewBranch {
            branch: "feature/y",
            store_url: Some(&staging.url),
            fork: false,
            preview_url: None,
            target: None,
            repository: None,
        },
    )
    .await
    .unwrap();
    let mut edits = Vec::new();
    for id in ["same", "reorder", "touched"] {
        let c = production.get(id).await.unwrap().unwrap();
        edits.push(edited(&c, "config", |v| v["subtitle"] = json!(format!("{id} by branch y"))));
    }
    staging.put_many(&edits).await.unwrap();
    chartgate::scans::rescan(state, &Actor::system(), "feature-y", false).await.unwrap();
    staging
}

async fn two_hooks_at_once_run_one_after_the_other(env: &TestEnv) {
    let (state, production, _) = scenario(env).await;
    let state = with_secrets(&state, Some("s3cret"), None);
    second_branch(env, &state, &production).await;
    for id in ["cfg", "data", "gone", "new"] {
        decide(&state, "feature-x", id, ReviewStatus::Approved).await;
    }
    for id in ["same", "reorder", "touched"] {
        decide(&state, "feature-y", id, ReviewStatus::Approved).await;
    }
    // Two workers, as two replicas would run; each item takes a while so overlaps would show.
    let slow = WorkerOptions {
        item_delay: Duration::from_millis(100),
        poll: Duration::from_millis(100),
        ..WorkerOptions::default()
    };
    let workers: Vec<_> = (0..2).map(|_| tokio::spawn(Worker::new(state.clone(), slow.clone()).run())).collect();

    let (x, y) = (merged_payload("feature/x"), merged_payload("feature/y"));
    let sign = |b: &[u8]| Some(hook::signature("s3cret", b));
    let ((sx, jx), (sy, jy)) = tokio::join!(
        call(&state, hook_request("pull_request", "dx", &x, sign(&x))),
        call(&state, hook_request("pull_request", "dy", &y, sign(&y))),
    );
    assert_eq!((sx, sy), (StatusCode::ACCEPTED, StatusCode::ACCEPTED), "{jx} {jy}");
    let (ix, iy) = (jx["job_id"].as_i64().unwrap(), jy["job_id"].as_i64().unwrap());
    assert_ne!(ix, iy, "two hooks, two jobs");
    let (a, b) = (finished(&state, ix).await, finished(&state, iy).await);
    for w in workers {
        w.abort();
    }
    assert_eq!(a.status, JobStatus::Partial, "{a:?}");
    assert_eq!(b.status, JobStatus::Succeeded, "{b:?}");
    assert_eq!(b.count(SyncOutcome::Updated), 3);
    let t = |s: &Option<String>| chartgate::db::parse_time(s.as_deref().unwrap()).unwrap();
    let (first, second) = if t(&a.started_at) <= t(&b.started_at) { (&a, &b) } else { (&b, &a) };
    assert!(
        t(&first.finished_at) <= t(&second.started_at),
        "jobs of one production store never overlap: {:?}..{:?} vs {:?}..{:?}",
        first.started_at,
        first.finished_at,
        second.started_at,
        second.finished_at
    );
    assert_eq!((a.attempts, b.attempts), (1, 1));
    for id in ["same", "reorder", "touched"] {
        assert!(production.get(id).await.unwrap().unwrap().config.contains("by branch y"));
    }
}
on_both!(two_hooks_at_once_run_one_after_the_other);

async fn merged_branches_are_archived_after_retention(env: &TestEnv) {
    let (state, _, _) = scenario(env).await;
    decide(&state, "feature-x", "cfg", ReviewStatus::Approved).await;
    run(&state, enqueue(&state, "feature-x", false).await).await;
    let now = time::OffsetDateTime::now_utc();
    assert!(sync::archive_merged(&state, now).await.unwrap().is_empty(), "kept for archive_after (3 days)");
    assert_eq!(branch_state(&state, "feature-x").await.0, "merged");
    let later = now + time::Duration::days(3) + time::Duration::seconds(1);
    assert_eq!(sync::archive_merged(&state, later).await.unwrap(), ["feature-x"]);
    let b = branches::get(&state, "feature-x", Role::Lead).await.unwrap();
    assert_eq!(b.state, "archived");
    assert!(b.archived_at.is_some() && b.merged_at.is_some());
    assert_eq!(count(&state, "select count(*) as n from reviews where branch = 'feature-x'").await, 1, "reviews stay");
    assert_eq!(count(&state, "select count(*) as n from audit_events where action = 'branch.archive'").await, 1);
    let refused = sync::enqueue(
        &state,
        &Actor::operator("cli"),
        NewJob {
            branch: "feature-x",
            dry_run: false,
            trigger: SyncTrigger::Cli,
            delivery_id: None,
            idempotency_key: None,
        },
    )
    .await;
    assert!(matches!(refused, Err(Error::Conflict(_))), "an archived branch is not synced");
}
on_both!(merged_branches_are_archived_after_retention);

/// A production store that cannot be reached fails the job cleanly; running it again works.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn production_down_fails_cleanly_and_a_retry_applies() {
    let env = TestEnv::new(crate::support::Kind::Sqlite).await;
    let (state, production, _) = scenario(&env).await;
    for id in ["cfg", "new"] {
        decide(&state, "feature-x", id, ReviewStatus::Approved).await;
    }
    let before = all_rows(&production).await;
    let path = chartgate::db::sqlite_path(&state.config.production_url).to_string();
    let away = format!("{path}.away");
    std::fs::rename(&path, &away).unwrap();
    state.stores.forget(&state.config.production_url).await;

    let failed = run(&state, enqueue(&state, "feature-x", false).await).await;
    assert_eq!(failed.status, JobStatus::Failed);
    let error = failed.error.clone().unwrap();
    assert!(error.contains("does not exist") && !error.contains("production.db"), "in a viewer's words: {error}");
    assert!(failed.items.iter().all(|i| !i.outcome.is_some_and(|o| o.is_write())), "nothing applied");
    assert_eq!(branch_state(&state, "feature-x").await.0, "open", "not merged while nothing was synced");

    std::fs::rename(&away, &path).unwrap();
    assert_eq!(all_rows(&production).await, before, "nothing lost, nothing half-written");
    let retry = run(&state, enqueue(&state, "feature-x", false).await).await;
    let o = outcomes(&retry);
    assert_eq!((o["cfg"].clone(), o["new"].clone()), (done(SyncOutcome::Updated), done(SyncOutcome::Created)));
    env.cleanup().await;
}

// ---- The real binary: `chartgate serve` killed with SIGKILL mid-job, and `chartgate sync`. ----

mod process {
    use std::process::Child;

    use super::*;
    use crate::api::{chartgate, run as cli, token_for};

    struct Server {
        base: String,
        child: Child,
    }

    impl Drop for Server {
        fn drop(&mut self) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }

    fn serve(dir: &std::path::Path, item_delay_ms: u64) -> Server {
        let delay = item_delay_ms.to_string();
        let env = [("CHARTGATE_HOOK_SECRET", "s3cret"), (chartgate::sync::ITEM_DELAY_VAR, delay.as_str())];
        let (child, base) = crate::api::serve_in(dir, &env);
        Server { base, child }
    }

    async fn get(base: &str, path: &str, token: &str) -> Value {
        let resp = reqwest::Client::new().get(format!("{base}{path}")).bearer_auth(token).send().await.unwrap();
        assert!(resp.status().is_success(), "{path}: {}", resp.status());
        resp.json().await.unwrap()
    }

    async fn post(base: &str, path: &str, token: &str, body: Value) -> (reqwest::StatusCode, Value) {
        let resp =
            reqwest::Client::new().post(format!("{base}{path}")).bearer_auth(token).json(&body).send().await.unwrap();
        let status = resp.status();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    fn writes(job: &Value) -> usize {
        job["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|i| matches!(i["outcome"].as_str(), Some("created" | "updated" | "deleted")))
            .count()
    }

    /// Approves everything the bulk endpoint accepts on `branch`; returns how many.
    async fn approve_all(base: &str, token: &str, branch: &str) -> usize {
        let page = get(base, &format!("/api/v1/branches/{branch}/diffs?per_page=500"), token).await;
        let ids: Vec<Value> = page["items"].as_array().unwrap().iter().map(|i| i["chart_id"].clone()).collect();
        let (st, bulk) = post(
            base,
            &format!("/api/v1/branches/{branch}/reviews/bulk"),
            token,
            json!({"status": "approved", "chart_ids": ids}),
        )
        .await;
        assert_eq!(st, reqwest::StatusCode::OK, "{bulk}");
        bulk["decided"].as_array().unwrap().len()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_job_killed_mid_way_is_finished_after_restart_with_every_chart_whole() {
        let dir = tempfile::tempdir().unwrap();
        cli(dir.path(), &["demo", "--charts", "400"]);
        let lead = token_for(dir.path(), "lead@example.org", "lead");
        let branch = "feature-energy-update";

        let server = serve(dir.path(), 60);
        let approved = approve_all(&server.base, &lead, branch).await;
        assert!(approved >= 20, "enough work to interrupt: {approved}");
        let (st, accepted) = post(&server.base, "/api/v1/sync", &lead, json!({"branch": branch})).await;
        assert_eq!(st, reqwest::StatusCode::ACCEPTED, "{accepted}");
        let id = accepted["job_id"].as_i64().unwrap();
        let job_path = format!("/api/v1/sync/jobs/{id}");

        // Kill -9 once a few charts are written.
        let started = Instant::now();
        let mut server = server;
        let written_before = loop {
            let job = get(&server.base, &job_path, &lead).await;
            let n = writes(&job);
            if n >= 3 {
                server.child.kill().unwrap(); // SIGKILL
                server.child.wait().unwrap();
                break n;
            }
            assert!(started.elapsed() < DEADLINE, "the job never started writing: {job}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        };
        drop(server);

        // Restart: the job is found dead, queued again and finished.
        let server = serve(dir.path(), 0);
        let started = Instant::now();
        let job = loop {
            let job = get(&server.base, &job_path, &lead).await;
            if matches!(job["status"].as_str(), Some("succeeded" | "partial" | "failed")) {
                break job;
            }
            assert!(started.elapsed() < DEADLINE, "the job was not resumed: {job}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        assert_eq!(job["status"], "partial", "conflicts stay pending: {job}");
        assert_eq!(job["attempts"], 2, "resumed once: {job}");
        let items = job["items"].as_array().unwrap();
        assert!(items.iter().all(|i| i["outcome"] != "failed"), "{job}");
        assert_eq!(writes(&job), approved, "every approved item applied exactly once: {job}");
        assert!(writes(&job) > written_before, "the restart did the rest");

        // Every approved chart in production is exactly its approved version; every chart is whole.
        let production =
            ChartStore::open(&format!("sqlite://{}/production.db", dir.path().display()), false).await.unwrap();
        for item in items.iter().filter(|i| matches!(i["outcome"].as_str(), Some("created" | "updated" | "deleted"))) {
            let id = item["chart_id"].as_str().unwrap();
            assert_eq!(hash_in(&production, id).await.as_deref(), item["version"].as_str(), "{item}");
        }
        for row in all_rows(&production).await {
            assert!(canonicalize(&row).is_ok(), "chart {} is half-written", row.id);
        }

        // The audit trail: one write outcome per chart, never two.
        let audit = get(&server.base, "/api/v1/audit?action=sync.item&per_page=1000", &lead).await;
        let mut per_chart: HashMap<String, usize> = HashMap::new();
        for e in audit["events"].as_array().unwrap() {
            if matches!(e["detail"]["outcome"].as_str(), Some("created" | "updated" | "deleted")) {
                *per_chart.entry(e["chart_id"].as_str().unwrap().to_string()).or_default() += 1;
            }
        }
        assert_eq!(per_chart.len(), approved);
        assert!(per_chart.values().all(|&n| n == 1), "{per_chart:?}");
        let requeued = get(&server.base, "/api/v1/audit?action=sync.requeue", &lead).await;
        assert_eq!(requeued["total"], 1);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_cli_syncs_and_waits() {
        let dir = tempfile::tempdir().unwrap();
        cli(dir.path(), &["demo", "--charts", "60"]);
        let dry = cli(dir.path(), &["sync", "fix/population-labels", "--dry-run", "--wait"]);
        assert!(dry.contains("dry run"), "{dry}");
        assert!(dry.contains("partial") && dry.contains("pending"), "nothing approved, all skipped: {dry}");
        let out = chartgate(dir.path()).args(["sync", "no/such-branch"]).output().unwrap();
        assert!(!out.status.success());
        assert!(String::from_utf8_lossy(&out.stderr).contains("no branch"), "{out:?}");
        let queued = cli(dir.path(), &["sync", "fix/population-labels"]);
        assert!(queued.contains("queued"), "{queued}");
    }
}
