//! The engine on real databases, each check on SQLite and on PostgreSQL: migrations, the audit
//! table's append-only rule, chart stores, registration and the baseline, three-way
//! classification end to end, incremental and full rescans, unreadable rows and stores, the
//! content-addressed version store, filters, and the diff detail.

use app::types::{DiffQuery, ItemKind, Role};
use chartgate::access::Actor;
use chartgate::branches::{self, NewBranch};
use chartgate::charts::{ChartStore, RawChart};
use chartgate::error::Error;
use chartgate::state::AppState;
use chartgate::{diffs, repo, scans};
use serde_json::json;
use sqlx::Row;

use crate::support::{chart, edited, TestEnv};
use crate::{on_both, on_stores};

pub(crate) async fn register(
    state: &AppState,
    branch: &str,
    store: &ChartStore,
) -> Result<app::types::BranchSummary, Error> {
    register_url(state, branch, &store.url).await
}

/// Registers `branch` with `--fork`: its store made from the staging template as a copy of the
/// target's.
pub(crate) async fn register_fork(state: &AppState, branch: &str) -> Result<app::types::BranchSummary, Error> {
    let new = NewBranch { branch, store_url: None, fork: true, preview_url: None, target: None, repository: None };
    branches::register(state, &Actor::operator("test"), new).await
}

/// Registers `branch` on the store at `url` as a lead would, nothing else given.
pub(crate) async fn register_url(
    state: &AppState,
    branch: &str,
    url: &str,
) -> Result<app::types::BranchSummary, Error> {
    let new =
        NewBranch { branch, store_url: Some(url), fork: false, preview_url: None, target: None, repository: None };
    branches::register(state, &Actor::operator("test"), new).await
}

pub(crate) async fn items(state: &AppState, branch: &str, q: DiffQuery) -> Vec<app::types::DiffItem> {
    diffs::list(state, branch, &DiffQuery { per_page: Some(500), ..q }, Role::Lead).await.unwrap().items
}

fn by_id<'a>(items: &'a [app::types::DiffItem], id: &str) -> Option<&'a app::types::DiffItem> {
    items.iter().find(|i| i.chart_id == id)
}

async fn migrations_are_idempotent_and_audit_is_append_only(env: &TestEnv) {
    let (state, _) = env.state().await;
    state.db.migrate().await.expect("migrating twice is a no-op");
    chartgate::repo::audit::append(
        &state.db.pool,
        chartgate::repo::audit::Event { actor: "t", action: "test", ..Default::default() },
    )
    .await
    .unwrap();
    let update = sqlx::query("update audit_events set actor = 'x'").execute(&state.db.pool).await;
    assert!(update.is_err(), "update of an audit event must be refused");
    let delete = sqlx::query("delete from audit_events").execute(&state.db.pool).await;
    assert!(delete.is_err(), "delete of an audit event must be refused");
    let n: i64 =
        sqlx::query("select count(*) as n from audit_events").fetch_one(&state.db.pool).await.unwrap().get("n");
    assert_eq!(n, 1);
}
on_both!(migrations_are_idempotent_and_audit_is_append_only);

/// `GET /api/v1/audit` through the router as a lead: (status, body as JSON, or as text).
async fn audit_get(state: &AppState, token: &str, query: &str) -> (axum::http::StatusCode, String) {
    use tower::ServiceExt;
    let req = axum::http::Request::get(format!("/api/v1/audit?{query}"))
        .header("host", "chartgate.test")
        .header("authorization", format!("Bearer {token}"))
        .body(axum::body::Body::empty())
        .unwrap();
    let resp = chartgate::http::router(chartgate::http::WebState::new(state.clone())).oneshot(req).await.unwrap();
    let status = resp.status();
    let bytes = axum::body::to_bytes(resp.into_body(), 1 << 24).await.unwrap();
    (status, String::from_utf8_lossy(&bytes).into_owned())
}

/// The actions of the events `query` matches, oldest first.
async fn audit_actions_of(state: &AppState, token: &str, query: &str) -> Vec<String> {
    let (status, text) = audit_get(state, token, &format!("{query}&per_page=1000")).await;
    assert_eq!(status, axum::http::StatusCode::OK, "{query}: {text}");
    let page: serde_json::Value = serde_json::from_str(&text).unwrap();
    let mut actions: Vec<String> =
        page["events"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap().to_string()).collect();
    assert_eq!(page["total"].as_u64(), Some(actions.len() as u64), "{query}: {text}");
    actions.reverse();
    actions
}

