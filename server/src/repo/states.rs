//! `chart_states`: what Chartgate knows of each chart on one side — a target's store (side
//! `production`, keyed by the target's name in `branch`, shared by every branch of the target),
//! and per branch `staging` and `baseline` — so a rescan reads only what moved.

use std::collections::hash_map::Entry;
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

/// What a rescan compares a store's row with: the chart's `updated_at`, its bytes' fingerprint,
/// whether its version is hashed, and whether its last read failed (such a row is read again).
///
/// A side is held as these, never as whole states: at 100,000 charts a side's states are ~100 MB
/// in memory, its stamps a tenth of that.
#[derive(Clone, Debug, PartialEq)]
pub struct Stamped {
    pub updated_at: String,
    pub raw_fp: String,
    pub hashed: bool,
    /// Why the last read failed, if it did.
    pub error: Option<String>,
}

impl Stamped {
    /// Whether `state` says nothing this stamp does not (the same bytes, stamp and outcome).
    pub fn describes(&self, state: &ChartState) -> bool {
        self.updated_at == state.updated_at
            && self.raw_fp == state.raw_fp
            && self.hashed == state.hash.is_some()
            && self.error == state.error
    }
}

#[derive(serde::Deserialize)]
struct StampRow {
    chart_id: String,
    updated_at: String,
    raw_fp: String,
    hashed: i64,
    error: Option<String>,
}

/// Whether a state is hashed (1 or 0), in place of its hash: a full scan of 100,000 charts
/// loads a side's stamps, and the hashes were a third of them.
const HASHED: &str = "case when hash is null then 0 else 1 end as hashed";

/// A side's rows, in pages ([`db::each_json_page`]).
const SIDE_ROWS: &str = "chart_states where side = $1 and branch = $2";

/// What a rescan compares a store's listing and rows with, by chart id (see [`Stamped`]).
pub async fn stamps(db: &Db, side: &str, branch: &str) -> Result<HashMap<String, Stamped>> {
    let mut stamps = HashMap::new();
    let columns = ["chart_id", "updated_at", "raw_fp", HASHED, "error"];
    db::each_json_page(
        db,
        &columns,
        SIDE_ROWS,
        "chart_id",
        &[side, branch],
        |r: &StampRow| &r.chart_id,
        |rows| {
            stamps.extend(rows.into_iter().map(|r| {
                let stamped =
                    Stamped { updated_at: r.updated_at, raw_fp: r.raw_fp, hashed: r.hashed != 0, error: r.error };
                (r.chart_id, stamped)
            }))
        },
    )
    .await?;
    Ok(stamps)
}

/// A side's readable rows by their bytes' fingerprint: which chart's state a byte-identical row
/// elsewhere can copy ([`Copied`]) instead of being parsed again. Where the same bytes are held
/// hashed and unhashed, the hashed row.
#[derive(Debug, Default)]
pub struct KnownBytes {
    side: String,
    branch: String,
    /// Fingerprint → the chart holding those bytes, and whether its state is hashed.
    charts: HashMap<String, (String, bool)>,
}

impl KnownBytes {
    /// A copy of the state of the chart holding `raw_fp`'s bytes, if one does, for `chart_id`.
    pub fn copy_for(&self, chart_id: &str, updated_at: &str, raw_fp: &str) -> Option<Copied> {
        let (from_id, _) = self.charts.get(raw_fp)?;
        Some(Copied::from(&self.side, &self.branch, from_id, chart_id, updated_at, raw_fp))
    }
}

#[derive(serde::Deserialize)]
struct BytesRow {
    chart_id: String,
    raw_fp: String,
    hashed: i64,
    error: Option<String>,
}

/// [`KnownBytes`] of one side.
pub async fn known_bytes(db: &Db, side: &str, branch: &str) -> Result<KnownBytes> {
    let mut charts: HashMap<String, (String, bool)> = HashMap::new();
    let columns = ["chart_id", "raw_fp", HASHED, "error"];
    db::each_json_page(
        db,
        &columns,
        SIDE_ROWS,
        "chart_id",
        &[side, branch],
        |r: &BytesRow| &r.chart_id,
        |rows| {
            for r in rows.into_iter().filter(|r| r.error.is_none()) {
                let hashed = r.hashed != 0;
                match charts.entry(r.raw_fp) {
                    Entry::Vacant(e) => {
                        e.insert((r.chart_id, hashed));
                    }
                    Entry::Occupied(mut e) if hashed && !e.get().1 => {
                        e.insert((r.chart_id, hashed));
                    }
                    Entry::Occupied(_) => {}
                }
            }
        },
    )
    .await?;
    Ok(KnownBytes { side: side.to_string(), branch: branch.to_string(), charts })
}

/// A chart's state written as a copy of another row's with the same bytes (another side's, or
/// its own with a new `updated_at`), by the database: the state never passes through Chartgate's
/// memory. The source must not be rewritten by the same scan: it is the target's (which a branch's
/// scan holds still) or the chart's own row.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Copied {
    pub chart_id: String,
    pub updated_at: String,
    pub raw_fp: String,
    pub from_side: String,
    pub from_branch: String,
    pub from_id: String,
}

