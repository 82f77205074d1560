//! Running a claimed job: fix its plan (first run only), apply each item to production by
//! compare-and-swap in its own transaction, record each outcome right after its write commits,
//! and end the job.
//!
//! Each approved item is written only if production still holds the hash the approval saw;
//! otherwise it is skipped with `production changed`. Every write to the job starts with
//! [`jobs::hold`], so a worker that lost its job (it was thought dead and another took over)
//! stops at its next step and leaves the job alone.

use app::sync::{reason, JobStatus, SyncOutcome};
use serde_json::json;

use super::plan;
use crate::charts::canonical::content_hash;
use crate::charts::canonicalize;
use crate::charts::store::{Exact, Swap, Target};
use crate::charts::{ChartStore, RawChart};
use crate::db;
use crate::error::{Error, Result};
use crate::repo::audit::{self, Event};
use crate::repo::jobs::{self, Claimed, Unfinished};
use crate::repo::states::{self, BASELINE};
use crate::repo::{branches, versions};
use crate::scans;
use crate::state::AppState;

/// The worker running a job, as the steps below need it.
pub struct Run<'a> {
    pub state: &'a AppState,
    /// The worker's id, as `sync_jobs.worker` names the job's holder.
    pub worker: &'a str,
    /// The target the job writes.
    pub target: &'a crate::targets::Target,
    /// Test hook: a pause before each item (see `WorkerOptions::item_delay`).
    pub item_delay: std::time::Duration,
}

/// Why a job stopped before finishing.
pub enum Stop {
    /// Another worker took the job over (this one was thought dead): leave it alone.
    Lost,
    Failed(Error),
}

impl From<Error> for Stop {
    fn from(e: Error) -> Self {
        Stop::Failed(e)
    }
}

impl From<sqlx::Error> for Stop {
    fn from(e: sqlx::Error) -> Self {
        Stop::Failed(e.into())
    }
}

