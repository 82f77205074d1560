//! Targets in a chain (design §10), on SQLite and PostgreSQL: staging tracks the main line and
//! production changes only on a release. A branch merged into staging writes staging only; the
//! staging environment's diff against production is reviewed like a branch's; a release promotes
//! only approved, current items, audited with the hop; after a promotion the environment's
//! baseline is what was promoted; a hop's job and another target's job run at the same time; and
//! a target shared by two branches rebuilds both branches' items when it changes.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use app::sync::{JobStatus, SyncJob, SyncOutcome, SyncTrigger};
use app::types::{DiffQuery, ReviewRequest, ReviewStatus, Role};
use axum::body::Body;
use axum::http::{Request, StatusCode};
use chartgate::access::{Actor, User};
use chartgate::branches::{self, NewBranch};
use chartgate::charts::{ChartStore, RawChart};
use chartgate::config::{Config, PromoteOn, TargetConfig};
use chartgate::error::Error;
use chartgate::http::WebState;
use chartgate::state::AppState;
use chartgate::sync::{self, triggers, NewJob, Worker, WorkerOptions};
use chartgate::{accounts, diffs, reviews, scans};
use serde_json::{json, Value};
use sqlx::Row;
use tower::ServiceExt;

use crate::on_both;
use crate::support::{chart, edited, TestEnv};

const DEADLINE: Duration = Duration::from_secs(90);

/// production ← staging (promoted on release), feature branches against staging by default.
struct Chain {
    state: AppState,
    production: ChartStore,
    staging: ChartStore,
    lead: User,
}

fn target(store_url: &str, promotes_to: Option<&str>, promote_on: PromoteOn) -> TargetConfig {
    TargetConfig {
        store_url: store_url.into(),
        promotes_to: promotes_to.map(str::to_string),
        promote_on,
        promote_branch: None,
        preview_url: None,
        sync_on_merge: true,
    }
}

async fn chain(env: &TestEnv) -> Chain {
    chain_promoted(env, PromoteOn::Release, None).await
}

async fn chain_promoted(env: &TestEnv, promote_on: PromoteOn, promote_branch: Option<&str>) -> Chain {
    let base = env.config().await;
    let production = env.store("target_production").await;
    let staging = env.store("target_staging").await;
    let charts: Vec<RawChart> = ["a", "b", "c", "d"].iter().map(|id| chart(id, &format!("Chart {id}"))).collect();
    production.put_many(&charts).await.unwrap();
    staging.copy_from(&production).await.unwrap();
    let config = Config {
        targets: BTreeMap::from([
            ("production".to_string(), target(&production.url, None, PromoteOn::Manual)),
            (
                "staging".to_string(),
                TargetConfig {
                    promote_branch: promote_branch.map(str::to_string),
                    ..target(&staging.url, Some("production"), promote_on)
                },
            ),
        ]),
        default_target: Some("staging".into()),
        hook_secret: Some("s3cret".into()),
        ..base
    };
    let state = AppState::new(config).await.unwrap();
    branches::ensure_environments(&state).await.unwrap();
    let lead =
        accounts::add_user(&state.db, &Actor::operator("test"), "lead@example.org", Role::Lead, None).await.unwrap();
    Chain { state, production, staging, lead }
}

impl Chain {
    /// A feature branch against staging (a copy of staging's store) with chart `id` edited.
    async fn feature(&self, env: &TestEnv, name: &str, id: &str, title: &str) -> ChartStore {
        let store = env.store(&format!("feature_{id}")).await;
        store.copy_from(&self.staging).await.unwrap();
        let new = NewBranch {
            branch: name,
            store_url: Some(&store.url),
            fork: false,
            preview_url: None,
            target: None,
            repository: None,
        };
        let summary = branches::register(&self.state, &Actor::operator("test"), new).await.unwrap();
        assert_eq!(summary.target, "staging", "the default target");
        let c = store.get(id).await.unwrap().unwrap();
        store.put_many(&[edited(&c, "config", |v| v["title"] = json!(title))]).await.unwrap();
        scans::rescan(&self.state, &Actor::system(), name, false).await.unwrap();
        store
    }

    async fn approve(&self, branch: &str, id: &str) {
        let item = diffs::item(&self.state, branch, id).await.unwrap();
        let req = ReviewRequest {
            status: ReviewStatus::Approved,
            staging_hash: item.staging_hash.clone(),
            production_hash: item.production_hash.clone(),
            comment: None,
        };
        reviews::decide(&self.state, branch, id, &self.lead, &req).await.unwrap();
    }

