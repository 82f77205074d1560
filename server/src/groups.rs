//! Groups of items whose change is the same (design §11): the same edits at the same config
//! paths, the same metadata edit, the same data edit. A dataset update that touches 400 charts
//! the same way becomes one group to read once and decide once.
//!
//! A change's identity is what it *does*: for each changed JSON path, the operation and the new
//! value (the old values may differ from chart to chart — "set the subtitle to 'Revised'" is one
//! edit whatever each subtitle said before); for data, the rows added, removed and changed with
//! their new values. New charts and unreadable items are each their own group (their content is
//! the change); deletions group together. Conflicts never share a group with clean items.
//!
//! Groups are computed on read from the items and the version store, so they always agree with
//! the list: there is nothing to keep in step, and no migration.
//!
//! Deciding a group records one decision per item, each bound to that item's own current hashes
//! through the same compare-and-write as a single decision; when the caller says what it saw
//! (`items`), an item whose hashes moved since is refused, not decided.

use std::collections::{BTreeMap, HashMap, HashSet};

use app::types::{
    BulkRefused, BulkReviewResult, ChangeGroup, ChartVersion, DiffItem, GroupDetail, GroupPreview, GroupReviewRequest,
    ItemKind, JsonChange, ReviewStatus, Role, SeenItem,
};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::access::User;
use crate::diff::detail::{data_diff, json_changes};
use crate::error::{Error, Result};
use crate::repo::audit::{self, Event};
use crate::repo::items;
use crate::repo::versions;
use crate::state::AppState;
use crate::{branches, diffs, reviews};

/// How many items of a group the group page previews as small charts.
pub const MAX_PREVIEWS: usize = 12;
/// How many phrases a summary lists before "and N more".
const SUMMARY_PHRASES: usize = 3;
/// How long a value may be in a summary before it is cut.
const SUMMARY_VALUE: usize = 40;

/// The change of one item: its group key, readable summary and parts.
#[derive(Clone, Debug, PartialEq)]
pub struct Change {
    pub key: String,
    pub summary: String,
}

/// A value as a summary shows it: strings in single quotes, everything cut to a readable length.
fn short_value(v: &Option<Value>) -> String {
    let text = match v {
        None => "nothing".to_string(),
        Some(Value::String(s)) => format!("'{s}'"),
        Some(v) => v.to_string(),
    };
    if text.chars().count() > SUMMARY_VALUE {
        format!("{}…", text.chars().take(SUMMARY_VALUE).collect::<String>())
    } else {
        text
    }
}

/// `/yAxis/min` as `yAxis.min`.
fn readable_path(path: &str) -> String {
    let p = path.trim_start_matches('/').replace('/', ".").replace("~1", "/").replace("~0", "~");
    if p.is_empty() {
        "everything".into()
    } else {
        p
    }
}

fn phrase(prefix: &str, c: &JsonChange) -> String {
    let path = format!("{prefix}{}", readable_path(&c.path));
    match c.op.as_str() {
        "removed" => format!("{path} removed"),
        "added" => format!("{path} + {}", short_value(&c.new)),
        _ => format!("{path} → {}", short_value(&c.new)),
    }
}

/// What a list of path changes does, as the group key sees it: (path, op, new value).
fn edits(changes: &[JsonChange]) -> Value {
    Value::Array(changes.iter().map(|c| json!([c.path, c.op, c.new])).collect())
}

fn digest(v: &Value) -> String {
    hex::encode(Sha256::digest(v.to_string().as_bytes()))[..16].to_string()
}

