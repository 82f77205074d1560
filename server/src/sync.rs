//! Sync on merge: a signed GitHub hook, `POST /api/v1/sync` or `chartgate sync` enqueues a job;
//! a worker in every server process claims jobs one production store at a time and writes only
//! approved content to production.
//!
//! - [`enqueue`] records a job (deduplicated by `X-GitHub-Delivery` or `Idempotency-Key`: a
//!   repeat answers with the first job) and wakes the local worker; it answers in milliseconds.
//! - [`job`] is the worker: claiming (row locks on PostgreSQL so replicas never run two jobs on one
//!   store), the plan (fixed once, in one transaction), compare-and-swap writes one chart per
//!   transaction, each outcome recorded right after its write commits, heartbeats, and the
//!   recovery of jobs whose process died.
//! - [`hook`] verifies GitHub's signatures; [`api`] is the HTTP surface; [`command`] the CLI.
//!
//! After a real (not dry) run starts, its branch is marked merged; the archive sweep archives
//! merged branches after `archive_after`. Reviews and the audit trail stay.

pub mod api;
pub mod command;
pub mod hook;
pub mod job;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use app::sync::{JobStatus, SyncAction, SyncItem, SyncJob, SyncOutcome, SyncTrigger};
use serde_json::json;
use sqlx::Row;
use tokio::sync::Notify;

use crate::audit::{self, Event};
use crate::db::{self, redact, Db};
use crate::error::{Error, Result};
use crate::state::AppState;

pub use job::{spawn_background, Background, Worker, WorkerOptions};

/// A job to enqueue.
#[derive(Clone, Debug)]
pub struct NewJob<'a> {
    /// Raw branch name or environment name.
    pub branch: &'a str,
    pub dry_run: bool,
    pub trigger: SyncTrigger,
    pub actor: &'a str,
    /// `X-GitHub-Delivery` of the hook.
    pub delivery_id: Option<&'a str>,
    /// `Idempotency-Key` of `POST /sync`.
    pub idempotency_key: Option<&'a str>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Enqueued {
    pub job_id: i64,
    /// False when a delivery or idempotency key had already made this job.
    pub created: bool,
}

/// The production store a job writes, as stored on the job (no password).
pub fn target(state: &AppState) -> String {
    redact(&state.config.production_url)
}

/// Records a queued job and wakes the worker. A repeated delivery or idempotency key answers
/// with the job it made first (409 if the key came with a different branch or dry-run flag).
/// 404 for an unknown branch, 409 for an archived one.
pub async fn enqueue(state: &AppState, new: NewJob<'_>) -> Result<Enqueued> {
    if let Some(found) = existing(state, &new).await? {
        return Ok(found);
    }
    let name = crate::branches::resolve(state, new.branch);
    let row = sqlx::query("select state from branches where name = $1")
        .bind(&name)
        .fetch_optional(&state.db.pool)
        .await?
        .ok_or_else(|| Error::NotFound(format!("no branch {name} is registered")))?;
    let branch_state: String = row.try_get(0)?;
    if branch_state == "archived" {
        return Err(Error::Conflict(format!("branch {name} is archived; it cannot be synced")));
    }
    let target = target(state);
    let job_id = {
        let _guard = state.db.write_guard().await;
        let mut tx = state.db.pool.begin().await?;
        sqlx::query("insert into sync_targets (target) values ($1) on conflict do nothing")
            .bind(&target)
            .execute(&mut *tx)
            .await?;
        let inserted = sqlx::query(
            "insert into sync_jobs (branch, target, status, dry_run, triggered_by, actor, delivery_id, idempotency_key,
             created_at) values ($1, $2, 'queued', $3, $4, $5, $6, $7, $8) on conflict do nothing returning id",
        )
        .bind(&name)
        .bind(&target)
        .bind(new.dry_run as i64)
        .bind(new.trigger.as_str())
        .bind(new.actor)
        .bind(new.delivery_id)
        .bind(new.idempotency_key)
        .bind(db::now())
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = inserted else {
            // A concurrent request with the same key won the insert.
            drop(tx);
            return existing(state, &new).await?.ok_or_else(|| Error::internal("a deduplicated job vanished"));
        };
        let job_id: i64 = row.try_get(0)?;
        audit::append(
            &mut *tx,
            Event {
                actor: new.actor,
                action: "sync.enqueue",
                branch: Some(&name),
                detail: Some(json!({
                    "job_id": job_id,
                    "trigger": new.trigger.as_str(),
                    "dry_run": new.dry_run,
                    "delivery_id": new.delivery_id,
                    "idempotency_key": new.idempotency_key,
                })),
                ..Default::default()
            },
        )
        .await?;
        tx.commit().await?;
        job_id
    };
    wake(state);
    Ok(Enqueued { job_id, created: true })
}

/// The job a delivery id or idempotency key already made.
async fn existing(state: &AppState, new: &NewJob<'_>) -> Result<Option<Enqueued>> {
    let (column, key) = match (new.delivery_id, new.idempotency_key) {
        (Some(d), _) => ("delivery_id", d),
        (None, Some(k)) => ("idempotency_key", k),
        (None, None) => return Ok(None),
    };
    let row = sqlx::query(&format!("select id, branch, dry_run from sync_jobs where {column} = $1"))
        .bind(key)
        .fetch_optional(&state.db.pool)
        .await?;
    let Some(row) = row else { return Ok(None) };
    let (id, branch, dry_run): (i64, String, i64) = (row.try_get(0)?, row.try_get(1)?, row.try_get(2)?);
    if column == "idempotency_key"
        && (branch != crate::branches::resolve(state, new.branch) || (dry_run != 0) != new.dry_run)
    {
        return Err(Error::Conflict(format!(
            "Idempotency-Key {key:?} was already used for another request (job {id}); use a new key"
        )));
    }
    Ok(Some(Enqueued { job_id: id, created: false }))
}

