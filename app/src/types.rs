//! The types that cross the wire: the REST API answers with them and the pages receive them from
//! server functions, so the browser and the API can never disagree about a shape.

use serde::{Deserialize, Serialize};

/// The three JSON parts of a chart, in the order the UI shows them.
pub const PARTS: [&str; 3] = ["config", "data", "metadata"];

#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    Hash,
    strum::EnumString,
    strum::IntoStaticStr,
    strum::Display,
)]
#[serde(rename_all = "lowercase")]
#[strum(serialize_all = "lowercase")]
pub enum Role {
    Viewer,
    Reviewer,
    Lead,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// An API token as leads see it: never the secret, only an id to revoke it by.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ApiToken {
    /// The first 12 hex digits of the token's SHA-256 (not of the token).
    pub id: String,
    pub email: String,
    pub role: Role,
    pub created_at: String,
}

/// Who is signed in, as the pages see it.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
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
pub enum ItemKind {
    New,
    Modified,
    Deleted,
}

impl ItemKind {
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

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
pub enum ReviewStatus {
    Pending,
    Approved,
    Rejected,
}

impl ReviewStatus {
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// Counts of a branch's items, as the branches list shows them.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
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

#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BranchSummary {
    /// Environment name (`feature/123` becomes `feature-123`).
    pub name: String,
    pub raw_name: String,
    /// The store's URL without a password: for leads only (it names a host or a server path).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub store_url: Option<String>,
    pub preview_url: Option<String>,
    /// `open`, `merged` or `archived`.
    pub state: String,
    pub created_at: String,
    pub created_by: String,
    pub merged_at: Option<String>,
    pub archived_at: Option<String>,
    pub last_scan_at: Option<String>,
    pub last_scan_ms: Option<i64>,
    /// Why the last scan could not read a store, if it could not, in a viewer's words.
    pub scan_error: Option<String>,
    /// The same for leads: the store's URL (password hidden) and the driver's message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scan_error_detail: Option<String>,
    pub counts: ItemCounts,
    /// The target the branch is checked against and synced to (design §10).
    pub target: String,
    /// `branch`, or `target` for a target that is an environment of the next one.
    pub kind: String,
    /// The GitHub repository (`owner/name`) the branch's pull requests must come from, once
    /// given at registration or bound by the first signed hook event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repository: Option<String>,
}

/// The decision on an item. Whether it still counts is the server's answer (`in_force`, from
/// the one definition in Chartgate's database); the pages only show it.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReviewState {
    /// What was decided.
    pub status: ReviewStatus,
    pub reviewer: Option<String>,
    pub at: Option<String>,
    pub comment: Option<String>,
    /// The decision was made on content that has changed since: it counts as pending.
    pub stale: bool,
    /// The status that counts: `status`, or `pending` when the decision is stale.
    pub in_force: ReviewStatus,
    /// Current approvals (design §14): each person's, and a rule's.
    #[serde(default)]
    pub approvals: Vec<Verdict>,
    /// Current rejections; a dismissed one carries its dismissal and no longer holds the item.
    #[serde(default)]
    pub rejections: Vec<Verdict>,
    /// Verdicts made on older content: shown, never counted.
    #[serde(default)]
    pub stale_verdicts: Vec<Verdict>,
    /// Distinct approvals the policy needs.
    #[serde(default = "one")]
    pub required: u32,
    /// The owners the policy names for this chart (one of them must approve).
    #[serde(default)]
    pub owners: Vec<String>,
    /// What the policy still needs, in words ("needs 1 more approval, from an owner: …").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub missing: Option<String>,
}

fn one() -> u32 {
    1
}

/// Reviewers that are `[[auto_approve]]` rules, not people, start with this (`rule:<name>`).
pub const RULE_PREFIX: &str = "rule:";

/// One reviewer's verdict on an item (design §14).
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    pub reviewer: String,
    pub status: ReviewStatus,
    pub at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// A lead dismissed this rejection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dismissed: Option<Dismissal>,
}