/// The change of `item`, from `old` (production now, or the baseline where production lost the
/// chart — the side the detail page diffs against) to `new` (staging).
pub fn change_of(item: &DiffItem, old: Option<&ChartVersion>, new: Option<&ChartVersion>) -> Change {
    if let Some(e) = &item.error {
        return Change { key: digest(&json!(["unreadable", item.chart_id])), summary: format!("unreadable: {e}") };
    }
    // Charts a dataset upgrade rewrote are one change, whatever each one's rows became: the
    // reviewer judges the upgrade (design §9). A conflict stays apart: it needs its own look.
    if let (Some(id), false) = (item.upgrade, item.conflict) {
        return Change { key: digest(&json!(["upgrade", id])), summary: format!("upgrade #{id}") };
    }
    match item.kind {
        ItemKind::New => {
            return Change {
                key: digest(&json!(["new", item.chart_id, item.staging_hash])),
                summary: "new chart".into(),
            }
        }
        ItemKind::Deleted => {
            return Change { key: digest(&json!(["deleted", item.conflict])), summary: "chart deleted".into() }
        }
        ItemKind::Modified => {}
    }
    let config = json_changes(old.map(|v| &v.config), new.map(|v| &v.config));
    let metadata = json_changes(old.map(|v| &v.metadata), new.map(|v| &v.metadata));
    // The data of a clean item whose parts leave out `data` is the same on both sides (the parts
    // come from the parts' fingerprints): no need to key every row.
    let data = if item.conflict || item.parts.iter().any(|p| p == "data") {
        data_diff(old.map(|v| &v.data), new.map(|v| &v.data))
    } else {
        Default::default()
    };
    let data_key = json!({
        "added": data.added.iter().map(|r| json!([r.key, r.new])).collect::<Vec<_>>(),
        "removed": data.removed.iter().map(|r| json!(r.key)).collect::<Vec<_>>(),
        "changed": data.changed.iter().map(|r| json!([r.key, r.new])).collect::<Vec<_>>(),
    });
    let key = digest(&json!({
        "conflict": item.conflict,
        "config": edits(&config),
        "metadata": edits(&metadata),
        "data": data_key,
    }));
    let mut phrases: Vec<String> = config.iter().map(|c| phrase("", c)).collect();
    phrases.extend(metadata.iter().map(|c| phrase("metadata ", c)));
    let rows = data.added.len() + data.removed.len() + data.changed.len();
    if rows > 0 {
        let mut parts = Vec::new();
        for (n, what) in [(data.changed.len(), "changed"), (data.added.len(), "added"), (data.removed.len(), "removed")]
        {
            if n > 0 {
                parts.push(format!("{n} {what}"));
            }
        }
        phrases.push(format!("data rows: {}", parts.join(", ")));
    }
    let mut summary = phrases.iter().take(SUMMARY_PHRASES).cloned().collect::<Vec<_>>().join("; ");
    if phrases.len() > SUMMARY_PHRASES {
        summary.push_str(&format!("; and {} more", phrases.len() - SUMMARY_PHRASES));
    }
    if summary.is_empty() {
        summary = "no visible change".into();
    }
    if item.conflict {
        summary = format!("conflict: {summary}");
    }
    Change { key, summary }
}

/// Groups items by their change: largest groups first, then by summary. Each group's items keep
/// the order they came in.
pub fn group(items: Vec<(DiffItem, Change)>) -> Vec<ChangeGroup> {
    let mut order: Vec<String> = Vec::new();
    let mut by_key: HashMap<String, ChangeGroup> = HashMap::new();
    for (item, change) in items {
        let g = by_key.entry(change.key.clone()).or_insert_with(|| {
            order.push(change.key.clone());
            ChangeGroup {
                id: change.key.clone(),
                summary: change.summary.clone(),
                parts: Vec::new(),
                chart_ids: Vec::new(),
                kind: item.kind,
                conflict: item.conflict,
                items: Vec::new(),
                pending: 0,
            }
        });
        for p in &item.parts {
            if !g.parts.contains(p) {
                g.parts.push(p.clone());
            }
        }
        if item.review.effective() == ReviewStatus::Pending {
            g.pending += 1;
        }
        g.chart_ids.push(item.chart_id.clone());
        g.items.push(item);
    }
    let mut groups: Vec<ChangeGroup> = order.into_iter().filter_map(|k| by_key.remove(&k)).collect();
    for g in &mut groups {
        g.parts.sort_by_key(|p| app::types::PARTS.iter().position(|q| q == p));
    }
    groups.sort_by(|a, b| b.items.len().cmp(&a.items.len()).then_with(|| a.summary.cmp(&b.summary)));
    groups
}

