//! Dataset updates: the upgrader (design §9). A dataset's new version gives its indicators new
//! ids; the upgrader points every staging chart that draws the old ones at the new ones, then the
//! branch is rescanned and the changed charts are reviewed like any other item — as a group,
//! since each item carries the id of the upgrade whose content it shows.
//!
//! - [`datasets`]: the dataset versions of a branch's staging store, the charts using each and
//!   the suggested upgrades.
//! - [`preview`]: the proposed mapping ([`matching`]) with the data side by side.
//! - [`apply::apply`] / [`apply::undo`]: one transaction per chart with compare-and-swap on the
//!   staging row, recorded with the exact bytes replaced (`upgrades`, `upgrade_charts`), audited
//!   with the mapping, then a rescan.
//!
//! Layer: a feature. Calls `scans` (rescan), the repositories and the engine.

pub mod apply;
pub mod matching;

use std::collections::{BTreeMap, BTreeSet, HashMap};

use app::types::Role;
use app::upgrades::{ChartOutcome, DatasetUse, Datasets, IndicatorRef, Preview, PreviewRequest, Suggestion, Upgrade};

pub use apply::{apply, undo};

use crate::access::Actor;
use crate::charts::indicators::{parent, Indicator};
use crate::charts::{raw_fingerprint, ChartStore, RawChart};
use crate::error::{Error, Result};
use crate::repo::branches::{self as branch_rows, BranchRow};
use crate::repo::upgrades as rows;
use crate::state::AppState;

/// What identifies the exact row an upgrade wrote: its bytes' fingerprint and its `updated_at`.
pub fn row_mark(raw: &RawChart) -> String {
    format!("{}@{}", raw_fingerprint(raw), raw.updated_at)
}

/// The indicators a chart's config draws that `target` lacks, where the target has an
/// `indicators` table (none otherwise): the sync skips such a chart with `missing indicator`.
pub async fn missing_indicators(target: &ChartStore, config: &str) -> Result<Vec<String>> {
    let named = crate::charts::indicators::indicators_of_text(config);
    if named.is_empty() || !target.has_indicators().await? {
        return Ok(Vec::new());
    }
    let present = target.existing_indicators(&named).await?;
    Ok(named.into_iter().filter(|id| !present.contains(id)).collect())
}

/// The branch (raw or environment name) and its staging store.
pub(crate) async fn staging(state: &AppState, branch: &str) -> Result<(BranchRow, ChartStore)> {
    let name = state.env_name(branch);
    let row = branch_rows::get(&state.db, &name)
        .await?
        .ok_or_else(|| Error::NotFound(format!("no branch {name} is registered")))?;
    let store = crate::branches::writable_store(state, &row).await?;
    Ok((row, store))
}

/// 409 unless the staging store has the `indicators` table the upgrader needs.
async fn require_indicators(row: &BranchRow, store: &ChartStore) -> Result<()> {
    if store.has_indicators().await? {
        return Ok(());
    }
    Err(Error::Conflict(format!(
        "the staging store of branch {} has no indicators table, so it has no datasets to upgrade",
        row.name
    )))
}

/// The indicators of one dataset version; 404 naming it when the store has none.
fn of_dataset(all: &[Indicator], dataset: &str, side: &str, branch: &str) -> Result<Vec<Indicator>> {
    let list: Vec<Indicator> = all.iter().filter(|i| i.dataset == dataset).cloned().collect();
    if list.is_empty() {
        let known: BTreeSet<&str> = all.iter().map(|i| i.dataset.as_str()).collect();
        return Err(Error::NotFound(format!(
            "unknown dataset {dataset:?} ({side}): the staging store of branch {branch} has {}",
            if known.is_empty() { "no datasets".to_string() } else { known.into_iter().collect::<Vec<_>>().join(", ") }
        )));
    }
    Ok(list)
}

/// Both datasets' indicators, checked: known, and not the same version.
fn both(all: &[Indicator], from: &str, to: &str, branch: &str) -> Result<(Vec<Indicator>, Vec<Indicator>)> {
    let (from, to) = (from.trim(), to.trim());
    if from.is_empty() || to.is_empty() {
        return Err(Error::BadRequest("give both datasets: from and to".into()));
    }
    let old = of_dataset(all, from, "from", branch)?;
    let new = of_dataset(all, to, "to", branch)?;
    if from == to {
        return Err(Error::Unprocessable(format!("from and to are the same dataset {from:?}")));
    }
    Ok((old, new))
}

