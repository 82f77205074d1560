//! `sync_jobs`, `sync_items` and `sync_targets`: the queue of sync jobs, their fixed plans and
//! every item's outcome. The worker's protocol (claim, plan, apply, record, finish) is in
//! [`crate::sync`]; this module is its SQL.
//!
//! **Ownership.** A job is held by the worker named in `worker` while its status is `running`;
//! a worker whose process died loses it to [`requeue`]. Every write a worker makes to its job
//! starts with [`hold`] in the same transaction: the one place that asks "does this worker still
//! hold the job?" (and refreshes its heartbeat, which on PostgreSQL also locks the job's row
//! until the transaction ends).

use app::sync::{JobStatus, SyncAction, SyncItem, SyncJob, SyncOutcome, SyncTrigger};

use crate::db::{Backend, Db};
use crate::error::{Error, Result};

fn parse<T: std::str::FromStr>(what: &str, s: &str) -> Result<T> {
    s.parse().map_err(|_| Error::internal(format!("unknown {what} {s:?}")))
}

/// A job to insert.
pub struct NewJobRow<'a> {
    pub branch: &'a str,
    /// The target's store key (one job per store at a time).
    pub target: &'a str,
    /// The target's name.
    pub target_name: &'a str,
    pub dry_run: bool,
    pub trigger: SyncTrigger,
    pub actor: &'a str,
    pub delivery_id: Option<&'a str>,
    pub idempotency_key: Option<&'a str>,
    pub created_at: &'a str,
}

#[derive(sqlx::FromRow)]
struct Id {
    id: i64,
}

/// Makes sure the target has its row (claims lock it).
pub async fn ensure_target(conn: &mut sqlx::AnyConnection, target: &str) -> Result<()> {
    sqlx::query("insert into sync_targets (target) values ($1) on conflict do nothing")
        .bind(target)
        .execute(conn)
        .await?;
    Ok(())
}

/// Inserts a queued job; `None` when its delivery id or idempotency key is taken.
pub async fn insert(conn: &mut sqlx::AnyConnection, job: &NewJobRow<'_>) -> Result<Option<i64>> {
    let row: Option<Id> = sqlx::query_as(
        "insert into sync_jobs (branch, target, target_name, status, dry_run, triggered_by, actor, delivery_id,
         idempotency_key, created_at) values ($1, $2, $3, 'queued', $4, $5, $6, $7, $8, $9)
         on conflict do nothing returning id",
    )
    .bind(job.branch)
    .bind(job.target)
    .bind(job.target_name)
    .bind(job.dry_run as i64)
    .bind(job.trigger.as_str())
    .bind(job.actor)
    .bind(job.delivery_id)
    .bind(job.idempotency_key)
    .bind(job.created_at)
    .fetch_optional(conn)
    .await?;
    Ok(row.map(|r| r.id))
}

