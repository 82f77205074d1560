//! Reviews on real databases (SQLite and PostgreSQL): decisions bound to content, staleness on
//! real changes only, 409 on moved content, bulk decisions with refusals, the gate, the audit
//! trail, and 20 reviewers deciding the same items at once.

use app::types::{BulkReviewRequest, DiffItem, DiffQuery, ReviewRequest, ReviewStatus, Role};
use chartgate::access::{Actor, User};
use chartgate::accounts;
use chartgate::charts::RawChart;
use chartgate::error::Error;
use chartgate::state::AppState;
use chartgate::{branches, diffs, reviews, scans};
use serde_json::json;
use sqlx::Row;

use crate::engine::scenario;
use crate::on_both;
use crate::support::{chart, edited, TestEnv};

async fn user(state: &AppState, email: &str, role: Role) -> User {
    accounts::add_user(&state.db, &Actor::operator("test"), email, role, None).await.unwrap()
}

async fn item(state: &AppState, id: &str) -> DiffItem {
    diffs::item(state, "feature-x", id).await.unwrap()
}

fn bound(item: &DiffItem, status: ReviewStatus) -> ReviewRequest {
    ReviewRequest {
        status,
        staging_hash: item.staging_hash.clone(),
        production_hash: item.production_hash.clone(),
        comment: Some("looks right".into()),
    }
}

async fn audit_actions(state: &AppState, chart: &str) -> Vec<String> {
    sqlx::query("select action from audit_events where chart_id = $1 order by id")
        .bind(chart)
        .fetch_all(&state.db.pool)
        .await
        .unwrap()
        .iter()
        .map(|r| r.get("action"))
        .collect()
}

async fn decisions_go_stale_on_real_changes_only(env: &TestEnv) {
    let (state, _, staging) = scenario(env).await;
    let ana = user(&state, "ana@example.org", Role::Reviewer).await;
    let viewer = user(&state, "vic@example.org", Role::Viewer).await;

    let cfg = item(&state, "cfg").await;
    let refused = reviews::decide(&state, "feature-x", "cfg", &viewer, &bound(&cfg, ReviewStatus::Approved)).await;
    assert!(matches!(refused, Err(Error::Forbidden(_))), "a viewer cannot decide");

    let approved =
        reviews::decide(&state, "feature/x", "cfg", &ana, &bound(&cfg, ReviewStatus::Approved)).await.unwrap();
    assert_eq!(approved.review.status, ReviewStatus::Approved);
    assert_eq!(approved.review.reviewer.as_deref(), Some("ana@example.org"));
    assert_eq!(approved.review.comment.as_deref(), Some("looks right"));
    assert!(!approved.review.stale);

    // Not a change: same content written differently, with a new timestamp.
    let mut same = staging.get("cfg").await.unwrap().unwrap();
    let v: serde_json::Value = serde_json::from_str(&same.config).unwrap();
    same.config = serde_json::to_string_pretty(&v).unwrap();
    same.updated_at = "2026-01-01T00:00:00Z".into();
    staging.put_many(&[same.clone()]).await.unwrap();
    scans::rescan(&state, &Actor::system(), "feature-x", false).await.unwrap();
    let still = item(&state, "cfg").await;
    assert!(!still.review.stale, "a non-change keeps the decision");
    assert_eq!(still.review.effective(), ReviewStatus::Approved);

    // A real change makes it stale: pending everywhere.
    staging.put_many(&[edited(&same, "config", |v| v["title"] = json!("Chart cfg, renamed again"))]).await.unwrap();
    scans::rescan(&state, &Actor::system(), "feature-x", false).await.unwrap();
    let stale = item(&state, "cfg").await;
    assert!(stale.review.stale);
    assert_eq!(stale.review.effective(), ReviewStatus::Pending);
    let pending = diffs::list(
        &state,
        "feature-x",
        &DiffQuery { status: Some("pending".into()), ..Default::default() },
        Role::Lead,
    )
    .await
    .unwrap();
    assert!(pending.items.iter().any(|i| i.chart_id == "cfg"));
    let gate = reviews::gate(&state, "feature-x").await.unwrap();
    assert_eq!(gate.stale, 1);
    assert!(!gate.pass);

    // Deciding on the old hashes is a 409 that names the current ones.
    match reviews::decide(&state, "feature-x", "cfg", &ana, &bound(&cfg, ReviewStatus::Approved)).await {
        Err(Error::ConflictWith { detail, .. }) => {
            assert_eq!(detail["staging_hash"], json!(stale.staging_hash));
            assert_eq!(detail["production_hash"], json!(stale.production_hash));
        }
        other => panic!("expected a 409, got {other:?}"),
    }
    // Production moving also makes the hashes old.
    let conflict = item(&state, "conflict").await;
    let wrong =
        ReviewRequest { production_hash: conflict.baseline_hash.clone(), ..bound(&conflict, ReviewStatus::Approved) };
    assert!(matches!(
        reviews::decide(&state, "feature-x", "conflict", &ana, &wrong).await,
        Err(Error::ConflictWith { .. })
    ));
    let seen = reviews::decide(&state, "feature-x", "conflict", &ana, &bound(&conflict, ReviewStatus::Approved))
        .await
        .unwrap();
    assert_eq!(seen.review.effective(), ReviewStatus::Approved, "approved with the production hash seen");

    assert_eq!(audit_actions(&state, "cfg").await, ["review.approve"], "refused attempts change nothing");
    let history = chartgate::repo::audit::chart_history(&state.db, "cfg").await.unwrap();
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].staging_hash, cfg.staging_hash);
    assert_eq!(history[0].detail.as_ref().unwrap()["comment"], "looks right");
}
on_both!(decisions_go_stale_on_real_changes_only);

