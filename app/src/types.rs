//! The types that cross the wire: the REST API answers with them and the pages receive them from
//! server functions, so the browser and the API can never disagree about a shape.

use serde::{Deserialize, Serialize};

/// The three JSON parts of a chart, in the order the UI shows them.
pub const PARTS: [&str; 3] = ["config", "data", "metadata"];

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, Hash)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Viewer,
    Reviewer,
    Lead,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Reviewer => "reviewer",
            Role::Lead => "lead",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "viewer" => Some(Role::Viewer),
            "reviewer" => Some(Role::Reviewer),
            "lead" => Some(Role::Lead),
            _ => None,
        }
    }
}

/// Who is signed in, as the pages see it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CurrentUser {
    pub id: i64,
    pub email: String,
    pub role: Role,
}

impl CurrentUser {
    pub fn can(&self, role: Role) -> bool {
        self.role >= role
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Hash)]
#[serde(rename_all = "lowercase")]
pub enum ItemKind {
    New,
    Modified,
    Deleted,
}

impl ItemKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ItemKind::New => "new",
            ItemKind::Modified => "modified",
            ItemKind::Deleted => "deleted",
        }
    }

    pub fn parse(s: &str) -> Option<ItemKind> {
        match s {
            "new" => Some(ItemKind::New),
            "modified" => Some(ItemKind::Modified),
            "deleted" => Some(ItemKind::Deleted),
            _ => None,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Hash)]
#[serde(rename_all = "lowercase")]
pub enum ReviewStatus {
    Pending,
    Approved,
    Rejected,
}

impl ReviewStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ReviewStatus::Pending => "pending",
            ReviewStatus::Approved => "approved",
            ReviewStatus::Rejected => "rejected",
        }
    }

    pub fn parse(s: &str) -> Option<ReviewStatus> {
        match s {
            "pending" => Some(ReviewStatus::Pending),
            "approved" => Some(ReviewStatus::Approved),
            "rejected" => Some(ReviewStatus::Rejected),
            _ => None,
        }
    }
}