/// The groups of a branch's items now (raw or environment name).
pub async fn list(state: &AppState, branch: &str) -> Result<Vec<ChangeGroup>> {
    let summary = branches::get(state, branch, Role::Viewer).await?;
    let rows = items::decisions(&state.db, &summary.name).await?;
    let mut all: Vec<DiffItem> = rows.into_iter().map(items::DecisionRow::into_item).collect::<Result<_>>()?;
    all.sort_by(|a, b| b.changed_at.cmp(&a.changed_at).then_with(|| a.slug.cmp(&b.slug)));
    // Versions are shared by many items (the same production content, the same baseline): read
    // each once.
    let mut cache: HashMap<String, Option<ChartVersion>> = HashMap::new();
    let mut changes = Vec::with_capacity(all.len());
    for item in all {
        let change = if item.error.is_some() || item.kind != ItemKind::Modified {
            change_of(&item, None, None)
        } else {
            let old_hash = item.production_hash.as_ref().or(item.baseline_hash.as_ref());
            let old = cached(state, &mut cache, old_hash).await?;
            let new = cached(state, &mut cache, item.staging_hash.as_ref()).await?;
            change_of(&item, old.as_ref(), new.as_ref())
        };
        changes.push((item, change));
    }
    Ok(group(changes))
}

async fn cached(
    state: &AppState,
    cache: &mut HashMap<String, Option<ChartVersion>>,
    hash: Option<&String>,
) -> Result<Option<ChartVersion>> {
    let Some(h) = hash else { return Ok(None) };
    if let Some(v) = cache.get(h) {
        return Ok(v.clone());
    }
    let v = versions::get(&state.db, h).await?;
    cache.insert(h.clone(), v.clone());
    Ok(v)
}

/// One group by id; 404 when no group of the branch has it (its change moved, or it was decided
/// and rescanned away).
pub async fn get(state: &AppState, branch: &str, id: &str) -> Result<ChangeGroup> {
    list(state, branch).await?.into_iter().find(|g| g.id == id).ok_or_else(|| {
        Error::NotFound(format!("no group {id} on branch {}: its items may have changed", state.env_name(branch)))
    })
}

/// One group with its first item in full and previews of the next ones.
pub async fn detail(state: &AppState, branch: &str, id: &str) -> Result<GroupDetail> {
    let group = get(state, branch, id).await?;
    let first = group.chart_ids.first().ok_or_else(|| Error::internal("an empty group"))?;
    let representative = diffs::detail(state, branch, first).await?;
    let mut previews = Vec::new();
    for item in group.items.iter().skip(1).take(MAX_PREVIEWS) {
        previews.push(GroupPreview {
            chart_id: item.chart_id.clone(),
            staging: versions::get_opt(&state.db, item.staging_hash.as_deref()).await?,
            production: versions::get_opt(&state.db, item.production_hash.as_deref().or(item.baseline_hash.as_deref()))
                .await?,
        });
    }
    Ok(GroupDetail { group, representative, previews })
}