/// What a deduplication key already made.
#[derive(Clone, Copy, Debug)]
pub enum Key<'a> {
    /// `X-GitHub-Delivery` of the hook.
    Delivery(&'a str),
    /// `Idempotency-Key` of `POST /sync`.
    Idempotency(&'a str),
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct KeyedJob {
    pub id: i64,
    pub branch: String,
    pub dry_run: i64,
}

pub async fn by_key(db: &Db, key: Key<'_>) -> Result<Option<KeyedJob>> {
    let (sql, value) = match key {
        Key::Delivery(d) => ("select id, branch, dry_run from sync_jobs where delivery_id = $1", d),
        Key::Idempotency(k) => ("select id, branch, dry_run from sync_jobs where idempotency_key = $1", k),
    };
    Ok(sqlx::query_as(sql).bind(value).fetch_optional(&db.pool).await?)
}

const JOB_COLUMNS: &str = "id, branch, target_name, status, dry_run, triggered_by, actor, created_at, started_at, \
                           finished_at, attempts, total, done, error, worker";

#[derive(sqlx::FromRow)]
struct JobRow {
    id: i64,
    branch: String,
    target_name: String,
    status: String,
    dry_run: i64,
    triggered_by: String,
    actor: String,
    created_at: String,
    started_at: Option<String>,
    finished_at: Option<String>,
    attempts: i64,
    total: i64,
    done: i64,
    error: Option<String>,
    worker: Option<String>,
}

impl JobRow {
    fn into_job(self) -> Result<SyncJob> {
        Ok(SyncJob {
            status: parse::<JobStatus>("job status", &self.status)?,
            trigger: parse::<SyncTrigger>("trigger", &self.triggered_by)?,
            dry_run: self.dry_run != 0,
            id: self.id,
            hop: hop(&self.branch, &self.target_name),
            branch: self.branch,
            target: self.target_name,
            actor: self.actor,
            created_at: self.created_at,
            started_at: self.started_at,
            finished_at: self.finished_at,
            attempts: self.attempts,
            total: self.total,
            done: self.done,
            error: self.error,
            worker: self.worker,
            items: Vec::new(),
        })
    }
}

#[derive(sqlx::FromRow)]
struct ItemRow {
    chart_id: String,
    slug: String,
    action: String,
    outcome: Option<String>,
    reason: Option<String>,
    target_hash: Option<String>,
    expected_hash: Option<String>,
    at: Option<String>,
}

/// One job with its items, in the order the job takes them.
pub async fn get(db: &Db, id: i64) -> Result<Option<SyncJob>> {
    let row: Option<JobRow> = sqlx::query_as(&format!("select {JOB_COLUMNS} from sync_jobs where id = $1"))
        .bind(id)
        .fetch_optional(&db.pool)
        .await?;
    let Some(row) = row else { return Ok(None) };
    let mut job = row.into_job()?;
    let items: Vec<ItemRow> = sqlx::query_as(
        "select chart_id, slug, action, outcome, reason, target_hash, expected_hash, at from sync_items
         where job_id = $1 order by seq",
    )
    .bind(id)
    .fetch_all(&db.pool)
    .await?;
    for r in items {
        job.items.push(SyncItem {
            action: parse::<SyncAction>("action", &r.action)?,
            outcome: r.outcome.as_deref().map(|o| parse::<SyncOutcome>("outcome", o)).transpose()?,
            chart_id: r.chart_id,
            slug: r.slug,
            reason: r.reason,
            version: r.target_hash,
            expected_production: r.expected_hash,
            at: r.at,
        });
    }
    Ok(Some(job))
}

/// How many jobs wait in the queue (the `chartgate_sync_queue_depth` gauge).
pub async fn queued_count(db: &Db) -> Result<i64> {
    let n: i64 =
        sqlx::query_scalar("select count(*) from sync_jobs where status = 'queued'").fetch_one(&db.pool).await?;
    Ok(n)
}

/// The latest 100 jobs (of one branch, or all), newest first, without their items.
pub async fn list(db: &Db, branch: Option<&str>) -> Result<Vec<SyncJob>> {
    let rows: Vec<JobRow> = match branch {
        Some(b) => {
            sqlx::query_as(&format!("select {JOB_COLUMNS} from sync_jobs where branch = $1 order by id desc limit 100"))
                .bind(b)
                .fetch_all(&db.pool)
                .await?
        }
        None => {
            sqlx::query_as(&format!("select {JOB_COLUMNS} from sync_jobs order by id desc limit 100"))
                .fetch_all(&db.pool)
                .await?
        }
    };
    rows.into_iter().map(JobRow::into_job).collect()
}

/// A running job as recovery sees it.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct Running {
    pub id: i64,
    pub branch: String,
    pub worker: Option<String>,
    pub heartbeat_at: Option<String>,
}

pub async fn running(db: &Db, target: &str) -> Result<Vec<Running>> {
    Ok(sqlx::query_as(
        "select id, branch, worker, heartbeat_at from sync_jobs where target = $1 and status = 'running'",
    )
    .bind(target)
    .fetch_all(&db.pool)
    .await?)
}

/// Puts a running job back in the queue if its heartbeat is still the one recovery saw dead.
pub async fn requeue(conn: &mut sqlx::AnyConnection, id: i64, heartbeat_at: Option<&str>) -> Result<bool> {
    let changed = sqlx::query(
        "update sync_jobs set status = 'queued', worker = null where id = $1 and status = 'running'
         and coalesce(heartbeat_at, '') = $2",
    )
    .bind(id)
    .bind(heartbeat_at.unwrap_or_default())
    .execute(conn)
    .await?;
    Ok(changed.rows_affected() == 1)
}

/// Locks the target's row for the rest of the transaction (PostgreSQL; SQLite's `begin
/// immediate` already serialises the claim). False when the target has never had a job.
pub async fn lock_target(conn: &mut sqlx::AnyConnection, backend: Backend, target: &str) -> Result<bool> {
    let lock = if backend == Backend::Postgres { " for update" } else { "" };
    let row: Option<Target> = sqlx::query_as(&format!("select target from sync_targets where target = $1{lock}"))
        .bind(target)
        .fetch_optional(conn)
        .await?;
    Ok(row.is_some())
}

#[derive(sqlx::FromRow)]
struct Target {
    #[allow(dead_code)] // read to prove the row exists
    target: String,
}

pub async fn any_running(conn: &mut sqlx::AnyConnection, target: &str) -> Result<bool> {
    let row: Option<Id> = sqlx::query_as("select id from sync_jobs where target = $1 and status = 'running' limit 1")
        .bind(target)
        .fetch_optional(conn)
        .await?;
    Ok(row.is_some())
}

/// The oldest queued job of the target (skipping rows another replica has locked).
pub async fn next_queued(conn: &mut sqlx::AnyConnection, backend: Backend, target: &str) -> Result<Option<i64>> {
    let skip_locked = if backend == Backend::Postgres { " for update skip locked" } else { "" };
    let row: Option<Id> = sqlx::query_as(&format!(
        "select id from sync_jobs where target = $1 and status = 'queued' order by id limit 1{skip_locked}"
    ))
    .bind(target)
    .fetch_optional(conn)
    .await?;
    Ok(row.map(|r| r.id))
}

/// How the pages and the audit trail name a job's move: `feature-1 → production`.
pub fn hop(branch: &str, target: &str) -> String {
    format!("{branch} → {target}")
}

/// A job as its worker holds it.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct Claimed {
    pub id: i64,
    pub branch: String,
    pub target_name: String,
    pub dry_run: i64,
    pub actor: String,
    pub attempts: i64,
    pub planned: i64,
}

