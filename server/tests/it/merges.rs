//! Three-way merge of a conflict (design §11) on real databases: the plan path by path, a merge
//! written to staging by compare-and-swap, refused when a choice is missing or content moved,
//! audited, and the item showing the merged content afterwards.

use app::types::{MergeRequest, MergeSide, Role};
use chartgate::access::Actor;
use chartgate::error::Error;
use chartgate::{accounts, diffs, merges, scans};
use serde_json::{json, Value};
use sqlx::Row;

use crate::engine::{register, scenario};
use crate::on_stores;
use crate::support::{chart, edited, TestEnv};

/// The plan both tests below build: staging retitled, production fixed the unit, and both
/// changed the type, differently.
fn assert_one_sided_title_and_unit_and_a_conflicting_type(plan: &app::types::MergePlan) {
    let summary: Vec<(&str, bool, Option<MergeSide>)> =
        plan.entries.iter().map(|e| (e.path.as_str(), e.conflicting, e.from)).collect();
    assert_eq!(
        summary,
        [
            ("/config/title", false, Some(MergeSide::Staging)),
            ("/config/type", true, None),
            ("/metadata/unit", false, Some(MergeSide::Production)),
        ]
    );
}

async fn conflicts_merge_path_by_path(env: &TestEnv) {
    let (state, production, staging) = scenario(env).await;
    // The scenario's conflict: staging made it a bar chart, production a scatter. Add one change
    // on each side alone.
    let mut s =
        edited(&staging.get("conflict").await.unwrap().unwrap(), "config", |v| v["title"] = json!("Staged title"));
    s.updated_at = "2026-03-01T00:00:00Z".into();
    staging.put_many(&[s]).await.unwrap();
    let mut p = edited(&production.get("conflict").await.unwrap().unwrap(), "metadata", |v| v["unit"] = json!("‰"));
    p.updated_at = "2026-03-01T00:00:00Z".into();
    production.put_many(&[p]).await.unwrap();
    scans::rescan(&state, &Actor::system(), "feature-x", false).await.unwrap();

    let plan = merges::plan(&state, "feature-x", "conflict").await.unwrap();
    assert_one_sided_title_and_unit_and_a_conflicting_type(&plan);
    assert!(matches!(merges::plan(&state, "feature-x", "cfg").await, Err(Error::Conflict(_))), "not a conflict");

    let rita = accounts::add_user(&state.db, &Actor::operator("test"), "rita@example.org", Role::Reviewer, None)
        .await
        .unwrap();
    let vic =
        accounts::add_user(&state.db, &Actor::operator("test"), "vic@example.org", Role::Viewer, None).await.unwrap();
    let request = |choices: &[(&str, MergeSide)]| MergeRequest {
        staging_hash: plan.staging_hash.clone(),
        production_hash: plan.production_hash.clone(),
        choices: choices.iter().map(|(p, s)| (p.to_string(), *s)).collect(),
    };
    let choose = request(&[("/config/type", MergeSide::Production)]);
    assert!(matches!(merges::apply(&state, "feature-x", "conflict", &vic, &choose).await, Err(Error::Forbidden(_))));
    match merges::apply(&state, "feature-x", "conflict", &rita, &request(&[])).await {
        Err(Error::BadRequest(m)) => assert!(m.contains("/config/type"), "{m}"),
        other => panic!("a missing choice is a 400, got {other:?}"),
    }
    let stale = MergeRequest { staging_hash: Some("0".repeat(64)), ..choose.clone() };
    assert!(matches!(
        merges::apply(&state, "feature-x", "conflict", &rita, &stale).await,
        Err(Error::ConflictWith { .. })
    ));
    let before = staging.get("conflict").await.unwrap().unwrap();

    let merged = merges::apply(&state, "feature-x", "conflict", &rita, &choose).await.unwrap();
    let item = merged.item.expect("still an item: staging kept its own title");
    assert_eq!(item.staging_hash.as_ref(), Some(&merged.staging_hash), "the item shows the merged content");
    assert_ne!(item.staging_hash, plan.staging_hash);
    let row = staging.get("conflict").await.unwrap().unwrap();
    let config: Value = serde_json::from_str(&row.config).unwrap();
    let metadata: Value = serde_json::from_str(&row.metadata).unwrap();
    assert_eq!(config["type"], "scatter", "the reviewer's choice");
    assert_eq!(config["title"], "Staged title", "staging's own change kept");
    assert_eq!(metadata["unit"], "‰", "production's change brought in");
    let canonical = |c| chartgate::charts::canonicalize(c).unwrap().data;
    assert_eq!(canonical(&row), canonical(&before), "the data, changed on no side, is as it was");

    // Audited with the choices; the new plan holds only staging's own change.
    let event =
        sqlx::query("select actor, detail from audit_events where action = 'merge.apply' and chart_id = 'conflict'")
            .fetch_one(&state.db.pool)
            .await
            .unwrap();
    assert_eq!(event.get::<String, _>("actor"), "rita@example.org");
    let detail: Value = serde_json::from_str(&event.get::<String, _>("detail")).unwrap();
    assert_eq!(detail["choices"], json!({"/config/type": "production"}));
    let after = merges::plan(&state, "feature-x", "conflict").await.unwrap();
    let paths: Vec<&str> = after.entries.iter().map(|e| e.path.as_str()).collect();
    assert_eq!(paths, ["/config/title"]);
    let detail = diffs::detail(&state, "feature-x", "conflict").await.unwrap();
    assert!(detail.config_diff.changes.iter().all(|c| c.path == "/title"), "{:?}", detail.config_diff.changes);

    // Production moving after the merge: only its new change comes in; nothing is asked again.
    let mut p = edited(&production.get("conflict").await.unwrap().unwrap(), "metadata", |v| v["source"] = json!("IEA"));
    p.updated_at = "2026-03-02T00:00:00Z".into();
    production.put_many(&[p]).await.unwrap();
    scans::rescan(&state, &Actor::system(), "feature-x", false).await.unwrap();
    let later = merges::plan(&state, "feature-x", "conflict").await.unwrap();
    let summary: Vec<(&str, bool, Option<MergeSide>)> =
        later.entries.iter().map(|e| (e.path.as_str(), e.conflicting, e.from)).collect();
    assert_eq!(
        summary,
        [("/config/title", false, Some(MergeSide::Staging)), ("/metadata/source", false, Some(MergeSide::Production))]
    );

    // The old plan's hashes no longer match: a second merge on them is refused.
    assert!(matches!(
        merges::apply(&state, "feature-x", "conflict", &rita, &choose).await,
        Err(Error::ConflictWith { .. })
    ));
}
on_stores!(conflicts_merge_path_by_path);