/// Decides a group: one decision per item, each bound to its own current hashes, in one
/// transaction with one `review.group` audit event besides the per-item ones. With `items`, only
/// those are decided, and each only if it is still in the group with the hashes the caller saw.
/// Conflicts are not approved here (they need their own page), nor unreadable items.
pub async fn decide(
    state: &AppState,
    branch: &str,
    id: &str,
    user: &User,
    req: &GroupReviewRequest,
) -> Result<BulkReviewResult> {
    user.require(Role::Reviewer)?;
    let comment = reviews::check_comment(&req.comment)?;
    let name = reviews::open_branch(state, branch).await?;
    let groups = list(state, &name).await?;
    let current = groups.into_iter().find(|g| g.id == id);
    let members: BTreeMap<&str, &DiffItem> =
        current.iter().flat_map(|g| g.items.iter()).map(|i| (i.chart_id.as_str(), i)).collect();
    let wanted: Vec<SeenItem> = match (&req.items, &current) {
        (Some(seen), _) => {
            if seen.is_empty() || seen.len() > reviews::MAX_BULK {
                return Err(Error::BadRequest(format!("items must hold 1 to {} items", reviews::MAX_BULK)));
            }
            seen.clone()
        }
        (None, Some(g)) => g
            .items
            .iter()
            .map(|i| SeenItem {
                chart_id: i.chart_id.clone(),
                staging_hash: i.staging_hash.clone(),
                production_hash: i.production_hash.clone(),
            })
            .collect(),
        (None, None) => {
            return Err(Error::NotFound(format!("no group {id} on branch {name}: its items may have changed")))
        }
    };
    let mut decided = Vec::new();
    let mut refused = Vec::new();
    let _guard = state.db.write_guard().await;
    let mut tx = state.db.pool.begin().await?;
    let mut seen_ids = HashSet::new();
    for w in &wanted {
        if !seen_ids.insert(w.chart_id.as_str()) {
            continue;
        }
        let refuse = |reason: &str| BulkRefused { chart_id: w.chart_id.clone(), reason: reason.into() };
        let Some(member) = members.get(w.chart_id.as_str()) else {
            refused.push(refuse("changed since you loaded the page: its change is no longer the group's"));
            continue;
        };
        if member.staging_hash != w.staging_hash || member.production_hash != w.production_hash {
            refused.push(refuse("changed since you loaded the page: review it again"));
            continue;
        }
        let one = reviews::BulkItem {
            chart_id: &w.chart_id,
            staging_hash: w.staging_hash.clone(),
            production_hash: w.production_hash.clone(),
            unreadable: member.error.is_some(),
            conflict: member.conflict,
        };
        match reviews::decide_one(&mut tx, &state.policy, &name, user, req.status, comment, one).await? {
            Ok(d) => decided.push(d),
            Err(r) => refused.push(r),
        }
    }
    audit::append(
        &mut *tx,
        Event {
            actor: &user.email,
            action: "review.group",
            branch: Some(&name),
            detail: Some(json!({
                "group": id,
                "summary": current.as_ref().map(|g| g.summary.as_str()),
                "status": req.status.as_str(),
                "decided": decided.iter().map(|d| &d.chart_id).collect::<Vec<_>>(),
                "refused": refused,
            })),
            ..Default::default()
        },
    )
    .await?;
    tx.commit().await?;
    crate::telemetry::decisions(req.status.as_str(), user.role.as_str(), decided.len());
    crate::notify::gate_may_have_changed(state, &name);
    Ok(BulkReviewResult { status: req.status, decided, refused })
}

#[cfg(test)]
mod tests {
    use app::types::ReviewState;

    use super::*;

    fn version(config: Value, data: Value, metadata: Value) -> ChartVersion {
        ChartVersion {
            hash: digest(&json!([config, data, metadata])),
            slug: "s".into(),
            config,
            data,
            metadata,
            ..Default::default()
        }
    }

    fn item(id: &str, parts: &[&str]) -> DiffItem {
        DiffItem {
            chart_id: id.into(),
            slug: format!("slug-{id}"),
            title: id.into(),
            kind: ItemKind::Modified,
            parts: parts.iter().map(|p| p.to_string()).collect(),
            conflict: false,
            review: ReviewState::pending(),
            staging_hash: Some(format!("s-{id}")),
            production_hash: Some(format!("p-{id}")),
            baseline_hash: Some(format!("p-{id}")),
            error: None,
            changed_at: "2026-01-01T00:00:00Z".into(),
            upgrade: None,
            views_30d: None,
        }
    }

    fn rows(values: &[f64]) -> Value {
        json!({"rows": values.iter().enumerate().map(|(i, v)| json!({"entity": "France", "time": 2000 + i, "value": v})).collect::<Vec<_>>()})
    }