/// Marks a queued job running under `worker` and returns it.
pub async fn start(conn: &mut sqlx::AnyConnection, id: i64, worker: &str, now: &str) -> Result<Claimed> {
    sqlx::query(
        "update sync_jobs set status = 'running', worker = $1, attempts = attempts + 1,
         started_at = coalesce(started_at, $2), heartbeat_at = $2 where id = $3",
    )
    .bind(worker)
    .bind(now)
    .bind(id)
    .execute(&mut *conn)
    .await?;
    Ok(sqlx::query_as("select id, branch, target_name, dry_run, actor, attempts, planned from sync_jobs where id = $1")
        .bind(id)
        .fetch_one(conn)
        .await?)
}

/// True while `worker` holds the running job; refreshes its heartbeat. Every write of a worker
/// to its job starts with this, in the same transaction.
pub async fn hold(conn: &mut sqlx::AnyConnection, id: i64, worker: &str, now: &str) -> Result<bool> {
    let held =
        sqlx::query("update sync_jobs set heartbeat_at = $1 where id = $2 and worker = $3 and status = 'running'")
            .bind(now)
            .bind(id)
            .bind(worker)
            .execute(conn)
            .await?;
    Ok(held.rows_affected() == 1)
}

/// An item of a plan, as it is stored.
#[derive(Clone, Debug, PartialEq)]
pub struct PlanItem {
    pub chart_id: String,
    pub slug: String,
    pub action: SyncAction,
    /// The production hash the approval was made on (the compare-and-swap value).
    pub expected_hash: Option<String>,
    /// The approved version.
    pub target_hash: Option<String>,
    /// Decided at planning (skips, and charts production already holds as approved) with its
    /// reason; `None`: to apply.
    pub outcome: Option<(SyncOutcome, Option<String>)>,
}