impl Verdict {
    /// A rule's approval (`rule:<name>`), not a person's.
    pub fn by_rule(&self) -> bool {
        self.reviewer.starts_with(RULE_PREFIX)
    }
}

/// A lead's dismissal of a rejection.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Dismissal {
    pub by: String,
    pub at: String,
    pub reason: String,
}

/// `POST …/diffs/{chart_id}/review/dismiss`: a lead dismisses `reviewer`'s current rejection.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DismissRequest {
    #[cfg_attr(feature = "ssr", schema(min_length = 1, pattern = r"\S"))]
    pub reviewer: String,
    /// Why (audited): 1 to 4,000 characters, not only spaces.
    #[cfg_attr(feature = "ssr", schema(min_length = 1, max_length = 4000, pattern = r"\S"))]
    pub reason: String,
}

/// One comment of an item's thread.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Comment {
    pub id: i64,
    pub author: String,
    /// As written: Markdown is shown as text, never as HTML.
    pub body: String,
    pub at: String,
    /// The verdict the comment came with, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verdict: Option<ReviewStatus>,
    /// The content the comment was written on.
    pub staging_hash: Option<String>,
    pub production_hash: Option<String>,
    /// Written on other content than the item holds now.
    pub on_older_content: bool,
}

/// `POST …/diffs/{chart_id}/comments`.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommentRequest {
    /// 1 to 4,000 characters, not only spaces; kept as typed.
    #[cfg_attr(feature = "ssr", schema(min_length = 1, max_length = 4000, pattern = r"\S"))]
    pub body: String,
}

/// `POST /branches/{b}/requests`: asks people to review a branch, or some of its charts.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AskForReview {
    /// Users who can review, by email (1 to 50).
    #[cfg_attr(feature = "ssr", schema(min_items = 1, max_items = 50))]
    pub reviewers: Vec<String>,
    /// The charts (1 to 1,000 ids of items of the branch); absent: the whole branch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ssr", schema(min_items = 1, max_items = 1000))]
    pub chart_ids: Option<Vec<String>>,
}

/// What a review request recorded.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AskedForReview {
    pub branch: String,
    pub reviewers: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chart_ids: Option<Vec<String>>,
}

/// An item waiting on the signed-in person, and why.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WaitingItem {
    pub branch: String,
    pub item: DiffItem,
    /// `requested by …`, `you own it`, `your approval is stale`.
    pub reasons: Vec<String>,
}

/// `GET /api/v1/me/reviews`: across open branches, the items waiting on me.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MyReviews {
    pub items: Vec<WaitingItem>,
    pub total: i64,
    pub page: u32,
    pub per_page: u32,
}

impl ReviewState {
    pub fn pending() -> Self {
        ReviewState {
            status: ReviewStatus::Pending,
            reviewer: None,
            at: None,
            comment: None,
            stale: false,
            in_force: ReviewStatus::Pending,
            approvals: Vec::new(),
            rejections: Vec::new(),
            stale_verdicts: Vec::new(),
            required: 1,
            owners: Vec::new(),
            missing: None,
        }
    }

    /// "1 of 2": the current approvals that count towards what the policy requires, and
    /// "+ owner" while the owners the policy names for the chart have not approved.
    pub fn progress(&self) -> String {
        let owner_missing = !self.owners.is_empty()
            && !self.approvals.iter().any(|a| self.owners.iter().any(|o| o.eq_ignore_ascii_case(&a.reviewer)));
        let owner = if owner_missing { " + owner" } else { "" };
        format!("{} of {}{owner}", self.approvals.len(), self.required)
    }

    /// The status that counts, as the server decided it.
    pub fn effective(&self) -> ReviewStatus {
        self.in_force
    }

    /// What a fresh decision looks like before the server confirms it (optimistic updates).
    pub fn decided(&mut self, status: ReviewStatus) {
        self.status = status;
        self.stale = false;
        self.in_force = status;
    }
}

