//! Review at scale (design §11, issue 14) on real databases and through the real server: groups
//! of the same change and deciding them with one item moved meanwhile, the diff since the last
//! approval, and unreadable items refused everywhere.

use app::types::{BulkReviewRequest, DiffItem, GroupReviewRequest, ReviewRequest, ReviewStatus, Role, SeenItem};
use chartgate::access::{Actor, User};
use chartgate::charts::{ChartStore, RawChart};
use chartgate::error::Error;
use chartgate::state::AppState;
use chartgate::{accounts, branches, diffs, groups, reviews, scans};
use reqwest::StatusCode;
use serde_json::{json, Value};
use sqlx::Row;

use crate::api::{spawn_server, token_for};
use crate::engine::scenario;
use crate::on_both;
use crate::support::{chart, edited, TestEnv};

const BRANCH: &str = "feature-x";

async fn user(state: &AppState, email: &str, role: Role) -> User {
    accounts::add_user(&state.db, &Actor::operator("test"), email, role, None).await.unwrap()
}

async fn item(state: &AppState, id: &str) -> DiffItem {
    diffs::item(state, BRANCH, id).await.unwrap()
}

async fn rescan(state: &AppState) {
    scans::rescan(state, &Actor::system(), BRANCH, false).await.unwrap();
}

/// A chart written after the scenario's edits (scans are incremental by `updated_at`).
fn later(mut c: RawChart) -> RawChart {
    c.updated_at = "2025-10-10T00:00:00Z".into();
    c
}

fn seen(i: &DiffItem) -> SeenItem {
    SeenItem {
        chart_id: i.chart_id.clone(),
        staging_hash: i.staging_hash.clone(),
        production_hash: i.production_hash.clone(),
    }
}

/// Production with charts g0..g4 (each its own title and subtitle) and two others; staging sets
/// the subtitle of g0..g4 to "Revised", edits `o1`'s data and `o2`'s subtitle to something else.
async fn five_the_same(env: &TestEnv) -> (AppState, ChartStore, Vec<RawChart>) {
    let (state, production) = env.state().await;
    let base: Vec<RawChart> = ["g0", "g1", "g2", "g3", "g4", "o1", "o2"]
        .iter()
        .map(|id| {
            let mut c =
                edited(&chart(id, &format!("Chart {id}")), "config", |v| v["subtitle"] = json!(format!("Old {id}")));
            c.updated_at = "2025-01-01T00:00:00Z".into();
            c
        })
        .collect();
    production.put_many(&base).await.unwrap();
    let staging = env.store("staging").await;
    staging.copy_from(&production).await.unwrap();
    branches::register(
        &state,
        &Actor::operator("test"),
        branches::NewBranch {
            branch: "feature/x",
            store_url: Some(&staging.url),
            fork: false,
            preview_url: None,
            target: None,
            repository: None,
        },
    )
    .await
    .unwrap();
    let mut staged: Vec<RawChart> =
        base[..5].iter().map(|c| edited(c, "config", |v| v["subtitle"] = json!("Revised"))).collect();
    staged.push(edited(&base[5], "data", |v| v["rows"][0]["value"] = json!(99)));
    staged.push(edited(&base[6], "config", |v| v["subtitle"] = json!("Something else")));
    staging.put_many(&staged).await.unwrap();
    rescan(&state).await;
    (state, staging, base)
}

