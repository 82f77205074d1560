//! Merging a conflict (design §11): a reviewer keeps every one-sided change, chooses a side for
//! each path both sides changed, and the merged chart is written to the branch's staging store.
//!
//! The write is a compare-and-swap on the staging row the plan was read from, so an edit landing
//! on staging meanwhile is never overwritten; production moving meanwhile refuses the merge too
//! (its changes are what the merge brings in). The merge is audited (`merge.apply`, with the
//! choices) and the branch rescanned: the item then shows the merged staging beside production,
//! to be approved like any change. The production content a merge took in is the base of the
//! next plan of that chart on that branch, so choices are not asked twice. Sync later writes it over production with its own
//! compare-and-swap, so production's changes are kept, not overwritten.

use app::types::{MergePlan, MergeRequest, MergeResult, Role};
use serde_json::json;

use crate::access::User;
use crate::charts::store::{Swap, Target};
use crate::charts::{canonicalize, RawChart};
use crate::diff::merge::{merged, ChoiceError};
use crate::error::{Error, Result};
use crate::repo::audit::{self, Event};
use crate::repo::branches as branch_rows;
use crate::state::AppState;
use crate::{db, diffs, reviews, scans};

/// The changes of a conflict, path by path; 409 for an item that is not a mergeable conflict.
pub async fn plan(state: &AppState, branch: &str, chart_id: &str) -> Result<MergePlan> {
    let detail = diffs::detail(state, branch, chart_id).await?;
    detail.merge.ok_or_else(|| {
        Error::Conflict(format!(
            "chart {chart_id} is not a conflict with readable staging and production; there is nothing to merge"
        ))
    })
}

/// Writes the merge of `req`'s choices to staging and rescans; answers the item as it now is.
pub async fn apply(
    state: &AppState,
    branch: &str,
    chart_id: &str,
    user: &User,
    req: &MergeRequest,
) -> Result<MergeResult> {
    user.require(Role::Reviewer)?;
    let name = reviews::open_branch(state, branch).await?;
    let detail = diffs::detail(state, &name, chart_id).await?;
    let moved = || Error::ConflictWith {
        message: format!("chart {chart_id} changed since you saw it; review the current content"),
        detail: json!({"staging_hash": detail.item.staging_hash, "production_hash": detail.item.production_hash}),
    };
    if req.staging_hash != detail.item.staging_hash || req.production_hash != detail.item.production_hash {
        return Err(moved());
    }
    let (Some(plan), Some(staging)) = (&detail.merge, &detail.staging) else {
        return Err(Error::Conflict(format!("chart {chart_id} is not a conflict that can be merged")));
    };
    let (config, data, metadata) = merged(staging, &plan.entries, &req.choices).map_err(|e| match e {
        ChoiceError::Missing(paths) => {
            Error::BadRequest(format!("choose staging or production for: {}", paths.join(", ")))
        }
        ChoiceError::Unknown(paths) => {
            Error::BadRequest(format!("these paths are not conflicting, so they take no choice: {}", paths.join(", ")))
        }
    })?;
    let raw = RawChart {
        id: chart_id.to_string(),
        slug: staging.slug.clone(),
        config: config.to_string(),
        data: data.to_string(),
        metadata: metadata.to_string(),
        updated_at: db::now(),
    };
    let canonical =
        canonicalize(&raw).map_err(|e| Error::internal(format!("a merged chart did not canonicalise: {e}")))?;
    let row = branch_rows::get(&state.db, &name)
        .await?
        .ok_or_else(|| Error::NotFound(format!("no branch {name} is registered")))?;
    let store = crate::branches::writable_store(state, &row).await?;
    let target = Target {
        hash: &canonical.hash,
        slug: &canonical.slug,
        config: &canonical.config,
        data: &canonical.data,
        metadata: &canonical.metadata,
        document: None,
    };
    match store.compare_and_swap(chart_id, detail.item.staging_hash.as_deref(), Some(&target), false).await? {
        Swap::Written | Swap::AlreadyThere => {}
        Swap::Changed { .. } => return Err(moved()),
        Swap::Unreadable(why) => return Err(Error::Conflict(format!("staging's row cannot be read: {why}"))),
        Swap::ReadBackDiffers(why) => return Err(Error::Conflict(why)),
    }
    {
        let _guard = state.db.write_guard().await;
        audit::append(
            &state.db.pool,
            Event {
                actor: &user.email,
                action: "merge.apply",
                branch: Some(&name),
                chart_id: Some(chart_id),
                staging_hash: Some(&canonical.hash),
                production_hash: detail.item.production_hash.as_deref(),
                detail: Some(json!({
                    "choices": req.choices,
                    "merged_from_staging_hash": detail.item.staging_hash,
                })),
            },
        )
        .await?;
    }
    tracing::info!(branch = %name, chart_id, choices = req.choices.len(), "conflict merged into staging");
    scans::rescan_branch(state, &name, false).await?;
    let item = match diffs::item(state, &name, chart_id).await {
        Ok(item) => Some(item),
        // Every path taken from production: staging now equals it, and the chart is no item.
        Err(Error::NotFound(_)) => None,
        Err(e) => return Err(e),
    };
    Ok(MergeResult { staging_hash: canonical.hash, item })
}
