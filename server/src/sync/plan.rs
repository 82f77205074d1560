//! A sync job's plan: every item of the branch (as a fresh scan leaves it) with what its
//! decision asks, fixed once in one transaction. From then on the branch's reviews can change
//! without changing what the job does.
//!
//! Whether a decision counts is the `item_decisions` view's answer ([`crate::repo::items`]);
//! [`fate`] only turns that answer into "apply" or a skip reason.

use app::sync::{reason, SyncAction, SyncOutcome};

use crate::error::Result;
use crate::repo::items::{self, DecisionRow};
use crate::repo::jobs::{self, ApprovedWithoutItem, PlanItem};
use crate::state::AppState;

/// What the item's decision asks of production, from the production and staging hashes.
pub fn action_of(production: &Option<String>, staging: &Option<String>) -> SyncAction {
    match (production, staging) {
        (_, None) => SyncAction::Delete,
        (None, Some(_)) => SyncAction::Create,
        (Some(_), Some(_)) => SyncAction::Update,
    }
}

/// The fate of one item: apply the approved version over the production hash the approval was
/// made on, or skip with a reason.
pub fn fate(row: &DecisionRow) -> PlanItem {
    let skip = |why: &'static str| Some((SyncOutcome::Skipped, Some(why.to_string())));
    let undecided = if row.is_conflict() { reason::CONFLICT } else { reason::PENDING };
    let mut item = PlanItem {
        chart_id: row.chart_id.clone(),
        slug: row.slug.clone(),
        action: action_of(&row.production_hash, &row.staging_hash),
        expected_hash: None,
        target_hash: None,
        outcome: None,
    };
    item.outcome = if row.error.is_some() {
        skip(reason::UNREADABLE)
    } else {
        match (row.in_force.as_str(), row.moved.as_deref(), row.decided.as_deref()) {
            ("approved", _, _) => {
                item.expected_hash = row.decided_production_hash.clone();
                item.target_hash = row.decided_staging_hash.clone();
                None
            }
            ("rejected", _, _) => skip(reason::REJECTED),
            // An approval that only production moved under: production changed since.
            ("stale", Some("production"), Some("approved")) => skip(reason::PRODUCTION_CHANGED),
            ("stale", _, _) => skip(reason::STALE),
            _ => skip(undecided),
        }
    };
    item
}

/// An approval whose chart is no longer an item (staging now equals production, or went back to
/// the baseline) never counts; production may already hold what it approved (`unchanged`),
/// otherwise the branch moved away from it (`stale`).
pub fn fate_without_item(row: &ApprovedWithoutItem) -> PlanItem {
    let holds_approved = row.production_error.is_none()
        && (row.production_present != 0) == row.decided_staging_hash.is_some()
        && row.production_hash == row.decided_staging_hash;
    PlanItem {
        chart_id: row.chart_id.clone(),
        slug: row.slug.clone(),
        action: action_of(&row.decided_production_hash, &row.decided_staging_hash),
        expected_hash: row.decided_production_hash.clone(),
        target_hash: row.decided_staging_hash.clone(),
        outcome: Some(if holds_approved {
            (SyncOutcome::Unchanged, None)
        } else {
            (SyncOutcome::Skipped, Some(reason::STALE.to_string()))
        }),
    }
}

/// Order of application: deletes first, then updates, then creates, so a slug a deleted or
/// renamed chart frees is free before a chart takes it.
fn apply_order(a: SyncAction) -> u8 {
    match a {
        SyncAction::Delete => 0,
        SyncAction::Update => 1,
        SyncAction::Create => 2,
    }
}

/// The plan of a branch as its last scan left it: items decided at planning first, then the
/// items to apply in application order.
pub async fn plan(state: &AppState, branch: &str) -> Result<Vec<PlanItem>> {
    let rows = items::decisions(&state.db, branch).await?;
    let mut plan: Vec<PlanItem> = rows.iter().map(fate).collect();
    if state.policy.is_team() {
        say_what_is_missing(state, branch, &rows, &mut plan).await?;
    }
    plan.extend(jobs::approved_without_item(&state.db, branch).await?.iter().map(fate_without_item));
    plan.sort_by(|a, b| {
        (a.outcome.is_some(), apply_order(a.action), &a.chart_id).cmp(&(
            b.outcome.is_some(),
            apply_order(b.action),
            &b.chart_id,
        ))
    });
    Ok(plan)
}