/// One chart a branch changed.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
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
    /// The dataset upgrade whose content staging holds for this chart (design §9), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upgrade: Option<i64>,
    /// Production's page views over 30 days, where its store has a `chart_views` table (§11).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub views_30d: Option<i64>,
}

#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema, utoipa::IntoParams))]
#[cfg_attr(feature = "ssr", into_params(parameter_in = Query))]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct DiffQuery {
    /// `pending` (stale included), `approved`, `rejected`, `stale`, or `rule` (approved by an
    /// `[[auto_approve]]` rule).
    #[cfg_attr(feature = "ssr", param(pattern = "^(pending|approved|rejected|stale|rule)?$"))]
    pub status: Option<String>,
    /// `new`, `modified` or `deleted`.
    #[cfg_attr(feature = "ssr", param(pattern = "^(new|modified|deleted)?$"))]
    pub kind: Option<String>,
    /// `config`, `data` or `metadata`: items whose change touches it.
    #[cfg_attr(feature = "ssr", param(pattern = "^(config|data|metadata)?$"))]
    pub part: Option<String>,
    pub conflict: Option<bool>,
    /// Words in the chart's id, slug or title.
    pub q: Option<String>,
    /// `changed` (the default), `slug`, or `views` (most-read first; needs a `chart_views` table in
    /// the target's store, else 400).
    #[cfg_attr(feature = "ssr", param(pattern = "^(changed|slug|views)?$"))]
    pub sort: Option<String>,
    /// The page, from 1 (0 reads as 1).
    #[cfg_attr(feature = "ssr", param(value_type = Option<u64>, minimum = 0, maximum = 4294967295u64))]
    pub page: Option<u32>,
    /// Items per page (default 50).
    #[cfg_attr(feature = "ssr", param(minimum = 1, maximum = 500))]
    pub per_page: Option<u32>,
    /// Only the items a dataset upgrade made (design §9).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upgrade: Option<i64>,
    /// `me`: only the items waiting on the signed-in person (requested of them, owned by them
    /// and still needing an owner, or with their verdict gone stale).
    #[cfg_attr(feature = "ssr", param(pattern = "^(me)?$"))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waiting_on: Option<String>,
}

#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
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
    /// Leads only: see [`BranchSummary::scan_error_detail`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scan_error_detail: Option<String>,
    /// The target the branch is checked against (design §10).
    pub target: String,
    /// The target's store has `chart_views`: the list can sort by `views` (design §11).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub views_available: bool,
}

/// A target of the configuration (design §10), as `GET /targets` and the branches page show it.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TargetSummary {
    pub name: String,
    /// The store's URL without a password: for leads only (it names a host or a server path).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub store_url: Option<String>,
    /// The next target in the chain; this target is then an environment of that one.
    pub promotes_to: Option<String>,
    /// `release`, `merge` or `manual`.
    pub promote_on: String,
    /// With `promote_on = "merge"`: the git branch whose merges promote.
    pub promote_branch: Option<String>,
    /// Whether merged branches of this target are synced at once.
    pub sync_on_merge: bool,
    /// The target of branches registered without one.
    pub default: bool,
}

/// One changed value in a JSON document, addressed by a JSON pointer-like path.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct JsonChange {
    pub path: String,
    /// `added`, `removed` or `changed`.
    pub op: String,
    pub old: Option<serde_json::Value>,
    pub new: Option<serde_json::Value>,
}

/// A text hunk of the pretty-printed documents (unified-diff style).
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Hunk {
    pub old_start: usize,
    pub old_len: usize,
    pub new_start: usize,
    pub new_len: usize,
    pub lines: Vec<HunkLine>,
}

#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HunkLine {
    /// `equal`, `delete` or `insert`.
    pub tag: String,
    pub text: String,
    /// The line cut into runs, `true` where the words changed (inserted or deleted lines only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub words: Vec<(bool, String)>,
}