/// The audit trail's `action` filter (issue 25): exact names, `prefix.*`, bare families, and
/// comma-separated lists of them, in pages and in the CSV; `_` and `%` in a prefix match only
/// themselves; anything else is a 400 that names the filter.
async fn audit_action_filter_takes_names_prefixes_and_lists(env: &TestEnv) {
    use axum::http::StatusCode;
    let (state, _) = env.state().await;
    let operator = Actor::operator("test");
    chartgate::accounts::add_user(&state.db, &operator, "lead@example.org", Role::Lead, None).await.unwrap();
    let token = chartgate::accounts::create_token(&state.db, &operator, "lead@example.org").await.unwrap();
    let events = [
        ("rita@example.org", "review.approve", json!({"comment": "fine"})),
        ("rita@example.org", "review.reject", json!({"comment": "axis"})),
        ("lead@example.org", "review.dismiss", json!({"reviewer": "rita@example.org", "reason": "fixed"})),
        ("lead@example.org", "review.request", json!({"reviewers": ["rita@example.org"]})),
        ("rita@example.org", "comment.add", json!({"comment_id": 1, "body": "why?"})),
        ("rita@example.org", "reviews.summary", json!({})),
        ("system", "review_x.odd", json!({})),
        ("system", "reviewzx.odd", json!({})),
        ("system", "sync.item", json!({"outcome": "applied"})),
        ("system", "branch.register", json!({"fork": true})),
    ];
    for (actor, action, detail) in &events {
        repo::audit::append(
            &state.db.pool,
            repo::audit::Event {
                actor,
                action,
                branch: Some("feature-x"),
                detail: Some(detail.clone()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    }
    let only = |q: &'static str| {
        let (state, token) = (state.clone(), token.clone());
        async move { audit_actions_of(&state, &token, &format!("branch=feature-x&{q}")).await }
    };
    assert_eq!(only("action=review.dismiss").await, ["review.dismiss"]);
    assert_eq!(only("action=review.*").await, ["review.approve", "review.reject", "review.dismiss", "review.request"]);
    assert_eq!(only("action=review").await, only("action=review.*").await, "a bare family is its prefix");
    assert_eq!(only("action=review.dismiss,comment.add").await, ["review.dismiss", "comment.add"]);
    assert_eq!(only("action=review.dismiss%2Ccomment.add").await, ["review.dismiss", "comment.add"]);
    assert_eq!(
        only("action=%20sync.*%20,review.request,sync.item").await,
        ["review.request", "sync.item"],
        "spaces around entries, a name its prefix already takes"
    );
    assert_eq!(only("action=review_x.*").await, ["review_x.odd"], "`_` in a prefix is not a wildcard");
    assert_eq!(only("action=review.*&actor=Rita@Example.org").await, ["review.approve", "review.reject"]);
    assert_eq!(only("action=").await.len(), events.len(), "an empty filter (the form's \"all\") is no filter");
    assert!(only("action=nothing.*").await.is_empty());

    // Without the branch filter, events of no branch: the lead's token.
    assert_eq!(audit_actions_of(&state, &token, "action=user.*,token.*").await, ["token.create"]);

    // The CSV takes the same filter.
    let (status, csv) = audit_get(&state, &token, "format=csv&action=review.dismiss,comment.*,comment.add").await;
    assert_eq!(status, StatusCode::OK, "{csv}");
    let rows: Vec<&str> = csv.lines().skip(1).collect();
    assert_eq!(rows.len(), 2, "{csv}");
    assert!(rows[0].contains("\"review.dismiss\"") && rows[1].contains("\"comment.add\""), "{csv}");

    for bad in ["review.%25", "Review.approve", "review,,comment.add", "review.", "*", "review.*.x", "review.appr*"] {
        let (status, text) = audit_get(&state, &token, &format!("action={bad}")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "action={bad}: {text}");
        let body: serde_json::Value = serde_json::from_str(&text).unwrap();
        let message = body["error"]["message"].as_str().unwrap_or_default();
        assert!(message.starts_with("action: "), "action={bad} names the filter: {text}");
        let (status, _) = audit_get(&state, &token, &format!("format=csv&action={bad}")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "the CSV refuses action={bad} too");
    }
}
on_both!(audit_action_filter_takes_names_prefixes_and_lists);

async fn stores_read_write_and_name_themselves_in_errors(env: &TestEnv) {
    let store = env.store("store").await;
    let charts = vec![chart("a", "Alpha"), chart("b", "Beta")];
    store.put_many(&charts).await.unwrap();
    let mut stamps = store.stamps().await.unwrap();
    stamps.sort_by(|x, y| x.id.cmp(&y.id));
    assert_eq!(stamps.iter().map(|s| s.id.as_str()).collect::<Vec<_>>(), ["a", "b"]);
    let read = store.read(&["b".into(), "missing".into()]).await.unwrap();
    assert_eq!(read, vec![charts[1].clone()]);
    store.delete("a").await.unwrap();
    assert_eq!(store.get("a").await.unwrap(), None);

    let missing = match env.kind {
        crate::support::Kind::Sqlite => format!("sqlite://{}/nope.db", env.dir.path().display()),
        _ => store.url.replace("_store", "_never_created"),
    };
    let err = ChartStore::open(&missing, false).await.err().expect("a missing store is an error");
    // Anyone reads what is wrong; the log and leads read where.
    let (text, detail) = (err.to_string(), err.detail());
    assert!(text.contains("does not exist") && !text.contains("nope") && !text.contains("never_created"), "{text}");
    assert!(
        detail.contains("chart store") && (detail.contains("nope.db") || detail.contains("never_created")),
        "{detail}"
    );
}
on_both!(stores_read_write_and_name_themselves_in_errors);

/// `chartgate store prepare` adds the optional index of design §3, once; SQLite then lists
/// `(id, updated_at)` from it instead of walking every chart's JSON.
async fn stores_are_prepared_for_cheap_listing(env: &TestEnv) {
    let (_, production) = env.state().await;
    assert!(!production.has_stamps_index().await.unwrap());
    assert!(production.prepare().await.unwrap(), "added");
    assert!(!production.prepare().await.unwrap(), "safe to repeat");
    assert!(production.has_stamps_index().await.unwrap());
    if production.engine() == Some(chartgate::db::Backend::Sqlite) {
        let plan = sqlx::query("explain query plan select id, updated_at from charts")
            .fetch_one(production.charts_table().unwrap().pool())
            .await
            .unwrap()
            .get::<String, _>("detail");
        assert!(plan.contains("COVERING INDEX charts_id_updated_at"), "{plan}");
    }
}
on_stores!(stores_are_prepared_for_cheap_listing, sql);

/// Production and a staging copy with every kind of change and of non-change.
pub async fn scenario(env: &TestEnv) -> (AppState, ChartStore, ChartStore) {
    let (state, production) = env.state().await;
    let base: Vec<RawChart> = ["same", "cfg", "data", "meta", "gone", "conflict", "prodonly", "reorder", "touched"]
        .iter()
        .map(|id| chart(id, &format!("Chart {id}")))
        .collect();
    production.put_many(&base).await.unwrap();
    let staging = env.store("staging").await;
    staging.copy_from(&production).await.unwrap();
    register(&state, "feature/x", &staging).await.unwrap();

    let find = |id: &str| base.iter().find(|c| c.id == id).unwrap().clone();
    let mut reordered = find("reorder");
    reordered.config = r#"{"yAxis":{"min":0.0},"title":"Chart reorder","type":"line"}"#.into();
    reordered.updated_at = "2025-03-03T00:00:00Z".into();
    let mut touched = find("touched");
    touched.updated_at = "2025-04-04T00:00:00Z".into();
    touched.metadata = r#"{"source":"WB","unit":"%","updated_at":"2025-04-04"}"#.into();
    let mut new = chart("new", "Énergie solaire 太阳能");
    new.updated_at = "2025-05-05T00:00:00Z".into();
    staging
        .put_many(&[
            edited(&find("cfg"), "config", |v| v["title"] = json!("Chart cfg, renamed")),
            edited(&find("data"), "data", |v| v["rows"][0]["value"] = json!(42)),
            edited(&find("meta"), "metadata", |v| v["unit"] = json!("per cent")),
            edited(&find("conflict"), "config", |v| v["type"] = json!("bar")),
            reordered,
            touched,
            new,
        ])
        .await
        .unwrap();
    staging.delete("gone").await.unwrap();
    // Chartgate sees the branch's work before production moves on (a running server would):
    // the conflict's base is kept then.
    scans::rescan(&state, &Actor::system(), "feature-x", false).await.unwrap();
    production
        .put_many(&[
            edited(&find("conflict"), "config", |v| v["type"] = json!("scatter")),
            edited(&find("prodonly"), "metadata", |v| v["unit"] = json!("‰")),
        ])
        .await
        .unwrap();
    scans::rescan(&state, &Actor::system(), "feature-x", false).await.unwrap();
    (state, production, staging)
}

async fn classification_end_to_end(env: &TestEnv) {
    let (state, _, _) = scenario(env).await;
    let all = items(&state, "feature/x", DiffQuery::default()).await;
    let mut summary: Vec<(String, ItemKind, bool, Vec<String>)> =
        all.iter().map(|i| (i.chart_id.clone(), i.kind, i.conflict, i.parts.clone())).collect();
    summary.sort_by(|a, b| a.0.cmp(&b.0));
    let parts = |p: &[&str]| p.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert_eq!(
        summary,
        vec![
            ("cfg".into(), ItemKind::Modified, false, parts(&["config"])),
            ("conflict".into(), ItemKind::Modified, true, parts(&["config"])),
            ("data".into(), ItemKind::Modified, false, parts(&["data"])),
            ("gone".into(), ItemKind::Deleted, false, parts(&["config", "data", "metadata"])),
            ("meta".into(), ItemKind::Modified, false, parts(&["metadata"])),
            ("new".into(), ItemKind::New, false, parts(&["config", "data", "metadata"])),
        ],
        "same, prodonly, reorder and touched are not items"
    );
    let gone = by_id(&all, "gone").unwrap();
    assert_eq!(gone.staging_hash, None);
    assert!(gone.production_hash.is_some());
    let new = by_id(&all, "new").unwrap();
    assert_eq!((new.production_hash.as_deref(), new.baseline_hash.as_deref()), (None, None));
    assert_eq!(new.title, "Énergie solaire 太阳能");
    let summary = branches::get(&state, "feature-x", Role::Lead).await.unwrap();
    assert_eq!((summary.counts.total, summary.counts.conflicts, summary.counts.pending), (6, 1, 6));
}
on_stores!(classification_end_to_end);

async fn filters_search_and_pages(env: &TestEnv) {
    let (state, _, _) = scenario(env).await;
    let ids = |items: Vec<app::types::DiffItem>| {
        let mut v: Vec<String> = items.into_iter().map(|i| i.chart_id).collect();
        v.sort();
        v
    };
    let q = |f: fn(&mut DiffQuery)| {
        let mut q = DiffQuery::default();
        f(&mut q);
        q
    };
    assert_eq!(ids(items(&state, "feature-x", q(|q| q.kind = Some("new".into()))).await), ["new"]);
    assert_eq!(ids(items(&state, "feature-x", q(|q| q.part = Some("data".into()))).await), ["data", "gone", "new"]);
    assert_eq!(ids(items(&state, "feature-x", q(|q| q.conflict = Some(true))).await), ["conflict"]);
    assert_eq!(
        ids(items(&state, "feature-x", q(|q| q.q = Some("ÉNERGIE".into()))).await),
        ["new"],
        "case-folded, non-ASCII"
    );
    assert_eq!(ids(items(&state, "feature-x", q(|q| q.q = Some("太阳".into()))).await), ["new"]);
    assert_eq!(ids(items(&state, "feature-x", q(|q| q.q = Some("slug-me".into()))).await), ["meta"]);
    assert!(items(&state, "feature-x", q(|q| q.q = Some("%".into()))).await.is_empty(), "% is literal");
    assert_eq!(items(&state, "feature-x", q(|q| q.status = Some("pending".into()))).await.len(), 6);
    assert!(items(&state, "feature-x", q(|q| q.status = Some("approved".into()))).await.is_empty());

    let sorted = |q: DiffQuery| {
        let state = state.clone();
        async move { diffs::list(&state, "feature-x", &q, Role::Lead).await.unwrap() }
    };
    let p1 = sorted(DiffQuery { sort: Some("slug".into()), per_page: Some(4), ..Default::default() }).await;
    let p2 =
        sorted(DiffQuery { sort: Some("slug".into()), per_page: Some(4), page: Some(2), ..Default::default() }).await;
    assert_eq!((p1.total, p1.items.len(), p2.items.len()), (6, 4, 2));
    let slugs: Vec<String> = p1.items.iter().chain(&p2.items).map(|i| i.slug.clone()).collect();
    let mut expected = slugs.clone();
    expected.sort();
    assert_eq!(slugs, expected);

    for bad in [
        DiffQuery { kind: Some("renamed".into()), ..Default::default() },
        DiffQuery { status: Some("maybe".into()), ..Default::default() },
        DiffQuery { part: Some("title".into()), ..Default::default() },
        DiffQuery { per_page: Some(501), ..Default::default() },
        DiffQuery { sort: Some("size".into()), ..Default::default() },
    ] {
        assert!(
            matches!(diffs::list(&state, "feature-x", &bad, Role::Lead).await, Err(Error::BadRequest(_))),
            "{bad:?}"
        );
    }
    assert!(matches!(diffs::list(&state, "nope", &DiffQuery::default(), Role::Lead).await, Err(Error::NotFound(_))));
}
on_both!(filters_search_and_pages);

async fn rescans_are_incremental_and_full_scans_catch_silent_edits(env: &TestEnv) {
    let (state, _, staging) = scenario(env).await;
    let r = scans::rescan(&state, &Actor::system(), "feature-x", false).await.unwrap();
    assert_eq!((r.staging.read, r.production.read, r.items), (0, 0, 6), "nothing moved");

    let mut cfg = staging.get("same").await.unwrap().unwrap();
    cfg.config = json!({"type": "table", "title": "Chart same"}).to_string();
    cfg.updated_at = "2025-09-09T00:00:00Z".into();
    staging.put_many(&[cfg.clone()]).await.unwrap();
    let r = scans::rescan(&state, &Actor::system(), "feature-x", false).await.unwrap();
    assert_eq!((r.staging.read, r.staging.canonicalised, r.items), (1, 1, 7));

    // An edit that forgets `updated_at` is invisible to an incremental scan, not to a full one.
    let silent = RawChart { updated_at: cfg.updated_at.clone(), ..chart("same", "Chart same") };
    staging.put_many(&[silent]).await.unwrap();
    assert_eq!(scans::rescan(&state, &Actor::system(), "feature-x", false).await.unwrap().items, 7);
    let full = scans::rescan(&state, &Actor::system(), "feature-x", true).await.unwrap();
    assert_eq!(full.staging.read, full.staging.listed);
    assert_eq!(full.items, 6, "back to the baseline's content: no longer an item");
    let summary = branches::get(&state, "feature-x", Role::Lead).await.unwrap();
    assert!(summary.last_scan_at.is_some() && summary.scan_error.is_none());
}
on_both!(rescans_are_incremental_and_full_scans_catch_silent_edits);

async fn versions_are_stored_once(env: &TestEnv) {
    let (state, production, staging) = scenario(env).await;
    let count = || async {
        sqlx::query("select count(*) as n from version_texts")
            .fetch_one(&state.db.pool)
            .await
            .unwrap()
            .get::<i64, _>("n")
    };
    let before = count().await;
    let second = env.store("staging2").await;
    second.copy_from(&production).await.unwrap();
    register(&state, "feature/y", &second).await.unwrap();
    scans::rescan(&state, &Actor::system(), "feature-x", true).await.unwrap();
    assert_eq!(count().await, before, "the same content is never stored twice");
    let all = items(&state, "feature-x", DiffQuery::default()).await;
    for i in &all {
        for h in [&i.staging_hash, &i.production_hash, &i.baseline_hash].into_iter().flatten() {
            assert!(chartgate::repo::versions::get(&state.db, h).await.unwrap().is_some(), "version {h} is stored");
        }
    }
    let _ = staging;
}
on_both!(versions_are_stored_once);

/// Every version a target holds is kept from the moment it is listed (issue 24): an unchanged
/// chart's base is there when the chart becomes an item, and a chart both stores change between
/// two scans still merges three-way.
async fn every_target_version_is_kept_as_a_base(env: &TestEnv) {
    let (state, production, staging) = scenario(env).await;
    let hash_of = |side: &'static str, id: &'static str| {
        let pool = state.db.pool.clone();
        async move {
            sqlx::query("select hash from chart_states where side = $1 and branch = $2 and chart_id = $3")
                .bind(side)
                .bind(if side == "production" { "production" } else { "feature-x" })
                .bind(id)
                .fetch_one(&pool)
                .await
                .unwrap()
                .get::<Option<String>, _>("hash")
        }
    };
    let kept = |hash: String| {
        let db = state.db.clone();
        async move { chartgate::repo::versions::text(&db, &hash).await.unwrap().is_some() }
    };
    let same_base = hash_of("production", "same").await.expect("an unchanged chart is hashed");
    assert!(kept(same_base).await, "and its text kept: it is the branch's base");
    let prodonly_base = hash_of("baseline", "prodonly").await.expect("hashed");
    assert_ne!(Some(&prodonly_base), hash_of("production", "prodonly").await.as_ref());
    assert!(kept(prodonly_base).await, "the baseline production moved away from is kept");

    // `same` becomes an item: both sides' versions are there, and the diff shows them.
    let same = staging.get("same").await.unwrap().unwrap();
    let mut edit = edited(&same, "config", |v| v["title"] = json!("Same, renamed"));
    edit.updated_at = "2026-01-01T00:00:00Z".into();
    staging.put_many(&[edit]).await.unwrap();
    scans::rescan(&state, &Actor::system(), "feature-x", false).await.unwrap();
    let d = diffs::detail(&state, "feature-x", "same").await.unwrap();
    assert!(d.staging.is_some() && d.production.is_some() && d.baseline.is_some());
    assert_eq!(d.config_diff.changes[0].path, "/title");

    // `prodonly` changed on staging too: a conflict whose base was kept, merged three-way.
    let mut s = edited(&staging.get("prodonly").await.unwrap().unwrap(), "config", |v| v["title"] = json!("P"));
    s.updated_at = "2026-01-02T00:00:00Z".into();
    staging.put_many(&[s]).await.unwrap();
    scans::rescan(&state, &Actor::system(), "feature-x", false).await.unwrap();
    let plan = chartgate::merges::plan(&state, "feature-x", "prodonly").await.unwrap();
    assert!(!plan.without_base);
    assert!(plan.entries.iter().all(|e| !e.conflicting), "one-sided changes only: {:?}", plan.entries);

    // `reorder` changed on both sides between two scans: its base is in neither store any more,
    // but Chartgate kept it, so only the path both changed is a choice.
    let both = |c: RawChart, title: &str| {
        let mut c = edited(&c, "config", |v| v["title"] = json!(title));
        c.updated_at = "2026-01-03T00:00:00Z".into();
        c
    };
    staging.put_many(&[both(staging.get("reorder").await.unwrap().unwrap(), "S")]).await.unwrap();
    production.put_many(&[both(production.get("reorder").await.unwrap().unwrap(), "P")]).await.unwrap();
    scans::rescan(&state, &Actor::system(), "feature-x", false).await.unwrap();
    let d = diffs::detail(&state, "feature-x", "reorder").await.unwrap();
    assert!(d.item.conflict && d.baseline.is_some() && d.production_config_diff.is_some());
    let plan = d.merge.expect("a conflict merges");
    assert!(!plan.without_base);
    let choices: Vec<&str> = plan.entries.iter().filter(|e| e.conflicting).map(|e| e.path.as_str()).collect();
    assert_eq!(choices, ["/config/title"], "{:?}", plan.entries);
}
on_both!(every_target_version_is_kept_as_a_base);

/// A target is hashed whole when it is listed, and the hashes it learnt are kept: a rescan
/// with nothing moved parses nothing. A chart both stores change between two scans is a
/// conflict whose parts are what staging changed against its (kept) base.
async fn a_target_is_hashed_whole_and_its_hashes_are_kept(env: &TestEnv) {
    let (state, production, staging) = scenario(env).await;
    let unhashed = |side: &'static str| {
        let pool = state.db.pool.clone();
        async move {
            let rows = sqlx::query(
                "select chart_id from chart_states where side = $1 and hash is null and error is null order by chart_id",
            )
            .bind(side)
            .fetch_all(&pool)
            .await
            .unwrap();
            rows.iter().map(|r| r.get::<String, _>("chart_id")).collect::<Vec<_>>()
        }
    };
    for side in ["production", "baseline"] {
        assert_eq!(unhashed(side).await, Vec::<String>::new(), "{side}");
    }

    let both = |c: RawChart, part: &str, title: &str| {
        let mut c = edited(&c, part, |v| v["title"] = json!(title));
        c.updated_at = "2026-02-02T00:00:00Z".into();
        c
    };
    staging.put_many(&[both(staging.get("same").await.unwrap().unwrap(), "config", "S")]).await.unwrap();
    let p = production.get("same").await.unwrap().unwrap();
    let mut p = both(p, "config", "P");
    p.metadata = r#"{"source":"P"}"#.into();
    production.put_many(&[p]).await.unwrap();
    scans::rescan(&state, &Actor::system(), "feature-x", false).await.unwrap();
    let same = diffs::item(&state, "feature-x", "same").await.unwrap();
    assert_eq!((same.kind, same.conflict), (ItemKind::Modified, true));
    assert_eq!(same.parts, ["config"], "what staging changed against the base");
    assert!(same.baseline_hash.is_some() && same.staging_hash.is_some() && same.production_hash.is_some());
    let d = diffs::detail(&state, "feature-x", "same").await.unwrap();
    assert!(!d.merge.expect("a conflict merges").without_base);

    // Hashes learnt are kept: the next rescan reads nothing and finds the same items.
    let again = scans::rescan(&state, &Actor::system(), "feature-x", true).await.unwrap();
    assert_eq!((again.production.canonicalised, again.staging.canonicalised), (0, 0));
    assert_eq!(items(&state, "feature-x", DiffQuery::default()).await.len(), 7);
}
on_both!(a_target_is_hashed_whole_and_its_hashes_are_kept);

/// A side larger than one write is written in several, whole; a scan classifies only the states
/// of charts the branch touched or the target moved (chosen by the database), a few thousand at a
/// time; a row whose bytes did not change is never parsed again, and one whose `updated_at` alone
/// moved is restamped.
async fn large_sides_are_written_whole_and_scans_look_only_at_what_moved(env: &TestEnv) {
    let (state, production) = env.state().await;
    let charts: Vec<RawChart> = (0..5_200).map(|i| chart(&format!("c{i:05}"), &format!("Chart {i}"))).collect();
    production.put_many(&charts).await.unwrap();
    let staging = env.store("staging").await;
    staging.copy_from(&production).await.unwrap();
    // More changed charts than one chunk of a scan holds, and three of every part.
    let mut changed: Vec<RawChart> =
        (100..2_200).map(|i| edited(&charts[i], "metadata", |v| v["unit"] = json!(format!("u{i}")))).collect();
    changed.extend([
        edited(&charts[1], "config", |v| v["type"] = json!("bar")),
        edited(&charts[4_000], "metadata", |v| v["unit"] = json!("‰")),
        edited(&charts[5_100], "data", |v| v["rows"][0]["value"] = json!(7)),
    ]);
    staging.put_many(&changed).await.unwrap();
    register(&state, "feature/big", &staging).await.unwrap();
    let target: String = sqlx::query("select target from branches where name = 'feature-big'")
        .fetch_one(&state.db.pool)
        .await
        .unwrap()
        .get("target");
    let count = |side: &'static str| {
        let pool = state.db.pool.clone();
        async move {
            sqlx::query("select count(*) as n from chart_states where side = $1")
                .bind(side)
                .fetch_one(&pool)
                .await
                .unwrap()
                .get::<i64, _>("n")
        }
    };
    for side in ["production", "staging", "baseline"] {
        assert_eq!(count(side).await, 5_200, "{side}: every chart's state written");
    }
    let list = |q: DiffQuery| {
        let state = state.clone();
        async move { diffs::list(&state, "feature-big", &q, Role::Lead).await.unwrap() }
    };
    assert_eq!(list(DiffQuery::default()).await.total, 2_103);
    let hashed: i64 = sqlx::query(
        "select count(*) as n from branch_items i join version_texts v on v.hash = i.staging_hash
         where i.branch = 'feature-big'",
    )
    .fetch_one(&state.db.pool)
    .await
    .unwrap()
    .get("n");
    assert_eq!(hashed, 2_103, "every item's staging version kept, across chunks");

    // The target moves one chart the branch left alone and one it changed (a conflict).
    production
        .put_many(&[
            edited(&charts[7], "metadata", |v| v["source"] = json!("UN")),
            edited(&charts[1], "config", |v| v["type"] = json!("area")),
        ])
        .await
        .unwrap();
    scans::rescan(&state, &Actor::system(), "feature-big", false).await.unwrap();
    let relevant = repo::states::relevant(&state.db, "feature-big", &target).await.unwrap();
    assert_eq!(relevant.len(), 2_104, "the touched and the moved charts");
    assert!(relevant.is_sorted());
    let sides = repo::states::load_charts(&state.db, "feature-big", &target, &relevant).await.unwrap();
    for (n, side) in sides.iter().enumerate() {
        assert_eq!(side.len(), 2_104, "side {n}: the touched and the moved charts");
        for id in ["c00001", "c00007", "c00100", "c02199", "c04000", "c05100"] {
            assert!(side.contains_key(id), "side {n} holds {id}");
        }
        assert!(!side.contains_key("c03000") && !side.contains_key("c00009"), "side {n}: nothing else");
    }
    assert_eq!(list(DiffQuery::default()).await.total, 2_103);
    let conflicts = list(DiffQuery { conflict: Some(true), ..Default::default() }).await;
    assert_eq!(conflicts.items.iter().map(|i| i.chart_id.as_str()).collect::<Vec<_>>(), ["c00001"]);

    // A full rescan with nothing changed parses nothing and writes nothing.
    let generation = repo::states::generation(&state.db, "staging", "feature-big").await.unwrap();
    let full = scans::rescan(&state, &Actor::system(), "feature-big", true).await.unwrap();
    assert_eq!((full.staging.read, full.staging.canonicalised, full.production.canonicalised), (5_200, 0, 0));
    assert_eq!(repo::states::generation(&state.db, "staging", "feature-big").await.unwrap(), generation);

    // Only `updated_at` moved: read once, not parsed, restamped.
    let restamped = RawChart { updated_at: "2026-03-03T00:00:00Z".into(), ..charts[9].clone() };
    staging.put_many(&[restamped]).await.unwrap();
    let r = scans::rescan(&state, &Actor::system(), "feature-big", false).await.unwrap();
    assert_eq!((r.staging.read, r.staging.canonicalised, r.items), (1, 0, 2_103));
    let stamp: String = sqlx::query(
        "select updated_at from chart_states where side = 'staging' and branch = 'feature-big' and chart_id = 'c00009'",
    )
    .fetch_one(&state.db.pool)
    .await
    .unwrap()
    .get("updated_at");
    assert_eq!(stamp, "2026-03-03T00:00:00Z", "the new stamp was written");
}
on_both!(large_sides_are_written_whole_and_scans_look_only_at_what_moved);

