//! `chart_states`: what Chartgate knows of each chart on one side — a target's store (side
//! `production`, keyed by the target's name in `branch`, shared by every branch of the target),
//! and per branch `staging` and `baseline` — so a rescan reads only what moved.

use std::collections::HashMap;

use crate::db::{self, placeholders, Backend, Db};
use crate::diff::Side;
use crate::error::Result;

pub const PRODUCTION: &str = "production";
pub const STAGING: &str = "staging";
pub const BASELINE: &str = "baseline";

/// What Chartgate knows of one chart on one side.
#[derive(Clone, Debug, PartialEq, serde::Deserialize, serde::Serialize)]
pub struct ChartState {
    pub chart_id: String,
    pub slug: String,
    pub title: String,
    pub updated_at: String,
    /// Fingerprint of the stored bytes, so a byte-identical row elsewhere is never parsed twice.
    pub raw_fp: String,
    pub hash: Option<String>,
    pub config_fp: Option<String>,
    pub data_fp: Option<String>,
    pub metadata_fp: Option<String>,
    /// Why the row has no version (invalid JSON), naming the store and the chart.
    pub error: Option<String>,
}

impl ChartState {
    /// A row known by its bytes only: read, fingerprinted, not yet parsed. Hashes, part
    /// fingerprints and whether it parses at all come when a scan needs them (`scans::hydrate`).
    /// A row that does not parse is this with its `error`.
    pub fn unhashed(raw: &crate::charts::RawChart, raw_fp: String) -> ChartState {
        ChartState {
            chart_id: raw.id.clone(),
            slug: raw.slug.clone(),
            title: raw.slug.clone(),
            updated_at: raw.updated_at.clone(),
            raw_fp,
            hash: None,
            config_fp: None,
            data_fp: None,
            metadata_fp: None,
            error: None,
        }
    }

    /// Neither hashed nor known unreadable: see [`ChartState::unhashed`].
    pub fn is_unhashed(&self) -> bool {
        self.hash.is_none() && self.error.is_none()
    }

    /// This state with what reading its bytes found (`read`, a state of the same bytes).
    pub fn hydrate_from(&mut self, read: &ChartState) {
        self.slug.clone_from(&read.slug);
        self.title.clone_from(&read.title);
        self.hash.clone_from(&read.hash);
        self.config_fp.clone_from(&read.config_fp);
        self.data_fp.clone_from(&read.data_fp);
        self.metadata_fp.clone_from(&read.metadata_fp);
        self.error.clone_from(&read.error);
    }

    /// The side as the classifier sees it; `None` when the row is unreadable.
    pub fn side(&self) -> Option<Side<'_>> {
        Some(Side {
            hash: self.hash.as_deref()?,
            config_fp: self.config_fp.as_deref()?,
            data_fp: self.data_fp.as_deref()?,
            metadata_fp: self.metadata_fp.as_deref()?,
        })
    }
}

/// A side's states by chart id.
pub type States = HashMap<String, ChartState>;

const COLUMNS: &str = "chart_id, slug, title, updated_at, raw_fp, hash, config_fp, data_fp, metadata_fp, error";

pub async fn load(db: &Db, side: &str, branch: &str) -> Result<States> {
    let columns: Vec<&str> = COLUMNS.split(", ").collect();
    let rows: Vec<ChartState> =
        db::fetch_json_rows(db, &columns, "chart_states where side = $1 and branch = $2", &[side, branch]).await?;
    Ok(rows.into_iter().map(|s| (s.chart_id.clone(), s)).collect())
}

/// What a rescan compares a store's listing with: a chart's `updated_at`, and whether its last
/// read failed (such a row is read again).
#[derive(Clone, Debug, PartialEq, serde::Deserialize)]
pub struct Stamped {
    pub chart_id: String,
    pub updated_at: String,
    /// Why the last read failed, if it did.
    pub error: Option<String>,
}

/// [`load`] of only what a listing is compared with: a rescan after a write that moved nothing
/// loads a tenth of the bytes, and nothing else.
pub async fn stamps(db: &Db, side: &str, branch: &str) -> Result<HashMap<String, Stamped>> {
    let rows: Vec<Stamped> = db::fetch_json_rows(
        db,
        &["chart_id", "updated_at", "error"],
        "chart_states where side = $1 and branch = $2",
        &[side, branch],
    )
    .await?;
    Ok(rows.into_iter().map(|s| (s.chart_id.clone(), s)).collect())
}

/// Writes what a scan learnt of bytes it had only fingerprinted (their hashes, or that they do
/// not parse). The side did not change, so its generation stays: no branch rebuilds its items.
pub async fn write_hydrated(db: &Db, side: &str, branch: &str, hydrated: &[ChartState]) -> Result<()> {
    if hydrated.is_empty() {
        return Ok(());
    }
    let _guard = db.write_guard().await;
    let mut tx = db.pool.begin().await?;
    upsert(&mut tx, db.backend, side, branch, hydrated).await?;
    tx.commit().await?;
    Ok(())
}

