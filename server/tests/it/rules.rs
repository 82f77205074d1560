//! Auto-approval rules (design §11) on real databases: what a rule approves after a scan, what it
//! leaves to people, that a person's decision always wins, and that its approvals are bound to
//! hashes and audited like anyone's.

use app::types::{DiffItem, ReviewRequest, ReviewStatus, Role};
use chartgate::access::Actor;
use chartgate::branches::{self, NewBranch};
use chartgate::charts::{ChartStore, RawChart};
use chartgate::config::AutoApproveRule;
use chartgate::state::AppState;
use chartgate::{accounts, diffs, reviews, scans};
use serde_json::json;
use sqlx::Row;

use crate::on_both;
use crate::support::{chart, TestEnv};

const RULE: &str = "small data revisions";

fn data_edit(c: &RawChart, value: f64, updated_at: &str) -> RawChart {
    let mut out = c.clone();
    let mut data: serde_json::Value = serde_json::from_str(&c.data).unwrap();
    data["rows"][0]["value"] = json!(value);
    out.data = data.to_string();
    out.updated_at = updated_at.into();
    out
}

async fn item(state: &AppState, id: &str) -> DiffItem {
    diffs::item(state, "feature-rules", id).await.unwrap()
}

async fn rescan(state: &AppState) -> usize {
    scans::rescan(state, &Actor::system(), "feature-rules", false).await.unwrap().auto_approved
}

async fn rules_approve_small_changes_and_leave_the_rest_to_people(env: &TestEnv) {
    let mut config = env.config().await;
    config.auto_approve = vec![AutoApproveRule {
        name: RULE.into(),
        parts: vec!["data".into()],
        max_changed_points: Some(2),
        max_relative_change: Some(0.05),
        slug: Some("slug-[lps]*".into()),
    }];
    let production = ChartStore::open(&config.production_url, true).await.unwrap();
    production.create_schema().await.unwrap();
    let state = AppState::new(config).await.unwrap();
    // The first row of every chart holds 15.0.
    let base: Vec<RawChart> =
        ["small", "large", "titled", "conflict", "person", "other"].iter().map(|id| chart(id, id)).collect();
    production.put_many(&base).await.unwrap();
    let staging = env.store("staging").await;
    staging.copy_from(&production).await.unwrap();
    let new_branch = NewBranch {
        branch: "feature-rules",
        store_url: Some(&staging.url),
        fork: false,
        preview_url: None,
        target: None,
        repository: None,
    };
    branches::register(&state, &Actor::operator("test"), new_branch).await.unwrap();

    let find = |id: &str| base.iter().find(|c| c.id == id).unwrap().clone();
    let mut titled = find("titled");
    titled.config = json!({"type": "line", "title": "Renamed", "yAxis": {"min": 0}}).to_string();
    titled.updated_at = "2026-02-02T00:00:00Z".into();
    staging
        .put_many(&[
            data_edit(&find("small"), 15.3, "2026-02-02T00:00:00Z"), // 2 %: within
            data_edit(&find("large"), 30.0, "2026-02-02T00:00:00Z"), // 100 %: too large
            titled,                                                  // config: not the rule's part
            data_edit(&find("conflict"), 15.1, "2026-02-02T00:00:00Z"),
            data_edit(&find("person"), 15.2, "2026-02-02T00:00:00Z"),
            data_edit(&find("other"), 15.2, "2026-02-02T00:00:00Z"), // slug-other: not the rule's slugs
        ])
        .await
        .unwrap();
    production.put_many(&[data_edit(&find("conflict"), 15.2, "2026-02-03T00:00:00Z")]).await.unwrap();
    assert_eq!(rescan(&state).await, 2, "small and person are within the rule");

    let small = item(&state, "small").await;
    assert_eq!(small.review.effective(), ReviewStatus::Approved);
    let rule_actor = format!("rule:{RULE}");
    assert_eq!(small.review.reviewer.as_deref(), Some(rule_actor.as_str()));
    assert!(small.review.comment.as_deref().unwrap().contains("1 data point changed, by at most 2.00 %"));
    for left in ["large", "titled", "conflict", "other"] {
        assert_eq!(item(&state, left).await.review.effective(), ReviewStatus::Pending, "{left} is for people");
    }

    // The list shows rule approvals apart.
    let by_rule = diffs::list(
        &state,
        "feature-rules",
        &app::types::DiffQuery { status: Some("rule".into()), ..Default::default() },
        Role::Viewer,
    )
    .await
    .unwrap();
    let mut ids: Vec<&str> = by_rule.items.iter().map(|i| i.chart_id.as_str()).collect();
    ids.sort();
    assert_eq!(ids, ["person", "small"]);

    // The approval is audited under the rule's name, bound to the hashes it judged.
    let audit =
        sqlx::query("select actor, action, staging_hash from audit_events where chart_id = 'small' order by id")
            .fetch_all(&state.db.pool)
            .await
            .unwrap();
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0].get::<String, _>("actor"), rule_actor);
    assert_eq!(audit[0].get::<String, _>("action"), "review.approve");
    assert_eq!(audit[0].get::<Option<String>, _>("staging_hash"), small.staging_hash);

    // A lead turns the rule off in the configuration: its past approvals stay as they were.
    let mut without = (*state.config).clone();
    without.auto_approve.clear();
    let off = AppState::new(without).await.unwrap();
    assert_eq!(scans::rescan(&off, &Actor::system(), "feature-rules", true).await.unwrap().auto_approved, 0);
    assert_eq!(item(&off, "small").await.review.reviewer.as_deref(), Some(rule_actor.as_str()));
    assert_eq!(item(&off, "small").await.review.effective(), ReviewStatus::Approved);
    drop(off);

    // A person overrules the rule; content moving again does not bring the rule back.
    let rita = accounts::add_user(&state.db, &Actor::operator("test"), "rita@example.org", Role::Reviewer, None)
        .await
        .unwrap();
    let person = item(&state, "person").await;
    let reject = ReviewRequest {
        status: ReviewStatus::Rejected,
        staging_hash: person.staging_hash.clone(),
        production_hash: person.production_hash.clone(),
        comment: Some("not this revision".into()),
    };
    reviews::decide(&state, "feature-rules", "person", &rita, &reject).await.unwrap();
    staging.put_many(&[data_edit(&find("person"), 15.25, "2026-02-04T00:00:00Z")]).await.unwrap();
    // The rule's own approval goes stale too, and is renewed for content still within the rule.
    staging.put_many(&[data_edit(&find("small"), 15.4, "2026-02-04T00:00:00Z")]).await.unwrap();
    assert_eq!(rescan(&state).await, 1);
    let person = item(&state, "person").await;
    assert!(person.review.stale && person.review.reviewer.as_deref() == Some("rita@example.org"));
    assert_eq!(person.review.effective(), ReviewStatus::Pending, "a person's decision wins");
    let renewed = item(&state, "small").await;
    assert_ne!(renewed.staging_hash, small.staging_hash);
    assert_eq!(renewed.review.effective(), ReviewStatus::Approved);
    assert!(!renewed.review.stale);

    // Content leaving the rule's bounds stays pending once the rule's approval is stale.
    staging.put_many(&[data_edit(&find("small"), 99.0, "2026-02-05T00:00:00Z")]).await.unwrap();
    assert_eq!(rescan(&state).await, 0);
    assert_eq!(item(&state, "small").await.review.effective(), ReviewStatus::Pending);
}
on_both!(rules_approve_small_changes_and_leave_the_rest_to_people);