/// A decision relies on items as the stores are now: a write to either store since the last scan
/// is seen (409 on the old hashes), while with both stores untouched a SQLite branch is not
/// rescanned at all (no lock, no write: reviewers deciding at once do not queue).
async fn decisions_see_store_writes_and_skip_needless_rescans(env: &TestEnv) {
    let (state, production, staging) = scenario(env).await;
    let ana = user(&state, "ana@example.org", Role::Reviewer).await;
    let last_scan = || async { branches::get(&state, "feature-x", Role::Lead).await.unwrap().last_scan_at };

    let before = last_scan().await;
    let data = item(&state, "data").await;
    reviews::decide(&state, "feature-x", "data", &ana, &bound(&data, ReviewStatus::Approved)).await.unwrap();
    if env.kind == crate::support::Kind::Sqlite {
        assert_eq!(last_scan().await, before, "nothing moved: no rescan");
    }

    // Staging written, no scan since: the decision sees it.
    let cfg = item(&state, "cfg").await;
    let mut moved = edited(&staging.get("cfg").await.unwrap().unwrap(), "config", |v| v["title"] = json!("Renamed"));
    moved.updated_at = "2026-06-06T00:00:00Z".into();
    staging.put_many(&[moved]).await.unwrap();
    match reviews::decide(&state, "feature-x", "cfg", &ana, &bound(&cfg, ReviewStatus::Approved)).await {
        Err(Error::ConflictWith { detail, .. }) => assert_ne!(detail["staging_hash"], json!(cfg.staging_hash)),
        other => panic!("expected a 409 for content written since the scan, got {other:?}"),
    }

    // Production written under a conflict, no scan since: the same.
    let conflict = item(&state, "conflict").await;
    let mut edit = edited(&production.get("conflict").await.unwrap().unwrap(), "metadata", |v| v["unit"] = json!("kg"));
    edit.updated_at = "2026-06-06T00:00:00Z".into();
    production.put_many(&[edit]).await.unwrap();
    match reviews::decide(&state, "feature-x", "conflict", &ana, &bound(&conflict, ReviewStatus::Approved)).await {
        Err(Error::ConflictWith { detail, .. }) => {
            assert_ne!(detail["production_hash"], json!(conflict.production_hash))
        }
        other => panic!("expected a 409 for production written since the scan, got {other:?}"),
    }
    assert_eq!(item(&state, "data").await.review.effective(), ReviewStatus::Approved);
}
on_both!(decisions_see_store_writes_and_skip_needless_rescans);

async fn bulk_decides_what_it_can_and_says_why_not(env: &TestEnv) {
    let (state, _, _) = scenario(env).await;
    let ana = user(&state, "ana@example.org", Role::Reviewer).await;
    let req = BulkReviewRequest {
        status: ReviewStatus::Approved,
        chart_ids: vec!["cfg".into(), "data".into(), "conflict".into(), "same".into(), "new".into(), "cfg".into()],
        comment: None,
    };
    let result = reviews::decide_many(&state, "feature-x", &ana, &req).await.unwrap();
    let decided: Vec<&str> = result.decided.iter().map(|d| d.chart_id.as_str()).collect();
    assert_eq!(decided, ["cfg", "data", "new"]);
    let refused: Vec<(&str, bool)> =
        result.refused.iter().map(|r| (r.chart_id.as_str(), r.reason.contains("conflict"))).collect();
    assert_eq!(refused, [("conflict", true), ("same", false)]);

    let gate = reviews::gate(&state, "feature-x").await.unwrap();
    assert_eq!((gate.total, gate.approved, gate.pending, gate.conflicts, gate.pass), (6, 3, 3, 1, false));
    let rest = BulkReviewRequest {
        status: ReviewStatus::Rejected,
        chart_ids: vec!["gone".into(), "meta".into(), "conflict".into()],
        comment: Some("not yet".into()),
    };
    let result = reviews::decide_many(&state, "feature-x", &ana, &rest).await.unwrap();
    assert_eq!(result.decided.len(), 3, "rejecting a conflict in bulk is fine");
    let gate = reviews::gate(&state, "feature-x").await.unwrap();
    assert_eq!((gate.approved, gate.rejected, gate.pending, gate.stale, gate.pass), (3, 3, 0, 0, true));

    let bulk_events: i64 = sqlx::query("select count(*) as n from audit_events where action = 'review.bulk'")
        .fetch_one(&state.db.pool)
        .await
        .unwrap()
        .get("n");
    assert_eq!(bulk_events, 2);
    assert_eq!(audit_actions(&state, "meta").await, ["review.reject"]);
    let empty = BulkReviewRequest { status: ReviewStatus::Approved, chart_ids: vec![], comment: None };
    assert!(matches!(reviews::decide_many(&state, "feature-x", &ana, &empty).await, Err(Error::BadRequest(_))));
}
on_both!(bulk_decides_what_it_can_and_says_why_not);

