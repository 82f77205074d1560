//! What starts a sync (design §10): a merged pull request syncs its branch to the branch's target
//! (unless that target has `sync_on_merge = false`) and promotes every target whose
//! `promote_branch` it merged into (`promote_on = "merge"`); a published release promotes every
//! target with `promote_on = "release"`. A promotion is a sync of the target's environment to the
//! next target, like any other job.
//!
//! One delivery may start several jobs; each is deduplicated on the delivery and what it starts,
//! so a redelivery answers with the same jobs and starts nothing.
//!
//! A pull request acts on a branch only when it is that branch's own (design §6): its head ref
//! is exactly the raw name the branch was registered with (`feature/123` does not act on a branch
//! registered as `feature-123`, though both have the environment name `feature-123`), and it
//! comes from the branch's repository, its head in that repository too. Anyone may open a pull
//! request from a fork with any head ref, so a ref alone says nothing about who wrote the
//! commits; the signature only says GitHub sent the event. A branch registered without a
//! repository is bound to the repository of the first signed event for its raw name that is not
//! from a fork.

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

/// Where a pull request comes from, as its event says.
#[derive(Clone, Copy, Debug)]
pub struct PullRequestOrigin<'a> {
    /// `pull_request.head.ref`.
    pub head_ref: &'a str,
    /// `pull_request.head.repo.full_name`: a fork's for a fork's pull request; absent when the
    /// fork was deleted.
    pub head_repository: Option<&'a str>,
    /// `repository.full_name`: where the pull request is open.
    pub repository: Option<&'a str>,
}

/// The branch a pull request belongs to, or why it belongs to none.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PullRequestBranch {
    /// The environment name of the branch.
    Branch(String),
    /// No branch is registered under the pull request's head ref: the usual case for pull
    /// requests that change no charts.
    Unregistered(String),
    /// A branch has the environment name but the pull request is not its own (another raw name,
    /// another repository, a fork): logged, and nothing is done.
    Refused(String),
}

impl PullRequestBranch {
    pub fn branch(&self) -> Option<&str> {
        match self {
            PullRequestBranch::Branch(name) => Some(name),
            _ => None,
        }
    }
}

/// Matches a pull request to the branch it belongs to (see the module's doc), binding the branch
/// to the pull request's repository when it has none yet.
pub async fn branch_of(state: &AppState, pr: PullRequestOrigin<'_>) -> Result<PullRequestBranch> {
    use PullRequestBranch::{Branch, Refused, Unregistered};
    let name = state.env_name(pr.head_ref);
    let Some(row) = branches::get(&state.db, &name).await? else {
        return Ok(Unregistered(format!("no branch {name} is registered")));
    };
    if row.is_target() {
        return Ok(Refused(format!("{name} is a target's environment")));
    }
    if row.raw_name != pr.head_ref {
        return Ok(Refused(format!("branch {name} was registered as {:?}, not {:?}", row.raw_name, pr.head_ref)));
    }
    let Some(repository) = pr.repository else {
        return Ok(Refused(format!("the event for {:?} names no repository", pr.head_ref)));
    };
    match pr.head_repository {
        Some(head) if head.eq_ignore_ascii_case(repository) => {}
        Some(head) => {
            return Ok(Refused(format!("the pull request into {repository} comes from another repository, {head}")))
        }
        None => return Ok(Refused(format!("the pull request into {repository} comes from a deleted repository"))),
    }
    let bound = match row.repository {
        Some(bound) => bound,
        None => {
            let bound = branches::bind_repository(&state.db, &name, repository).await?;
            if bound.as_deref().is_some_and(|b| b.eq_ignore_ascii_case(repository)) {
                tracing::info!(branch = %name, repository, "branch bound to the repository of its first signed event");
            }
            bound.unwrap_or_default()
        }
    };
    if !bound.eq_ignore_ascii_case(repository) {
        return Ok(Refused(format!("branch {name} belongs to {bound}, not {repository}")));
    }
    Ok(Branch(name))
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

/// A pull request merged into `base`: syncs its branch when it has one (see [`branch_of`]), and
/// promotes the targets that promote on merges into `base`.
pub async fn on_merge(
    state: &AppState,
    actor: &Actor,
    delivery: &str,
    branch: &PullRequestBranch,
    base: &str,
) -> Result<Started> {
    let mut started = Started::default();
    match branch {
        PullRequestBranch::Branch(name) => match branches::get(&state.db, name).await? {
            Some(row) => {
                let target = state.targets.get(&row.target)?;
                if !target.sync_on_merge {
                    started.ignore(format!(
                        "branch {name} waits for a manual sync: target {} has sync_on_merge = false",
                        target.name
                    ));
                } else {
                    let new = NewJob {
                        branch: name,
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
        },
        PullRequestBranch::Unregistered(why) | PullRequestBranch::Refused(why) => started.ignore(why.clone()),
    }
    promote(state, actor, delivery, PromoteOn::Merge, Some(base), &mut started).await?;
    Ok(started)
}

/// What a signed body was before, when it is a replay.
#[derive(Debug)]
pub enum Replay {
    /// The body came first under another delivery id, as the same kind of event: the jobs that
    /// first delivery started, and nothing new.
    OtherDelivery { first: String, jobs: Vec<i64> },
    /// The body came first as another kind of event (`X-GitHub-Event` is not signed): nothing.
    OtherEvent { first: String, event: String },
}

/// Whether a signed body was seen before as another delivery or another kind of event (a
/// replay). Every signed delivery is noted, whatever its kind, so a body GitHub sent as an event
/// Chartgate ignores cannot come back labelled as one it acts on. GitHub's own redeliveries
/// keep their delivery id and kind and go through the usual path (each job is deduplicated on
/// the delivery id).
pub async fn replayed(state: &AppState, body_sha256: &str, delivery: &str, event: &str) -> Result<Option<Replay>> {
    let first = jobs::note_delivery(&state.db, body_sha256, delivery, event).await?;
    if first.event.as_deref().is_some_and(|e| e != event) {
        return Ok(Some(Replay::OtherEvent { first: first.delivery_id, event: first.event.unwrap_or_default() }));
    }
    if first.delivery_id == delivery {
        return Ok(None);
    }
    let jobs = jobs::by_delivery(&state.db, &first.delivery_id).await?;
    Ok(Some(Replay::OtherDelivery { first: first.delivery_id, jobs }))
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