/// One waker per Chartgate database, so enqueueing in this process starts the local worker at
/// once instead of at its next poll. (Keyed by URL: tests run several applications in one process.)
fn waker(database_url: &str) -> Arc<Notify> {
    static WAKERS: OnceLock<Mutex<HashMap<String, Arc<Notify>>>> = OnceLock::new();
    let mut map = WAKERS.get_or_init(Default::default).lock().unwrap_or_else(|e| e.into_inner());
    map.entry(database_url.to_string()).or_default().clone()
}

/// Wakes this process's workers (others find the job at their next poll).
pub fn wake(state: &AppState) {
    let w = waker(&state.config.database_url);
    w.notify_waiters();
    w.notify_one();
}

const JOB_COLUMNS: &str = "id, branch, status, dry_run, triggered_by, actor, created_at, started_at, finished_at, \
                           attempts, total, done, error";

fn job_from_row(r: &sqlx::any::AnyRow) -> Result<SyncJob> {
    let status: String = r.try_get(2)?;
    let trigger: String = r.try_get(4)?;
    Ok(SyncJob {
        id: r.try_get(0)?,
        branch: r.try_get(1)?,
        status: JobStatus::parse(&status).ok_or_else(|| Error::internal(format!("unknown job status {status}")))?,
        dry_run: r.try_get::<i64, _>(3)? != 0,
        trigger: SyncTrigger::parse(&trigger).ok_or_else(|| Error::internal(format!("unknown trigger {trigger}")))?,
        actor: r.try_get(5)?,
        created_at: r.try_get(6)?,
        started_at: r.try_get(7)?,
        finished_at: r.try_get(8)?,
        attempts: r.try_get(9)?,
        total: r.try_get(10)?,
        done: r.try_get(11)?,
        error: r.try_get(12)?,
        items: Vec::new(),
    })
}

/// One job with its items, in the order the job takes them.
pub async fn get_job(db: &Db, id: i64) -> Result<SyncJob> {
    let row = sqlx::query(&format!("select {JOB_COLUMNS} from sync_jobs where id = $1"))
        .bind(id)
        .fetch_optional(&db.pool)
        .await?
        .ok_or_else(|| Error::NotFound(format!("no sync job {id}")))?;
    let mut job = job_from_row(&row)?;
    let rows = sqlx::query(
        "select chart_id, slug, action, outcome, reason, target_hash, expected_hash, at from sync_items
         where job_id = $1 order by seq",
    )
    .bind(id)
    .fetch_all(&db.pool)
    .await?;
    for r in rows {
        let action: String = r.try_get(2)?;
        let outcome: Option<String> = r.try_get(3)?;
        job.items.push(SyncItem {
            chart_id: r.try_get(0)?,
            slug: r.try_get(1)?,
            action: SyncAction::parse(&action).ok_or_else(|| Error::internal(format!("unknown action {action}")))?,
            outcome: outcome.as_deref().and_then(SyncOutcome::parse),
            reason: r.try_get(4)?,
            version: r.try_get(5)?,
            expected_production: r.try_get(6)?,
            at: r.try_get(7)?,
        });
    }
    Ok(job)
}

/// The latest jobs (of one branch, or all), newest first, without their items.
pub async fn list_jobs(state: &AppState, branch: Option<&str>) -> Result<Vec<SyncJob>> {
    let rows = match branch.map(str::trim).filter(|b| !b.is_empty()) {
        Some(b) => {
            sqlx::query(&format!("select {JOB_COLUMNS} from sync_jobs where branch = $1 order by id desc limit 100"))
                .bind(crate::branches::resolve(state, b))
                .fetch_all(&state.db.pool)
                .await?
        }
        None => {
            sqlx::query(&format!("select {JOB_COLUMNS} from sync_jobs order by id desc limit 100"))
                .fetch_all(&state.db.pool)
                .await?
        }
    };
    rows.iter().map(job_from_row).collect()
}

/// Archives merged branches whose `merged_at` is `archive_after` or more before `now`; returns
/// their names. Their reviews and audit stay.
pub async fn archive_merged(state: &AppState, now: time::OffsetDateTime) -> Result<Vec<String>> {
    let keep = state.config.archive_after();
    let rows = sqlx::query("select name, merged_at from branches where state = 'merged' and merged_at is not null")
        .fetch_all(&state.db.pool)
        .await?;
    let mut archived = Vec::new();
    for r in rows {
        let (name, merged_at): (String, String) = (r.try_get(0)?, r.try_get(1)?);
        let Some(merged) = db::parse_time(&merged_at) else { continue };
        if now - merged < keep {
            continue;
        }
        match crate::branches::archive(state, &name, SYSTEM_ACTOR).await {
            Ok(_) => archived.push(name),
            Err(Error::Conflict(_)) => {} // archived meanwhile
            Err(e) => return Err(e),
        }
    }
    Ok(archived)
}

/// The actor of what Chartgate does on its own (the archive sweep).
pub const SYSTEM_ACTOR: &str = "chartgate";
