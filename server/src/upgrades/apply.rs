//! Applying a mapping to a branch's staging store, and undoing it.
//!
//! Applying reads every chart that draws a mapped old indicator (the *plan*), rewrites it
//! ([`crate::charts::indicators::rewrite`]), then writes each chart in its own transaction,
//! compare-and-swap on the staging row: the row must still hold exactly the bytes and
//! `updated_at` the plan read, otherwise the chart is skipped (someone edited it meanwhile).
//! The upgrade is recorded with the bytes it replaced and audited with its mapping in one
//! transaction of Chartgate's database, then the branch is rescanned.
//!
//! Undo writes the replaced bytes back (the same `updated_at` too), chart by chart with the same
//! compare-and-swap against what the upgrade wrote: a chart edited since is skipped.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use app::types::Role;
use app::upgrades::{ChartOutcome, UndoResult, UpgradeRequest, UpgradeResult};
use serde_json::json;

use super::{both, charts_using, require_indicators, row_mark, staging};
use crate::access::Actor;
use crate::charts::indicators::{self, Indicator};
use crate::charts::{canonicalize, ChartStore, RawChart};
use crate::db;
use crate::error::{Error, Result};
use crate::repo::branches::BranchRow;
use crate::repo::upgrades::{self as rows, UpgradeChart};
use crate::scans;
use crate::state::AppState;

pub const UPDATED: &str = "updated";
pub const UNCHANGED: &str = "unchanged";
pub const SKIPPED: &str = "skipped";
/// Why a chart was not written: its row moved between the plan's read and the write.
pub const CHANGED_SINCE_READ: &str = "changed since it was read";
/// Why undo left a chart alone: it no longer holds what the upgrade wrote.
pub const EDITED_SINCE: &str = "edited since the upgrade";
/// Charts written per store transaction (each in its own savepoint; see
/// [`ChartStore::swap_contents`]).
const WRITE_BATCH: usize = 100;

/// One chart of a plan: the row as read, and what it becomes (or why it cannot be rewritten).
pub struct Planned {
    pub before: RawChart,
    pub after: std::result::Result<RawChart, String>,
}

/// An upgrade checked and read, not yet written.
pub struct Plan {
    pub branch: BranchRow,
    pub store: ChartStore,
    pub from: String,
    pub to: String,
    /// The whole mapping as asked (nulls included), as recorded and audited.
    pub mapping: BTreeMap<String, Option<String>>,
    pub charts: Vec<Planned>,
}

/// Checks a mapping against the two datasets: every key an indicator of `from`, every value an
/// indicator of `to`, no new indicator mapped from two old ones. Returns the pairs to apply.
fn check_mapping(
    all: &[Indicator],
    old: &[Indicator],
    new: &[Indicator],
    req: &UpgradeRequest,
) -> Result<HashMap<String, String>> {
    let dataset_of = |id: &str| all.iter().find(|i| i.id == id).map(|i| i.dataset.clone());
    let (from, to) = (req.from.trim(), req.to.trim());
    let wrong = |id: &str, side: &str, dataset: &str| match dataset_of(id) {
        Some(other) => Error::Unprocessable(format!(
            "mapping: {id:?} is an indicator of dataset {other}, not of the {side} dataset {dataset}"
        )),
        None => {
            Error::Unprocessable(format!("mapping: there is no indicator {id:?} (in the {side} dataset {dataset})"))
        }
    };
    let mut pairs = HashMap::new();
    let mut sources: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (old_id, new_id) in &req.mapping {
        if !old.iter().any(|i| &i.id == old_id) {
            return Err(wrong(old_id, "from", from));
        }
        let Some(new_id) = new_id.as_deref().filter(|n| !n.is_empty()) else { continue };
        if !new.iter().any(|i| i.id == new_id) {
            return Err(wrong(new_id, "to", to));
        }
        sources.entry(new_id).or_default().push(old_id);
        pairs.insert(old_id.clone(), new_id.to_string());
    }
    if let Some((new_id, olds)) = sources.iter().find(|(_, olds)| olds.len() > 1) {
        return Err(Error::Unprocessable(format!(
            "mapping: new indicator {new_id:?} is mapped from more than one old indicator ({}); map each new \
             indicator from one old one at most",
            olds.join(", ")
        )));
    }
    if pairs.is_empty() {
        return Err(Error::Unprocessable("mapping: no old indicator is mapped to a new one".into()));
    }
    Ok(pairs)
}

