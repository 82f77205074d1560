//! `item_comments`: the conversation on each item (design §14), kept across rescans. Each
//! comment notes the hashes of the content it was written on, so the thread can say which
//! comments saw older content.

use app::types::{Comment, ReviewStatus};

use crate::db::{self, Db};
use crate::error::Result;

/// A comment as it is written.
pub struct NewComment<'a> {
    pub branch: &'a str,
    pub chart_id: &'a str,
    pub author: &'a str,
    pub body: &'a str,
    /// The verdict the comment came with.
    pub verdict: Option<ReviewStatus>,
    pub staging_hash: Option<&'a str>,
    pub production_hash: Option<&'a str>,
}

/// Writes the comment; returns it as the thread shows it (on the content it was written on).
pub async fn insert(conn: &mut sqlx::AnyConnection, c: NewComment<'_>) -> Result<Comment> {
    let at = db::now();
    let id: i64 = sqlx::query_scalar(
        "insert into item_comments (branch, chart_id, author, body, verdict, at, staging_hash, production_hash)
         values ($1, $2, $3, $4, $5, $6, $7, $8) returning id",
    )
    .bind(c.branch)
    .bind(c.chart_id)
    .bind(c.author)
    .bind(c.body)
    .bind(c.verdict.map(ReviewStatus::as_str))
    .bind(&at)
    .bind(c.staging_hash)
    .bind(c.production_hash)
    .fetch_one(conn)
    .await?;
    Ok(Comment {
        id,
        author: c.author.to_string(),
        body: c.body.to_string(),
        at,
        verdict: c.verdict,
        staging_hash: c.staging_hash.map(str::to_string),
        production_hash: c.production_hash.map(str::to_string),
        on_older_content: false,
    })
}

#[derive(sqlx::FromRow)]
struct Row {
    id: i64,
    author: String,
    body: String,
    verdict: Option<String>,
    at: String,
    staging_hash: Option<String>,
    production_hash: Option<String>,
}

/// The thread of an item, oldest first, each comment marked when it was written on other content
/// than (`staging`, `production`), the item's now.
pub async fn thread(
    db: &Db,
    branch: &str,
    chart_id: &str,
    staging: Option<&str>,
    production: Option<&str>,
) -> Result<Vec<Comment>> {
    let rows: Vec<Row> = sqlx::query_as(
        "select id, author, body, verdict, at, staging_hash, production_hash from item_comments
         where branch = $1 and chart_id = $2 order by id",
    )
    .bind(branch)
    .bind(chart_id)
    .fetch_all(&db.pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| Comment {
            on_older_content: r.staging_hash.as_deref() != staging || r.production_hash.as_deref() != production,
            id: r.id,
            author: r.author,
            body: r.body,
            verdict: r.verdict.and_then(|v| v.parse().ok()),
            at: r.at,
            staging_hash: r.staging_hash,
            production_hash: r.production_hash,
        })
        .collect())
}