/// Starts a transaction on the job and proves this worker still holds it.
async fn held(run: &Run<'_>, job: &Claimed) -> Result<sqlx::Transaction<'static, sqlx::Any>, Stop> {
    let mut tx = run.state.db.pool.begin().await?;
    if !jobs::hold(&mut tx, job.id, run.worker, &db::now()).await? {
        return Err(Stop::Lost);
    }
    Ok(tx)
}

pub(super) async fn execute(run: &Run<'_>, job: &Claimed) -> Result<(), Stop> {
    if job.planned == 0 {
        fix_plan(run, job).await?;
    }
    let store = run.state.target_store(run.target).await?;
    let staging = staging_store(run, job).await;
    let pending = {
        let mut conn = run.state.db.pool.acquire().await?;
        jobs::unfinished(&mut conn, job.id).await?
    };
    // Only the first item a resumed job meets can have been written by the process that died.
    let mut maybe_ours = job.planned != 0 && job.attempts > 1;
    for item in &pending {
        if !run.item_delay.is_zero() {
            tokio::time::sleep(run.item_delay).await;
        }
        let applied = apply(run, &store, staging.as_ref(), job, item, maybe_ours).await?;
        maybe_ours = false;
        record(run, job, item, &applied).await?;
    }
    finish(run, job, None).await
}

/// Rescans the branch and fixes the plan; a real run marks the branch merged.
async fn fix_plan(run: &Run<'_>, job: &Claimed) -> Result<(), Stop> {
    let state = run.state;
    let mut staging_error = None;
    match scans::rescan_branch(state, &job.branch, false).await {
        Ok(_) => {}
        Err(e @ Error::Store { .. }) => {
            // A merged branch's staging store is often torn down with the pull request. The
            // approvals point at versions Chartgate keeps, so the last scan is enough as long
            // as production answers (and every write checks production again).
            state.target_store(run.target).await?.ping().await?;
            tracing::warn!(job = job.id, error = %e.detail(), "planning a sync from the branch's last scan");
            staging_error = Some(e.to_string());
        }
        Err(e) => return Err(e.into()),
    }
    let plan = plan::plan(state, &job.branch).await?;
    let decided = plan.iter().filter(|p| p.outcome.is_some()).count();
    let dry_run = job.dry_run != 0;
    let now = db::now();
    let _guard = state.db.write_guard().await;
    let mut tx = held(run, job).await?;
    jobs::save_plan(&mut tx, job.id, &plan, &now).await?;
    let settled: Vec<(Unfinished, SyncOutcome, Option<&str>)> = plan
        .iter()
        .filter_map(|p| {
            let (outcome, why) = p.outcome.as_ref()?;
            let (outcome, why) = (*outcome, why.as_deref());
            let item = Unfinished {
                chart_id: p.chart_id.clone(),
                action: p.action,
                expected_hash: p.expected_hash.clone(),
                target_hash: p.target_hash.clone(),
            };
            Some((item, outcome, why))
        })
        .collect();
    let events: Vec<Event<'_>> =
        settled.iter().map(|(item, outcome, why)| item_event(job, item, *outcome, *why, false)).collect();
    audit::append_many(&mut tx, &events).await?;
    audit::append(
        &mut *tx,
        Event {
            actor: &job.actor,
            action: "sync.plan",
            branch: Some(&job.branch),
            detail: Some(json!({
                "job_id": job.id,
                "hop": jobs::hop(&job.branch, &job.target_name),
                "items": plan.len(),
                "to_apply": plan.len() - decided,
                "dry_run": dry_run,
                "staging_unreachable": staging_error,
            })),
            ..Default::default()
        },
    )
    .await?;
    if !dry_run && branches::mark_merged(&mut tx, &job.branch, &now).await? {
        audit::append(
            &mut *tx,
            Event {
                actor: &job.actor,
                action: "branch.merge",
                branch: Some(&job.branch),
                detail: Some(json!({"job_id": job.id})),
                ..Default::default()
            },
        )
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// What applying one item did.
struct Applied {
    outcome: SyncOutcome,
    reason: Option<String>,
    /// A resumed job found its own earlier write (the process died before recording it).
    recovered: bool,
    /// What the target holds for the chart now, when this item put it there or found it there:
    /// `Some(None)` for a chart deleted, `Some(Some(chart))` for content. The branch's baseline
    /// moves to it (a promoted chart is the new common ground of branch and target).
    holds: Option<Option<RawChart>>,
}

impl Applied {
    fn skipped(outcome: SyncOutcome, reason: String) -> Applied {
        Applied { outcome, reason: Some(reason), recovered: false, holds: None }
    }
}

/// Applies one item to the target's store (or, dry, finds what applying would do). The content
/// written is the approved version's stored text, byte for byte, after checking it against its
/// hash: a version that does not verify fails the item.
async fn apply(
    run: &Run<'_>,
    store: &ChartStore,
    staging: Option<&ChartStore>,
    job: &Claimed,
    item: &Unfinished,
    maybe_ours: bool,
) -> Result<Applied, Stop> {
    let text = match &item.target_hash {
        None => None,
        Some(hash) => match versions::text(&run.state.db, hash).await? {
            Some(t) if content_hash(&t.slug, &t.config, &t.data, &t.metadata) == *hash => Some(t),
            Some(_) => {
                tracing::error!(job = job.id, chart = %item.chart_id, version = %hash, "stored version does not match its hash");
                return Ok(Applied::skipped(
                    SyncOutcome::Failed,
                    format!("the approved version {hash} does not match its hash in Chartgate's content store; nothing written"),
                ));
            }
            None => {
                return Ok(Applied::skipped(
                    SyncOutcome::Failed,
                    format!("the approved version {hash} is missing from Chartgate's content store"),
                ))
            }
        },
    };
    // The bytes written are staging's own (design §13: never a re-serialisation), read again
    // and checked against the approved hash; Chartgate's canonical copy only when staging no
    // longer holds them (its store torn down with the pull request).
    let exact = match (&item.target_hash, &text, staging) {
        (Some(hash), Some(_), Some(staging)) => staging_text(staging, job, &item.chart_id, hash).await,
        _ => None,
    };
    let target = item.target_hash.as_deref().zip(text.as_ref()).map(|(hash, t)| match &exact {
        Some(e) => Target { document: e.document.as_deref(), ..Target::of_raw(hash, &e.raw) },
        None => Target { hash, slug: &t.slug, config: &t.config, data: &t.data, metadata: &t.metadata, document: None },
    });
    let dry_run = job.dry_run != 0;
    if let Some(t) = &text {
        let missing = crate::upgrades::missing_indicators(store, &t.config).await?;
        if !missing.is_empty() {
            tracing::info!(job = job.id, chart = %item.chart_id, ?missing, "target lacks indicators the chart draws");
            return Ok(Applied::skipped(SyncOutcome::Skipped, reason::MISSING_INDICATOR.into()));
        }
    }
    let swapped = store.compare_and_swap(&item.chart_id, item.expected_hash.as_deref(), target.as_ref(), dry_run).await;
    let holds =
        || (!dry_run).then(|| target.as_ref().map(|t| RawChart { updated_at: db::now(), ..t.to_raw(&item.chart_id) }));
    let done = |outcome: SyncOutcome, recovered: bool| Applied { outcome, reason: None, recovered, holds: holds() };
    Ok(match swapped {
        Ok(Swap::Written) => done(item.action.done(), false),
        Ok(Swap::AlreadyThere) if maybe_ours => done(item.action.done(), true),
        Ok(Swap::AlreadyThere) => done(SyncOutcome::Unchanged, false),
        Ok(Swap::Changed { .. }) => Applied::skipped(SyncOutcome::Skipped, reason::PRODUCTION_CHANGED.into()),
        Ok(Swap::Unreadable(_)) => Applied::skipped(SyncOutcome::Skipped, reason::UNREADABLE.into()),
        Ok(Swap::ReadBackDiffers(why)) => {
            tracing::warn!(job = job.id, chart = %item.chart_id, %why, "read back after the write differed; rolled back");
            Applied::skipped(SyncOutcome::Failed, why)
        }
        Err(Error::Conflict(message)) => Applied::skipped(SyncOutcome::Failed, message),
        // The store is unreachable: the job fails here; later items are not attempted.
        Err(e) => return Err(Stop::Failed(e)),
    })
}

/// The branch's staging store, opened once per job: `None` when it is gone (every item then
/// writes Chartgate's copy, without waiting on a dead store item after item).
async fn staging_store(run: &Run<'_>, job: &Claimed) -> Option<ChartStore> {
    let row = branches::get(&run.state.db, &job.branch).await.ok().flatten()?;
    match run.state.stores.get(&row.store_url).await {
        Ok(store) => Some(store),
        Err(e) => {
            tracing::info!(job = job.id, error = %e.detail(), "staging unreachable: writing Chartgate's copies");
            None
        }
    }
}

/// The branch's staging text of a chart when it still hashes to `hash` (the approved version).
async fn staging_text(staging: &ChartStore, job: &Claimed, chart_id: &str, hash: &str) -> Option<Exact> {
    match staging.exact(chart_id).await {
        Ok(Some(exact)) if canonicalize(&exact.raw).is_ok_and(|c| c.hash == hash) => Some(exact),
        Ok(_) => None,
        Err(e) => {
            tracing::info!(job = job.id, chart = chart_id, error = %e.detail(), "staging unreadable: writing Chartgate's copy");
            None
        }
    }
}

/// Records an item's outcome, if this worker still holds the job, and moves the branch's
/// baseline of the chart to what the target now holds.
async fn record(run: &Run<'_>, job: &Claimed, item: &Unfinished, applied: &Applied) -> Result<(), Stop> {
    let now = db::now();
    let why = applied.reason.as_deref();
    let _guard = run.state.db.write_guard().await;
    let mut tx = held(run, job).await?;
    jobs::record_outcome(&mut tx, job.id, &item.chart_id, applied.outcome, why, &now).await?;
    match &applied.holds {
        None => {}
        Some(None) => states::remove(&mut tx, BASELINE, &job.branch, &item.chart_id).await?,
        Some(Some(chart)) => {
            let label = format!("target {}", run.target.name);
            let keys = run.state.stores.settings.render_keys_for(&run.target.store_url);
            let state = scans::state_of_written(chart, &label, &keys);
            states::put(&mut tx, run.state.db.backend, BASELINE, &job.branch, &state).await?
        }
    }
    audit::append(&mut *tx, item_event(job, item, applied.outcome, why, applied.recovered)).await?;
    tx.commit().await?;
    Ok(())
}

/// Ends the job: `failed` with `error` (items not reached are failed, not attempted),
/// otherwise `succeeded` or `partial`.
pub(super) async fn finish(run: &Run<'_>, job: &Claimed, error: Option<String>) -> Result<(), Stop> {
    let now = db::now();
    let _guard = run.state.db.write_guard().await;
    let mut tx = held(run, job).await?;
    if let Some(e) = &error {
        let why = format!("not attempted: {e}");
        let unreached = jobs::unfinished(&mut tx, job.id).await?;
        jobs::fail_unfinished(&mut tx, job.id, &why, &now).await?;
        let events: Vec<Event<'_>> =
            unreached.iter().map(|item| item_event(job, item, SyncOutcome::Failed, Some(&why), false)).collect();
        audit::append_many(&mut tx, &events).await?;
    }
    let mut by_outcome = serde_json::Map::new();
    let mut done = 0i64;
    let mut incomplete = false;
    for c in jobs::outcome_counts(&mut tx, job.id).await? {
        let outcome = c.outcome.unwrap_or_else(|| "none".into());
        incomplete |= matches!(outcome.as_str(), "skipped" | "failed" | "none");
        if outcome != "none" {
            done += c.n;
        }
        by_outcome.insert(outcome, json!(c.n));
    }
    let status = match (&error, incomplete) {
        (Some(_), _) => JobStatus::Failed,
        (None, true) => JobStatus::Partial,
        (None, false) => JobStatus::Succeeded,
    };
    jobs::finish(&mut tx, job.id, status, &now, error.as_deref(), done).await?;
    audit::append(
        &mut *tx,
        Event {
            actor: &job.actor,
            action: "sync.finish",
            branch: Some(&job.branch),
            detail: Some(json!({
                "job_id": job.id,
                "hop": jobs::hop(&job.branch, &job.target_name),
                "status": status.as_str(),
                "dry_run": job.dry_run != 0,
                "outcomes": by_outcome,
                "error": error,
            })),
            ..Default::default()
        },
    )
    .await?;
    tx.commit().await?;
    tracing::info!(job = job.id, branch = %job.branch, status = status.as_str(), "sync job finished");
    let counts: Vec<(String, u64)> = by_outcome.iter().map(|(k, v)| (k.clone(), v.as_u64().unwrap_or(0))).collect();
    crate::telemetry::sync_job(status.as_str(), &counts);
    crate::notify::sync_finished(run.state, job.id);
    Ok(())
}

/// The audit row of one item's outcome: the approved version as `staging_hash`, the production
/// hash the approval was made on as `production_hash`.
fn item_event<'a>(
    job: &'a Claimed,
    item: &'a Unfinished,
    outcome: SyncOutcome,
    why: Option<&str>,
    recovered: bool,
) -> Event<'a> {
    let mut detail = json!({
        "job_id": job.id,
        "action": item.action.as_str(),
        "outcome": outcome.as_str(),
        "reason": why,
        "dry_run": job.dry_run != 0,
        "hop": jobs::hop(&job.branch, &job.target_name),
    });
    if recovered {
        detail["recovered"] = json!(true);
    }
    Event {
        actor: &job.actor,
        action: "sync.item",
        branch: Some(&job.branch),
        chart_id: Some(&item.chart_id),
        staging_hash: item.target_hash.as_deref(),
        production_hash: item.expected_hash.as_deref(),
        detail: Some(detail),
    }
}