/// Rows read in pages come whole, each once, also where the database orders keys otherwise than
/// bytes do: on PostgreSQL the key column here takes ICU's collation, in which `a-1`, `A_1` and
/// `a1` sort unlike their bytes. A page starts after the last key the database returned.
async fn rows_read_in_pages_come_whole_and_once(env: &TestEnv) {
    let (state, _) = env.state().await;
    let db = &state.db;
    let collation = match db.backend {
        chartgate::db::Backend::Postgres => r#"collate "und-x-icu""#,
        _ => "",
    };
    sqlx::query(&format!("create table paged (k text {collation} primary key, v text not null)"))
        .execute(&db.pool)
        .await
        .unwrap();
    const ROWS: usize = 2 * chartgate::db::JSON_PAGE + 3;
    let fill = format!(
        "with recursive n(i) as (select 0 union all select i + 1 from n where i < {}) \
         insert into paged (k, v) select case i % 4 when 0 then 'a-' when 1 then 'A_' when 2 then 'a' else 'B.' end \
         || i, 'x' from n",
        ROWS - 1
    );
    sqlx::query(&fill).execute(&db.pool).await.unwrap();
    sqlx::query("insert into paged (k, v) values ('skipped', 'y')").execute(&db.pool).await.unwrap();

    #[derive(serde::Deserialize)]
    struct Paged {
        k: String,
        v: String,
    }
    let (mut seen, mut pages) = (std::collections::HashSet::new(), Vec::new());
    chartgate::db::each_json_page(
        db,
        &["k", "v"],
        "paged where v = $1",
        "k",
        &["x"],
        |r: &Paged| &r.k,
        |rows| {
            pages.push(rows.len());
            for r in rows {
                assert_eq!(r.v, "x");
                assert!(seen.insert(r.k.clone()), "{} came twice", r.k);
            }
        },
    )
    .await
    .unwrap();
    assert_eq!(pages, [chartgate::db::JSON_PAGE, chartgate::db::JSON_PAGE, 3]);
    assert_eq!(seen.len(), ROWS);
    for i in [0, 1, 2, 3, ROWS - 1] {
        let prefix = ["a-", "A_", "a", "B."][i % 4];
        assert!(seen.contains(&format!("{prefix}{i}")), "{prefix}{i} missing");
    }
}
on_both!(rows_read_in_pages_come_whole_and_once);