/// The dataset versions of a branch's staging store, the charts that draw each, and the
/// suggested upgrades: each version charts use, to the newest version of the same dataset.
pub async fn datasets(state: &AppState, actor: &Actor, branch: &str) -> Result<Datasets> {
    actor.require(Role::Viewer)?;
    let (row, store) = staging(state, branch).await?;
    require_indicators(&row, &store).await?;
    let mut by_dataset: BTreeMap<String, (i64, i64)> = BTreeMap::new();
    for i in store.indicators().await? {
        by_dataset.entry(i.dataset).or_default().0 += 1;
    }
    for (_, ids) in store.chart_indicators("\"indicator\"").await? {
        let used: BTreeSet<&str> = ids.iter().map(|id| parent(id)).collect();
        for d in used {
            by_dataset.entry(d.to_string()).or_default().1 += 1;
        }
    }
    let mut newest: HashMap<&str, &str> = HashMap::new();
    for (d, (n, _)) in &by_dataset {
        if *n > 0 {
            let e = newest.entry(parent(d)).or_insert(d.as_str());
            if d.as_str() > *e {
                *e = d.as_str();
            }
        }
    }
    let suggested = by_dataset
        .iter()
        .filter(|(_, (_, charts))| *charts > 0)
        .filter_map(|(d, _)| {
            let to = newest.get(parent(d))?;
            (*to != d.as_str()).then(|| Suggestion { from: d.clone(), to: to.to_string() })
        })
        .collect();
    let datasets = by_dataset
        .into_iter()
        .map(|(dataset, (indicators, charts))| DatasetUse { dataset, indicators, charts })
        .collect();
    Ok(Datasets { datasets, suggested })
}

/// The charts of the store that draw one of `old`'s indicators (sorted).
async fn charts_using(store: &ChartStore, from: &str, old: &BTreeSet<String>) -> Result<Vec<String>> {
    let mut ids: Vec<String> = store
        .chart_indicators(&format!("{from}/"))
        .await?
        .into_iter()
        .filter(|(_, names)| names.iter().any(|n| old.contains(n)))
        .map(|(id, _)| id)
        .collect();
    ids.sort();
    Ok(ids)
}

/// The proposed mapping of `from` onto `to`, the data of each pair side by side, the new
/// indicators nothing maps to, and the charts the upgrade would change.
pub async fn preview(state: &AppState, actor: &Actor, branch: &str, req: &PreviewRequest) -> Result<Preview> {
    actor.require(Role::Reviewer)?;
    let (row, store) = staging(state, branch).await?;
    require_indicators(&row, &store).await?;
    let all = store.indicators().await?;
    let (old, new) = both(&all, &req.from, &req.to, &row.name)?;
    let proposal = matching::propose(&old, &new);
    let mut wanted: Vec<String> = old.iter().map(|i| i.id.clone()).collect();
    wanted.extend(proposal.iter().filter_map(|(_, m)| m.map(|(j, _)| new[j].id.clone())));
    let data = store.indicator_rows(&wanted).await?;
    let none = Vec::new();
    let mut used = BTreeSet::new();
    let pairs = proposal
        .iter()
        .map(|&(i, m)| {
            let o = &old[i];
            let matched = m.map(|(j, s)| (&new[j], s));
            if let Some((n, _)) = matched {
                used.insert(n.id.clone());
            }
            let comparison = match matched {
                Some((n, _)) => matching::compare(data.get(&o.id).unwrap_or(&none), data.get(&n.id).unwrap_or(&none)),
                None => matching::Comparison {
                    old_rows: data.get(&o.id).map_or(0, |r| r.len() as i64),
                    ..Default::default()
                },
            };
            matching::pair(o, matched, comparison)
        })
        .collect();
    let old_ids: BTreeSet<String> = old.iter().map(|i| i.id.clone()).collect();
    Ok(Preview {
        from: req.from.trim().to_string(),
        to: req.to.trim().to_string(),
        pairs,
        unmatched_new: new.iter().filter(|n| !used.contains(&n.id)).map(|n| n.id.clone()).collect(),
        charts: charts_using(&store, req.from.trim(), &old_ids).await?,
        new_indicators: new.iter().map(|n| IndicatorRef { id: n.id.clone(), name: n.name.clone() }).collect(),
    })
}

fn to_wire(r: rows::UpgradeRow, charts: Vec<ChartOutcome>) -> Upgrade {
    Upgrade {
        id: r.id,
        branch: r.branch,
        from: r.from_dataset,
        to: r.to_dataset,
        mapping: serde_json::from_str(&r.mapping).unwrap_or_default(),
        actor: r.actor,
        created_at: r.created_at,
        undone_at: r.undone_at,
        undone_by: r.undone_by,
        updated: r.updated,
        unchanged: r.unchanged,
        skipped: r.skipped,
        charts,
    }
}

/// The upgrades of a branch, newest first.
pub async fn list(state: &AppState, actor: &Actor, branch: &str) -> Result<Vec<Upgrade>> {
    actor.require(Role::Viewer)?;
    let name = crate::branches::get(state, branch, Role::Viewer).await?.name;
    Ok(rows::list(&state.db, &name).await?.into_iter().map(|r| to_wire(r, Vec::new())).collect())
}

/// One upgrade with its mapping and what it did to each chart.
pub async fn get(state: &AppState, actor: &Actor, branch: &str, id: i64) -> Result<Upgrade> {
    actor.require(Role::Viewer)?;
    let name = crate::branches::get(state, branch, Role::Viewer).await?.name;
    let row = rows::get(&state.db, &name, id)
        .await?
        .ok_or_else(|| Error::NotFound(format!("branch {name} has no upgrade {id}")))?;
    let charts = rows::charts(&state.db, id)
        .await?
        .into_iter()
        .map(|c| ChartOutcome { chart_id: c.chart_id, outcome: c.outcome, reason: c.reason })
        .collect();
    Ok(to_wire(row, charts))
}