    async fn sync(&self, branch: &str) -> SyncJob {
        let new =
            NewJob { branch, dry_run: false, trigger: SyncTrigger::Api, delivery_id: None, idempotency_key: None };
        let id = sync::enqueue(&self.state, &Actor::from(&self.lead), new).await.unwrap().job_id;
        self.run(id).await
    }

    async fn run(&self, id: i64) -> SyncJob {
        let worker = Worker::new(self.state.clone(), WorkerOptions::default());
        while worker.run_next().await.unwrap().is_some() {}
        let job = sync::get_job(&self.state.db, id).await.unwrap();
        assert!(job.status.is_finished(), "{job:?}");
        job
    }

    async fn item_ids(&self, branch: &str) -> Vec<String> {
        let page = diffs::list(&self.state, branch, &DiffQuery::default(), Role::Lead).await.unwrap();
        let mut ids: Vec<String> = page.items.into_iter().map(|i| i.chart_id).collect();
        ids.sort();
        ids
    }
}

fn title(c: &RawChart) -> String {
    serde_json::from_str::<Value>(&c.config).unwrap()["title"].as_str().unwrap().to_string()
}

fn outcome(job: &SyncJob, id: &str) -> (SyncOutcome, Option<String>) {
    let item = job.items.iter().find(|i| i.chart_id == id).unwrap_or_else(|| panic!("no item {id} in {job:?}"));
    (item.outcome.unwrap(), item.reason.clone())
}

async fn a_merge_into_staging_writes_staging_only_and_a_release_promotes_what_was_approved(env: &TestEnv) {
    let c = chain(env).await;
    // The staging environment is registered under the target's name, against production.
    let listed = branches::list(&c.state, Role::Lead).await.unwrap();
    let env_row = listed.iter().find(|b| b.name == "staging").expect("staging is listed as an environment");
    assert_eq!((env_row.kind.as_str(), env_row.target.as_str()), ("target", "production"));
    assert!(c.item_ids("staging").await.is_empty(), "staging starts equal to production");

    // A feature branch of staging: merged and synced, it writes staging's store, not production's.
    c.feature(env, "feature/a", "a", "A, reviewed on a branch").await;
    c.approve("feature-a", "a").await;
    let job = c.sync("feature-a").await;
    assert_eq!((job.target.as_str(), job.hop.as_str()), ("staging", "feature-a → staging"));
    assert_eq!(outcome(&job, "a").0, SyncOutcome::Updated);
    assert_eq!(title(&c.staging.get("a").await.unwrap().unwrap()), "A, reviewed on a branch");
    assert_eq!(title(&c.production.get("a").await.unwrap().unwrap()), "Chart a", "production is untouched");

    // Staging now differs from production: its environment shows the change, and a change made
    // on staging's store directly shows too (the main line moved without a branch).
    let b = c.staging.get("b").await.unwrap().unwrap();
    c.staging.put_many(&[edited(&b, "config", |v| v["title"] = json!("B, edited on staging"))]).await.unwrap();
    scans::rescan(&c.state, &Actor::system(), "staging", false).await.unwrap();
    assert_eq!(c.item_ids("staging").await, ["a", "b"]);

    // Only `a` is approved on the hop; a published release promotes it and skips `b`.
    c.approve("staging", "a").await;
    let started = triggers::on_release(&c.state, &Actor::github(Some("octocat")), "release-1").await.unwrap();
    assert_eq!(started.jobs.len(), 1, "{started:?}");
    let again = triggers::on_release(&c.state, &Actor::github(Some("octocat")), "release-1").await.unwrap();
    assert_eq!(again.jobs[0].job_id, started.jobs[0].job_id, "a redelivered release starts nothing new");
    let promotion = c.run(started.jobs[0].job_id).await;
    assert_eq!((promotion.target.as_str(), promotion.hop.as_str()), ("production", "staging → production"));
    assert_eq!(promotion.status, JobStatus::Partial);
    assert_eq!(outcome(&promotion, "a").0, SyncOutcome::Updated);
    assert_eq!(outcome(&promotion, "b"), (SyncOutcome::Skipped, Some("pending".into())));
    assert_eq!(title(&c.production.get("a").await.unwrap().unwrap()), "A, reviewed on a branch");
    assert_eq!(title(&c.production.get("b").await.unwrap().unwrap()), "Chart b", "not approved, not promoted");

    // The environment is promoted, never merged or archived.
    let env_row = branches::get(&c.state, "staging", Role::Lead).await.unwrap();
    assert_eq!(env_row.state, "open");
    assert!(matches!(branches::archive(&c.state, &Actor::operator("t"), "staging").await, Err(Error::Conflict(_))));

    // Its baseline moved to what was promoted: `a` is no item, and staging's next edit of `a` is
    // a plain modification, not a conflict with production.
    scans::rescan(&c.state, &Actor::system(), "staging", false).await.unwrap();
    assert_eq!(c.item_ids("staging").await, ["b"]);
    let a = c.staging.get("a").await.unwrap().unwrap();
    c.staging.put_many(&[edited(&a, "config", |v| v["title"] = json!("A, again"))]).await.unwrap();
    scans::rescan(&c.state, &Actor::system(), "staging", false).await.unwrap();
    let item = diffs::item(&c.state, "staging", "a").await.unwrap();
    assert!(!item.conflict, "{item:?}");

    // Every outcome of the promotion names the hop in the audit trail.
    let hops: Vec<String> = sqlx::query(
        "select detail from audit_events where action = 'sync.item' and detail like '%\"job_id\":' || $1 || ',%'",
    )
    .bind(promotion.id.to_string())
    .fetch_all(&c.state.db.pool)
    .await
    .unwrap()
    .iter()
    .map(|r| serde_json::from_str::<Value>(&r.get::<String, _>("detail")).unwrap()["hop"].as_str().unwrap().to_string())
    .collect();
    assert_eq!(hops, ["staging → production", "staging → production"]);
}
on_both!(a_merge_into_staging_writes_staging_only_and_a_release_promotes_what_was_approved);

