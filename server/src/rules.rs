//! Auto-approval rules (design §11): after each scan, items whose change stays within an
//! `[[auto_approve]]` rule of the configuration are approved as the actor `rule:<name>`.
//!
//! A rule's approval is an ordinary decision — bound to the item's hashes, written through
//! [`decisions::record`] and audited — so it goes stale the moment the content moves, and the
//! next scan either approves the new content again (still within a rule) or leaves it pending for
//! a person. People always win: without a `[review]` policy a rule never touches an item a person
//! has decided on, and a person's verdict is the answer even when the rule's lands later; under a
//! policy a rule's approval is one approval among the people's, never an owner's. Conflicts, unreadable items, new
//! and deleted charts are always left to people.
//!
//! Runs from [`crate::scans`] under the branch's scan lock, so two scans never judge one branch at
//! once; it reads repositories and the diff engine only.

use app::types::{DataDiff, ReviewStatus};
use serde_json::Value;

use crate::config::AutoApproveRule;
use crate::diff::detail::data_diff;
use crate::error::Result;
use crate::repo::items::{self, DecisionRow};
use crate::repo::reviews::{self as decisions, Decision, RULE_PREFIX};
use crate::repo::versions;
use crate::state::AppState;

/// Approves the branch's items that a rule covers; returns how many it approved.
pub(crate) async fn apply(state: &AppState, branch: &str) -> Result<usize> {
    let rules = &state.config.auto_approve;
    if rules.is_empty() {
        return Ok(0);
    }
    let mut approvals: Vec<(&DecisionRow, &AutoApproveRule, String)> = Vec::new();
    let rows = items::decisions(&state.db, branch).await?;
    // Under a team policy a rule's approval is one among several: it may join people's verdicts,
    // and only its own current approval makes it unneeded.
    let ruled: std::collections::HashSet<String> = if state.policy.is_team() {
        let by_id: std::collections::HashMap<&str, &DecisionRow> =
            rows.iter().map(|r| (r.chart_id.as_str(), r)).collect();
        decisions::verdicts_of(&state.db, branch, None)
            .await?
            .into_iter()
            .filter(|v| v.by_rule() && v.status == "approved")
            .filter(|v| {
                by_id
                    .get(v.chart_id.as_str())
                    .is_some_and(|r| v.is_current(r.staging_hash.as_deref(), r.production_hash.as_deref()))
            })
            .map(|v| v.chart_id)
            .collect()
    } else {
        Default::default()
    };
    let open = |r: &&DecisionRow| match state.policy.is_team() {
        true => plain_change(r) && !ruled.contains(&r.chart_id),
        false => open_to_rules(r),
    };
    for row in rows.iter().filter(open) {
        let parts: Vec<&str> = row.parts.split(',').filter(|p| !p.is_empty()).collect();
        let fitting: Vec<&AutoApproveRule> = rules
            .iter()
            .filter(|rule| parts.iter().all(|p| rule.parts.iter().any(|q| q == p)))
            .filter(|rule| slug_matches(rule, &row.slug))
            .collect();
        if fitting.is_empty() {
            continue;
        }
        let data = if parts.contains(&"data") {
            let old = versions::get_opt(&state.db, row.production_hash.as_deref()).await?;
            let new = versions::get_opt(&state.db, row.staging_hash.as_deref()).await?;
            Some(data_diff(old.as_ref().map(|v| &v.data), new.as_ref().map(|v| &v.data)))
        } else {
            None
        };
        if let Some((rule, why)) = fitting.into_iter().find_map(|rule| within(rule, data.as_ref()).map(|w| (rule, w))) {
            approvals.push((row, rule, why));
        }
    }
    if approvals.is_empty() {
        return Ok(0);
    }

    let _guard = state.db.write_guard().await;
    let mut tx = state.db.pool.begin().await?;
    let mut approved = 0;
    for (row, rule, why) in &approvals {
        let actor = decisions::rule_actor(&rule.name);
        let decision = Decision {
            branch,
            chart_id: &row.chart_id,
            status: ReviewStatus::Approved,
            reviewer: &actor,
            comment: Some(why),
            staging_hash: row.staging_hash.as_deref(),
            production_hash: row.production_hash.as_deref(),
            to_thread: false,
        };
        if decisions::record(&mut tx, &state.policy, decision).await? {
            approved += 1;
        }
    }
    tx.commit().await?;
    crate::telemetry::decisions(ReviewStatus::Approved.as_str(), "rule", approved);
    tracing::info!(branch, approved, "auto-approval rules applied");
    Ok(approved)
}

