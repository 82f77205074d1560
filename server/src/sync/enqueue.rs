//! Enqueueing a sync job, and reading jobs back.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use app::sync::{SyncJob, SyncTrigger};
use app::types::Role;
use serde_json::json;
use tokio::sync::Notify;

use crate::access::Actor;
use crate::db::{self, Db};
use crate::error::{Error, Result};
use crate::repo::audit::{self, Event};
use crate::repo::branches;
use crate::repo::jobs::{self, Key, NewJobRow};
use crate::state::AppState;

/// A job to enqueue.
#[derive(Clone, Debug)]
pub struct NewJob<'a> {
    /// Raw branch name or environment name.
    pub branch: &'a str,
    pub dry_run: bool,
    pub trigger: SyncTrigger,
    /// `X-GitHub-Delivery` of the hook.
    pub delivery_id: Option<&'a str>,
    /// `Idempotency-Key` of `POST /sync`.
    pub idempotency_key: Option<&'a str>,
}

impl NewJob<'_> {
    fn key(&self) -> Option<Key<'_>> {
        match (self.delivery_id, self.idempotency_key) {
            (Some(d), _) => Some(Key::Delivery(d)),
            (None, Some(k)) => Some(Key::Idempotency(k)),
            (None, None) => None,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Enqueued {
    pub job_id: i64,
    /// False when a delivery or idempotency key had already made this job.
    pub created: bool,
}

/// Records a queued job (leads; a signed hook acts as one) and wakes the worker. A repeated
/// delivery or idempotency key answers with the job it made first (409 if the key came with a
/// different branch or dry-run flag). 404 for an unknown branch, 409 for an archived one.
pub async fn enqueue(state: &AppState, actor: &Actor, new: NewJob<'_>) -> Result<Enqueued> {
    actor.require(Role::Lead)?;
    if let Some(found) = existing(state, &new).await? {
        return Ok(found);
    }
    let name = state.env_name(new.branch);
    let branch = branches::get(&state.db, &name)
        .await?
        .ok_or_else(|| Error::NotFound(format!("no branch {name} is registered")))?;
    if branch.state == "archived" {
        return Err(Error::Conflict(format!("branch {name} is archived; it cannot be synced")));
    }
    let target = state.targets.get(&branch.target)?;
    let store_key = target.store_key();
    let job_id = {
        let _guard = state.db.write_guard().await;
        let mut tx = state.db.pool.begin().await?;
        jobs::ensure_target(&mut tx, &store_key).await?;
        let row = NewJobRow {
            branch: &name,
            target: &store_key,
            target_name: &target.name,
            dry_run: new.dry_run,
            trigger: new.trigger,
            actor: &actor.name,
            delivery_id: new.delivery_id,
            idempotency_key: new.idempotency_key,
            created_at: &db::now(),
        };
        let Some(job_id) = jobs::insert(&mut tx, &row).await? else {
            // A concurrent request with the same key won the insert.
            drop(tx);
            return existing(state, &new).await?.ok_or_else(|| Error::internal("a deduplicated job vanished"));
        };
        audit::append(
            &mut *tx,
            Event {
                actor: &actor.name,
                action: "sync.enqueue",
                branch: Some(&name),
                detail: Some(json!({
                    "job_id": job_id,
                    "hop": jobs::hop(&name, &target.name),
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
    let Some(key) = new.key() else { return Ok(None) };
    let Some(job) = jobs::by_key(&state.db, key).await? else { return Ok(None) };
    if let Key::Idempotency(k) = key {
        if job.branch != state.env_name(new.branch) || (job.dry_run != 0) != new.dry_run {
            return Err(Error::Conflict(format!(
                "Idempotency-Key {k:?} was already used for another request (job {}); use a new key",
                job.id
            )));
        }
    }
    Ok(Some(Enqueued { job_id: job.id, created: false }))
}

/// One waker per Chartgate database, so enqueueing in this process starts the local worker at
/// once instead of at its next poll. (Keyed by URL: tests run several applications in one process.)
pub(super) fn waker(database_url: &str) -> Arc<Notify> {
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

/// One job with its items, in the order the job takes them.
pub async fn get_job(db: &Db, id: i64) -> Result<SyncJob> {
    jobs::get(db, id).await?.ok_or_else(|| Error::NotFound(format!("no sync job {id}")))
}

/// The latest jobs (of one branch, or all), newest first, without their items.
pub async fn list_jobs(state: &AppState, branch: Option<&str>) -> Result<Vec<SyncJob>> {
    let branch = branch.map(str::trim).filter(|b| !b.is_empty()).map(|b| state.env_name(b));
    jobs::list(&state.db, branch.as_deref()).await
}
