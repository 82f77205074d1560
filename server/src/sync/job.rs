//! The sync worker: claims jobs, fixes their plan, applies approved items to production one
//! chart per transaction, and records every outcome.
//!
//! **One job per production store.** Jobs are claimed oldest first, and only when no job of the
//! same store is running; a second job waits in the queue. On PostgreSQL several replicas share
//! the queue: a claim locks the store's `sync_targets` row (`for update`), so two replicas cannot
//! both see "nothing running", and takes the job with `for update skip locked`. On SQLite the
//! claim is one `begin immediate` transaction, which the database serialises across processes.
//!
//! **The plan.** The first run rescans the branch and fixes every item's fate in one transaction:
//! skipped items (pending, rejected, stale, conflict, production changed, unreadable) and charts
//! production already has as approved get their outcome at once; approved items are stored with
//! the production hash the approval was made on and the approved version. From then on the
//! branch's reviews can change without changing what this job does.
//!
//! **Writes.** Each approved item is a compare-and-swap on production in its own transaction
//! ([`ChartStore::compare_and_swap`]): the exact approved version from the content store is
//! written only if production still holds the hash the approval saw; otherwise the item is
//! skipped with `production changed`. Its outcome is recorded in Chartgate's database right after
//! that transaction commits.
//!
//! **Crashes.** A running job has a heartbeat. A job whose heartbeat stops (its process died) is
//! put back in the queue and resumed by whichever worker claims it next: items with an outcome
//! are done; the others are taken in order. Only the first of them can have been written by the
//! dead process without its outcome being recorded; the compare-and-swap finds production already
//! holding the approved version and it is recorded as applied, not written again. Nothing is ever
//! half-written, because each chart is one production transaction.

use std::time::Duration;

use app::sync::{reason, SyncAction, SyncOutcome};
use serde_json::json;
use sqlx::Row;
use tokio::task::JoinHandle;

use crate::audit::{self, Event};
use crate::branches;
use crate::charts::store::{Swap, Target};
use crate::charts::ChartStore;
use crate::db::{self, placeholders, Backend};
use crate::error::{Error, Result};
use crate::state::AppState;

/// How a worker behaves. [`WorkerOptions::from_env`] is what `chartgate serve` uses.
#[derive(Clone, Debug)]
pub struct WorkerOptions {
    /// How often the queue is checked when nothing wakes the worker (jobs enqueued by another
    /// process, jobs to recover).
    pub poll: Duration,
    /// How often a running job proves it is alive.
    pub heartbeat: Duration,
    /// A running job whose heartbeat is older than this is put back in the queue. `None`: 5 s on
    /// SQLite (one machine), 30 s on PostgreSQL (replicas whose clocks may differ a little).
    pub stale_after: Option<Duration>,
    /// Test hook: a pause before each item, so a test can kill the process mid-job
    /// deterministically. Zero in production.
    pub item_delay: Duration,
}

impl Default for WorkerOptions {
    fn default() -> Self {
        WorkerOptions {
            poll: Duration::from_secs(1),
            heartbeat: Duration::from_secs(1),
            stale_after: None,
            item_delay: Duration::ZERO,
        }
    }
}

/// Claims after which a job that keeps hitting an error of Chartgate's own database is failed
/// instead of resumed again.
const MAX_ATTEMPTS: i64 = 5;

/// The variable of the test hook [`WorkerOptions::item_delay`], in milliseconds.
pub const ITEM_DELAY_VAR: &str = "CHARTGATE_SYNC_ITEM_DELAY_MS";

impl WorkerOptions {
    /// The defaults, with the test hook `CHARTGATE_SYNC_ITEM_DELAY_MS` read once.
    pub fn from_env() -> Self {
        let item_delay = std::env::var(ITEM_DELAY_VAR)
            .ok()
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_millis)
            .unwrap_or_default();
        if !item_delay.is_zero() {
            tracing::warn!(
                ms = item_delay.as_millis() as u64,
                "{ITEM_DELAY_VAR} is set: sync jobs are slowed (a test hook)"
            );
        }
        WorkerOptions { item_delay, ..Default::default() }
    }
}

/// The background tasks of a server process: the worker and the archive sweep.
pub struct Background {
    tasks: Vec<JoinHandle<()>>,
}