/// Stores a job's plan: its items (in order) and counts; the job is `planned` from then on.
pub async fn save_plan(conn: &mut sqlx::AnyConnection, id: i64, items: &[PlanItem], now: &str) -> Result<()> {
    let decided = items.iter().filter(|p| p.outcome.is_some()).count();
    sqlx::query("update sync_jobs set planned = 1, total = $1, done = $2 where id = $3")
        .bind(items.len() as i64)
        .bind(decided as i64)
        .bind(id)
        .execute(&mut *conn)
        .await?;
    let numbered: Vec<(i64, &PlanItem)> = items.iter().enumerate().map(|(i, p)| (i as i64, p)).collect();
    crate::db::insert_rows(
        conn,
        "insert into sync_items (job_id, seq, chart_id, slug, action, expected_hash, target_hash, outcome, reason, at)
         values {values}",
        10,
        &numbered,
        |row, (seq, p)| {
            row.push(id)
                .push(*seq)
                .push(&p.chart_id)
                .push(&p.slug)
                .push(p.action.as_str())
                .push(&p.expected_hash)
                .push(&p.target_hash)
                .push(p.outcome.as_ref().map(|(o, _)| o.as_str()))
                .push(p.outcome.as_ref().and_then(|(_, r)| r.clone()))
                .push(p.outcome.as_ref().map(|_| now));
        },
    )
    .await?;
    Ok(())
}

/// An item of a fixed plan that has no outcome yet.
#[derive(Clone, Debug, PartialEq)]
pub struct Unfinished {
    pub chart_id: String,
    pub action: SyncAction,
    pub expected_hash: Option<String>,
    pub target_hash: Option<String>,
}

#[derive(sqlx::FromRow)]
struct UnfinishedRow {
    chart_id: String,
    action: String,
    expected_hash: Option<String>,
    target_hash: Option<String>,
}

/// The items of a job without an outcome, in plan order.
pub async fn unfinished(conn: &mut sqlx::AnyConnection, job_id: i64) -> Result<Vec<Unfinished>> {
    let rows: Vec<UnfinishedRow> = sqlx::query_as(
        "select chart_id, action, expected_hash, target_hash from sync_items
         where job_id = $1 and outcome is null order by seq",
    )
    .bind(job_id)
    .fetch_all(conn)
    .await?;
    rows.into_iter()
        .map(|r| {
            Ok(Unfinished {
                action: parse("action", &r.action)?,
                chart_id: r.chart_id,
                expected_hash: r.expected_hash,
                target_hash: r.target_hash,
            })
        })
        .collect()
}

/// Records one item's outcome (once) and counts it done.
pub async fn record_outcome(
    conn: &mut sqlx::AnyConnection,
    job_id: i64,
    chart_id: &str,
    outcome: SyncOutcome,
    reason: Option<&str>,
    at: &str,
) -> Result<()> {
    sqlx::query("update sync_jobs set done = done + 1 where id = $1").bind(job_id).execute(&mut *conn).await?;
    sqlx::query(
        "update sync_items set outcome = $1, reason = $2, at = $3 where job_id = $4 and chart_id = $5
         and outcome is null",
    )
    .bind(outcome.as_str())
    .bind(reason)
    .bind(at)
    .bind(job_id)
    .bind(chart_id)
    .execute(conn)
    .await?;
    Ok(())
}

/// Fails every item without an outcome with `reason`.
pub async fn fail_unfinished(conn: &mut sqlx::AnyConnection, job_id: i64, reason: &str, at: &str) -> Result<()> {
    sqlx::query("update sync_items set outcome = 'failed', reason = $1, at = $2 where job_id = $3 and outcome is null")
        .bind(reason)
        .bind(at)
        .bind(job_id)
        .execute(conn)
        .await?;
    Ok(())
}

