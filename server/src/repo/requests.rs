//! `review_requests`: who was asked to review a branch (`chart_id` '') or one of its charts.

use crate::db;
use crate::error::Result;

/// The chart id a request for the whole branch is stored under.
pub const WHOLE_BRANCH: &str = "";

/// Records that `requested_by` asked `reviewer` to review `chart_id` of `branch` (again: the
/// latest asker and time are kept).
pub async fn upsert(
    conn: &mut sqlx::AnyConnection,
    branch: &str,
    chart_id: &str,
    reviewer: &str,
    requested_by: &str,
) -> Result<()> {
    sqlx::query(
        "insert into review_requests (branch, chart_id, reviewer, requested_by, at) values ($1, $2, $3, $4, $5)
         on conflict (branch, chart_id, reviewer) do update set requested_by = excluded.requested_by, at = excluded.at",
    )
    .bind(branch)
    .bind(chart_id)
    .bind(reviewer)
    .bind(requested_by)
    .bind(db::now())
    .execute(conn)
    .await?;
    Ok(())
}