#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct JsonDiff {
    pub changes: Vec<JsonChange>,
    pub hunks: Vec<Hunk>,
}

/// A data row's key: (`series`, `entity`, `time`).
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RowKey {
    pub series: Option<String>,
    pub entity: String,
    pub time: serde_json::Value,
}

#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RowChange {
    pub key: RowKey,
    pub old: Option<serde_json::Value>,
    pub new: Option<serde_json::Value>,
}

#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct DataDiff {
    pub added: Vec<RowChange>,
    pub removed: Vec<RowChange>,
    pub changed: Vec<RowChange>,
    pub unchanged: usize,
}

/// A chart's canonical content, as stored in the version store.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ChartVersion {
    pub hash: String,
    pub slug: String,
    pub config: serde_json::Value,
    pub data: serde_json::Value,
    pub metadata: serde_json::Value,
    /// How the drawing reads this config when its store names render keys (design §13: a
    /// mapping's or `[files]`' `chart_type`, `chart_types`, `default_type`, `title`): the
    /// renderer's chart type (`line`, `bar`, `scatter`, `table`) and the title. Absent otherwise;
    /// the config's own `type` and `title` are read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub draw_as: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub draw_title: Option<String>,
}

/// One item with everything the detail page shows.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DiffDetail {
    #[serde(flatten)]
    pub item: DiffItem,
    /// The target the branch is checked against: what the "production" side shows.
    pub target: String,
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
    /// The origins of the two preview links (`https://host[:port]`): the only frame sources the
    /// page allows when it shows the live renderings (design §13).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub preview_origins: Vec<String>,
    /// Every decision on this chart, across branches, newest first.
    #[serde(default)]
    pub history: Vec<AuditEvent>,
    /// The item's conversation, oldest first (design §14).
    #[serde(default)]
    pub comments: Vec<Comment>,
    /// Who was asked to review this chart (or the whole branch), and not yet answered.
    #[serde(default)]
    pub requested: Vec<String>,
    /// The neighbours in the branch's default order (last change first), for `j`/`k`.
    #[serde(default)]
    pub prev_chart_id: Option<String>,
    #[serde(default)]
    pub next_chart_id: Option<String>,
    /// What changed since the last approval of this chart on this branch, when the content is no
    /// longer what was approved (design §11).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since_approval: Option<SinceApproval>,
    /// `approved` when the diffs above run from the approved content to staging
    /// (`?against=approved`); empty for the usual production → staging.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub against: String,
    /// For a conflict whose three sides are readable: the three-way merge of its changes
    /// (design §11), what `GET …/merge` answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merge: Option<MergePlan>,
}

/// Which side a merged path takes its value from.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MergeSide {
    Staging,
    Production,
}

impl MergeSide {
    pub fn as_str(self) -> &'static str {
        match self {
            MergeSide::Staging => "staging",
            MergeSide::Production => "production",
        }
    }
}

/// One path that changed since the fork, on one side or both. JSON pointers into config and
/// metadata (arrays are one value); a data row is `/data/rows/[series, entity, time]`.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MergeEntry {
    pub path: String,
    /// `config`, `data` or `metadata`.
    pub part: String,
    /// Changed on both sides, differently: a reviewer chooses.
    pub conflicting: bool,
    /// For a path changed on one side only: that side, whose value the merge keeps.
    pub from: Option<MergeSide>,
    /// The values (absent: the path does not exist on that side).
    pub baseline: Option<serde_json::Value>,
    pub staging: Option<serde_json::Value>,
    pub production: Option<serde_json::Value>,
}

/// `GET /branches/{b}/diffs/{chart_id}/merge`: the changes of a conflict, path by path, bound to
/// the hashes they were computed on.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MergePlan {
    pub chart_id: String,
    pub staging_hash: Option<String>,
    pub production_hash: Option<String>,
    pub entries: Vec<MergeEntry>,
    /// The common base's text was not kept (both stores changed the chart between two scans):
    /// no change can be told one-sided, so every difference is a choice.
    #[serde(default)]
    pub without_base: bool,
}