/// Checks the request and reads the charts it would change. Nothing is written.
pub async fn plan(state: &AppState, actor: &Actor, branch: &str, req: &UpgradeRequest) -> Result<Plan> {
    actor.require(Role::Reviewer)?;
    let (row, store) = staging(state, branch).await?;
    require_indicators(&row, &store).await?;
    let all = store.indicators().await?;
    let (old, new) = both(&all, &req.from, &req.to, &row.name)?;
    let pairs = check_mapping(&all, &old, &new, req)?;
    let new_ids: Vec<String> = pairs.values().cloned().collect();
    let new_rows = store.indicator_rows(&new_ids).await?;
    let mapped: BTreeSet<String> = pairs.keys().cloned().collect();
    let ids = charts_using(&store, req.from.trim(), &mapped).await?;
    let updated_at = db::now();
    let mut charts = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(db::MAX_PARAMS) {
        for before in store.read(chunk).await? {
            let after = match indicators::rewrite(&before, &pairs, &new_rows) {
                Ok(Some((config, data))) => {
                    Ok(RawChart { config, data, updated_at: updated_at.clone(), ..before.clone() })
                }
                Ok(None) => Err("names none of the mapped indicators any more".to_string()),
                Err(e) => Err(e),
            };
            charts.push(Planned { before, after });
        }
    }
    charts.sort_by(|a, b| a.before.id.cmp(&b.before.id));
    Ok(Plan {
        branch: row,
        store,
        from: req.from.trim().to_string(),
        to: req.to.trim().to_string(),
        mapping: req.mapping.clone(),
        charts,
    })
}

fn outcome(chart_id: &str, outcome: &str, reason: Option<String>) -> ChartOutcome {
    ChartOutcome { chart_id: chart_id.to_string(), outcome: outcome.to_string(), reason }
}

/// Writes a plan (or, dry, says what writing would do), records and audits it, and rescans.
/// `progress` advances by one per chart (the CLI's bar; hidden elsewhere).
pub async fn execute(
    state: &AppState,
    actor: &Actor,
    plan: Plan,
    dry_run: bool,
    progress: &indicatif::ProgressBar,
) -> Result<UpgradeResult> {
    actor.require(Role::Reviewer)?;
    let started = std::time::Instant::now();
    progress.set_length(plan.charts.len() as u64);
    let mut recorded = Vec::with_capacity(plan.charts.len());
    for batch in plan.charts.chunks(WRITE_BATCH) {
        // What each chart of the batch would write; `None`: nothing (skipped or unchanged).
        let mut writes: Vec<(&RawChart, &RawChart)> = Vec::new();
        for p in batch {
            if let Ok(after) = &p.after {
                if after.config != p.before.config || after.data != p.before.data {
                    writes.push((&p.before, after));
                }
            }
        }
        let mut results = if dry_run || writes.is_empty() {
            vec![Ok(true); writes.len()]
        } else {
            plan.store.swap_contents(&writes).await?
        }
        .into_iter();
        for p in batch {
            let mut rec = UpgradeChart { chart_id: p.before.id.clone(), ..Default::default() };
            match &p.after {
                Err(why) => {
                    rec.outcome = SKIPPED.into();
                    rec.reason = Some(why.clone());
                }
                Ok(after) if after.config == p.before.config && after.data == p.before.data => {
                    rec.outcome = UNCHANGED.into();
                }
                Ok(after) => match results.next().expect("one result per write") {
                    Ok(true) => {
                        rec.outcome = UPDATED.into();
                        rec.before_slug = Some(p.before.slug.clone());
                        rec.before_config = Some(p.before.config.clone());
                        rec.before_data = Some(p.before.data.clone());
                        rec.before_metadata = Some(p.before.metadata.clone());
                        rec.before_updated_at = Some(p.before.updated_at.clone());
                        rec.after_fp = Some(row_mark(after));
                        rec.after_hash = canonicalize(after).ok().map(|c| c.hash);
                    }
                    Ok(false) => {
                        rec.outcome = SKIPPED.into();
                        rec.reason = Some(CHANGED_SINCE_READ.into());
                    }
                    Err(why) => {
                        rec.outcome = SKIPPED.into();
                        rec.reason = Some(why);
                    }
                },
            }
            recorded.push(rec);
        }
        progress.inc(batch.len() as u64);
    }
    let charts: Vec<ChartOutcome> =
        recorded.iter().map(|r| outcome(&r.chart_id, &r.outcome, r.reason.clone())).collect();
    if dry_run {
        return Ok(UpgradeResult { id: None, dry_run, charts });
    }
    let count = |o: &str| charts.iter().filter(|c| c.outcome == o).count();
    let detail = |id: i64| {
        json!({
            "upgrade_id": id,
            "from": plan.from,
            "to": plan.to,
            "mapping": plan.mapping,
            "updated": count(UPDATED),
            "unchanged": count(UNCHANGED),
            "skipped": count(SKIPPED),
        })
    };
    let mapping_text = serde_json::to_string(&plan.mapping).map_err(Error::internal)?;
    let new = rows::NewUpgrade {
        branch: &plan.branch.name,
        from: &plan.from,
        to: &plan.to,
        mapping: &mapping_text,
        actor: &actor.name,
    };
    let written_ms = started.elapsed().as_millis();
    let id = rows::insert(&state.db, new, &recorded, detail).await?;
    let recorded_ms = started.elapsed().as_millis();
    scans::rescan_branch(state, &plan.branch.name, false).await?;
    tracing::info!(
        upgrade = id,
        charts = charts.len(),
        written_ms,
        recorded_ms,
        rescanned_ms = started.elapsed().as_millis(),
        "upgrade applied"
    );
    Ok(UpgradeResult { id: Some(id), dry_run, charts })
}