async fn unreadable_rows_and_stores(env: &TestEnv) {
    let (state, _, staging) = scenario(env).await;
    let mut broken = staging.get("same").await.unwrap().unwrap();
    broken.data = "{\"rows\": [".into();
    broken.updated_at = "2025-10-10T00:00:00Z".into();
    staging.put_many(&[broken]).await.unwrap();
    scans::rescan(&state, &Actor::system(), "feature-x", false).await.unwrap();
    let all = items(&state, "feature-x", DiffQuery::default()).await;
    assert_eq!(all.len(), 7, "the other items still load");
    let bad = by_id(&all, "same").unwrap();
    let error = bad.error.as_deref().unwrap();
    assert!(
        error.contains("staging store") && error.contains("chart same") && error.contains("data is not valid JSON"),
        "{error}"
    );
    assert_eq!(bad.title, "Chart same", "named after its readable baseline");

    // A registration against a store that does not exist is refused, naming it.
    let missing = match env.kind {
        crate::support::Kind::Sqlite | crate::support::Kind::Files => {
            format!("sqlite://{}/missing.db", env.dir.path().display())
        }
        _ => staging.url.replace("_staging", "_missing"),
    };
    let err = branches::register(
        &state,
        &Actor::operator("t"),
        NewBranch {
            branch: "feature/z",
            store_url: Some(&missing),
            fork: false,
            preview_url: None,
            target: None,
            repository: None,
        },
    )
    .await
    .unwrap_err();
    assert!(matches!(err, Error::Unprocessable(_)), "{err:?}");
    assert!(err.to_string().contains("missing"), "{err}");

    // A store that goes away: the scan fails naming it, the branch shows why, the items stay.
    if env.kind == crate::support::Kind::Sqlite {
        drop(staging);
        let path = chartgate::db::sqlite_path(&items_store_url(&state, "feature-x").await).to_string();
        std::fs::rename(&path, format!("{path}.moved")).unwrap();
        state.stores.forget(&items_store_url(&state, "feature-x").await).await;
        let err = scans::rescan(&state, &Actor::system(), "feature-x", false).await.unwrap_err();
        assert!(matches!(err, Error::Store { .. }), "{err:?}");
        let summary = branches::get(&state, "feature-x", Role::Lead).await.unwrap();
        assert!(summary.scan_error.unwrap().contains("does not exist"));
        assert!(summary.scan_error_detail.unwrap().contains("staging.db"), "leads read which store");
        let viewer = branches::get(&state, "feature-x", Role::Viewer).await.unwrap();
        assert_eq!(viewer.scan_error_detail, None);
        assert_eq!(items(&state, "feature-x", DiffQuery::default()).await.len(), 7);
    }
}
on_both!(unreadable_rows_and_stores);

