//! `reviews`: the current decision per (branch, chart); its history is the audit trail.

use app::types::ReviewStatus;

use serde_json::json;

use crate::db;
use crate::error::Result;
use crate::repo::audit::{self, Event};

/// One decision as it is written.
#[derive(Clone, Copy, Debug)]
pub struct Decision<'a> {
    pub branch: &'a str,
    pub chart_id: &'a str,
    pub status: ReviewStatus,
    pub reviewer: &'a str,
    pub comment: Option<&'a str>,
    /// The hashes the reviewer saw.
    pub staging_hash: Option<&'a str>,
    pub production_hash: Option<&'a str>,
    /// A rule's decision (its reviewer is `rule:<name>`): written only where no person has
    /// decided, so a person's decision always wins, even one written a moment before.
    pub by_rule: bool,
}

/// The reviewer of decisions made by the `[[auto_approve]]` rule `name`.
pub fn rule_actor(name: &str) -> String {
    format!("{RULE_PREFIX}{name}")
}

/// Reviewers that are rules, not people, start with this.
pub const RULE_PREFIX: &str = "rule:";

/// Writes the decision if the item still has the hashes the reviewer saw (and is readable);
/// false otherwise. Checked and written in one statement, so a scan landing in between cannot
/// slip other content under the decision.
pub async fn write_if_current(conn: &mut sqlx::AnyConnection, d: &Decision<'_>) -> Result<bool> {
    let written = sqlx::query(
        "insert into reviews (branch, chart_id, status, reviewer, comment, at, staging_hash, production_hash)
         select i.branch, i.chart_id, $3, $4, $5, $6, i.staging_hash, i.production_hash
         from branch_items i
         where i.branch = $1 and i.chart_id = $2 and i.error is null
           and coalesce(i.staging_hash, '') = coalesce($7, '') and coalesce(i.production_hash, '') = coalesce($8, '')
         on conflict (branch, chart_id) do update set status = excluded.status, reviewer = excluded.reviewer,
           comment = excluded.comment, at = excluded.at, staging_hash = excluded.staging_hash,
           production_hash = excluded.production_hash
         where $9 = 0 or reviews.reviewer like 'rule:%'",
    )
    .bind(d.branch)
    .bind(d.chart_id)
    .bind(d.status.as_str())
    .bind(d.reviewer)
    .bind(d.comment)
    .bind(db::now())
    .bind(d.staging_hash)
    .bind(d.production_hash)
    .bind(i64::from(d.by_rule))
    .execute(conn)
    .await?;
    Ok(written.rows_affected() > 0)
}

/// [`write_if_current`], and the decision appended to the audit trail in the same transaction
/// (the caller's): every decision, a person's or a rule's, is written through here.
pub async fn record(tx: &mut sqlx::AnyConnection, d: Decision<'_>) -> Result<bool> {
    if !write_if_current(tx, &d).await? {
        return Ok(false);
    }
    audit::append(
        &mut *tx,
        Event {
            actor: d.reviewer,
            action: match d.status {
                ReviewStatus::Approved => "review.approve",
                ReviewStatus::Rejected => "review.reject",
                ReviewStatus::Pending => "review.reset",
            },
            branch: Some(d.branch),
            chart_id: Some(d.chart_id),
            staging_hash: d.staging_hash,
            production_hash: d.production_hash,
            detail: d.comment.map(|c| json!({ "comment": c })),
        },
    )
    .await?;
    Ok(true)
}