/// Writes the states that changed and deletes those of charts the store no longer has.
pub async fn write(db: &Db, side: &str, branch: &str, changed: &[ChartState], removed: &[String]) -> Result<()> {
    let _guard = db.write_guard().await;
    let mut tx = db.pool.begin().await?;
    for chunk in removed.chunks(db::MAX_PARAMS - 2) {
        let sql = format!(
            "delete from chart_states where side = $1 and branch = $2 and chart_id in ({})",
            placeholders(2, chunk.len())
        );
        let mut q = sqlx::query(&sql).bind(side).bind(branch);
        for id in chunk {
            q = q.bind(id);
        }
        q.execute(&mut *tx).await?;
    }
    upsert(&mut tx, db.backend, side, branch, changed).await?;
    if !changed.is_empty() || !removed.is_empty() {
        sqlx::query(
            "insert into side_generations (side, branch, generation) values ($1, $2, 1)
             on conflict (side, branch) do update set generation = side_generations.generation + 1",
        )
        .bind(side)
        .bind(branch)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Sets one chart's state on a side (outside a scan: a sync moving a baseline).
pub async fn put(
    tx: &mut sqlx::AnyConnection,
    backend: Backend,
    side: &str,
    branch: &str,
    state: &ChartState,
) -> Result<()> {
    upsert(tx, backend, side, branch, std::slice::from_ref(state)).await
}

/// Removes one chart's state from a side.
pub async fn remove(tx: &mut sqlx::AnyConnection, side: &str, branch: &str, chart_id: &str) -> Result<()> {
    sqlx::query("delete from chart_states where side = $1 and branch = $2 and chart_id = $3")
        .bind(side)
        .bind(branch)
        .bind(chart_id)
        .execute(tx)
        .await?;
    Ok(())
}

/// Writes states (new or changed) of one side in the caller's transaction.
async fn upsert(
    tx: &mut sqlx::AnyConnection,
    backend: Backend,
    side: &str,
    branch: &str,
    states: &[ChartState],
) -> Result<()> {
    let columns: Vec<&str> = COLUMNS.split(", ").collect();
    db::insert_json_rows(
        tx,
        backend,
        &format!("chart_states (side, branch, {COLUMNS})"),
        &[side, branch],
        &columns,
        states,
        "on conflict (side, branch, chart_id) do update set slug = excluded.slug, title = excluded.title,
         updated_at = excluded.updated_at, raw_fp = excluded.raw_fp, hash = excluded.hash,
         config_fp = excluded.config_fp, data_fp = excluded.data_fp, metadata_fp = excluded.metadata_fp,
         error = excluded.error",
    )
    .await
}

#[derive(sqlx::FromRow)]
struct Generation {
    generation: i64,
}

/// How many times the side's states changed (0: never).
pub async fn generation(db: &Db, side: &str, branch: &str) -> Result<i64> {
    let row: Option<Generation> =
        sqlx::query_as("select generation from side_generations where side = $1 and branch = $2")
            .bind(side)
            .bind(branch)
            .fetch_optional(&db.pool)
            .await?;
    Ok(row.map_or(0, |r| r.generation))
}

/// Makes the branch's baseline a copy of what Chartgate knows of its target's store now.
pub async fn take_baseline(tx: &mut sqlx::AnyConnection, branch: &str, target: &str) -> Result<()> {
    sqlx::query("delete from chart_states where side = 'baseline' and branch = $1")
        .bind(branch)
        .execute(&mut *tx)
        .await?;
    sqlx::query(&format!(
        "insert into chart_states (side, branch, {COLUMNS})
         select 'baseline', $1, {COLUMNS} from chart_states where side = 'production' and branch = $2"
    ))
    .bind(branch)
    .bind(target)
    .execute(tx)
    .await?;
    Ok(())
}

/// Moves the baseline of the given charts to what the target's store holds now (after they were
/// promoted there): a chart the target no longer has leaves the baseline too.
pub async fn move_baseline(
    tx: &mut sqlx::AnyConnection,
    branch: &str,
    target: &str,
    chart_ids: &[String],
) -> Result<()> {
    for chunk in chart_ids.chunks(db::MAX_PARAMS - 2) {
        let delete_sql = format!(
            "delete from chart_states where side = 'baseline' and branch = $1 and chart_id in ({})",
            placeholders(1, chunk.len())
        );
        let copy_sql = format!(
            "insert into chart_states (side, branch, {COLUMNS})
             select 'baseline', $1, {COLUMNS} from chart_states
             where side = 'production' and branch = $2 and chart_id in ({})",
            placeholders(2, chunk.len())
        );
        let mut delete = sqlx::query(&delete_sql).bind(branch);
        let mut copy = sqlx::query(&copy_sql).bind(branch).bind(target);
        for id in chunk {
            delete = delete.bind(id);
            copy = copy.bind(id);
        }
        delete.execute(&mut *tx).await?;
        copy.execute(&mut *tx).await?;
    }
    Ok(())
}