async fn items_store_url(state: &AppState, branch: &str) -> String {
    sqlx::query("select store_url from branches where name = $1")
        .bind(branch)
        .fetch_one(&state.db.pool)
        .await
        .unwrap()
        .get("store_url")
}

async fn registration_rules(env: &TestEnv) {
    let (state, production, staging) = scenario(env).await;
    let again = register(&state, "feature/x", &staging).await.unwrap_err();
    assert!(matches!(again, Error::Conflict(_)), "{again:?}");
    let by_env_name = register(&state, "feature-x", &staging).await.unwrap_err();
    assert!(matches!(by_env_name, Error::Conflict(_)), "the raw and the environment name are one branch");

    // --fork: the store is created from the template as a copy of production.
    let forked = register_fork(&state, "feature/forked").await.unwrap();
    assert_eq!(forked.name, "feature-forked");
    assert_eq!(forked.counts.total, 0, "a fresh fork changes nothing");
    let store = ChartStore::open(&state.config.staging_url("feature-forked"), false).await.unwrap();
    assert_eq!(store.stamps().await.unwrap().len(), production.stamps().await.unwrap().len());

    let events: Vec<String> =
        sqlx::query("select action from audit_events where action = 'branch.register' order by id")
            .fetch_all(&state.db.pool)
            .await
            .unwrap()
            .iter()
            .map(|r| r.get("action"))
            .collect();
    assert_eq!(events.len(), 2, "every registration is audited");
    let archived = branches::archive(&state, &Actor::operator("t"), "feature/forked").await.unwrap();
    assert_eq!(archived.state, "archived");
    assert!(chartgate::repo::branches::open_names(&state.db).await.unwrap().iter().all(|n| n != "feature-forked"));
    if let Some(table) = store.charts_table() {
        table.pool().close().await;
    }
}
on_stores!(registration_rules);

