//! The conversation on each item (design §14): a thread of comments with author, time and the
//! content each was written on, kept across rescans. A comment is text: the pages show Markdown
//! as typed, never as HTML. Comments are audited (`comment.add`).

use app::types::{Comment, CommentRequest, Role};
use serde_json::json;

use crate::access::User;
use crate::diffs;
use crate::error::Result;
use crate::repo::audit::{self, Event};
use crate::repo::comments::{self, NewComment};
use crate::reviews::{open_branch, required_text};
use crate::state::AppState;

/// The item's thread, oldest first; 404 when the chart is not an item of the branch.
pub async fn thread(state: &AppState, branch: &str, chart_id: &str) -> Result<Vec<Comment>> {
    let item = diffs::item(state, branch, chart_id).await?;
    let name = state.env_name(branch);
    comments::thread(&state.db, &name, chart_id, item.staging_hash.as_deref(), item.production_hash.as_deref()).await
}

/// Adds a comment (reviewers and leads) on the item's current content.
pub async fn post(
    state: &AppState,
    branch: &str,
    chart_id: &str,
    user: &User,
    req: &CommentRequest,
) -> Result<Comment> {
    user.require(Role::Reviewer)?;
    let body = required_text("a comment", &req.body)?;
    let name = open_branch(state, branch).await?;
    let item = diffs::item(state, &name, chart_id).await?;
    let _guard = state.db.write_guard().await;
    let mut tx = state.db.pool.begin().await?;
    let comment = comments::insert(
        &mut tx,
        NewComment {
            branch: &name,
            chart_id,
            author: &user.email,
            body,
            verdict: None,
            staging_hash: item.staging_hash.as_deref(),
            production_hash: item.production_hash.as_deref(),
        },
    )
    .await?;
    audit::append(
        &mut *tx,
        Event {
            actor: &user.email,
            action: "comment.add",
            branch: Some(&name),
            chart_id: Some(chart_id),
            staging_hash: item.staging_hash.as_deref(),
            production_hash: item.production_hash.as_deref(),
            detail: Some(json!({"comment_id": comment.id, "body": body})),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(comment)
}
