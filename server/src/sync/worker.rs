//! The sync worker: claims jobs, keeps their heartbeat, runs them, and recovers the jobs of
//! processes that died.
//!
//! **One job per target store.** Jobs are claimed oldest first, and only when no job of the
//! same store is running; a second job waits in the queue. A server runs one worker per target,
//! so a promotion and a branch's sync to another target run at the same time. On PostgreSQL several replicas share
//! the queue: a claim locks the store's `sync_targets` row (`for update`), so two replicas cannot
//! both see "nothing running", and takes the job with `for update skip locked`. On SQLite the
//! claim is one `begin immediate` transaction, which the database serialises across processes.
//!
//! **Crashes.** A running job has a heartbeat. A job whose heartbeat stops (its process died) is
//! put back in the queue and resumed by whichever worker claims it next: items with an outcome
//! are done; the others are taken in order. Only the first of them can have been written by the
//! dead process without its outcome being recorded; the compare-and-swap finds production already
//! holding the approved version and it is recorded as applied, not written again. Nothing is ever
//! half-written, because each chart is one production transaction.

use std::time::Duration;

use serde_json::json;
use tokio::task::JoinHandle;

use super::apply::{self, Run, Stop};
use super::enqueue::{self, waker};
use crate::access::SYSTEM;
use crate::db::{self, Backend};
use crate::error::{Error, Result};
use crate::repo::audit::{self, Event};
use crate::repo::jobs::{self, Claimed};
use crate::state::AppState;
use crate::targets::Target;