/// Counts of a branch's items, as the branches list shows them.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ItemCounts {
    pub total: i64,
    pub new: i64,
    pub modified: i64,
    pub deleted: i64,
    pub conflicts: i64,
    pub pending: i64,
    pub approved: i64,
    pub rejected: i64,
    pub stale: i64,
    pub errors: i64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BranchSummary {
    /// Environment name (`feature/123` becomes `feature-123`).
    pub name: String,
    pub raw_name: String,
    pub store_url: String,
    pub preview_url: Option<String>,
    /// `open`, `merged` or `archived`.
    pub state: String,
    pub created_at: String,
    pub created_by: String,
    pub merged_at: Option<String>,
    pub archived_at: Option<String>,
    pub last_scan_at: Option<String>,
    pub last_scan_ms: Option<i64>,
    /// Why the last scan could not read a store, if it could not.
    pub scan_error: Option<String>,
    pub counts: ItemCounts,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReviewState {
    pub status: ReviewStatus,
    pub reviewer: Option<String>,
    pub at: Option<String>,
    pub comment: Option<String>,
    /// The decision was made on content that has changed since: it counts as pending.
    pub stale: bool,
}

impl ReviewState {
    pub fn pending() -> Self {
        ReviewState { status: ReviewStatus::Pending, reviewer: None, at: None, comment: None, stale: false }
    }

    /// The status that counts: a stale decision is pending.
    pub fn effective(&self) -> ReviewStatus {
        if self.stale {
            ReviewStatus::Pending
        } else {
            self.status
        }
    }
}

/// One chart a branch changed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DiffItem {
    pub chart_id: String,
    pub slug: String,
    pub title: String,
    pub kind: ItemKind,
    /// Which of `config`, `data`, `metadata` the branch changed.
    pub parts: Vec<String>,
    /// Production also changed this chart since the fork.
    pub conflict: bool,
    pub review: ReviewState,
    pub staging_hash: Option<String>,
    pub production_hash: Option<String>,
    pub baseline_hash: Option<String>,
    /// Why one side of this chart could not be read (invalid JSON, ...): it cannot be decided.
    pub error: Option<String>,
    /// When staging last changed the chart.
    pub changed_at: String,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct DiffQuery {
    pub status: Option<String>,
    pub kind: Option<String>,
    pub part: Option<String>,
    pub conflict: Option<bool>,
    pub q: Option<String>,
    pub sort: Option<String>,
    pub page: Option<u32>,
    pub per_page: Option<u32>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DiffPage {
    pub items: Vec<DiffItem>,
    pub total: i64,
    pub page: u32,
    pub per_page: u32,
    /// Counts over the whole branch, for the filter bar.
    pub counts: ItemCounts,
    pub last_scan_at: Option<String>,
    pub scan_error: Option<String>,
}

/// One changed value in a JSON document, addressed by a JSON pointer-like path.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct JsonChange {
    pub path: String,
    /// `added`, `removed` or `changed`.
    pub op: String,
    pub old: Option<serde_json::Value>,
    pub new: Option<serde_json::Value>,
}

/// A text hunk of the pretty-printed documents (unified-diff style).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Hunk {
    pub old_start: usize,
    pub old_len: usize,
    pub new_start: usize,
    pub new_len: usize,
    pub lines: Vec<HunkLine>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HunkLine {
    /// `equal`, `delete` or `insert`.
    pub tag: String,
    pub text: String,
    /// The line cut into runs, `true` where the words changed (inserted or deleted lines only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub words: Vec<(bool, String)>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct JsonDiff {
    pub changes: Vec<JsonChange>,
    pub hunks: Vec<Hunk>,
}

/// A data row's key: (`series`, `entity`, `time`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RowKey {
    pub series: Option<String>,
    pub entity: String,
    pub time: serde_json::Value,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RowChange {
    pub key: RowKey,
    pub old: Option<serde_json::Value>,
    pub new: Option<serde_json::Value>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct DataDiff {
    pub added: Vec<RowChange>,
    pub removed: Vec<RowChange>,
    pub changed: Vec<RowChange>,
    pub unchanged: usize,
}

/// A chart's canonical content, as stored in the version store.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChartVersion {
    pub hash: String,
    pub slug: String,
    pub config: serde_json::Value,
    pub data: serde_json::Value,
    pub metadata: serde_json::Value,
}

/// One item with everything the detail page shows.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DiffDetail {
    #[serde(flatten)]
    pub item: DiffItem,
    pub config_diff: JsonDiff,
    pub data_diff: DataDiff,
    pub metadata_diff: JsonDiff,
    /// The version the branch forked from; shown three-way for conflicts.
    pub baseline: Option<ChartVersion>,
    pub staging: Option<ChartVersion>,
    pub production: Option<ChartVersion>,
    /// Production's changes since the fork (for conflicts).
    pub production_config_diff: Option<JsonDiff>,
    pub staging_preview_url: Option<String>,
    pub production_preview_url: Option<String>,
    /// Every decision on this chart, across branches, newest first.
    #[serde(default)]
    pub history: Vec<AuditEvent>,
    /// The neighbours in the branch's default order (last change first), for `j`/`k`.
    #[serde(default)]
    pub prev_chart_id: Option<String>,
    #[serde(default)]
    pub next_chart_id: Option<String>,
}

/// A decision on one item, bound to the content the reviewer saw.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReviewRequest {
    pub status: ReviewStatus,
    pub staging_hash: Option<String>,
    pub production_hash: Option<String>,
    pub comment: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BulkReviewRequest {
    pub status: ReviewStatus,
    pub chart_ids: Vec<String>,
    pub comment: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BulkDecided {
    pub chart_id: String,
    pub staging_hash: Option<String>,
    pub production_hash: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BulkRefused {
    pub chart_id: String,
    pub reason: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BulkReviewResult {
    pub status: ReviewStatus,
    pub decided: Vec<BulkDecided>,
    pub refused: Vec<BulkRefused>,
}

/// The merge gate: `pass` only when every item is decided and no decision is stale.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Gate {
    pub pass: bool,
    pub total: i64,
    pub pending: i64,
    pub approved: i64,
    pub rejected: i64,
    pub stale: i64,
    pub conflicts: i64,
    /// Items that cannot be decided because a side is unreadable.
    pub errors: i64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AuditEvent {
    pub id: i64,
    pub at: String,
    pub actor: String,
    pub action: String,
    pub branch: Option<String>,
    pub chart_id: Option<String>,
    pub staging_hash: Option<String>,
    pub production_hash: Option<String>,
    pub detail: Option<serde_json::Value>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct AuditQuery {
    pub branch: Option<String>,
    pub actor: Option<String>,
    pub chart_id: Option<String>,
    pub action: Option<String>,
    pub since: Option<String>,
    pub until: Option<String>,
    pub page: Option<u32>,
    pub per_page: Option<u32>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AuditPage {
    pub events: Vec<AuditEvent>,
    pub total: i64,
    pub page: u32,
    pub per_page: u32,
    /// Decisions per day and reviewer over everything the filters match (not just this page).
    #[serde(default)]
    pub per_day: Vec<DayCount>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DayCount {
    /// `YYYY-MM-DD` (UTC).
    pub day: String,
    pub actor: String,
    pub decisions: i64,
}
