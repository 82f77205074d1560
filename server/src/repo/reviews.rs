//! `verdicts`: every reviewer's current verdict per (branch, chart), and `reviews`: what the
//! review policy makes of them, one row per item (see [`crate::policy`]), rewritten in the same
//! transaction as each verdict. The history of both is the audit trail.
//!
//! A person's decisions go through a [`DecisionQueue`]: on SQLite every write waits for the
//! database's one writer, and fifty reviewers deciding at once used to queue there one
//! transaction each (a decision's p50 was 121 ms under the load benchmark while a read took 33).
//! The queue writes whatever decisions are waiting in one transaction, each still checked against
//! its hashes in its own statement and audited beside it.

use app::types::ReviewStatus;

use serde_json::json;
use tokio::sync::{mpsc, oneshot};

use crate::db::{self, Db};
use crate::error::{Error, Result};
use crate::policy::{Policy, VerdictRow};
use crate::repo::audit::{self, Event};

/// One decision (a reviewer's verdict) as it is written.
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
    /// The comment also goes to the item's thread (a decision made on the item's own page).
    pub to_thread: bool,
}

/// The reviewer of decisions made by the `[[auto_approve]]` rule `name`.
pub fn rule_actor(name: &str) -> String {
    format!("{RULE_PREFIX}{name}")
}

pub use app::types::RULE_PREFIX;

/// Writes the reviewer's verdict if the item still has the hashes the reviewer saw (and is
/// readable); false otherwise. Checked and written in one statement, so a scan landing in
/// between cannot slip other content under the verdict. A new verdict clears a dismissal.
pub async fn write_if_current(conn: &mut sqlx::AnyConnection, d: &Decision<'_>) -> Result<bool> {
    let written = sqlx::query(
        "insert into verdicts (branch, chart_id, reviewer, status, comment, at, staging_hash, production_hash)
         select i.branch, i.chart_id, $4, $3, $5, $6, i.staging_hash, i.production_hash
         from branch_items i
         where i.branch = $1 and i.chart_id = $2 and i.error is null
           and coalesce(i.staging_hash, '') = coalesce($7, '') and coalesce(i.production_hash, '') = coalesce($8, '')
         on conflict (branch, chart_id, reviewer) do update set status = excluded.status,
           comment = excluded.comment, at = excluded.at, staging_hash = excluded.staging_hash,
           production_hash = excluded.production_hash, dismissed_by = null, dismissed_at = null,
           dismiss_reason = null",
    )
    .bind(d.branch)
    .bind(d.chart_id)
    .bind(d.status.as_str())
    .bind(d.reviewer)
    .bind(d.comment)
    .bind(db::now())
    .bind(d.staging_hash)
    .bind(d.production_hash)
    .execute(conn)
    .await?;
    Ok(written.rows_affected() > 0)
}

/// Every verdict on an item.
pub async fn verdicts(conn: &mut sqlx::AnyConnection, branch: &str, chart_id: &str) -> Result<Vec<VerdictRow>> {
    Ok(sqlx::query_as(&format!("select {VERDICT_COLUMNS} from verdicts where branch = $1 and chart_id = $2"))
        .bind(branch)
        .bind(chart_id)
        .fetch_all(conn)
        .await?)
}

pub(crate) const VERDICT_COLUMNS: &str =
    "chart_id, reviewer, status, comment, at, staging_hash, production_hash, dismissed_by, dismissed_at, dismiss_reason";

/// Every verdict on the given items of a branch (all of them when `chart_ids` is `None`), read
/// as one JSON answer ([`db::fetch_json_rows`]): a list page's 150 verdicts as 150 rows cost
/// more than the page itself under 32 readers.
pub async fn verdicts_of(db: &Db, branch: &str, chart_ids: Option<&[String]>) -> Result<Vec<VerdictRow>> {
    let mut rest = "verdicts where branch = $1".to_string();
    let mut binds = vec![branch];
    if let Some(ids) = chart_ids {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let marks: Vec<String> = (0..ids.len()).map(|n| format!("${}", n + 2)).collect();
        rest.push_str(&format!(" and chart_id in ({})", marks.join(", ")));
        binds.extend(ids.iter().map(String::as_str));
    }
    let columns: Vec<&str> = VERDICT_COLUMNS.split(", ").collect();
    db::fetch_json_rows(db, &columns, &rest, &binds).await
}

#[derive(sqlx::FromRow)]
struct ItemNow {
    slug: String,
    staging_hash: Option<String>,
    production_hash: Option<String>,
}

