//! Decisions bound to exact content, bulk decisions, and the merge gate.
//!
//! A decision names the (staging hash, production hash) the reviewer saw. It is written only if
//! those are still the item's current hashes — checked and written in one statement, so a scan
//! landing in between cannot slip a different content under an approval. Every decision, and
//! every bulk action, is appended to the audit trail in the same transaction.

use app::types::{
    BulkDecided, BulkRefused, BulkReviewRequest, BulkReviewResult, DiffItem, DismissRequest, Gate, ReviewRequest,
    ReviewStatus, Role,
};
use serde_json::json;

use crate::access::User;
use crate::error::{Error, Result};
use crate::policy::Policy;
use crate::repo::audit::{self, Event};
use crate::repo::items;
use crate::repo::reviews::{self as decisions, Decision, OwnedDecision};
use crate::state::AppState;
use crate::{branches, diffs, scans};

pub(crate) const MAX_COMMENT: usize = 4000;
pub(crate) const MAX_BULK: usize = 1000;

pub(crate) fn check_comment(comment: &Option<String>) -> Result<Option<&str>> {
    let comment = comment.as_deref().map(str::trim).filter(|c| !c.is_empty());
    if comment.is_some_and(|c| c.chars().count() > MAX_COMMENT) {
        return Err(Error::BadRequest(format!("a comment has at most {MAX_COMMENT} characters")));
    }
    Ok(comment)
}

/// Text a person must give (a comment's body, a dismissal's reason), trimmed: 400 when it is
/// empty or longer than [`MAX_COMMENT`] characters; `what` names it in the message.
pub(crate) fn required_text<'a>(what: &str, text: &'a str) -> Result<&'a str> {
    let text = text.trim();
    if text.is_empty() {
        return Err(Error::BadRequest(format!("{what} needs some text")));
    }
    if text.chars().count() > MAX_COMMENT {
        return Err(Error::BadRequest(format!("{what} has at most {MAX_COMMENT} characters")));
    }
    Ok(text)
}

/// The branch must be open (merged and archived branches keep their reviews as they were), and
/// its items current before anything is decided on them ([`scans::ensure_row_current`]).
pub(crate) async fn open_branch(state: &AppState, branch: &str) -> Result<String> {
    let row = branches::row(state, branch).await?;
    if row.state != "open" {
        return Err(Error::Conflict(format!("branch {} is {}; its reviews are closed", row.name, row.state)));
    }
    scans::ensure_row_current(state, &row).await?;
    Ok(row.name)
}

/// Records one decision. 409 (with the current hashes) when the content moved since the
/// reviewer saw it; 409 for an unreadable item; 404 when the chart is not an item.
pub async fn decide(
    state: &AppState,
    branch: &str,
    chart_id: &str,
    user: &User,
    req: &ReviewRequest,
) -> Result<DiffItem> {
    user.require(Role::Reviewer)?;
    let comment = check_comment(&req.comment)?;
    let name = open_branch(state, branch).await?;
    // Checked and written in one statement; only a refusal needs to know why.
    let written = state
        .decisions
        .record(OwnedDecision {
            branch: name.clone(),
            chart_id: chart_id.to_string(),
            status: req.status,
            reviewer: user.email.clone(),
            comment: comment.map(str::to_string),
            staging_hash: req.staging_hash.clone(),
            production_hash: req.production_hash.clone(),
        })
        .await?;
    let now = diffs::item(state, &name, chart_id).await?;
    if !written {
        if let Some(e) = &now.error {
            return Err(Error::Conflict(format!("chart {chart_id} cannot be decided until it is readable: {e}")));
        }
        return Err(Error::ConflictWith {
            message: format!("chart {chart_id} changed since you saw it; review the current content"),
            detail: json!({"staging_hash": now.staging_hash, "production_hash": now.production_hash}),
        });
    }
    crate::telemetry::decisions(req.status.as_str(), user.role.as_str(), 1);
    crate::notify::gate_may_have_changed(state, &name);
    Ok(now)
}