async fn group_decision_refuses_the_item_that_moved(env: &TestEnv) {
    let (state, staging, _) = five_the_same(env).await;
    let rita = user(&state, "rita@example.org", Role::Reviewer).await;
    let viewer = user(&state, "vic@example.org", Role::Viewer).await;

    let list = groups::list(&state, "feature/x").await.unwrap();
    assert_eq!(list.len(), 3, "{list:#?}");
    let g = &list[0];
    assert_eq!(g.summary, "subtitle → 'Revised'");
    assert_eq!(g.parts, vec!["config"]);
    let mut ids = g.chart_ids.clone();
    ids.sort();
    assert_eq!(ids, ["g0", "g1", "g2", "g3", "g4"]);
    assert_eq!(g.pending, 5);
    // What the page showed.
    let shown: Vec<SeenItem> = g.items.iter().map(seen).collect();
    let request =
        GroupReviewRequest { status: ReviewStatus::Approved, comment: Some("same fix".into()), items: Some(shown) };

    let refused = groups::decide(&state, BRANCH, &g.id, &viewer, &request).await;
    assert!(matches!(refused, Err(Error::Forbidden(_))), "a viewer cannot decide a group");

    // Meanwhile, g2 is edited again on staging (its change is no longer the group's) and g3 gets
    // the same change written anew with another data row (its hashes move).
    let g2 = staging.get("g2").await.unwrap().unwrap();
    let g3 = staging.get("g3").await.unwrap().unwrap();
    staging
        .put_many(&[
            later(edited(&g2, "config", |v| v["subtitle"] = json!("Revised twice"))),
            later(edited(&g3, "data", |v| v["rows"][1]["value"] = json!(7))),
        ])
        .await
        .unwrap();
    let before_g2 = item(&state, "g2").await;

    let result = groups::decide(&state, BRANCH, &g.id, &rita, &request).await.unwrap();
    let mut decided: Vec<&str> = result.decided.iter().map(|d| d.chart_id.as_str()).collect();
    decided.sort();
    assert_eq!(decided, ["g0", "g1", "g4"], "{result:#?}");
    let mut refused: Vec<&str> = result.refused.iter().map(|r| r.chart_id.as_str()).collect();
    refused.sort();
    assert_eq!(refused, ["g2", "g3"], "{result:#?}");
    assert!(result.refused.iter().all(|r| r.reason.contains("changed since you loaded the page")), "{result:#?}");

    // Each decision is bound to its own item's hashes, and counts.
    for id in ["g0", "g1", "g4"] {
        let i = item(&state, id).await;
        assert_eq!(i.review.in_force, ReviewStatus::Approved, "{id}");
        assert_eq!(i.review.comment.as_deref(), Some("same fix"));
        let d = result.decided.iter().find(|d| d.chart_id == id).unwrap();
        assert_eq!((&d.staging_hash, &d.production_hash), (&i.staging_hash, &i.production_hash), "{id}");
    }
    for id in ["g2", "g3"] {
        assert_eq!(item(&state, id).await.review.in_force, ReviewStatus::Pending, "{id} was not decided");
    }
    assert_ne!(item(&state, "g2").await.staging_hash, before_g2.staging_hash, "the rescan saw g2 move");

    // One group event besides the per-item decisions.
    let rows = sqlx::query("select action, detail from audit_events where action = 'review.group'")
        .fetch_all(&state.db.pool)
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    let detail: Value = serde_json::from_str(&rows[0].get::<String, _>("detail")).unwrap();
    assert_eq!(detail["summary"], "subtitle → 'Revised'");
    assert_eq!(detail["refused"].as_array().unwrap().len(), 2);
    let approvals = sqlx::query("select count(*) as n from audit_events where action = 'review.approve'")
        .fetch_one(&state.db.pool)
        .await
        .unwrap()
        .get::<i64, _>("n");
    assert_eq!(approvals, 3);

    // Without `items` the group's current members are decided; an unknown group is a 404.
    let again = groups::list(&state, BRANCH).await.unwrap();
    let g = again.iter().find(|x| x.summary == "subtitle → 'Revised'").unwrap();
    assert_eq!(g.items.len(), 3, "g2 and g3 left the group: {again:#?}");
    assert_eq!(g.pending, 0);
    let reset = GroupReviewRequest { status: ReviewStatus::Pending, comment: None, items: None };
    let r = groups::decide(&state, BRANCH, &g.id, &rita, &reset).await.unwrap();
    assert_eq!(r.decided.len(), 3);
    assert!(matches!(groups::decide(&state, BRANCH, "0000", &rita, &reset).await, Err(Error::NotFound(_))));
}
on_both!(group_decision_refuses_the_item_that_moved);