/// Writes what the policy makes of an item's verdicts to its decision row (`reviews`), bound to
/// the item's current hashes, and returns it (`None`: the chart is not an item). `actor` names
/// the row when no verdict counts.
pub async fn resolve(
    conn: &mut sqlx::AnyConnection,
    policy: &Policy,
    branch: &str,
    chart_id: &str,
    actor: &str,
) -> Result<Option<ReviewStatus>> {
    let item: Option<ItemNow> = sqlx::query_as(
        "select slug, staging_hash, production_hash from branch_items where branch = $1 and chart_id = $2",
    )
    .bind(branch)
    .bind(chart_id)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(item) = item else { return Ok(None) };
    let all = verdicts(conn, branch, chart_id).await?;
    let judged = policy.judge(&item.slug, item.staging_hash.as_deref(), item.production_hash.as_deref(), &all);
    let (reviewer, comment, at) = match &judged.deciding {
        Some(v) => (v.reviewer.clone(), v.comment.clone(), v.at.clone()),
        None => (actor.to_string(), None, db::now()),
    };
    sqlx::query(
        "insert into reviews (branch, chart_id, status, reviewer, comment, at, staging_hash, production_hash)
         values ($1, $2, $3, $4, $5, $6, $7, $8)
         on conflict (branch, chart_id) do update set status = excluded.status, reviewer = excluded.reviewer,
           comment = excluded.comment, at = excluded.at, staging_hash = excluded.staging_hash,
           production_hash = excluded.production_hash",
    )
    .bind(branch)
    .bind(chart_id)
    .bind(judged.status.as_str())
    .bind(reviewer)
    .bind(comment)
    .bind(at)
    .bind(item.staging_hash)
    .bind(item.production_hash)
    .execute(conn)
    .await?;
    Ok(Some(judged.status))
}

