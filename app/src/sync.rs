//! Wire types of sync jobs: what `POST /api/v1/sync`, the GitHub hook and
//! `GET /api/v1/sync/jobs/{id}` take and answer (design §2, §4).

use serde::{Deserialize, Serialize};

/// `queued → running → succeeded | partial | failed`.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Serialize,
    Deserialize,
    Hash,
    strum::EnumString,
    strum::IntoStaticStr,
    strum::Display,
)]
#[serde(rename_all = "lowercase")]
#[strum(serialize_all = "lowercase")]
pub enum JobStatus {
    Queued,
    Running,
    /// Every item was applied or already equal.
    Succeeded,
    /// Some items were skipped or failed; the rest were applied.
    Partial,
    /// The job could not run (a store was unreachable); nothing after the error was written.
    Failed,
}

impl JobStatus {
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// The job will not change any more.
    pub fn is_finished(self) -> bool {
        matches!(self, JobStatus::Succeeded | JobStatus::Partial | JobStatus::Failed)
    }
}

/// What started a job.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Serialize,
    Deserialize,
    Hash,
    strum::EnumString,
    strum::IntoStaticStr,
    strum::Display,
)]
#[serde(rename_all = "lowercase")]
#[strum(serialize_all = "lowercase")]
pub enum SyncTrigger {
    /// The GitHub merge hook.
    Hook,
    /// `POST /api/v1/sync`.
    Api,
    /// `chartgate sync`.
    Cli,
}

impl SyncTrigger {
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// What the item's decision asks of production.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Serialize,
    Deserialize,
    Hash,
    strum::EnumString,
    strum::IntoStaticStr,
    strum::Display,
)]
#[serde(rename_all = "lowercase")]
#[strum(serialize_all = "lowercase")]
pub enum SyncAction {
    Create,
    Update,
    Delete,
}

impl SyncAction {
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// The outcome of doing it.
    pub fn done(self) -> SyncOutcome {
        match self {
            SyncAction::Create => SyncOutcome::Created,
            SyncAction::Update => SyncOutcome::Updated,
            SyncAction::Delete => SyncOutcome::Deleted,
        }
    }
}

/// What happened to one item. `skipped` and `failed` come with a reason.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Serialize,
    Deserialize,
    Hash,
    strum::EnumString,
    strum::IntoStaticStr,
    strum::Display,
)]
#[serde(rename_all = "lowercase")]
#[strum(serialize_all = "lowercase")]
pub enum SyncOutcome {
    Created,
    Updated,
    Deleted,
    /// Production already held the approved version.
    Unchanged,
    Skipped,
    Failed,
}

impl SyncOutcome {
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// The item wrote production (or, in a dry run, would have).
    pub fn is_write(self) -> bool {
        matches!(self, SyncOutcome::Created | SyncOutcome::Updated | SyncOutcome::Deleted)
    }
}

/// Why an item was skipped.
pub mod reason {
    /// No decision yet.
    pub const PENDING: &str = "pending";
    pub const REJECTED: &str = "rejected";
    /// The staging content changed since the decision.
    pub const STALE: &str = "stale";
    /// A conflict nobody approved after seeing production's side.
    pub const CONFLICT: &str = "conflict";
    /// Production no longer holds the content the approval was made on (compare-and-swap).
    pub const PRODUCTION_CHANGED: &str = "production changed";
    /// A side of the chart is not valid JSON.
    pub const UNREADABLE: &str = "unreadable";
    /// The approved version draws an indicator the target's `indicators` table lacks (the data
    /// deploy has not reached it yet); a later sync writes it (design §9).
    pub const MISSING_INDICATOR: &str = "missing indicator";
}

/// One item of a job.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SyncItem {
    pub chart_id: String,
    pub slug: String,
    pub action: SyncAction,
    /// `None` while the job has not reached the item.
    pub outcome: Option<SyncOutcome>,
    /// Why it was skipped or failed.
    pub reason: Option<String>,
    /// The approved version (its hash); `None` for a delete or an item with no approval.
    pub version: Option<String>,
    /// The production version the approval was made on (`None`: production had no such chart).
    pub expected_production: Option<String>,
    pub at: Option<String>,
}

/// A sync job with its items.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SyncJob {
    pub id: i64,
    pub branch: String,
    /// The target the job writes (design §10).
    pub target: String,
    /// The move it makes, e.g. `feature-1 → production` or `staging → production`.
    pub hop: String,
    pub status: JobStatus,
    pub dry_run: bool,
    pub trigger: SyncTrigger,
    /// Who started it: a user's email, `github:<login>` for the hook, `cli`.
    pub actor: String,
    pub created_at: String,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    /// Times the job was claimed; more than 1 means it was resumed after a crash.
    pub attempts: i64,
    pub total: i64,
    /// Items with an outcome.
    pub done: i64,
    /// Why the job failed, safe to show.
    pub error: Option<String>,
    /// The worker that holds (or last held) the job, `host:pid:tag`: which replica runs it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worker: Option<String>,
    #[serde(default)]
    pub items: Vec<SyncItem>,
}

impl SyncJob {
    /// Items with the given outcome.
    pub fn count(&self, outcome: SyncOutcome) -> usize {
        self.items.iter().filter(|i| i.outcome == Some(outcome)).count()
    }
}

/// `POST /api/v1/sync`.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SyncRequest {
    /// The branch (environment or raw name).
    #[cfg_attr(feature = "ssr", schema(min_length = 1, pattern = r"\S"))]
    pub branch: String,
    #[serde(default)]
    pub dry_run: bool,
}

/// The 202 answer of `POST /sync` and of the hook.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct JobAccepted {
    pub job_id: i64,
    /// Every job, when one delivery started several (a merge that also promotes a target).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub job_ids: Vec<i64>,
}

/// The 200 answer of the hook to a delivery it does not act on.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HookIgnored {
    pub ignored: String,
}