/// What a merge did: the merged content's hash, and the item as it now is — none when the merge
/// made staging equal production, so nothing is left to review or sync.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MergeResult {
    pub staging_hash: String,
    pub item: Option<DiffItem>,
}

/// `POST /branches/{b}/diffs/{chart_id}/merge`: a side for every conflicting path, and the
/// hashes the plan was read on (the merge is refused when either moved).
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct MergeRequest {
    /// The plan's `staging_hash`: required (null only if the plan's was), so a merge is always
    /// bound to the content it was chosen on.
    #[serde(deserialize_with = "Option::deserialize")]
    #[cfg_attr(feature = "ssr", schema(required = true))]
    pub staging_hash: Option<String>,
    /// The plan's `production_hash`: required, like `staging_hash`.
    #[serde(deserialize_with = "Option::deserialize")]
    #[cfg_attr(feature = "ssr", schema(required = true))]
    pub production_hash: Option<String>,
    /// A side for each conflicting path of the plan (and for no other path).
    #[serde(default)]
    pub choices: std::collections::BTreeMap<String, MergeSide>,
}

/// The last approval of an item and what changed since: from the staging content it approved to
/// staging now.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SinceApproval {
    pub reviewer: String,
    pub at: String,
    pub approved_staging_hash: Option<String>,
    pub approved_production_hash: Option<String>,
    /// Staging holds other content than what was approved.
    pub staging_moved: bool,
    /// Production holds other content than when it was approved.
    pub production_moved: bool,
    pub config_diff: JsonDiff,
    pub data_diff: DataDiff,
    pub metadata_diff: JsonDiff,
}

/// A decision on one item, bound to the content the reviewer saw.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReviewRequest {
    pub status: ReviewStatus,
    /// The staging hash the reviewer saw (null: the chart is not on staging).
    pub staging_hash: Option<String>,
    /// The production hash the reviewer saw (null: the chart is not in production).
    pub production_hash: Option<String>,
    #[cfg_attr(feature = "ssr", schema(max_length = 4000))]
    pub comment: Option<String>,
}

#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BulkReviewRequest {
    pub status: ReviewStatus,
    #[cfg_attr(feature = "ssr", schema(min_items = 1, max_items = 1000))]
    pub chart_ids: Vec<String>,
    #[cfg_attr(feature = "ssr", schema(max_length = 4000))]
    pub comment: Option<String>,
}

#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BulkDecided {
    pub chart_id: String,
    pub staging_hash: Option<String>,
    pub production_hash: Option<String>,
}

#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BulkRefused {
    pub chart_id: String,
    pub reason: String,
}

#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BulkReviewResult {
    pub status: ReviewStatus,
    pub decided: Vec<BulkDecided>,
    pub refused: Vec<BulkRefused>,
}

/// The merge gate: `pass` only when every item is decided and no decision is stale.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
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
    /// What the gate still waits for, in words, most common first ("2 items need 1 more
    /// approval, from an owner: ana@example.org").
    #[serde(default)]
    pub waiting_for: Vec<String>,
}

#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
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