async fn since_the_last_approval(env: &TestEnv) {
    let (state, _, staging) = scenario(env).await;
    let ana = user(&state, "ana@example.org", Role::Reviewer).await;
    let cfg = item(&state, "cfg").await;
    assert!(diffs::detail(&state, BRANCH, "cfg").await.unwrap().since_approval.is_none(), "nothing approved yet");
    let no_approval = diffs::detail_against(&state, BRANCH, "cfg", Some("approved")).await;
    assert!(matches!(no_approval, Err(Error::NotFound(_))), "{no_approval:?}");
    let request = ReviewRequest {
        status: ReviewStatus::Approved,
        staging_hash: cfg.staging_hash.clone(),
        production_hash: cfg.production_hash.clone(),
        comment: None,
    };
    reviews::decide(&state, BRANCH, "cfg", &ana, &request).await.unwrap();
    assert!(diffs::detail(&state, BRANCH, "cfg").await.unwrap().since_approval.is_none(), "approved and current");

    let now = staging.get("cfg").await.unwrap().unwrap();
    staging
        .put_many(&[later(edited(&now, "config", |v| v["title"] = json!("Chart cfg, renamed again")))])
        .await
        .unwrap();
    rescan(&state).await;
    let d = diffs::detail(&state, BRANCH, "cfg").await.unwrap();
    assert!(d.item.review.stale);
    let since = d.since_approval.clone().expect("a stale approval shows what changed since");
    assert_eq!(since.reviewer, "ana@example.org");
    assert_eq!(since.approved_staging_hash, cfg.staging_hash);
    assert!(since.staging_moved && !since.production_moved);
    let changes = &since.config_diff.changes;
    assert_eq!(changes.len(), 1, "{changes:#?}");
    assert_eq!(changes[0].path, "/title");
    assert_eq!(changes[0].old, Some(json!("Chart cfg, renamed")));
    assert_eq!(changes[0].new, Some(json!("Chart cfg, renamed again")));
    assert!(since.data_diff.changed.is_empty() && since.metadata_diff.changes.is_empty());
    // The usual diff still runs from production ("Chart cfg") to staging.
    assert_eq!(d.config_diff.changes[0].old, Some(json!("Chart cfg")));

    let against = diffs::detail_against(&state, BRANCH, "cfg", Some("approved")).await.unwrap();
    assert_eq!(against.against, "approved");
    assert_eq!(against.config_diff.changes, since.config_diff.changes);
    let bad = diffs::detail_against(&state, BRANCH, "cfg", Some("yesterday")).await;
    assert!(matches!(bad, Err(Error::BadRequest(_))), "{bad:?}");
}
on_both!(since_the_last_approval);

async fn unreadable_items_cannot_be_decided(env: &TestEnv) {
    let (state, _, staging) = scenario(env).await;
    let ana = user(&state, "ana@example.org", Role::Reviewer).await;
    let mut broken = staging.get("data").await.unwrap().unwrap();
    broken.data = "{\"rows\": [{\"entity\": ".into();
    broken.updated_at = "2025-09-09T00:00:00Z".into();
    staging.put_many(&[broken]).await.unwrap();
    rescan(&state).await;

    let d = diffs::detail(&state, BRANCH, "data").await.unwrap();
    let error = d.item.error.clone().expect("the item is unreadable");
    assert!(error.starts_with("staging store") && error.contains("chart data"), "{error}");
    assert!(d.item.staging_hash.is_none());
    assert!(
        d.data_diff.removed.is_empty() && d.config_diff.changes.is_empty() && d.metadata_diff.changes.is_empty(),
        "no diff against an unreadable row: {d:#?}"
    );

    let one = ReviewRequest {
        status: ReviewStatus::Approved,
        staging_hash: None,
        production_hash: d.item.production_hash.clone(),
        comment: None,
    };
    let refused = reviews::decide(&state, BRANCH, "data", &ana, &one).await;
    assert!(matches!(&refused, Err(Error::Conflict(m)) if m.contains("readable")), "{refused:?}");
    let bulk = BulkReviewRequest { status: ReviewStatus::Approved, chart_ids: vec!["data".into()], comment: None };
    let bulk = reviews::decide_many(&state, BRANCH, &ana, &bulk).await.unwrap();
    assert!(bulk.decided.is_empty() && bulk.refused[0].reason.contains("unreadable"), "{bulk:?}");
    let g = groups::list(&state, BRANCH).await.unwrap().into_iter().find(|g| g.chart_ids == ["data"]).unwrap();
    assert!(g.summary.starts_with("unreadable: "), "{}", g.summary);
    let request = GroupReviewRequest { status: ReviewStatus::Approved, comment: None, items: None };
    let r = groups::decide(&state, BRANCH, &g.id, &ana, &request).await.unwrap();
    assert!(r.decided.is_empty() && r.refused[0].reason.contains("unreadable"), "{r:?}");
    assert_eq!(item(&state, "data").await.review.in_force, ReviewStatus::Pending);
}
on_both!(unreadable_items_cannot_be_decided);