/// A rule's write yields to a person's decision on the same content, even one it did not see.
async fn a_rule_never_overwrites_a_person(env: &TestEnv) {
    let (state, production) = env.state().await;
    let base = vec![chart("one", "one")];
    production.put_many(&base).await.unwrap();
    let staging = env.store("staging").await;
    staging.copy_from(&production).await.unwrap();
    let new_branch = NewBranch {
        branch: "feature-rules",
        store_url: Some(&staging.url),
        fork: false,
        preview_url: None,
        target: None,
        repository: None,
    };
    branches::register(&state, &Actor::operator("test"), new_branch).await.unwrap();
    staging.put_many(&[data_edit(&base[0], 15.1, "2026-02-02T00:00:00Z")]).await.unwrap();
    rescan(&state).await;
    let one = item(&state, "one").await;
    let rita = accounts::add_user(&state.db, &Actor::operator("test"), "rita@example.org", Role::Reviewer, None)
        .await
        .unwrap();
    let reject = ReviewRequest {
        status: ReviewStatus::Rejected,
        staging_hash: one.staging_hash.clone(),
        production_hash: one.production_hash.clone(),
        comment: None,
    };
    reviews::decide(&state, "feature-rules", "one", &rita, &reject).await.unwrap();

    // A rule's approval landing after a person's decision is kept as the rule's own verdict,
    // but the person's decision stays the answer.
    let mut tx = state.db.pool.begin().await.unwrap();
    let by_rule = chartgate::repo::reviews::Decision {
        branch: "feature-rules",
        chart_id: "one",
        status: ReviewStatus::Approved,
        reviewer: "rule:late",
        comment: None,
        staging_hash: one.staging_hash.as_deref(),
        production_hash: one.production_hash.as_deref(),
        to_thread: false,
    };
    assert!(chartgate::repo::reviews::record(&mut tx, &state.policy, by_rule).await.unwrap());
    tx.commit().await.unwrap();
    let now = item(&state, "one").await;
    assert_eq!(now.review.effective(), ReviewStatus::Rejected);
    assert_eq!(now.review.reviewer.as_deref(), Some("rita@example.org"));
}
on_both!(a_rule_never_overwrites_a_person);
