//! What starts a sync (design §10): a merged pull request syncs its branch to the branch's target
//! (unless that target has `sync_on_merge = false`) and promotes every target whose
//! `promote_branch` it merged into (`promote_on = "merge"`); a published release promotes every
//! target with `promote_on = "release"`. A promotion is a sync of the target's environment to the
//! next target, like any other job.
//!
//! One delivery may start several jobs; each is deduplicated on the delivery and what it starts,
//! so a redelivery answers with the same jobs and starts nothing.

use app::sync::SyncTrigger;

use super::enqueue::{enqueue, Enqueued, NewJob};
use crate::access::Actor;
use crate::config::PromoteOn;
use crate::error::{Error, Result};
use crate::repo::{branches, jobs};
use crate::state::AppState;

/// What a delivery started, and why it left the rest alone.
#[derive(Debug, Default)]
pub struct Started {
    pub jobs: Vec<Enqueued>,
    pub ignored: Vec<String>,
}

impl Started {
    fn ignore(&mut self, why: String) {
        self.ignored.push(why);
    }
}

/// Promotes every target whose `promote_on` is `on` (and, for merges, whose `promote_branch` is
/// `merged_into`).
async fn promote(
    state: &AppState,
    actor: &Actor,
    delivery: &str,
    on: PromoteOn,
    merged_into: Option<&str>,
    started: &mut Started,
) -> Result<()> {
    for target in state.targets.environments() {
        if target.promote_on != on || merged_into.is_some_and(|b| b != target.promote_branch) {
            continue;
        }
        let key = format!("{delivery}/promote/{}", target.name);
        let new = NewJob {
            branch: &target.name,
            dry_run: false,
            trigger: SyncTrigger::Hook,
            delivery_id: Some(&key),
            idempotency_key: None,
        };
        match enqueue(state, actor, new).await {
            Ok(e) => started.jobs.push(e),
            Err(Error::NotFound(_)) => started.ignore(format!(
                "target {} has no environment registered yet (its store could not be read)",
                target.name
            )),
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// A pull request from `head` merged into `base`.
pub async fn on_merge(state: &AppState, actor: &Actor, delivery: &str, head: &str, base: &str) -> Result<Started> {
    let mut started = Started::default();
    let name = state.env_name(head);
    match branches::get(&state.db, &name).await? {
        // Environments of targets move by promotion only.
        Some(row) if row.is_target() => started.ignore(format!("{name} is a target's environment")),
        Some(row) => {
            let target = state.targets.get(&row.target)?;
            if !target.sync_on_merge {
                started.ignore(format!(
                    "branch {name} waits for a manual sync: target {} has sync_on_merge = false",
                    target.name
                ));
            } else {
                let new = NewJob {
                    branch: head,
                    dry_run: false,
                    trigger: SyncTrigger::Hook,
                    delivery_id: Some(delivery),
                    idempotency_key: None,
                };
                match enqueue(state, actor, new).await {
                    Ok(e) => started.jobs.push(e),
                    // A merge of an archived branch is none of Chartgate's business.
                    Err(Error::Conflict(m)) => started.ignore(m),
                    Err(e) => return Err(e),
                }
            }
        }
        None => started.ignore(format!("no branch {name} is registered")),
    }
    promote(state, actor, delivery, PromoteOn::Merge, Some(base), &mut started).await?;
    Ok(started)
}

/// Whether a signed body was seen before under another delivery (a replay): then the jobs that
/// first delivery started, and nothing new. GitHub's own redeliveries keep their delivery id and
/// go through the usual path (each job is deduplicated on it).
pub async fn replayed(state: &AppState, body_sha256: &str, delivery: &str) -> Result<Option<(String, Vec<i64>)>> {
    let first = jobs::note_delivery(&state.db, body_sha256, delivery).await?;
    if first == delivery {
        return Ok(None);
    }
    let started = jobs::by_delivery(&state.db, &first).await?;
    Ok(Some((first, started)))
}

/// A published release.
pub async fn on_release(state: &AppState, actor: &Actor, delivery: &str) -> Result<Started> {
    let mut started = Started::default();
    promote(state, actor, delivery, PromoteOn::Release, None, &mut started).await?;
    if started.jobs.is_empty() && started.ignored.is_empty() {
        started.ignore("no target promotes on release".into());
    }
    Ok(started)
}