/// The §11 routes through the real server, on the demo's data.
#[tokio::test]
async fn group_routes_over_http() {
    let s = spawn_server();
    let reviewer = token_for(s.dir.path(), "rita@example.org", "reviewer");
    let base = "/api/v1/branches/feature-energy-update";

    let (st, body) = s.get(&format!("{base}/groups"), None).await;
    assert_eq!(st, StatusCode::UNAUTHORIZED, "{body}");
    let (st, list) = s.get(&format!("{base}/groups"), Some(&s.viewer)).await;
    assert_eq!(st, StatusCode::OK, "{list}");
    let list = list.as_array().unwrap().clone();
    let (_, page) = s.get(&format!("{base}/diffs?per_page=500"), Some(&s.viewer)).await;
    let total: usize = list.iter().map(|g| g["chart_ids"].as_array().unwrap().len()).sum();
    assert_eq!(total as i64, page["total"].as_i64().unwrap(), "every item is in exactly one group");
    for g in &list {
        assert!(g["id"].is_string() && g["summary"].is_string() && g["parts"].is_array(), "§11 shape: {g}");
    }
    // The demo's energy review sets one subtitle on several charts.
    let energy = list
        .iter()
        .find(|g| g["summary"].as_str().unwrap().starts_with("subtitle → 'Revised with the 2025 energy review'"))
        .expect("the energy review's subtitle edit is a group");
    assert!(energy["chart_ids"].as_array().unwrap().len() >= 2, "{energy}");
    let id = energy["id"].as_str().unwrap();

    let (st, detail) = s.get(&format!("{base}/groups/{id}"), Some(&s.viewer)).await;
    assert_eq!(st, StatusCode::OK, "{detail}");
    assert_eq!(detail["group"]["id"], id);
    assert_eq!(detail["representative"]["chart_id"], energy["chart_ids"][0]);
    let (st, err) = s.get(&format!("{base}/groups/nope"), Some(&s.viewer)).await;
    assert_eq!((st, err["error"]["code"].as_str()), (StatusCode::NOT_FOUND, Some("not_found")), "{err}");

    let review = format!("{base}/groups/{id}/review");
    let (st, err) = s.post(&review, Some(&s.viewer), json!({"status": "approved"})).await;
    assert_eq!(st, StatusCode::FORBIDDEN, "{err}");
    let (st, err) = s.post(&review, Some(&reviewer), json!({"status": "maybe"})).await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{err}");
    // What a page showed, with one hash that is no longer current.
    let mut items: Vec<Value> = detail["group"]["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| json!({"chart_id": i["chart_id"], "staging_hash": i["staging_hash"], "production_hash": i["production_hash"]}))
        .collect();
    items[0]["staging_hash"] = json!("0".repeat(64));
    let (st, done) =
        s.post(&review, Some(&reviewer), json!({"status": "approved", "comment": "one look", "items": items})).await;
    assert_eq!(st, StatusCode::OK, "{done}");
    assert_eq!(done["decided"].as_array().unwrap().len(), items.len() - 1, "{done}");
    assert_eq!(done["refused"][0]["chart_id"], items[0]["chart_id"], "{done}");
    let first_decided = done["decided"][0]["chart_id"].as_str().unwrap();
    let (_, one) = s.get(&format!("{base}/diffs/{first_decided}"), Some(&s.viewer)).await;
    assert_eq!(one["review"]["status"], "approved");
    assert_eq!(one["review"]["reviewer"], "rita@example.org");

    // `?against=approved` needs an approval that differs from now.
    let (st, err) = s.get(&format!("{base}/diffs/{first_decided}?against=approved"), Some(&s.viewer)).await;
    assert_eq!(st, StatusCode::NOT_FOUND, "{err}");
    let (st, err) = s.get(&format!("{base}/diffs/{first_decided}?against=nonsense"), Some(&s.viewer)).await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{err}");

    // The demo's broken literacy row on the other branch: shown without a diff, never decided.
    let fix = "/api/v1/branches/fix-population-labels";
    let (_, page) = s.get(&format!("{fix}/diffs?per_page=500"), Some(&s.viewer)).await;
    let broken =
        page["items"].as_array().unwrap().iter().find(|i| !i["error"].is_null()).expect("an unreadable item").clone();
    let bid = broken["chart_id"].as_str().unwrap();
    let (_, d) = s.get(&format!("{fix}/diffs/{bid}"), Some(&s.viewer)).await;
    assert!(d["data_diff"]["removed"].as_array().unwrap().is_empty(), "{d}");
    let body = json!({"status": "approved", "staging_hash": broken["staging_hash"], "production_hash": broken["production_hash"]});
    let (st, err) = s.post(&format!("{fix}/diffs/{bid}/review"), Some(&reviewer), body).await;
    assert_eq!(st, StatusCode::CONFLICT, "{err}");
}

async fn relevance_sort_by_production_views(env: &TestEnv) {
    let (state, production, _) = scenario(env).await;
    let q = |sort: &str, page: u32, per_page: u32| app::types::DiffQuery {
        sort: Some(sort.into()),
        page: Some(page),
        per_page: Some(per_page),
        ..Default::default()
    };
    // Without the table: no figures, and the sort is refused with a reason (409: the request is
    // valid, the store cannot answer it now).
    let plain = diffs::list(&state, BRANCH, &q("changed", 1, 50), Role::Viewer).await.unwrap();
    assert!(!plain.views_available && plain.items.iter().all(|i| i.views_30d.is_none()));
    let refused = diffs::list(&state, BRANCH, &q("views", 1, 50), Role::Viewer).await;
    assert!(matches!(&refused, Err(Error::Conflict(m)) if m.contains("chart_views")), "{refused:?}");

    sqlx::query("create table chart_views (chart_id text primary key, views_30d integer)")
        .execute(production.charts_table().unwrap().pool())
        .await
        .unwrap();
    for (id, n) in [("cfg", 5000_i64), ("data", 500), ("meta", 50), ("prodonly", 90000)] {
        sqlx::query("insert into chart_views (chart_id, views_30d) values ($1, $2)")
            .bind(id)
            .bind(n)
            .execute(production.charts_table().unwrap().pool())
            .await
            .unwrap();
    }
    // SQLite sees the new table at once (its files changed); a PostgreSQL store without the
    // table is asked again after a second.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let all = loop {
        match diffs::list(&state, BRANCH, &q("views", 1, 50), Role::Viewer).await {
            Ok(all) => break all,
            Err(Error::Conflict(_)) if production.engine().unwrap() == chartgate::db::Backend::Postgres => {
                assert!(std::time::Instant::now() < deadline, "the new chart_views table was never seen");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
            Err(e) => panic!("{e:?}"),
        }
    };
    assert!(all.views_available);
    let order: Vec<(&str, i64)> = all.items.iter().map(|i| (i.chart_id.as_str(), i.views_30d.unwrap())).collect();
    assert_eq!(&order[..3], &[("cfg", 5000), ("data", 500), ("meta", 50)], "{order:?}");
    assert!(order[3..].iter().all(|(_, n)| *n == 0), "charts nobody read come last: {order:?}");
    assert_eq!(all.total as usize, order.len());
    // Paged after sorting, and the figures show on the default order too.
    let second = diffs::list(&state, BRANCH, &q("views", 2, 2), Role::Viewer).await.unwrap();
    assert_eq!(second.items.iter().map(|i| i.chart_id.as_str()).collect::<Vec<_>>()[0], "meta");
    assert_eq!(second.total, all.total);
    let changed = diffs::list(&state, BRANCH, &q("changed", 1, 50), Role::Viewer).await.unwrap();
    assert_eq!(changed.items.iter().find(|i| i.chart_id == "data").unwrap().views_30d, Some(500));

    // The figures are kept between lists, and read again once the store changed (SQLite knows
    // at once by its files; a PostgreSQL store is read again after ten seconds).
    sqlx::query("update chart_views set views_30d = 7 where chart_id = 'data'")
        .execute(production.charts_table().unwrap().pool())
        .await
        .unwrap();
    if production.engine().unwrap() == chartgate::db::Backend::Sqlite {
        let again = diffs::list(&state, BRANCH, &q("changed", 1, 50), Role::Viewer).await.unwrap();
        assert_eq!(again.items.iter().find(|i| i.chart_id == "data").unwrap().views_30d, Some(7));
    }
}
on_both!(relevance_sort_by_production_views);