    /// Chart `i` before: its own title, subtitle and data, so only the edit is shared.
    fn before(i: usize) -> ChartVersion {
        version(
            json!({"type": "line", "title": format!("Chart {i}"), "subtitle": format!("Old subtitle {i}")}),
            rows(&[i as f64, i as f64 + 1.0]),
            json!({"unit": "%"}),
        )
    }

    fn with_config(v: &ChartVersion, f: impl FnOnce(&mut Value)) -> ChartVersion {
        let mut c = v.config.clone();
        f(&mut c);
        version(c, v.data.clone(), v.metadata.clone())
    }

    #[test]
    fn the_same_edit_on_many_charts_is_one_group() {
        let changes: Vec<(DiffItem, Change)> = (0..40)
            .map(|i| {
                let old = before(i);
                let new = with_config(&old, |c| c["subtitle"] = json!("Revised"));
                let it = item(&format!("c{i}"), &["config"]);
                let ch = change_of(&it, Some(&old), Some(&new));
                (it, ch)
            })
            .collect();
        let groups = group(changes);
        assert_eq!(groups.len(), 1, "{groups:#?}");
        assert_eq!(groups[0].chart_ids.len(), 40);
        assert_eq!(groups[0].summary, "subtitle → 'Revised'");
        assert_eq!(groups[0].parts, vec!["config"]);
        assert_eq!(groups[0].pending, 40);
        assert_eq!(groups[0].chart_ids[0], "c0", "items keep their order");
    }

    #[test]
    fn the_same_path_set_to_different_values_makes_different_groups() {
        let mut changes = Vec::new();
        for i in 0..6 {
            let old = before(i);
            let to = if i % 2 == 0 { "Revised" } else { "Corrected" };
            let new = with_config(&old, |c| c["subtitle"] = json!(to));
            let it = item(&format!("c{i}"), &["config"]);
            let ch = change_of(&it, Some(&old), Some(&new));
            changes.push((it, ch));
        }
        let groups = group(changes);
        assert_eq!(groups.len(), 2);
        let summaries: HashSet<&str> = groups.iter().map(|g| g.summary.as_str()).collect();
        assert_eq!(summaries, HashSet::from(["subtitle → 'Revised'", "subtitle → 'Corrected'"]));
        assert!(groups.iter().all(|g| g.chart_ids.len() == 3));
        // A revision by the same factor gives each chart its own new values: not the same edit.
        let scaled: Vec<(DiffItem, Change)> = (1..=3)
            .map(|i| {
                let old = before(i);
                let new = version(
                    old.config.clone(),
                    rows(&[i as f64 * 1.04, (i as f64 + 1.0) * 1.04]),
                    old.metadata.clone(),
                );
                let it = item(&format!("d{i}"), &["data"]);
                let ch = change_of(&it, Some(&old), Some(&new));
                (it, ch)
            })
            .collect();
        let groups = group(scaled);
        assert_eq!(groups.len(), 3, "{groups:#?}");
        assert!(groups.iter().all(|g| g.summary == "data rows: 2 changed"), "{groups:#?}");
        // The same rows set to the same values is the same data edit.
        let same: Vec<(DiffItem, Change)> = (0..2)
            .map(|i| {
                let old = version(json!({"type": "line", "title": format!("T{i}")}), rows(&[1.0, 2.0]), json!({}));
                let new = version(old.config.clone(), rows(&[1.0, 5.0, 6.0]), json!({}));
                let it = item(&format!("e{i}"), &["data"]);
                let ch = change_of(&it, Some(&old), Some(&new));
                (it, ch)
            })
            .collect();
        let groups = group(same);
        assert_eq!(groups.len(), 1, "{groups:#?}");
        assert_eq!(groups[0].summary, "data rows: 1 changed, 1 added");
    }

