//! `pull_requests`: the pull request of a branch, for commit statuses and comments (see
//! [`crate::notify`]).

use crate::db::{self, Db};
use crate::error::Result;

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct PullRequestRow {
    pub branch: String,
    pub repository: String,
    pub number: i64,
    pub head_sha: String,
    pub last_status: Option<String>,
}

/// Records (or moves to a new head) the pull request of `branch`. A new head has no status yet.
pub async fn upsert(db: &Db, branch: &str, repository: &str, number: i64, head_sha: &str) -> Result<()> {
    let _guard = db.write_guard().await;
    sqlx::query(
        "insert into pull_requests (branch, repository, number, head_sha, last_status, updated_at)
         values ($1, $2, $3, $4, null, $5)
         on conflict (branch) do update set repository = excluded.repository, number = excluded.number,
             head_sha = excluded.head_sha,
             last_status = case when pull_requests.head_sha = excluded.head_sha
                                then pull_requests.last_status else null end,
             updated_at = excluded.updated_at",
    )
    .bind(branch)
    .bind(repository)
    .bind(number)
    .bind(head_sha)
    .bind(db::now())
    .execute(&db.pool)
    .await?;
    Ok(())
}

pub async fn get(db: &Db, branch: &str) -> Result<Option<PullRequestRow>> {
    Ok(sqlx::query_as("select branch, repository, number, head_sha, last_status from pull_requests where branch = $1")
        .bind(branch)
        .fetch_optional(&db.pool)
        .await?)
}

/// Notes the status sent for `head_sha`; false when the head moved on meanwhile or the same
/// status was already noted (then nothing needs sending).
pub async fn note_status(db: &Db, branch: &str, head_sha: &str, status: &str) -> Result<bool> {
    let _guard = db.write_guard().await;
    let done = sqlx::query(
        "update pull_requests set last_status = $1, updated_at = $2
         where branch = $3 and head_sha = $4 and (last_status is null or last_status <> $1)",
    )
    .bind(status)
    .bind(db::now())
    .bind(branch)
    .bind(head_sha)
    .execute(&db.pool)
    .await?;
    Ok(done.rows_affected() > 0)
}