impl Copied {
    pub fn from(side: &str, branch: &str, from_id: &str, chart_id: &str, updated_at: &str, raw_fp: &str) -> Copied {
        Copied {
            chart_id: chart_id.to_string(),
            updated_at: updated_at.to_string(),
            raw_fp: raw_fp.to_string(),
            from_side: side.to_string(),
            from_branch: branch.to_string(),
            from_id: from_id.to_string(),
        }
    }
}

/// The charts a branch's scan looks at, by id in order: those whose staging bytes are not the
/// baseline's (the branch touched them), and those whose target bytes moved from the baseline's.
/// Chosen by the database from fingerprints, so a scan loads the states of its items, not of the
/// whole store ([`load_charts`]).
pub async fn relevant(db: &Db, branch: &str, target: &str) -> Result<Vec<String>> {
    // One pass over the three sides grouped by chart (no join whose plan depends on statistics
    // the database may not have yet); a chart only the target has is never relevant.
    let fp = |side: &str| format!("max(case when side = '{side}' then raw_fp end)");
    let (b, s, p) = (fp(BASELINE), fp(STAGING), fp(PRODUCTION));
    let rest = format!(
        "(select chart_id from chart_states
          where (side in ('baseline', 'staging') and branch = $1) or (side = 'production' and branch = $2)
          group by chart_id
          having {b} is distinct from {s} or ({b} is not null and {b} is distinct from {p})) x"
    );
    #[derive(serde::Deserialize)]
    struct Id {
        chart_id: String,
    }
    let rows: Vec<Id> = db::fetch_json_rows(db, &["chart_id"], &rest, &[branch, target]).await?;
    let mut ids: Vec<String> = rows.into_iter().map(|r| r.chart_id).collect();
    ids.sort_unstable();
    Ok(ids)
}

/// The states of the given charts on a branch's three sides: baseline, staging, production.
pub async fn load_charts(db: &Db, branch: &str, target: &str, chart_ids: &[String]) -> Result<[States; 3]> {
    let ids = serde_json::to_string(chart_ids).map_err(crate::error::Error::internal)?;
    let listed = db::json_texts(db.backend, 3);
    let rest = format!(
        "(select side, {COLUMNS} from chart_states
          where side in ('baseline', 'staging') and branch = $1 and chart_id in ({listed})
          union all
          select side, {COLUMNS} from chart_states
          where side = 'production' and branch = $2 and chart_id in ({listed})) x"
    );
    let mut columns: Vec<&str> = vec!["side"];
    columns.extend(COLUMNS.split(", "));
    let rows: Vec<SidedState> = db::fetch_json_rows(db, &columns, &rest, &[branch, target, &ids]).await?;
    let mut out: [States; 3] = Default::default();
    for SidedState { side, state } in rows {
        let n = match side.as_str() {
            BASELINE => 0,
            STAGING => 1,
            _ => 2,
        };
        out[n].insert(state.chart_id.clone(), state);
    }
    Ok(out)
}

#[derive(serde::Deserialize)]
struct SidedState {
    side: String,
    #[serde(flatten)]
    state: ChartState,
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

/// Writes the states that changed (whole, or [copied](Copied) from rows with the same bytes) and
/// deletes those of charts the store no longer has; the side's generation moves when anything did.
pub async fn write(
    db: &Db,
    side: &str,
    branch: &str,
    changed: &[ChartState],
    copied: &[Copied],
    removed: &[String],
) -> Result<()> {
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
    copy(&mut tx, db.backend, side, branch, copied).await?;
    if !changed.is_empty() || !copied.is_empty() || !removed.is_empty() {
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

/// `on conflict` of every state write: the row takes the new state whole.
const UPSERT_TAIL: &str = "on conflict (side, branch, chart_id) do update set slug = excluded.slug,
     title = excluded.title, updated_at = excluded.updated_at, raw_fp = excluded.raw_fp,
     hash = excluded.hash, config_fp = excluded.config_fp, data_fp = excluded.data_fp,
     metadata_fp = excluded.metadata_fp, error = excluded.error";

/// Writes [`Copied`] states: each row's state is its source row's, with its own id and stamp.
async fn copy(
    tx: &mut sqlx::AnyConnection,
    backend: Backend,
    side: &str,
    branch: &str,
    copied: &[Copied],
) -> Result<()> {
    let (j, elements) = db::json_elements(backend, 3);
    let sql = format!(
        "insert into chart_states (side, branch, {COLUMNS})
         select $1, $2, {j} ->> 'chart_id', k.slug, k.title, {j} ->> 'updated_at', k.raw_fp, k.hash,
                k.config_fp, k.data_fp, k.metadata_fp, k.error
         from {elements}
         join chart_states k on k.side = {j} ->> 'from_side' and k.branch = {j} ->> 'from_branch'
                            and k.chart_id = {j} ->> 'from_id' and k.raw_fp = {j} ->> 'raw_fp'
         where true {UPSERT_TAIL}"
    );
    db::execute_json_chunks(tx, &sql, &[side, branch], copied).await?;
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
        UPSERT_TAIL,
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