#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema, utoipa::IntoParams))]
#[cfg_attr(feature = "ssr", into_params(parameter_in = Query))]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct AuditQuery {
    pub branch: Option<String>,
    /// The actor's email (or `rule:NAME`, `github:LOGIN`, `system`).
    pub actor: Option<String>,
    pub chart_id: Option<String>,
    /// Actions, comma-separated: exact names (`review.dismiss`) and/or prefixes (`review.*`,
    /// every action that begins `review.`); a bare name (`review`) reads as `review.*`.
    /// Anything else is a 400.
    #[cfg_attr(
        feature = "ssr",
        param(
            pattern = r"^ *([a-z0-9][a-z0-9_]*(\.[a-z0-9][a-z0-9_]*)*(\.\*)?( *, *[a-z0-9][a-z0-9_]*(\.[a-z0-9][a-z0-9_]*)*(\.\*)?){0,31})? *$"
        )
    )]
    pub action: Option<String>,
    /// Events at or after this time: RFC 3339 (`2025-01-31T12:00:00Z`) or a date (`2025-01-31`).
    #[cfg_attr(feature = "ssr", param(schema_with = crate::types::time_or_date))]
    pub since: Option<String>,
    /// Events at or before this time, like `since`.
    #[cfg_attr(feature = "ssr", param(schema_with = crate::types::time_or_date))]
    pub until: Option<String>,
    /// The page, from 1 (0 reads as 1).
    #[cfg_attr(feature = "ssr", param(value_type = Option<u64>, minimum = 0, maximum = 4294967295u64))]
    pub page: Option<u32>,
    /// Events per page (default 100).
    #[cfg_attr(feature = "ssr", param(minimum = 1, maximum = 1000))]
    pub per_page: Option<u32>,
}

/// `since` and `until` of the audit query: an RFC 3339 time, a date, or empty (no bound, as a
/// form sends it).
#[cfg(feature = "ssr")]
pub fn time_or_date() -> utoipa::openapi::schema::Schema {
    use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, OneOfBuilder, SchemaFormat, Type};
    let format = |f| ObjectBuilder::new().schema_type(Type::String).format(Some(SchemaFormat::KnownFormat(f)));
    let empty = ObjectBuilder::new().schema_type(Type::String).max_length(Some(0));
    OneOfBuilder::new().item(format(KnownFormat::DateTime)).item(format(KnownFormat::Date)).item(empty).into()
}

#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
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

#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DayCount {
    /// `YYYY-MM-DD` (UTC).
    pub day: String,
    pub actor: String,
    pub decisions: i64,
}

/// Items of a branch whose change is the same (design §11): `GET /branches/{b}/groups`.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChangeGroup {
    /// Stable while the change stays the same: a digest of the change itself.
    pub id: String,
    /// What the change does, readably: `subtitle → 'Revised'`.
    pub summary: String,
    pub parts: Vec<String>,
    pub chart_ids: Vec<String>,
    pub kind: ItemKind,
    pub conflict: bool,
    /// The group's items as the list shows them, with their current hashes and decisions.
    #[serde(default)]
    pub items: Vec<DiffItem>,
    /// Items whose decision in force is pending (stale included).
    #[serde(default)]
    pub pending: usize,
}

/// A small preview of one more item of a group: its staging content beside production's.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GroupPreview {
    pub chart_id: String,
    pub staging: Option<ChartVersion>,
    pub production: Option<ChartVersion>,
}

/// One group with its representative item in full and previews of the others.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GroupDetail {
    pub group: ChangeGroup,
    pub representative: DiffDetail,
    /// Previews of the next items (at most a page of them); the rest are listed by name.
    pub previews: Vec<GroupPreview>,
}

/// What the reviewer saw of one item when deciding a group.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SeenItem {
    pub chart_id: String,
    pub staging_hash: Option<String>,
    pub production_hash: Option<String>,
}

/// `POST /branches/{b}/groups/{id}/review`. With `items` (what the page showed), an item whose
/// hashes moved since is refused, not decided; without, the group's items are decided bound to
/// their current hashes.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GroupReviewRequest {
    pub status: ReviewStatus,
    #[serde(default)]
    #[cfg_attr(feature = "ssr", schema(max_length = 4000))]
    pub comment: Option<String>,
    /// What the page showed (null or absent: the group's items as they are now).
    #[serde(default)]
    #[cfg_attr(feature = "ssr", schema(min_items = 1, max_items = 1000))]
    pub items: Option<Vec<SeenItem>>,
}