async fn a_hop_and_another_targets_job_run_together_but_one_store_runs_one_job(env: &TestEnv) {
    let c = chain(env).await;
    c.feature(env, "feature/c", "c", "C on a branch").await;
    c.feature(env, "feature/d", "d", "D on a branch").await;
    c.approve("feature-c", "c").await;
    c.approve("feature-d", "d").await;
    // Something to promote: a change on staging, approved on the hop.
    let b = c.staging.get("b").await.unwrap().unwrap();
    c.staging.put_many(&[edited(&b, "config", |v| v["title"] = json!("B for production"))]).await.unwrap();
    scans::rescan(&c.state, &Actor::system(), "staging", false).await.unwrap();
    c.approve("staging", "b").await;

    // One worker per target, as a server runs them; every item takes a while so overlaps show.
    let slow =
        WorkerOptions { item_delay: Duration::from_millis(400), poll: Duration::from_millis(50), ..Default::default() };
    let workers: Vec<_> = c
        .state
        .targets
        .iter()
        .map(|t| tokio::spawn(Worker::for_targets(c.state.clone(), [t.clone()], slow.clone()).run()))
        .collect();
    let enqueue = |branch: &'static str| {
        let new =
            NewJob { branch, dry_run: false, trigger: SyncTrigger::Api, delivery_id: None, idempotency_key: None };
        let state = c.state.clone();
        let actor = Actor::from(&c.lead);
        async move { sync::enqueue(&state, &actor, new).await.unwrap().job_id }
    };
    let (to_staging_1, to_staging_2, promotion) =
        (enqueue("feature-c").await, enqueue("feature-d").await, enqueue("staging").await);
    let started = Instant::now();
    let mut jobs = Vec::new();
    for id in [to_staging_1, to_staging_2, promotion] {
        loop {
            let job = sync::get_job(&c.state.db, id).await.unwrap();
            if job.status.is_finished() {
                jobs.push(job);
                break;
            }
            assert!(started.elapsed() < DEADLINE, "job {id} did not finish: {job:?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    for w in workers {
        w.abort();
    }
    let t = |s: &Option<String>| chartgate::db::parse_time(s.as_deref().unwrap()).unwrap();
    let (s1, s2, p) = (&jobs[0], &jobs[1], &jobs[2]);
    assert!(
        t(&s1.finished_at) <= t(&s2.started_at) || t(&s2.finished_at) <= t(&s1.started_at),
        "two jobs on staging's store never overlap: {s1:?} {s2:?}"
    );
    let overlaps =
        |a: &SyncJob, b: &SyncJob| t(&a.started_at) < t(&b.finished_at) && t(&b.started_at) < t(&a.finished_at);
    assert!(overlaps(p, s1) || overlaps(p, s2), "the promotion ran beside a job of another store: {p:?} {s1:?} {s2:?}");
    assert_eq!(title(&c.production.get("b").await.unwrap().unwrap()), "B for production");
}
on_both!(a_hop_and_another_targets_job_run_together_but_one_store_runs_one_job);

async fn a_change_to_a_shared_target_rebuilds_every_branch(env: &TestEnv) {
    let c = chain(env).await;
    c.feature(env, "feature/a", "a", "A on branch one").await;
    c.feature(env, "feature/b", "b", "B on branch two").await;
    // Staging (the target of both) changes chart `b` itself.
    let b = c.staging.get("b").await.unwrap().unwrap();
    c.staging.put_many(&[edited(&b, "config", |v| v["title"] = json!("B changed on staging"))]).await.unwrap();
    // The first branch's rescan brings the change in; the second branch must still see it.
    scans::rescan(&c.state, &Actor::system(), "feature-a", false).await.unwrap();
    scans::rescan(&c.state, &Actor::system(), "feature-b", false).await.unwrap();
    let item = diffs::item(&c.state, "feature-b", "b").await.unwrap();
    assert!(item.conflict, "both sides changed b: {item:?}");
}
on_both!(a_change_to_a_shared_target_rebuilds_every_branch);

async fn bad_targets_are_refused_with_the_reason(env: &TestEnv) {
    let c = chain(env).await;
    let register = |branch: &'static str, store: Option<String>, target: Option<&'static str>| {
        let state = c.state.clone();
        async move {
            let new = NewBranch {
                branch,
                store_url: store.as_deref(),
                fork: store.is_none(),
                preview_url: None,
                target,
                repository: None,
            };
            branches::register(&state, &Actor::operator("t"), new).await
        }
    };
    let unknown = register("feature/q", None, Some("qa")).await;
    assert!(matches!(&unknown, Err(Error::Unprocessable(m)) if m.contains("unknown target \"qa\"")), "{unknown:?}");
    let named_like_a_target = register("production", None, None).await;
    assert!(matches!(&named_like_a_target, Err(Error::Conflict(m)) if m.contains("name of a target")));
    let own_store = register("feature/s", Some(c.staging.url.clone()), Some("production")).await;
    assert!(
        matches!(&own_store, Err(Error::Unprocessable(m)) if m.contains("store of target staging")),
        "{own_store:?}"
    );
    let explicit = register("feature/p", None, Some("production")).await.unwrap();
    assert_eq!(explicit.target, "production", "a branch may name its target");
}
on_both!(bad_targets_are_refused_with_the_reason);

async fn post_hook(state: &AppState, event: &str, delivery: &str, body: &Value) -> (StatusCode, Value) {
    let body = body.to_string();
    let req = Request::post("/api/v1/hooks/github")
        .header("content-type", "application/json")
        .header("x-github-event", event)
        .header("x-github-delivery", delivery)
        .header("x-hub-signature-256", chartgate::http::api::github::signature("s3cret", body.as_bytes()))
        .body(Body::from(body))
        .unwrap();
    let resp = chartgate::http::router(WebState::new(state.clone())).oneshot(req).await.unwrap();
    let status = resp.status();
    let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20).await.unwrap();
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

async fn signed_github_events_start_promotions(env: &TestEnv) {
    // Staging promotes on releases: a published release starts the promotion, other actions don't.
    let c = chain(env).await;
    let release =
        |action: &str| json!({"action": action, "release": {"tag_name": "v1"}, "sender": {"login": "octocat"}});
    let (status, body) = post_hook(&c.state, "release", "r-1", &release("created")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = post_hook(&c.state, "release", "r-2", &release("published")).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let job = sync::get_job(&c.state.db, body["job_id"].as_i64().unwrap()).await.unwrap();
    assert_eq!(
        (job.branch.as_str(), job.hop.as_str(), job.actor.as_str()),
        ("staging", "staging → production", "github:octocat")
    );

    // Staging promotes on merges into `main`: a branch merged into main syncs to staging and
    // promotes staging, two jobs from one delivery.
    let env2 = TestEnv::new(env.kind).await;
    let c = chain_promoted(&env2, PromoteOn::Merge, Some("main")).await;
    c.feature(&env2, "feature/a", "a", "A").await;
    let merged = |base: &str| {
        json!({
            "action": "closed",
            "pull_request": {"merged": true, "number": 7, "base": {"ref": base},
                             "head": {"ref": "feature/a", "repo": {"full_name": "acme/charts"}}},
            "repository": {"full_name": "acme/charts"},
            "sender": {"login": "octocat"}
        })
    };
    let (status, body) = post_hook(&c.state, "pull_request", "m-1", &merged("main")).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let ids: Vec<i64> = body["job_ids"].as_array().unwrap().iter().map(|v| v.as_i64().unwrap()).collect();
    let mut hops = Vec::new();
    for id in &ids {
        hops.push(sync::get_job(&c.state.db, *id).await.unwrap().hop);
    }
    assert_eq!(hops, ["feature-a → staging", "staging → production"]);
    let (_, again) = post_hook(&c.state, "pull_request", "m-1", &merged("main")).await;
    assert_eq!(again["job_ids"], body["job_ids"], "a redelivery starts nothing new");
    env2.cleanup().await;
}
on_both!(signed_github_events_start_promotions);