/// Whether the rule's `slug` pattern (if any) matches; a pattern that does not parse matches
/// nothing (the configuration refuses one at start).
fn slug_matches(rule: &AutoApproveRule, slug: &str) -> bool {
    match rule.slug.as_deref() {
        None => true,
        Some(pattern) => glob::Pattern::new(pattern).is_ok_and(|p| p.matches(slug)),
    }
}

/// Items a rule may decide: readable, plain modifications (no conflict, not new, not deleted),
/// and either undecided or carrying a rule's approval that went stale.
fn open_to_rules(row: &DecisionRow) -> bool {
    let by_rule = row.reviewer.as_deref().is_some_and(|r| r.starts_with(RULE_PREFIX));
    plain_change(row) && (row.decided.is_none() || (by_rule && row.in_force == "stale"))
}

/// Readable, a plain modification: no conflict, not new, not deleted.
fn plain_change(row: &DecisionRow) -> bool {
    row.error.is_none() && !row.is_conflict() && row.kind == "modified"
}

/// Whether a change of these data rows (None: the data did not change) stays within `rule`; the
/// reason, for the decision's comment, when it does.
pub fn within(rule: &AutoApproveRule, data: Option<&DataDiff>) -> Option<String> {
    let empty = DataDiff::default();
    let data = data.unwrap_or(&empty);
    let points = data.added.len() + data.removed.len() + data.changed.len();
    if rule.max_changed_points.is_some_and(|max| points > max) {
        return None;
    }
    let mut largest = 0.0_f64;
    if let Some(max) = rule.max_relative_change {
        if !data.added.is_empty() || !data.removed.is_empty() {
            return None;
        }
        for change in &data.changed {
            let relative = relative_change(change.old.as_ref(), change.new.as_ref())?;
            if relative > max {
                return None;
            }
            largest = largest.max(relative);
        }
    }
    let mut why = format!("auto-approved by rule {:?}: {points} data point{} changed", rule.name, plural(points));
    if rule.max_relative_change.is_some() && points > 0 {
        why.push_str(&format!(", by at most {:.2} %", largest * 100.0));
    }
    Some(why)
}

/// |new − old| / |old| for two numbers; None for anything else, or a change from zero.
fn relative_change(old: Option<&Value>, new: Option<&Value>) -> Option<f64> {
    let (old, new) = (old?.as_f64()?, new?.as_f64()?);
    if old == 0.0 {
        return None;
    }
    Some(((new - old) / old).abs())
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rule(points: Option<usize>, relative: Option<f64>) -> AutoApproveRule {
        AutoApproveRule {
            name: "small".into(),
            parts: vec!["data".into()],
            max_changed_points: points,
            max_relative_change: relative,
            slug: None,
        }
    }

    fn diff(old: Value, new: Value) -> DataDiff {
        data_diff(Some(&old), Some(&new))
    }

    #[test]
    fn bounds_on_points_and_relative_change() {
        let old = json!({"rows": [
            {"entity": "France", "time": 2000, "value": 100},
            {"entity": "Chad", "time": 2000, "value": 50}
        ]});
        let nudged = json!({"rows": [
            {"entity": "France", "time": 2000, "value": 100.5},
            {"entity": "Chad", "time": 2000, "value": 50}
        ]});
        let d = diff(old.clone(), nudged);
        let why = within(&rule(Some(1), Some(0.01)), Some(&d)).expect("one point, 0.5 %");
        assert!(why.contains("1 data point changed") && why.contains("0.50 %"), "{why}");
        assert!(within(&rule(Some(0), None), Some(&d)).is_none(), "more points than allowed");
        assert!(within(&rule(None, Some(0.001)), Some(&d)).is_none(), "a larger change than allowed");

        // A point added is a changed point, and exceeds any relative bound.
        let grown = json!({"rows": [
            {"entity": "France", "time": 2000, "value": 100},
            {"entity": "Chad", "time": 2000, "value": 50},
            {"entity": "Chad", "time": 2001, "value": 51}
        ]});
        let d = diff(old.clone(), grown);
        assert!(within(&rule(Some(5), None), Some(&d)).is_some());
        assert!(within(&rule(Some(5), Some(0.5)), Some(&d)).is_none());

        // From zero, or to something that is not a number: no relative change to bound.
        let zero = json!({"rows": [{"entity": "France", "time": 2000, "value": 0}]});
        let one = json!({"rows": [{"entity": "France", "time": 2000, "value": 1}]});
        assert!(within(&rule(None, Some(10.0)), Some(&diff(zero, one.clone()))).is_none());
        let text = json!({"rows": [{"entity": "France", "time": 2000, "value": "n/a"}]});
        assert!(within(&rule(None, Some(10.0)), Some(&diff(one, text))).is_none());

        // No data change at all is within any data bound.
        assert!(within(&rule(Some(0), Some(0.0)), None).is_some());
    }
}