    #[test]
    fn charts_of_one_upgrade_are_one_group_whatever_their_rows() {
        let mut a = item("a", &["config", "data"]);
        let mut b = item("b", &["data"]);
        a.upgrade = Some(3);
        b.upgrade = Some(3);
        let (old, new) = (
            version(json!({"title": "A"}), rows(&[1.0]), json!({})),
            version(json!({"title": "A"}), rows(&[2.0]), json!({})),
        );
        let groups = group(vec![
            (a.clone(), change_of(&a, Some(&old), Some(&new))),
            (b.clone(), change_of(&b, Some(&old), Some(&old))),
            (item("c", &["data"]), change_of(&item("c", &["data"]), Some(&old), Some(&new))),
        ]);
        let upgrade = groups.iter().find(|g| g.summary == "upgrade #3").expect("the upgrade's group");
        assert_eq!(upgrade.chart_ids, ["a", "b"]);
        assert!(groups.iter().any(|g| g.chart_ids == ["c"]), "a chart outside the upgrade stands apart");
    }

    #[test]
    fn mixed_parts_group_only_with_the_same_mix() {
        let mut changes = Vec::new();
        for i in 0..4 {
            let old = before(i);
            let mut new = with_config(&old, |c| c["subtitle"] = json!("Revised"));
            let mut parts = vec!["config"];
            if i >= 2 {
                new = version(new.config.clone(), new.data.clone(), json!({"unit": "percent"}));
                parts.push("metadata");
            }
            let it = item(&format!("m{i}"), &parts);
            let ch = change_of(&it, Some(&old), Some(&new));
            changes.push((it, ch));
        }
        // A conflict with the same edit stays apart: it needs its own look at production.
        let old = before(9);
        let new = with_config(&old, |c| c["subtitle"] = json!("Revised"));
        let mut conflict = item("x9", &["config"]);
        conflict.conflict = true;
        let ch = change_of(&conflict, Some(&old), Some(&new));
        changes.push((conflict, ch));
        let groups = group(changes);
        assert_eq!(groups.len(), 3, "{groups:#?}");
        let mixed = groups.iter().find(|g| g.parts == ["config", "metadata"]).expect("the mixed group");
        assert_eq!(mixed.chart_ids, vec!["m2", "m3"]);
        assert_eq!(mixed.summary, "subtitle → 'Revised'; metadata unit → 'percent'");
        let conflict = groups.iter().find(|g| g.conflict).expect("the conflict group");
        assert_eq!(conflict.summary, "conflict: subtitle → 'Revised'");
        assert_eq!(conflict.chart_ids, vec!["x9"]);
    }

    #[test]
    fn deletions_group_and_new_charts_stand_alone() {
        let mut changes = Vec::new();
        for i in 0..3 {
            let mut d = item(&format!("del{i}"), &["config", "data", "metadata"]);
            d.kind = ItemKind::Deleted;
            d.staging_hash = None;
            let ch = change_of(&d, None, None);
            changes.push((d, ch));
            let mut n = item(&format!("new{i}"), &["config", "data", "metadata"]);
            n.kind = ItemKind::New;
            let ch = change_of(&n, None, None);
            changes.push((n, ch));
        }
        let mut broken = item("bad", &[]);
        broken.error = Some("staging store s, chart bad: data is not valid JSON".into());
        let ch = change_of(&broken, None, None);
        changes.push((broken, ch));
        let groups = group(changes);
        assert_eq!(groups.len(), 5);
        assert_eq!(groups[0].summary, "chart deleted");
        assert_eq!(groups[0].chart_ids.len(), 3);
        assert!(groups.iter().any(|g| g.summary.starts_with("unreadable: ")));
    }

    #[test]
    fn long_summaries_are_cut() {
        let old = before(1);
        let new = with_config(&old, |c| {
            c["subtitle"] = json!("x".repeat(100));
            c["a"] = json!(1);
            c["b"] = json!(2);
            c["yAxis"] = json!({"min": null});
        });
        let ch = change_of(&item("c", &["config"]), Some(&old), Some(&new));
        assert!(ch.summary.contains("subtitle → 'xxxxxxxx"), "{}", ch.summary);
        assert!(ch.summary.contains('…') && ch.summary.ends_with("and 1 more"), "{}", ch.summary);
    }
}