/// Issue 24: the three-way base is never lost. Both stores change a chart while Chartgate is not
/// looking (the server stopped: no scan between the two edits). Before, only a fingerprint of the
/// untouched chart was kept at registration, so the merge had no base: every differing path was
/// a choice, and a reviewer could revert production's hotfix without being told. The base is
/// kept now: one-sided paths merge, only the real conflict is asked, production's own changes
/// since the fork show.
async fn both_sides_changed_while_the_server_was_stopped(env: &TestEnv) {
    let (state, production) = env.state().await;
    let original = chart("c", "Chart c");
    production.put_many(&[original.clone(), chart("other", "Other")]).await.unwrap();
    let staging = env.store("staging").await;
    staging.copy_from(&production).await.unwrap();
    register(&state, "feature/y", &staging).await.unwrap();
    let config = state.config.as_ref().clone();
    drop(state);

    // The server is stopped. Staging retitles the chart and makes it a bar chart; production
    // makes it a scatter and fixes its unit (a hotfix).
    let staged = edited(&original, "config", |v| {
        v["title"] = json!("Staged title");
        v["type"] = json!("bar");
    });
    staging.put_many(&[staged]).await.unwrap();
    let mut hotfix = edited(&original, "config", |v| v["type"] = json!("scatter"));
    hotfix = edited(&hotfix, "metadata", |v| v["unit"] = json!("‰"));
    production.put_many(&[hotfix]).await.unwrap();

    // It starts again over the same databases and scans.
    let restarted = chartgate::state::AppState::new(config).await.unwrap();
    scans::rescan(&restarted, &Actor::system(), "feature-y", false).await.unwrap();
    let plan = merges::plan(&restarted, "feature-y", "c").await.unwrap();
    assert!(!plan.without_base, "the base was kept");
    assert_one_sided_title_and_unit_and_a_conflicting_type(&plan);
    let detail = diffs::detail(&restarted, "feature-y", "c").await.unwrap();
    let own = detail.production_config_diff.expect("production's own changes since the fork show");
    assert!(own.changes.iter().any(|c| c.path == "/type"), "{own:?}");
}
on_stores!(both_sides_changed_while_the_server_was_stopped);