async fn twenty_reviewers_at_once(env: &TestEnv) {
    let (state, _, _) = scenario(env).await;
    let mut reviewers = Vec::new();
    for i in 0..20 {
        reviewers.push(user(&state, &format!("r{i}@example.org"), Role::Reviewer).await);
    }
    let targets = ["cfg", "data", "meta"];
    let mut current = Vec::new();
    for t in targets {
        current.push(item(&state, t).await);
    }
    let mut tasks = Vec::new();
    for (i, reviewer) in reviewers.into_iter().enumerate() {
        let state = state.clone();
        let current = current.clone();
        tasks.push(tokio::spawn(async move {
            for (k, it) in current.iter().enumerate() {
                let status = if (i + k) % 2 == 0 { ReviewStatus::Approved } else { ReviewStatus::Rejected };
                reviews::decide(&state, "feature-x", &it.chart_id, &reviewer, &bound(it, status)).await.unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    for t in targets {
        let actions = audit_actions(&state, t).await;
        assert_eq!(actions.len(), 20, "every decision on {t} is audited");
        // The last decision audited is the one in force.
        let last = sqlx::query("select actor, action from audit_events where chart_id = $1 order by id desc limit 1")
            .bind(t)
            .fetch_one(&state.db.pool)
            .await
            .unwrap();
        let (actor, action): (String, String) = (last.get("actor"), last.get("action"));
        let now = item(&state, t).await;
        assert_eq!(now.review.reviewer.as_deref(), Some(actor.as_str()), "last decision wins on {t}");
        let expected = if action == "review.approve" { ReviewStatus::Approved } else { ReviewStatus::Rejected };
        assert_eq!(now.review.status, expected);
    }
}
on_both!(twenty_reviewers_at_once);

/// Decisions sent at once are written together; each still gets its own answer: the ones bound
/// to hashes that are not the item's are refused, and do not take the others down with them.
async fn decisions_sent_together_are_answered_each(env: &TestEnv) {
    let (state, _, _) = scenario(env).await;
    let ana = user(&state, "ana@example.org", Role::Reviewer).await;
    const IDS: [&str; 5] = ["cfg", "data", "meta", "new", "gone"];
    let mut tasks = Vec::new();
    for round in 0..6 {
        for (k, id) in IDS.into_iter().enumerate() {
            let (state, ana) = (state.clone(), ana.clone());
            let mut request = bound(&item(&state, id).await, ReviewStatus::Approved);
            let stale = (round + k) % 3 == 0;
            if stale {
                request.staging_hash = Some("0".repeat(64));
            }
            tasks.push(tokio::spawn(
                async move { (stale, reviews::decide(&state, "feature-x", id, &ana, &request).await) },
            ));
        }
    }
    let mut written = 0;
    for task in tasks {
        match task.await.unwrap() {
            (true, Err(Error::ConflictWith { .. })) => {}
            (false, Ok(item)) => {
                assert_eq!(item.review.status, ReviewStatus::Approved);
                written += 1;
            }
            (stale, other) => panic!("stale={stale}: {other:?}"),
        }
    }
    assert_eq!(written, 20);
    let audited: i64 = sqlx::query("select count(*) as n from audit_events where action = 'review.approve'")
        .fetch_one(&state.db.pool)
        .await
        .unwrap()
        .get("n");
    assert_eq!(audited, 20, "every decision written is audited, no refused one");
}
on_both!(decisions_sent_together_are_answered_each);

async fn unreadable_items_and_closed_branches_cannot_be_decided(env: &TestEnv) {
    let (state, _, staging) = scenario(env).await;
    let ana = user(&state, "ana@example.org", Role::Lead).await;
    let broken =
        RawChart { data: "{".into(), updated_at: "2026-02-02T00:00:00Z".into(), ..chart("same", "Chart same") };
    staging.put_many(&[broken]).await.unwrap();
    scans::rescan(&state, &Actor::system(), "feature-x", false).await.unwrap();
    let it = item(&state, "same").await;
    assert!(matches!(
        reviews::decide(&state, "feature-x", "same", &ana, &bound(&it, ReviewStatus::Approved)).await,
        Err(Error::Conflict(_))
    ));
    let gate = reviews::gate(&state, "feature-x").await.unwrap();
    assert_eq!(gate.errors, 1);
    assert!(!gate.pass);

    branches::archive(&state, &Actor::operator("ana@example.org"), "feature-x").await.unwrap();
    let cfg = item(&state, "cfg").await;
    assert!(matches!(
        reviews::decide(&state, "feature-x", "cfg", &ana, &bound(&cfg, ReviewStatus::Approved)).await,
        Err(Error::Conflict(_))
    ));
}
on_both!(unreadable_items_and_closed_branches_cannot_be_decided);