async fn detail_shows_each_part(env: &TestEnv) {
    let (state, _, _) = scenario(env).await;
    let d = diffs::detail(&state, "feature-x", "data").await.unwrap();
    assert_eq!(d.data_diff.changed.len(), 1);
    assert_eq!(d.data_diff.changed[0].key.entity, "France", "rows are matched by key");
    assert_eq!(d.data_diff.changed[0].new, Some(json!(42)));
    assert!(d.config_diff.changes.is_empty() && d.metadata_diff.changes.is_empty());

    let c = diffs::detail(&state, "feature-x", "conflict").await.unwrap();
    assert_eq!(c.config_diff.changes[0].path, "/type");
    assert_eq!(c.config_diff.changes[0].new, Some(json!("bar")));
    let prod = c.production_config_diff.expect("a conflict shows production's own change");
    assert_eq!(prod.changes[0].new, Some(json!("scatter")));
    assert!(c.baseline.is_some() && c.staging.is_some() && c.production.is_some());

    let gone = diffs::detail(&state, "feature-x", "gone").await.unwrap();
    assert!(gone.staging.is_none());
    assert_eq!(gone.data_diff.removed.len(), 10);

    assert!(matches!(diffs::detail(&state, "feature-x", "same").await, Err(Error::NotFound(_))));
}
on_both!(detail_shows_each_part);