impl Background {
    pub fn abort(&self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// Starts the sync worker and the archive sweep of a server process.
pub fn spawn_background(state: AppState) -> Background {
    let worker = Worker::new(state.clone(), WorkerOptions::from_env());
    Background { tasks: vec![tokio::spawn(worker.run()), tokio::spawn(archive_sweep(state))] }
}

/// Archives merged branches once `archive_after` has passed (checked every minute, or more often
/// when `archive_after` is shorter).
async fn archive_sweep(state: AppState) {
    let every = state.config.archive_after().clamp(Duration::from_secs(1), Duration::from_secs(60));
    let mut ticker = tokio::time::interval(every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        match super::archive_merged(&state, time::OffsetDateTime::now_utc()).await {
            Ok(names) if !names.is_empty() => tracing::info!(?names, "archived merged branches"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "archive sweep failed"),
        }
    }
}

/// A worker: claims and runs the jobs of this process's production store. Several may run at
/// once (replicas, or a `chartgate sync --wait` beside a server); they never run two jobs of
/// one store at a time.
#[derive(Clone)]
pub struct Worker {
    state: AppState,
    id: String,
    target: String,
    opts: WorkerOptions,
}

/// A job this worker holds.
#[derive(Clone, Debug)]
struct Claimed {
    id: i64,
    branch: String,
    dry_run: bool,
    actor: String,
    attempts: i64,
    planned: bool,
}

/// Why a job stopped before finishing.
enum Stop {
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

/// An item of a fixed plan that still has to be applied.
#[derive(Clone, Debug)]
struct Pending {
    chart_id: String,
    action: SyncAction,
    expected: Option<String>,
    target: Option<String>,
}

/// An item as the plan fixes it.
#[derive(Clone, Debug, PartialEq)]
pub struct Planned {
    pub chart_id: String,
    pub slug: String,
    pub action: SyncAction,
    /// The production hash the approval was made on.
    pub expected: Option<String>,
    /// The approved version.
    pub target: Option<String>,
    /// Decided at planning (skips, and charts production already has as approved); `None`: to apply.
    pub outcome: Option<(SyncOutcome, &'static str)>,
}

/// What an item of the branch looks like to the planner.
#[derive(Clone, Debug, Default)]
pub struct ItemState {
    pub chart_id: String,
    pub slug: String,
    pub conflict: bool,
    pub staging_hash: Option<String>,
    pub production_hash: Option<String>,
    pub error: Option<String>,
    /// The decision: status and the hashes it was made on.
    pub review: Option<(String, Option<String>, Option<String>)>,
}

fn action_of(production: &Option<String>, staging: &Option<String>) -> SyncAction {
    match (production, staging) {
        (_, None) => SyncAction::Delete,
        (None, Some(_)) => SyncAction::Create,
        (Some(_), Some(_)) => SyncAction::Update,
    }
}

/// The fate of one item of the branch (after a rescan): the single place that turns a decision
/// into "apply" or a skip reason. An approval counts only for the exact hashes it was made on:
/// staging moved since, `stale`; production moved since, `production changed`.
pub fn plan_item(item: &ItemState) -> Planned {
    let skip = |why: &'static str| Some((SyncOutcome::Skipped, why));
    let mut planned = Planned {
        chart_id: item.chart_id.clone(),
        slug: item.slug.clone(),
        action: action_of(&item.production_hash, &item.staging_hash),
        expected: None,
        target: None,
        outcome: None,
    };
    planned.outcome = if item.error.is_some() {
        skip(reason::UNREADABLE)
    } else {
        match &item.review {
            None => skip(if item.conflict { reason::CONFLICT } else { reason::PENDING }),
            Some((status, s, p)) => {
                let staging_moved = s != &item.staging_hash;
                let production_moved = p != &item.production_hash;
                match status.as_str() {
                    "approved" if staging_moved => skip(reason::STALE),
                    "approved" if production_moved => skip(reason::PRODUCTION_CHANGED),
                    "approved" => {
                        planned.expected = p.clone();
                        planned.target = s.clone();
                        None
                    }
                    "rejected" if !staging_moved && !production_moved => skip(reason::REJECTED),
                    "rejected" => skip(reason::STALE),
                    _ => skip(if item.conflict { reason::CONFLICT } else { reason::PENDING }),
                }
            }
        }
    };
    planned
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

impl Worker {
    pub fn new(state: AppState, opts: WorkerOptions) -> Worker {
        let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "local".into());
        let id = format!("{host}:{}:{:08x}", std::process::id(), rand::random::<u32>());
        let target = super::target(&state);
        Worker { state, id, target, opts }
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    /// Runs forever: recover dead jobs, run every runnable job, wait for a wake-up or the poll.
    pub async fn run(self) {
        let wake = super::waker(&self.state.config.database_url);
        loop {
            if let Err(e) = self.recover().await {
                tracing::warn!(error = %e, "could not recover sync jobs");
            }
            loop {
                match self.run_next().await {
                    Ok(Some(_)) => continue,
                    Ok(None) => break,
                    Err(e) => {
                        tracing::warn!(error = %e, "sync worker could not claim a job");
                        break;
                    }
                }
            }
            tokio::select! {
                _ = wake.notified() => {}
                _ = tokio::time::sleep(self.opts.poll) => {}
            }
        }
    }

    /// Claims the next runnable job and runs it to the end; `None` when there is none.
    pub async fn run_next(&self) -> Result<Option<i64>> {
        let Some(job) = self.claim().await? else { return Ok(None) };
        let id = job.id;
        self.run_job(job).await?;
        Ok(Some(id))
    }

    /// Puts back in the queue the running jobs of this store whose heartbeat stopped.
    pub async fn recover(&self) -> Result<usize> {
        let db = &self.state.db;
        let stale_after = self.opts.stale_after.unwrap_or(match db.backend {
            Backend::Sqlite => Duration::from_secs(5),
            Backend::Postgres => Duration::from_secs(30),
        });
        let rows = sqlx::query(
            "select id, heartbeat_at, worker, branch from sync_jobs where target = $1 and status = 'running'",
        )
        .bind(&self.target)
        .fetch_all(&db.pool)
        .await?;
        let now = time::OffsetDateTime::now_utc();
        let mut requeued = 0;
        for r in rows {
            let (id, heartbeat, worker, branch): (i64, Option<String>, Option<String>, String) =
                (r.try_get(0)?, r.try_get(1)?, r.try_get(2)?, r.try_get(3)?);
            let alive = heartbeat.as_deref().and_then(db::parse_time).is_some_and(|t| now - t < stale_after);
            if alive {
                continue;
            }
            let _guard = db.write_guard().await;
            let mut tx = db.pool.begin().await?;
            let changed = sqlx::query(
                "update sync_jobs set status = 'queued', worker = null where id = $1 and status = 'running'
                 and coalesce(heartbeat_at, '') = $2",
            )
            .bind(id)
            .bind(heartbeat.clone().unwrap_or_default())
            .execute(&mut *tx)
            .await?;
            if changed.rows_affected() == 1 {
                audit::append(
                    &mut *tx,
                    Event {
                        actor: super::SYSTEM_ACTOR,
                        action: "sync.requeue",
                        branch: Some(&branch),
                        detail: Some(json!({"job_id": id, "worker": worker, "heartbeat_at": heartbeat})),
                        ..Default::default()
                    },
                )
                .await?;
                requeued += 1;
                tracing::warn!(job = id, ?worker, "a sync job's worker stopped; the job is queued to resume");
            }
            tx.commit().await?;
        }
        if requeued > 0 {
            super::wake(&self.state);
        }
        Ok(requeued)
    }

    async fn claim(&self) -> Result<Option<Claimed>> {
        let db = &self.state.db;
        let _guard = db.write_guard().await;
        let (mut tx, lock, skip_locked) = match db.backend {
            Backend::Sqlite => (db.pool.begin_with("begin immediate").await?, "", ""),
            Backend::Postgres => (db.pool.begin().await?, " for update", " for update skip locked"),
        };
        // The store's row lock serialises claims on one store across replicas until commit.
        let known = sqlx::query(&format!("select target from sync_targets where target = $1{lock}"))
            .bind(&self.target)
            .fetch_optional(&mut *tx)
            .await?;
        if known.is_none() {
            return Ok(None);
        }
        let running = sqlx::query("select id from sync_jobs where target = $1 and status = 'running' limit 1")
            .bind(&self.target)
            .fetch_optional(&mut *tx)
            .await?;
        if running.is_some() {
            return Ok(None);
        }
        let next = sqlx::query(&format!(
            "select id from sync_jobs where target = $1 and status = 'queued' order by id limit 1{skip_locked}"
        ))
        .bind(&self.target)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(next) = next else { return Ok(None) };
        let id: i64 = next.try_get(0)?;
        let now = db::now();
        sqlx::query(
            "update sync_jobs set status = 'running', worker = $1, attempts = attempts + 1,
             started_at = coalesce(started_at, $2), heartbeat_at = $2 where id = $3",
        )
        .bind(&self.id)
        .bind(&now)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        let r = sqlx::query("select branch, dry_run, actor, attempts, planned from sync_jobs where id = $1")
            .bind(id)
            .fetch_one(&mut *tx)
            .await?;
        let job = Claimed {
            id,
            branch: r.try_get(0)?,
            dry_run: r.try_get::<i64, _>(1)? != 0,
            actor: r.try_get(2)?,
            attempts: r.try_get(3)?,
            planned: r.try_get::<i64, _>(4)? != 0,
        };
        audit::append(
            &mut *tx,
            Event {
                actor: &job.actor,
                action: "sync.start",
                branch: Some(&job.branch),
                detail: Some(json!({
                    "job_id": id,
                    "attempt": job.attempts,
                    "resumed": job.attempts > 1,
                    "dry_run": job.dry_run,
                    "worker": self.id,
                })),
                ..Default::default()
            },
        )
        .await?;
        tx.commit().await?;
        Ok(Some(job))
    }

    async fn run_job(&self, job: Claimed) -> Result<()> {
        let heartbeat = tokio::spawn(beat(self.clone(), job.id));
        let result = self.execute(&job).await;
        heartbeat.abort();
        let e = match result {
            Ok(()) | Err(Stop::Lost) => return Ok(()),
            Err(Stop::Failed(e)) => e,
        };
        let ours = matches!(e, Error::Database(_) | Error::Migrate(_) | Error::Internal(_));
        if ours && job.attempts < MAX_ATTEMPTS {
            // Chartgate's own database failed (perhaps after a production write whose outcome
            // it could not record). Failing the job now could misreport that write, so the job
            // stays `running`; its heartbeat has stopped, and it is resumed like a crashed one.
            tracing::error!(job = job.id, error = ?e, "sync job interrupted; it resumes once its heartbeat is stale");
            return Ok(());
        }
        tracing::warn!(job = job.id, error = %e, "sync job failed");
        if matches!(e, Error::Store(_)) {
            self.state.stores.forget(&self.state.config.production_url).await;
        }
        match self.finish(&job, Some(e.public_message())).await {
            Ok(()) | Err(Stop::Lost) => Ok(()),
            Err(Stop::Failed(e)) => Err(e),
        }
    }

    async fn execute(&self, job: &Claimed) -> Result<(), Stop> {
        if !job.planned {
            self.plan(job).await?;
        }
        let production = self.state.production().await?;
        let pending = self.pending(job.id).await?;
        // Only the first item a resumed job meets can have been written by the process that died.
        let mut maybe_ours = job.planned && job.attempts > 1;
        for item in &pending {
            if !self.opts.item_delay.is_zero() {
                tokio::time::sleep(self.opts.item_delay).await;
            }
            let (outcome, why, recovered) = self.apply(&production, job, item, maybe_ours).await?;
            maybe_ours = false;
            self.record(job, item, outcome, why.as_deref(), recovered).await?;
        }
        self.finish(job, None).await
    }

    /// Rescans the branch and fixes the plan (see the module documentation).
    async fn plan(&self, job: &Claimed) -> Result<(), Stop> {
        let state = &self.state;
        let mut staging_error = None;
        match branches::rescan(state, &job.branch, false).await {
            Ok(_) => {}
            Err(Error::Store(message)) => {
                // A merged branch's staging store is often torn down with the pull request. The
                // approvals point at versions Chartgate keeps, so the last scan is enough as long
                // as production answers (and every write checks production again).
                state.production().await?.ping().await?;
                tracing::warn!(job = job.id, error = %message, "planning a sync from the branch's last scan");
                staging_error = Some(message);
            }
            Err(e) => return Err(e.into()),
        }
        let mut plan = self.plan_items(&job.branch).await?;
        plan.sort_by(|a, b| {
            (a.outcome.is_some(), apply_order(a.action), &a.chart_id).cmp(&(
                b.outcome.is_some(),
                apply_order(b.action),
                &b.chart_id,
            ))
        });

        let db = &state.db;
        let now = db::now();
        let _guard = db.write_guard().await;
        let mut tx = db.pool.begin().await?;
        let decided = plan.iter().filter(|p| p.outcome.is_some()).count();
        let held = sqlx::query(
            "update sync_jobs set planned = 1, total = $1, done = $2, heartbeat_at = $3
             where id = $4 and worker = $5 and status = 'running'",
        )
        .bind(plan.len() as i64)
        .bind(decided as i64)
        .bind(&now)
        .bind(job.id)
        .bind(&self.id)
        .execute(&mut *tx)
        .await?;
        if held.rows_affected() == 0 {
            return Err(Stop::Lost);
        }
        for (n, chunk) in plan.chunks(100).enumerate() {
            let values: Vec<String> = (0..chunk.len()).map(|i| format!("({})", placeholders(i * 10, 10))).collect();
            let sql = format!(
                "insert into sync_items (job_id, seq, chart_id, slug, action, expected_hash, target_hash, outcome,
                 reason, at) values {}",
                values.join(", ")
            );
            let mut q = sqlx::query(&sql);
            for (i, p) in chunk.iter().enumerate() {
                q = q
                    .bind(job.id)
                    .bind((n * 100 + i) as i64)
                    .bind(&p.chart_id)
                    .bind(&p.slug)
                    .bind(p.action.as_str())
                    .bind(&p.expected)
                    .bind(&p.target)
                    .bind(p.outcome.map(|(o, _)| o.as_str()))
                    .bind(p.outcome.map(|(_, r)| r).filter(|r| !r.is_empty()))
                    .bind(p.outcome.map(|_| now.clone()));
            }
            q.execute(&mut *tx).await?;
        }
        for p in plan.iter().filter(|p| p.outcome.is_some()) {
            let (outcome, why) = p.outcome.expect("filtered");
            let why = Some(why).filter(|r| !r.is_empty());
            let item = Pending {
                chart_id: p.chart_id.clone(),
                action: p.action,
                expected: p.expected.clone(),
                target: p.target.clone(),
            };
            audit::append(&mut *tx, item_event(job, &item, outcome, why, false)).await?;
        }
        audit::append(
            &mut *tx,
            Event {
                actor: &job.actor,
                action: "sync.plan",
                branch: Some(&job.branch),
                detail: Some(json!({
                    "job_id": job.id,
                    "items": plan.len(),
                    "to_apply": plan.len() - decided,
                    "dry_run": job.dry_run,
                    "staging_unreachable": staging_error,
                })),
                ..Default::default()
            },
        )
        .await?;
        if !job.dry_run {
            let merged =
                sqlx::query("update branches set state = 'merged', merged_at = $1 where name = $2 and state = 'open'")
                    .bind(&now)
                    .bind(&job.branch)
                    .execute(&mut *tx)
                    .await?;
            if merged.rows_affected() == 1 {
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
        }
        tx.commit().await?;
        Ok(())
    }

    /// Every item of the branch (as the last scan left it), plus approved charts that are no
    /// longer items: production already holds the approved version (`unchanged`), or the branch
    /// moved away from what was approved (`stale`).
    async fn plan_items(&self, branch: &str) -> Result<Vec<Planned>> {
        let db = &self.state.db;
        let rows = sqlx::query(
            "select i.chart_id, i.slug, i.conflict, i.staging_hash, i.production_hash, i.error,
                    r.status, r.staging_hash, r.production_hash
             from branch_items i left join reviews r on r.branch = i.branch and r.chart_id = i.chart_id
             where i.branch = $1",
        )
        .bind(branch)
        .fetch_all(&db.pool)
        .await?;
        let mut plan = Vec::with_capacity(rows.len());
        for r in rows {
            let status: Option<String> = r.try_get(6)?;
            let item = ItemState {
                chart_id: r.try_get(0)?,
                slug: r.try_get(1)?,
                conflict: r.try_get::<i64, _>(2)? != 0,
                staging_hash: r.try_get(3)?,
                production_hash: r.try_get(4)?,
                error: r.try_get(5)?,
                review: match status {
                    Some(s) => Some((s, r.try_get(7)?, r.try_get(8)?)),
                    None => None,
                },
            };
            plan.push(plan_item(&item));
        }
        let gone = sqlx::query(
            "select r.chart_id, coalesce(p.slug, v.slug, r.chart_id), r.staging_hash, r.production_hash, p.hash,
                    p.error, p.chart_id
             from reviews r
             left join chart_states p on p.side = 'production' and p.branch = '' and p.chart_id = r.chart_id
             left join versions v on v.hash = r.staging_hash
             where r.branch = $1 and r.status = 'approved'
               and not exists (select 1 from branch_items i where i.branch = r.branch and i.chart_id = r.chart_id)",
        )
        .bind(branch)
        .fetch_all(&db.pool)
        .await?;
        for r in gone {
            let (approved, seen): (Option<String>, Option<String>) = (r.try_get(2)?, r.try_get(3)?);
            let (now_hash, error, present): (Option<String>, Option<String>, Option<String>) =
                (r.try_get(4)?, r.try_get(5)?, r.try_get(6)?);
            let holds_approved = error.is_none() && present.is_some() == approved.is_some() && now_hash == approved;
            plan.push(Planned {
                chart_id: r.try_get(0)?,
                slug: r.try_get(1)?,
                action: action_of(&seen, &approved),
                expected: seen,
                target: approved,
                outcome: Some(if holds_approved {
                    (SyncOutcome::Unchanged, "")
                } else {
                    (SyncOutcome::Skipped, reason::STALE)
                }),
            });
        }
        Ok(plan)
    }

    async fn pending(&self, job_id: i64) -> Result<Vec<Pending>> {
        let rows = sqlx::query(
            "select chart_id, action, expected_hash, target_hash from sync_items
             where job_id = $1 and outcome is null order by seq",
        )
        .bind(job_id)
        .fetch_all(&self.state.db.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let action: String = r.try_get(1)?;
                Ok(Pending {
                    chart_id: r.try_get(0)?,
                    action: SyncAction::parse(&action)
                        .ok_or_else(|| Error::internal(format!("unknown action {action}")))?,
                    expected: r.try_get(2)?,
                    target: r.try_get(3)?,
                })
            })
            .collect()
    }

    /// Applies one item to production (or, dry, finds what applying would do).
    async fn apply(
        &self,
        production: &ChartStore,
        job: &Claimed,
        item: &Pending,
        maybe_ours: bool,
    ) -> Result<(SyncOutcome, Option<String>, bool), Stop> {
        let version = match &item.target {
            None => None,
            Some(hash) => match crate::diffs::version(&self.state.db, hash).await? {
                Some(v) => Some(v),
                None => {
                    return Ok((
                        SyncOutcome::Failed,
                        Some(format!("the approved version {hash} is missing from Chartgate's content store")),
                        false,
                    ))
                }
            },
        };
        // Canonical text, exactly as the version's hash was computed over it.
        let texts = version.as_ref().map(|v| (v.config.to_string(), v.data.to_string(), v.metadata.to_string()));
        let target = version.as_ref().zip(texts.as_ref()).map(|(v, (config, data, metadata))| Target {
            hash: &v.hash,
            slug: &v.slug,
            config,
            data,
            metadata,
        });
        let swapped =
            production.compare_and_swap(&item.chart_id, item.expected.as_deref(), target.as_ref(), job.dry_run).await;
        Ok(match swapped {
            Ok(Swap::Written) => (item.action.done(), None, false),
            Ok(Swap::AlreadyThere) if maybe_ours => (item.action.done(), None, true),
            Ok(Swap::AlreadyThere) => (SyncOutcome::Unchanged, None, false),
            Ok(Swap::Changed { .. }) => (SyncOutcome::Skipped, Some(reason::PRODUCTION_CHANGED.into()), false),
            Ok(Swap::Unreadable(_)) => (SyncOutcome::Skipped, Some(reason::UNREADABLE.into()), false),
            Err(Error::Conflict(message)) => (SyncOutcome::Failed, Some(message), false),
            // The store is unreachable: the job fails here; later items are not attempted.
            Err(e) => return Err(Stop::Failed(e)),
        })
    }

    /// Records an item's outcome, if this worker still holds the job.
    async fn record(
        &self,
        job: &Claimed,
        item: &Pending,
        outcome: SyncOutcome,
        why: Option<&str>,
        recovered: bool,
    ) -> Result<(), Stop> {
        let db = &self.state.db;
        let now = db::now();
        let _guard = db.write_guard().await;
        let mut tx = db.pool.begin().await?;
        let held = sqlx::query(
            "update sync_jobs set done = done + 1, heartbeat_at = $1 where id = $2 and worker = $3 and status = 'running'",
        )
        .bind(&now)
        .bind(job.id)
        .bind(&self.id)
        .execute(&mut *tx)
        .await?;
        if held.rows_affected() == 0 {
            return Err(Stop::Lost);
        }
        sqlx::query(
            "update sync_items set outcome = $1, reason = $2, at = $3 where job_id = $4 and chart_id = $5
             and outcome is null",
        )
        .bind(outcome.as_str())
        .bind(why)
        .bind(&now)
        .bind(job.id)
        .bind(&item.chart_id)
        .execute(&mut *tx)
        .await?;
        audit::append(&mut *tx, item_event(job, item, outcome, why, recovered)).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Ends the job: `failed` with `error` (items not reached are failed, not attempted),
    /// otherwise `succeeded` or `partial`.
    async fn finish(&self, job: &Claimed, error: Option<String>) -> Result<(), Stop> {
        let db = &self.state.db;
        let now = db::now();
        let _guard = db.write_guard().await;
        let mut tx = db.pool.begin().await?;
        if let Some(e) = &error {
            let why = format!("not attempted: {e}");
            let rows = sqlx::query(
                "select chart_id, action, expected_hash, target_hash from sync_items
                 where job_id = $1 and outcome is null order by seq",
            )
            .bind(job.id)
            .fetch_all(&mut *tx)
            .await?;
            sqlx::query(
                "update sync_items set outcome = 'failed', reason = $1, at = $2 where job_id = $3 and outcome is null",
            )
            .bind(&why)
            .bind(&now)
            .bind(job.id)
            .execute(&mut *tx)
            .await?;
            for r in rows {
                let action: String = r.try_get(1)?;
                let item = Pending {
                    chart_id: r.try_get(0)?,
                    action: SyncAction::parse(&action).unwrap_or(SyncAction::Update),
                    expected: r.try_get(2)?,
                    target: r.try_get(3)?,
                };
                audit::append(&mut *tx, item_event(job, &item, SyncOutcome::Failed, Some(&why), false)).await?;
            }
        }
        let counts = sqlx::query("select outcome, count(*) from sync_items where job_id = $1 group by outcome")
            .bind(job.id)
            .fetch_all(&mut *tx)
            .await?;
        let mut by_outcome = serde_json::Map::new();
        let mut done = 0i64;
        let mut incomplete = false;
        for r in counts {
            let (outcome, n): (Option<String>, i64) = (r.try_get(0)?, r.try_get(1)?);
            let outcome = outcome.unwrap_or_else(|| "none".into());
            incomplete |= matches!(outcome.as_str(), "skipped" | "failed" | "none");
            if outcome != "none" {
                done += n;
            }
            by_outcome.insert(outcome, json!(n));
        }
        let status = match (&error, incomplete) {
            (Some(_), _) => "failed",
            (None, true) => "partial",
            (None, false) => "succeeded",
        };
        let held = sqlx::query(
            "update sync_jobs set status = $1, finished_at = $2, heartbeat_at = $2, error = $3, done = $4
             where id = $5 and worker = $6 and status = 'running'",
        )
        .bind(status)
        .bind(&now)
        .bind(&error)
        .bind(done)
        .bind(job.id)
        .bind(&self.id)
        .execute(&mut *tx)
        .await?;
        if held.rows_affected() == 0 {
            return Err(Stop::Lost);
        }
        audit::append(
            &mut *tx,
            Event {
                actor: &job.actor,
                action: "sync.finish",
                branch: Some(&job.branch),
                detail: Some(json!({
                    "job_id": job.id,
                    "status": status,
                    "dry_run": job.dry_run,
                    "outcomes": by_outcome,
                    "error": error,
                })),
                ..Default::default()
            },
        )
        .await?;
        tx.commit().await?;
        tracing::info!(job = job.id, branch = %job.branch, status, "sync job finished");
        Ok(())
    }
}

/// The audit row of one item's outcome: the approved version as `staging_hash`, the production
/// hash the approval was made on as `production_hash`.
fn item_event<'a>(
    job: &'a Claimed,
    item: &'a Pending,
    outcome: SyncOutcome,
    why: Option<&str>,
    recovered: bool,
) -> Event<'a> {
    let mut detail = json!({
        "job_id": job.id,
        "action": item.action.as_str(),
        "outcome": outcome.as_str(),
        "reason": why,
        "dry_run": job.dry_run,
    });
    if recovered {
        detail["recovered"] = json!(true);
    }
    Event {
        actor: &job.actor,
        action: "sync.item",
        branch: Some(&job.branch),
        chart_id: Some(&item.chart_id),
        staging_hash: item.target.as_deref(),
        production_hash: item.expected.as_deref(),
        detail: Some(detail),
    }
}

/// Keeps a running job's heartbeat fresh while this worker holds it.
async fn beat(worker: Worker, job_id: i64) {
    let mut ticker = tokio::time::interval(worker.opts.heartbeat);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticker.tick().await;
    loop {
        ticker.tick().await;
        let db = &worker.state.db;
        let _guard = db.write_guard().await;
        let result =
            sqlx::query("update sync_jobs set heartbeat_at = $1 where id = $2 and worker = $3 and status = 'running'")
                .bind(db::now())
                .bind(job_id)
                .bind(&worker.id)
                .execute(&db.pool)
                .await;
        if let Err(e) = result {
            tracing::warn!(job = job_id, error = %e, "sync heartbeat failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(status: Option<&str>, seen: (&str, &str), now: (&str, &str)) -> ItemState {
        let h = |s: &str| (!s.is_empty()).then(|| s.to_string());
        ItemState {
            chart_id: "c".into(),
            slug: "c".into(),
            staging_hash: h(now.0),
            production_hash: h(now.1),
            review: status.map(|s| (s.to_string(), h(seen.0), h(seen.1))),
            ..Default::default()
        }
    }

    #[test]
    fn only_current_approvals_are_applied() {
        let p = plan_item(&item(Some("approved"), ("s", "p"), ("s", "p")));
        assert_eq!((p.outcome, p.action), (None, SyncAction::Update));
        assert_eq!((p.expected.as_deref(), p.target.as_deref()), (Some("p"), Some("s")));
        let create = plan_item(&item(Some("approved"), ("s", ""), ("s", "")));
        assert_eq!((create.outcome, create.action, create.expected), (None, SyncAction::Create, None));
        let delete = plan_item(&item(Some("approved"), ("", "p"), ("", "p")));
        assert_eq!((delete.outcome, delete.action, delete.target), (None, SyncAction::Delete, None));
    }

    #[test]
    fn every_skip_has_its_reason() {
        let skipped = |i: ItemState| plan_item(&i).outcome;
        let s = SyncOutcome::Skipped;
        assert_eq!(skipped(item(None, ("", ""), ("s", "p"))), Some((s, reason::PENDING)));
        assert_eq!(skipped(item(Some("pending"), ("s", "p"), ("s", "p"))), Some((s, reason::PENDING)));
        assert_eq!(skipped(item(Some("rejected"), ("s", "p"), ("s", "p"))), Some((s, reason::REJECTED)));
        assert_eq!(skipped(item(Some("rejected"), ("s0", "p"), ("s", "p"))), Some((s, reason::STALE)));
        assert_eq!(skipped(item(Some("approved"), ("s0", "p"), ("s", "p"))), Some((s, reason::STALE)));
        assert_eq!(skipped(item(Some("approved"), ("s", "p0"), ("s", "p"))), Some((s, reason::PRODUCTION_CHANGED)));
        let conflict = ItemState { conflict: true, ..item(None, ("", ""), ("s", "p")) };
        assert_eq!(skipped(conflict), Some((s, reason::CONFLICT)));
        let broken = ItemState { error: Some("bad".into()), ..item(Some("approved"), ("s", "p"), ("s", "p")) };
        assert_eq!(skipped(broken), Some((s, reason::UNREADABLE)));
    }
}