/// How a worker behaves. [`WorkerOptions::from_config`] is what `chartgate serve` uses.
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
    /// The defaults, with `sync_stale_after` from the configuration and the test hook
    /// `CHARTGATE_SYNC_ITEM_DELAY_MS` read once.
    pub fn from_config(config: &crate::config::Config) -> Self {
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
        WorkerOptions { item_delay, stale_after: config.sync_stale_after(), ..Default::default() }
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

/// Starts the sync workers (one per target) and the archive sweep of a server process.
pub fn spawn_background(state: AppState) -> Background {
    let opts = WorkerOptions::from_config(&state.config);
    let mut tasks: Vec<JoinHandle<()>> = state
        .targets
        .iter()
        .map(|t| tokio::spawn(Worker::for_targets(state.clone(), [t.clone()], opts.clone()).run()))
        .collect();
    tasks.push(tokio::spawn(super::archive::sweep(state)));
    Background { tasks }
}

/// A worker: claims and runs jobs of its targets' stores, one at a time. Several may run at once
/// (one per target in a server, replicas, a `chartgate sync --wait` beside a server); they never
/// run two jobs of one store at a time.
#[derive(Clone)]
pub struct Worker {
    state: AppState,
    id: String,
    targets: Vec<Target>,
    opts: WorkerOptions,
}

impl Worker {
    /// A worker of every target (it takes their jobs in turn).
    pub fn new(state: AppState, opts: WorkerOptions) -> Worker {
        let targets: Vec<Target> = state.targets.iter().cloned().collect();
        Worker::for_targets(state, targets, opts)
    }

    /// A worker of the given targets.
    pub fn for_targets(state: AppState, targets: impl IntoIterator<Item = Target>, opts: WorkerOptions) -> Worker {
        let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "local".into());
        let id = format!("{host}:{}:{:08x}", std::process::id(), rand::random::<u32>());
        Worker { state, id, targets: targets.into_iter().collect(), opts }
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    /// Runs forever: recover dead jobs, run every runnable job, wait for a wake-up or the poll.
    pub async fn run(self) {
        let wake = waker(&self.state.config.database_url);
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

    /// Claims the next runnable job (of the first target that has one) and runs it to the end;
    /// `None` when there is none.
    pub async fn run_next(&self) -> Result<Option<i64>> {
        for target in &self.targets {
            if let Some(job) = self.claim(target).await? {
                let id = job.id;
                self.run_job(job, target).await?;
                return Ok(Some(id));
            }
        }
        Ok(None)
    }

    /// Puts back in the queue the running jobs of these stores whose heartbeat stopped.
    pub async fn recover(&self) -> Result<usize> {
        let mut requeued = 0;
        for target in &self.targets {
            requeued += self.recover_target(&target.store_key()).await?;
        }
        if requeued > 0 {
            enqueue::wake(&self.state);
        }
        Ok(requeued)
    }

    async fn recover_target(&self, store_key: &str) -> Result<usize> {
        let db = &self.state.db;
        let stale_after = self.opts.stale_after.unwrap_or(match db.backend {
            Backend::Sqlite => Duration::from_secs(5),
            Backend::Postgres | Backend::Mysql => Duration::from_secs(30),
        });
        let now = time::OffsetDateTime::now_utc();
        let mut requeued = 0;
        for job in jobs::running(db, store_key).await? {
            let alive = job.heartbeat_at.as_deref().and_then(db::parse_time).is_some_and(|t| now - t < stale_after);
            if alive {
                continue;
            }
            let _guard = db.write_guard().await;
            let mut tx = db.pool.begin().await?;
            if jobs::requeue(&mut tx, job.id, job.heartbeat_at.as_deref()).await? {
                audit::append(
                    &mut *tx,
                    Event {
                        actor: SYSTEM,
                        action: "sync.requeue",
                        branch: Some(&job.branch),
                        detail: Some(json!({"job_id": job.id, "worker": job.worker, "heartbeat_at": job.heartbeat_at})),
                        ..Default::default()
                    },
                )
                .await?;
                requeued += 1;
                tracing::warn!(job = job.id, worker = ?job.worker, "a sync job's worker stopped; the job is queued to resume");
            }
            tx.commit().await?;
        }
        Ok(requeued)
    }

    async fn claim(&self, target: &Target) -> Result<Option<Claimed>> {
        let store_key = target.store_key();
        let db = &self.state.db;
        let _guard = db.write_guard().await;
        let mut tx = match db.backend {
            Backend::Sqlite => db.pool.begin_with("begin immediate").await?,
            Backend::Postgres | Backend::Mysql => db.pool.begin().await?,
        };
        // The store's row lock serialises claims on one store across replicas until commit.
        if !jobs::lock_target(&mut tx, db.backend, &store_key).await? || jobs::any_running(&mut tx, &store_key).await? {
            return Ok(None);
        }
        let Some(id) = jobs::next_queued(&mut tx, db.backend, &store_key).await? else { return Ok(None) };
        let job = jobs::start(&mut tx, id, &self.id, &db::now()).await?;
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
                    "dry_run": job.dry_run != 0,
                    "worker": self.id,
                    "hop": jobs::hop(&job.branch, &job.target_name),
                })),
                ..Default::default()
            },
        )
        .await?;
        tx.commit().await?;
        Ok(Some(job))
    }

    async fn run_job(&self, job: Claimed, target: &Target) -> Result<()> {
        let heartbeat = tokio::spawn(beat(self.clone(), job.id));
        let run = Run { state: &self.state, worker: &self.id, target, item_delay: self.opts.item_delay };
        let result = apply::execute(&run, &job).await;
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
        if matches!(e, Error::Store { .. }) {
            self.state.stores.forget(&target.store_url).await;
        }
        match apply::finish(&run, &job, Some(e.public_message())).await {
            Ok(()) | Err(Stop::Lost) => Ok(()),
            Err(Stop::Failed(e)) => Err(e),
        }
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
        let held = async {
            let mut conn = db.pool.acquire().await?;
            jobs::hold(&mut conn, job_id, &worker.id, &db::now()).await
        }
        .await;
        match held {
            Ok(true) => {}
            Ok(false) => return, // another worker took the job over
            Err(e) => tracing::warn!(job = job_id, error = %e, "sync heartbeat failed"),
        }
    }
}