/// Applies a mapping to a branch's staging store (see the module's doc).
pub async fn apply(state: &AppState, actor: &Actor, branch: &str, req: &UpgradeRequest) -> Result<UpgradeResult> {
    let plan = plan(state, actor, branch, req).await?;
    execute(state, actor, plan, req.dry_run, &indicatif::ProgressBar::hidden()).await
}

/// Puts back what upgrade `id` replaced, chart by chart; a chart edited since is skipped.
pub async fn undo(state: &AppState, actor: &Actor, branch: &str, id: i64) -> Result<UndoResult> {
    actor.require(Role::Reviewer)?;
    let (row, store) = staging(state, branch).await?;
    let upgrade = rows::get(&state.db, &row.name, id)
        .await?
        .ok_or_else(|| Error::NotFound(format!("branch {} has no upgrade {id}", row.name)))?;
    if let Some(at) = &upgrade.undone_at {
        return Err(Error::Conflict(format!(
            "upgrade {id} was already undone at {at} by {}",
            upgrade.undone_by.as_deref().unwrap_or("someone")
        )));
    }
    let written: Vec<UpgradeChart> =
        rows::charts(&state.db, id).await?.into_iter().filter(|c| c.outcome == UPDATED).collect();
    let ids: Vec<String> = written.iter().map(|c| c.chart_id.clone()).collect();
    let mut current: HashMap<String, RawChart> = HashMap::new();
    for chunk in ids.chunks(db::MAX_PARAMS) {
        current.extend(store.read(chunk).await?.into_iter().map(|c| (c.id.clone(), c)));
    }
    let mut outcomes = Vec::with_capacity(written.len());
    for batch in written.chunks(WRITE_BATCH) {
        // Charts still holding what the upgrade wrote, with the bytes to put back.
        let mut restores: Vec<(&RawChart, RawChart)> = Vec::new();
        for c in batch {
            if let Some(now) = current.get(&c.chart_id).filter(|now| Some(row_mark(now)) == c.after_fp) {
                let before = RawChart {
                    id: c.chart_id.clone(),
                    slug: c.before_slug.clone().unwrap_or_default(),
                    config: c.before_config.clone().unwrap_or_default(),
                    data: c.before_data.clone().unwrap_or_default(),
                    metadata: c.before_metadata.clone().unwrap_or_default(),
                    updated_at: c.before_updated_at.clone().unwrap_or_default(),
                };
                restores.push((now, before));
            }
        }
        let pairs: Vec<(&RawChart, &RawChart)> = restores.iter().map(|(now, before)| (*now, before)).collect();
        let results: std::collections::HashMap<&str, std::result::Result<bool, String>> = if pairs.is_empty() {
            Default::default()
        } else {
            pairs.iter().map(|(now, _)| now.id.as_str()).zip(store.swap_contents(&pairs).await?).collect()
        };
        for c in batch {
            outcomes.push(match results.get(c.chart_id.as_str()) {
                Some(Ok(true)) => (c.chart_id.clone(), UPDATED.to_string(), None),
                Some(Err(why)) => (c.chart_id.clone(), SKIPPED.to_string(), Some(why.clone())),
                _ => (c.chart_id.clone(), SKIPPED.to_string(), Some(EDITED_SINCE.to_string())),
            });
        }
    }
    let detail = json!({
        "upgrade_id": id,
        "from": upgrade.from_dataset,
        "to": upgrade.to_dataset,
        "mapping": serde_json::from_str::<serde_json::Value>(&upgrade.mapping).unwrap_or_default(),
        "restored": outcomes.iter().filter(|o| o.1 == UPDATED).count(),
        "skipped": outcomes.iter().filter(|o| o.1 == SKIPPED).count(),
    });
    if !rows::mark_undone(&state.db, id, &actor.name, &row.name, &outcomes, detail).await? {
        return Err(Error::Conflict(format!("upgrade {id} was undone by someone else meanwhile")));
    }
    scans::rescan_branch(state, &row.name, false).await?;
    Ok(UndoResult { charts: outcomes.into_iter().map(|(id, o, r)| outcome(&id, &o, r)).collect() })
}