/// Diff-list counts and filtered totals are kept per branch revision (`state::ListCache`); the
/// revision moves with every write to items or decisions (database triggers), so a decision made
/// through another process, or a scan, shows in this one's next list at once.
async fn list_counts_follow_every_write_on_any_replica(env: &TestEnv) {
    let (state, _, staging) = scenario(env).await;
    let replica = AppState::new((*state.config).clone()).await.unwrap();
    let approved = |s: &AppState| {
        let s = s.clone();
        async move {
            let q = DiffQuery { status: Some("approved".into()), ..Default::default() };
            let page = diffs::list(&s, "feature-x", &q, Role::Lead).await.unwrap();
            (page.counts.approved, page.total)
        }
    };
    assert_eq!(approved(&state).await, (0, 0));
    let lead = chartgate::accounts::add_user(&replica.db, &Actor::operator("t"), "l@example.org", Role::Lead, None)
        .await
        .unwrap();
    let item = diffs::item(&replica, "feature-x", "cfg").await.unwrap();
    let req = app::types::ReviewRequest {
        status: app::types::ReviewStatus::Approved,
        staging_hash: item.staging_hash,
        production_hash: item.production_hash,
        comment: None,
    };
    chartgate::reviews::decide(&replica, "feature-x", "cfg", &lead, &req).await.unwrap();
    assert_eq!(approved(&state).await, (1, 1), "the other process's decision counts here at once");

    let total = |s: &AppState| {
        let s = s.clone();
        async move { diffs::list(&s, "feature-x", &DiffQuery::default(), Role::Lead).await.unwrap().total }
    };
    let before = total(&state).await;
    let mut edit = edited(&staging.get("same").await.unwrap().unwrap(), "config", |v| v["title"] = json!("New"));
    edit.updated_at = "2026-02-02T00:00:00Z".into();
    staging.put_many(&[edit]).await.unwrap();
    scans::rescan(&replica, &Actor::system(), "feature-x", false).await.unwrap();
    assert_eq!(total(&state).await, before + 1, "a scan elsewhere moves the revision too");
}
on_both!(list_counts_follow_every_write_on_any_replica);

