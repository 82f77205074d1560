//! `reviews`: the current decision per (branch, chart); its history is the audit trail.
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
            by_rule: false,
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

/// Decisions per transaction at most.
const BATCH: usize = 64;

impl DecisionQueue {
    /// Starts the writing task (it ends when the last queue handle is dropped).
    pub fn start(db: Db) -> DecisionQueue {
        let (queue, waiting) = mpsc::channel(4 * BATCH);
        tokio::spawn(write_batches(db, waiting));
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

async fn write_batches(db: Db, mut waiting: mpsc::Receiver<Queued>) {
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

async fn write_together(db: &Db, batch: &[Queued]) -> Result<Vec<bool>> {
    let _guard = db.write_guard().await;
    let mut tx = db.pool.begin().await?;
    let mut written = Vec::with_capacity(batch.len());
    for queued in batch {
        written.push(record(&mut tx, queued.decision.borrowed()).await?);
    }
    tx.commit().await?;
    Ok(written)
}