/// Items per outcome (`None`: not reached).
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct OutcomeCount {
    pub outcome: Option<String>,
    pub n: i64,
}

pub async fn outcome_counts(conn: &mut sqlx::AnyConnection, job_id: i64) -> Result<Vec<OutcomeCount>> {
    Ok(sqlx::query_as("select outcome, count(*) as n from sync_items where job_id = $1 group by outcome")
        .bind(job_id)
        .fetch_all(conn)
        .await?)
}

/// Ends a job.
pub async fn finish(
    conn: &mut sqlx::AnyConnection,
    id: i64,
    status: JobStatus,
    at: &str,
    error: Option<&str>,
    done: i64,
) -> Result<()> {
    sqlx::query("update sync_jobs set status = $1, finished_at = $2, error = $3, done = $4 where id = $5")
        .bind(status.as_str())
        .bind(at)
        .bind(error)
        .bind(done)
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

/// An approved decision whose chart is no longer an item of its branch, with what the branch's
/// target holds now (as Chartgate last saw it).
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct ApprovedWithoutItem {
    pub chart_id: String,
    pub slug: String,
    pub decided_staging_hash: Option<String>,
    pub decided_production_hash: Option<String>,
    /// Production's version now; `None` when absent or unreadable.
    pub production_hash: Option<String>,
    pub production_present: i64,
    pub production_error: Option<String>,
}

pub async fn approved_without_item(db: &Db, branch: &str) -> Result<Vec<ApprovedWithoutItem>> {
    Ok(sqlx::query_as(
        "select r.chart_id, coalesce(p.slug, v.slug, r.chart_id) as slug,
                r.staging_hash as decided_staging_hash, r.production_hash as decided_production_hash,
                p.hash as production_hash, case when p.chart_id is null then 0 else 1 end as production_present,
                p.error as production_error
         from reviews r
         join branches b on b.name = r.branch
         left join chart_states p on p.side = 'production' and p.branch = b.target and p.chart_id = r.chart_id
         left join version_texts v on v.hash = r.staging_hash
         where r.branch = $1 and r.status = 'approved'
           and not exists (select 1 from branch_items i where i.branch = r.branch and i.chart_id = r.chart_id)",
    )
    .bind(branch)
    .fetch_all(&db.pool)
    .await?)
}

/// The delivery and event kind a signed hook body first came as.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct FirstDelivery {
    pub delivery_id: String,
    /// `X-GitHub-Event`; `None` only for bodies noted before migration 0016 that have not come
    /// again since.
    pub event: Option<String>,
}

/// Remembers a signed hook body with its delivery and event kind; returns what the body first
/// came as (this delivery and kind, the first time). A body noted before migration 0016 takes
/// the kind it comes as next.
pub async fn note_delivery(db: &Db, body_sha256: &str, delivery_id: &str, event: &str) -> Result<FirstDelivery> {
    let _guard = db.write_guard().await;
    sqlx::query(
        "insert into hook_deliveries (body_sha256, delivery_id, event, received_at) values ($1, $2, $3, $4)
         on conflict (body_sha256) do update set event = excluded.event where hook_deliveries.event is null",
    )
    .bind(body_sha256)
    .bind(delivery_id)
    .bind(event)
    .bind(crate::db::now())
    .execute(&db.pool)
    .await?;
    let first: FirstDelivery = sqlx::query_as("select delivery_id, event from hook_deliveries where body_sha256 = $1")
        .bind(body_sha256)
        .fetch_one(&db.pool)
        .await?;
    Ok(first)
}

/// The jobs a hook delivery started (its own key, and the keys of the promotions it started).
pub async fn by_delivery(db: &Db, delivery_id: &str) -> Result<Vec<i64>> {
    let rows: Vec<Id> = sqlx::query_as(
        "select id from sync_jobs where delivery_id = $1 or substr(delivery_id, 1, length($1) + 1) = $1 || '/'
         order by id",
    )
    .bind(delivery_id)
    .fetch_all(&db.pool)
    .await?;
    Ok(rows.into_iter().map(|r| r.id).collect())
}