/// Versions stored uncompressed before migration 0012 move into `version_texts` when Chartgate
/// starts, byte for byte.
async fn versions_from_before_compression_are_moved_at_start(env: &TestEnv) {
    let (state, _) = env.state().await;
    let (config, data, metadata) = (r#"{"title":"Old"}"#, r#"{"rows":[]}"#, "{}");
    let hash = chartgate::charts::canonical::content_hash("old", config, data, metadata);
    sqlx::query(
        "insert into versions (hash, slug, config, data, metadata, created_at) values ($1, 'old', $2, $3, $4, 'then')",
    )
    .bind(&hash)
    .bind(config)
    .bind(data)
    .bind(metadata)
    .execute(&state.db.pool)
    .await
    .unwrap();
    let restarted = AppState::new((*state.config).clone()).await.unwrap();
    let text = chartgate::repo::versions::text(&restarted.db, &hash).await.unwrap().expect("moved");
    assert_eq!((text.config.as_str(), text.data.as_str(), text.metadata.as_str()), (config, data, metadata));
    let left = sqlx::query("select count(*) as n from versions").fetch_one(&state.db.pool).await.unwrap();
    assert_eq!(left.get::<i64, _>("n"), 0);
}
on_both!(versions_from_before_compression_are_moved_at_start);