/// Under a team policy, a skip for want of approval names what the policy still needs
/// ("pending: needs 1 more approval, from an owner: ana@example.org").
async fn say_what_is_missing(
    state: &AppState,
    branch: &str,
    rows: &[DecisionRow],
    plan: &mut [PlanItem],
) -> Result<()> {
    let by = crate::verdicts::ByChart::read(&state.db, branch, None).await?;
    for (row, item) in rows.iter().zip(plan.iter_mut()) {
        let Some((SyncOutcome::Skipped, Some(why))) = &mut item.outcome else { continue };
        if !matches!(why.as_str(), reason::PENDING | reason::REJECTED | reason::CONFLICT) {
            continue;
        }
        let judged = state.policy.judge(
            &row.slug,
            row.staging_hash.as_deref(),
            row.production_hash.as_deref(),
            by.of(&row.chart_id),
        );
        if let Some(missing) = judged.missing {
            *why = format!("{why}: {missing}");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An item whose decision (`status`, made on `seen`) meets the hashes it has `now`, with the
    /// view's answer computed the way migration 0004 computes it.
    fn item(status: Option<&str>, seen: (&str, &str), now: (&str, &str)) -> DecisionRow {
        let h = |s: &str| (!s.is_empty()).then(|| s.to_string());
        let moved = match status {
            None | Some("pending") => None,
            Some(_) if seen.0 != now.0 => Some("staging".to_string()),
            Some(_) if seen.1 != now.1 => Some("production".to_string()),
            Some(_) => None,
        };
        let in_force = match (status, &moved) {
            (None | Some("pending"), _) => "pending".to_string(),
            (_, Some(_)) => "stale".to_string(),
            (Some(s), None) => s.to_string(),
        };
        DecisionRow {
            chart_id: "c".into(),
            slug: "c".into(),
            title: "c".into(),
            kind: "modified".into(),
            conflict: 0,
            parts: "config".into(),
            staging_hash: h(now.0),
            production_hash: h(now.1),
            baseline_hash: None,
            error: None,
            changed_at: String::new(),
            decided: status.map(str::to_string),
            reviewer: None,
            decided_at: None,
            comment: None,
            decided_staging_hash: status.and_then(|_| h(seen.0)),
            decided_production_hash: status.and_then(|_| h(seen.1)),
            moved,
            in_force,
            upgrade: None,
        }
    }

    #[test]
    fn only_current_approvals_are_applied() {
        let p = fate(&item(Some("approved"), ("s", "p"), ("s", "p")));
        assert_eq!((p.outcome, p.action), (None, SyncAction::Update));
        assert_eq!((p.expected_hash.as_deref(), p.target_hash.as_deref()), (Some("p"), Some("s")));
        let create = fate(&item(Some("approved"), ("s", ""), ("s", "")));
        assert_eq!((create.outcome, create.action, create.expected_hash), (None, SyncAction::Create, None));
        let delete = fate(&item(Some("approved"), ("", "p"), ("", "p")));
        assert_eq!((delete.outcome, delete.action, delete.target_hash), (None, SyncAction::Delete, None));
    }

    /// The reason constant a reason's text is.
    fn reason_named(text: &str) -> &'static str {
        [
            reason::PENDING,
            reason::REJECTED,
            reason::STALE,
            reason::PRODUCTION_CHANGED,
            reason::CONFLICT,
            reason::UNREADABLE,
        ]
        .into_iter()
        .find(|r| *r == text)
        .expect("a known reason")
    }

    #[test]
    fn every_skip_has_its_reason() {
        let skipped = |i: DecisionRow| fate(&i).outcome.map(|(o, why)| (o, why.map(|w| reason_named(&w))));
        let s = SyncOutcome::Skipped;
        assert_eq!(skipped(item(None, ("", ""), ("s", "p"))), Some((s, Some(reason::PENDING))));
        assert_eq!(skipped(item(Some("pending"), ("s", "p"), ("s", "p"))), Some((s, Some(reason::PENDING))));
        assert_eq!(skipped(item(Some("rejected"), ("s", "p"), ("s", "p"))), Some((s, Some(reason::REJECTED))));
        assert_eq!(skipped(item(Some("rejected"), ("s0", "p"), ("s", "p"))), Some((s, Some(reason::STALE))));
        assert_eq!(skipped(item(Some("approved"), ("s0", "p"), ("s", "p"))), Some((s, Some(reason::STALE))));
        assert_eq!(
            skipped(item(Some("approved"), ("s", "p0"), ("s", "p"))),
            Some((s, Some(reason::PRODUCTION_CHANGED)))
        );
        let conflict = DecisionRow { conflict: 1, ..item(None, ("", ""), ("s", "p")) };
        assert_eq!(skipped(conflict), Some((s, Some(reason::CONFLICT))));
        let broken = DecisionRow { error: Some("bad".into()), ..item(Some("approved"), ("s", "p"), ("s", "p")) };
        assert_eq!(skipped(broken), Some((s, Some(reason::UNREADABLE))));
    }
}