/// [`write_if_current`], the item's answer under the policy ([`resolve`]), its thread comment
/// when there is one, and the decision appended to the audit trail, all in the caller's
/// transaction: every decision, a person's or a rule's, is written through here.
pub async fn record(tx: &mut sqlx::AnyConnection, policy: &Policy, d: Decision<'_>) -> Result<bool> {
    if !write_if_current(tx, &d).await? {
        return Ok(false);
    }
    resolve(tx, policy, d.branch, d.chart_id, d.reviewer).await?;
    if let (true, Some(body)) = (d.to_thread, d.comment) {
        crate::repo::comments::insert(
            tx,
            crate::repo::comments::NewComment {
                branch: d.branch,
                chart_id: d.chart_id,
                author: d.reviewer,
                body,
                verdict: Some(d.status),
                staging_hash: d.staging_hash,
                production_hash: d.production_hash,
            },
        )
        .await?;
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

/// Marks `reviewer`'s current rejection of an item dismissed by `lead`, and resolves the item
/// again; false when that reviewer has no current rejection of it.
pub async fn dismiss(
    tx: &mut sqlx::AnyConnection,
    policy: &Policy,
    branch: &str,
    chart_id: &str,
    reviewer: &str,
    lead: &str,
    reason: &str,
) -> Result<bool> {
    let done = sqlx::query(
        "update verdicts set dismissed_by = $4, dismissed_at = $5, dismiss_reason = $6
         where branch = $1 and chart_id = $2 and reviewer = $3 and status = 'rejected' and dismissed_by is null
           and exists (select 1 from branch_items i where i.branch = verdicts.branch and i.chart_id = verdicts.chart_id
             and coalesce(i.staging_hash, '') = coalesce(verdicts.staging_hash, '')
             and coalesce(i.production_hash, '') = coalesce(verdicts.production_hash, ''))",
    )
    .bind(branch)
    .bind(chart_id)
    .bind(reviewer)
    .bind(lead)
    .bind(db::now())
    .bind(reason)
    .execute(&mut *tx)
    .await?;
    if done.rows_affected() == 0 {
        return Ok(false);
    }
    resolve(tx, policy, branch, chart_id, lead).await?;
    Ok(true)
}

/// Brings every current decision row of the open branches in line with `policy` (it may have
/// changed since the last start); rows whose content moved stay stale as they are. Returns how
/// many items changed their answer.
pub async fn resolve_open(db: &Db, policy: &Policy) -> Result<usize> {
    #[derive(sqlx::FromRow)]
    struct Current {
        branch: String,
        chart_id: String,
        status: String,
        reviewer: String,
    }
    let rows: Vec<Current> = sqlx::query_as(
        "select r.branch, r.chart_id, r.status, r.reviewer from reviews r
         join branches b on b.name = r.branch and b.state = 'open'
         join branch_items i on i.branch = r.branch and i.chart_id = r.chart_id
         where coalesce(i.staging_hash, '') = coalesce(r.staging_hash, '')
           and coalesce(i.production_hash, '') = coalesce(r.production_hash, '')",
    )
    .fetch_all(&db.pool)
    .await?;
    if rows.is_empty() {
        return Ok(0);
    }
    let _guard = db.write_guard().await;
    let mut tx = db.pool.begin().await?;
    let mut changed = 0;
    for row in rows {
        let after = resolve(&mut tx, policy, &row.branch, &row.chart_id, &row.reviewer).await?;
        changed += usize::from(after.is_some_and(|s| s.as_str() != row.status));
    }
    tx.commit().await?;
    Ok(changed)
}

/// A [`Decision`] that owns its text, as it waits in the [`DecisionQueue`].
#[derive(Clone, Debug)]
pub struct OwnedDecision {
    pub branch: String,
    pub chart_id: String,
    pub status: ReviewStatus,
    pub reviewer: String,
    pub comment: Option<String>,
    pub staging_hash: Option<String>,
    pub production_hash: Option<String>,
}

impl OwnedDecision {
    fn borrowed(&self) -> Decision<'_> {
        Decision {
            branch: &self.branch,
            chart_id: &self.chart_id,
            status: self.status,
            reviewer: &self.reviewer,
            comment: self.comment.as_deref(),
            staging_hash: self.staging_hash.as_deref(),
            production_hash: self.production_hash.as_deref(),
            to_thread: true,
        }
    }
}

/// Decisions waiting to be written, each with whoever waits for the answer.
struct Queued {
    decision: OwnedDecision,
    answer: oneshot::Sender<Result<bool>>,
}

/// Decisions written together: one task takes every decision waiting when the writer is free and
/// writes them in one transaction ([`record`] each, so each is checked against its own hashes and
/// audited). A waiting reviewer waits for at most the batch before theirs, not for every
/// decision queued ahead. A decision whose request is abandoned is still written: it was sent.
#[derive(Clone)]
pub struct DecisionQueue {
    queue: mpsc::Sender<Queued>,
}

/// What the queue's writer needs: the database and the policy decisions are judged by.
struct Writer {
    db: Db,
    policy: std::sync::Arc<Policy>,
}

/// Decisions per transaction at most.
const BATCH: usize = 64;

impl DecisionQueue {
    /// Starts the writing task (it ends when the last queue handle is dropped).
    pub fn start(db: Db, policy: std::sync::Arc<Policy>) -> DecisionQueue {
        let (queue, waiting) = mpsc::channel(4 * BATCH);
        tokio::spawn(write_batches(Writer { db, policy }, waiting));
        DecisionQueue { queue }
    }

    /// Writes the decision if the item still has the hashes it names (see [`write_if_current`]);
    /// false otherwise.
    pub async fn record(&self, decision: OwnedDecision) -> Result<bool> {
        let stopped = || Error::internal("the decision writer stopped");
        let (answer, answered) = oneshot::channel();
        self.queue.send(Queued { decision, answer }).await.map_err(|_| stopped())?;
        answered.await.map_err(|_| stopped())?
    }
}

async fn write_batches(db: Writer, mut waiting: mpsc::Receiver<Queued>) {
    let mut batch = Vec::with_capacity(BATCH);
    while waiting.recv_many(&mut batch, BATCH).await > 0 {
        let answers = match write_together(&db, &batch).await {
            Ok(written) => written.into_iter().map(Ok).collect(),
            // One decision's failure must not fail the others: each alone, with its own answer.
            Err(_) if batch.len() > 1 => {
                let mut answers = Vec::with_capacity(batch.len());
                for one in &batch {
                    answers.push(write_together(&db, std::slice::from_ref(one)).await.map(|w| w[0]));
                }
                answers
            }
            Err(e) => vec![Err(e)],
        };
        for (queued, answer) in batch.drain(..).zip(answers) {
            // A reviewer who stopped waiting needs no answer; the decision stands.
            let _ = queued.answer.send(answer);
        }
    }
}

async fn write_together(writer: &Writer, batch: &[Queued]) -> Result<Vec<bool>> {
    let _guard = writer.db.write_guard().await;
    let mut tx = writer.db.pool.begin().await?;
    let mut written = Vec::with_capacity(batch.len());
    for queued in batch {
        written.push(record(&mut tx, &writer.policy, queued.decision.borrowed()).await?);
    }
    tx.commit().await?;
    Ok(written)
}