/// Decides many items, each bound to its current hashes, in one transaction. Conflicts are
/// refused for approval in bulk: they need a reviewer to look at the production side.
pub async fn decide_many(
    state: &AppState,
    branch: &str,
    user: &User,
    req: &BulkReviewRequest,
) -> Result<BulkReviewResult> {
    user.require(Role::Reviewer)?;
    if req.chart_ids.is_empty() || req.chart_ids.len() > MAX_BULK {
        return Err(Error::BadRequest(format!("chart_ids must hold 1 to {MAX_BULK} ids")));
    }
    let comment = check_comment(&req.comment)?;
    let name = open_branch(state, branch).await?;
    let mut decided = Vec::new();
    let mut refused = Vec::new();
    let _guard = state.db.write_guard().await;
    let mut tx = state.db.pool.begin().await?;
    let mut seen = std::collections::HashSet::new();
    for id in &req.chart_ids {
        if !seen.insert(id.as_str()) {
            continue;
        }
        let Some(current) = items::hashes(&mut tx, &name, id).await? else {
            refused.push(BulkRefused { chart_id: id.clone(), reason: "not an item of this branch".into() });
            continue;
        };
        let one = BulkItem {
            chart_id: id,
            staging_hash: current.staging_hash,
            production_hash: current.production_hash,
            unreadable: current.error.is_some(),
            conflict: current.conflict != 0,
        };
        match decide_one(&mut tx, &state.policy, &name, user, req.status, comment, one).await? {
            Ok(d) => decided.push(d),
            Err(r) => refused.push(r),
        }
    }
    audit::append(
        &mut *tx,
        Event {
            actor: &user.email,
            action: "review.bulk",
            branch: Some(&name),
            detail: Some(json!({
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

/// One item of a bulk or group decision, with the hashes it is decided on.
pub(crate) struct BulkItem<'a> {
    pub chart_id: &'a str,
    pub staging_hash: Option<String>,
    pub production_hash: Option<String>,
    pub unreadable: bool,
    pub conflict: bool,
}

/// Decides one item of a bulk or group decision inside the caller's transaction: decided, or
/// refused with the reason (unreadable; a conflict to approve; content that moved meanwhile).
pub(crate) async fn decide_one(
    tx: &mut sqlx::AnyConnection,
    policy: &Policy,
    branch: &str,
    user: &User,
    status: ReviewStatus,
    comment: Option<&str>,
    item: BulkItem<'_>,
) -> Result<std::result::Result<BulkDecided, BulkRefused>> {
    let refuse = |reason: &str| Err(BulkRefused { chart_id: item.chart_id.to_string(), reason: reason.into() });
    if item.unreadable {
        return Ok(refuse("unreadable: fix the store first"));
    }
    if item.conflict && status == ReviewStatus::Approved {
        return Ok(refuse("conflict: approve it on its own page after seeing production's change"));
    }
    let decision = Decision {
        branch,
        chart_id: item.chart_id,
        status,
        reviewer: &user.email,
        comment,
        staging_hash: item.staging_hash.as_deref(),
        production_hash: item.production_hash.as_deref(),
        to_thread: false,
    };
    if !decisions::record(tx, policy, decision).await? {
        return Ok(refuse("changed during the request"));
    }
    Ok(Ok(BulkDecided {
        chart_id: item.chart_id.to_string(),
        staging_hash: item.staging_hash,
        production_hash: item.production_hash,
    }))
}

/// The merge gate, on items brought up to date first ([`scans::ensure_current`]) so it judges the
/// content as it is now; `waiting_for` says in words what the policy still needs.
pub async fn gate(state: &AppState, branch: &str) -> Result<Gate> {
    let name = state.env_name(branch);
    scans::ensure_current(state, &name).await?;
    let c = items::counts(&state.db, &name).await?;
    Ok(Gate {
        pass: c.pending == 0 && c.stale == 0 && c.errors == 0,
        total: c.total,
        pending: c.pending,
        approved: c.approved,
        rejected: c.rejected,
        stale: c.stale,
        conflicts: c.conflicts,
        errors: c.errors,
        waiting_for: crate::verdicts::waiting_for(state, &name).await?,
    })
}

/// A lead dismisses `reviewer`'s current rejection of an item, with a reason (audited). 404 when
/// that reviewer has no current, undismissed rejection of it.
pub async fn dismiss(
    state: &AppState,
    branch: &str,
    chart_id: &str,
    user: &User,
    req: &DismissRequest,
) -> Result<DiffItem> {
    user.require(Role::Lead)?;
    let reason = required_text("a dismissal's reason", &req.reason)?;
    let reviewer = req.reviewer.trim().to_lowercase();
    let name = open_branch(state, branch).await?;
    {
        let _guard = state.db.write_guard().await;
        let mut tx = state.db.pool.begin().await?;
        if !decisions::dismiss(&mut tx, &state.policy, &name, chart_id, &reviewer, &user.email, reason).await? {
            diffs::item(state, &name, chart_id).await?;
            return Err(Error::NotFound(format!("{reviewer} has no current rejection of chart {chart_id} to dismiss")));
        }
        audit::append(
            &mut *tx,
            Event {
                actor: &user.email,
                action: "review.dismiss",
                branch: Some(&name),
                chart_id: Some(chart_id),
                detail: Some(json!({"reviewer": reviewer, "reason": reason})),
                ..Default::default()
            },
        )
        .await?;
        tx.commit().await?;
    }
    crate::notify::gate_may_have_changed(state, &name);
    diffs::item(state, &name, chart_id).await
}
