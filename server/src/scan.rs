//! Freshness: what Chartgate knows of the stores, kept up to date incrementally.
//!
//! Stores change underneath Chartgate, so every side (production, once for all branches; each
//! branch's staging) keeps a row per chart in `chart_states`: its `updated_at`, a fingerprint of
//! its stored bytes and its version hash. A rescan lists `(id, updated_at)` of the store and
//! re-reads only rows whose stamp moved (or all, for a full scan, which also catches edits that
//! forgot to touch `updated_at`). A re-read row whose bytes match a known fingerprint — a staging
//! copy of production, typically — reuses that version instead of canonicalising it again.
//!
//! Work is pipelined: one task reads batches from the store while rayon canonicalises the
//! previous batch on every core; new versions are written batch by batch, so memory stays flat
//! however large the store.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Instant;

use rayon::prelude::*;
use serde::Serialize;
use sqlx::Row;

use crate::charts::{canonicalize, raw_fingerprint, CanonicalChart, ChartStore, RawChart};
use crate::db::{self, placeholders, Db};
use crate::diff::{classify, Side};
use crate::error::{Error, Result};

pub const PRODUCTION: &str = "production";
pub const STAGING: &str = "staging";
pub const BASELINE: &str = "baseline";

/// Rows read from a store per batch.
const BATCH: usize = 240;

/// Parameters per multi-row statement. SQLite looks bound parameters up by name in a list, so a
/// statement's binding cost grows with the square of its parameter count: thousands of
/// parameters per statement cost more than the rows themselves. A few hundred is the sweet spot.
const MAX_PARAMS: usize = 240;

fn rows_per_statement(columns: usize) -> usize {
    (MAX_PARAMS / columns).max(1)
}

/// What Chartgate knows of one chart on one side.
#[derive(Clone, Debug, PartialEq)]
pub struct ChartState {
    pub chart_id: String,
    pub slug: String,
    pub title: String,
    pub updated_at: String,
    pub raw_fp: String,
    pub hash: Option<String>,
    pub config_fp: Option<String>,
    pub data_fp: Option<String>,
    pub metadata_fp: Option<String>,
    /// Why the row has no version (invalid JSON), naming the store and the chart.
    pub error: Option<String>,
}

impl ChartState {
    fn side(&self) -> Option<Side<'_>> {
        Some(Side {
            hash: self.hash.as_deref()?,
            config_fp: self.config_fp.as_deref()?,
            data_fp: self.data_fp.as_deref()?,
            metadata_fp: self.metadata_fp.as_deref()?,
        })
    }
}

pub type States = HashMap<String, ChartState>;

#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct SideStats {
    /// Rows the store holds.
    pub listed: usize,
    /// Rows re-read because they were new, moved, or the scan was full.
    pub read: usize,
    /// Rows whose content was parsed and hashed (the rest matched known bytes).
    pub canonicalised: usize,
    pub removed: usize,
    pub errors: usize,
    /// The store's files had not changed since the last scan: nothing was listed or read.
    pub unchanged_store: bool,
}

const STATE_COLUMNS: &str = "chart_id, slug, title, updated_at, raw_fp, hash, config_fp, data_fp, metadata_fp, error";

pub async fn load_states(db: &Db, side: &str, branch: &str) -> Result<States> {
    let rows = sqlx::query(&format!("select {STATE_COLUMNS} from chart_states where side = $1 and branch = $2"))
        .bind(side)
        .bind(branch)
        .fetch_all(&db.pool)
        .await?;
    let mut out = HashMap::with_capacity(rows.len());
    for r in rows {
        let s = ChartState {
            chart_id: r.try_get(0)?,
            slug: r.try_get(1)?,
            title: r.try_get(2)?,
            updated_at: r.try_get(3)?,
            raw_fp: r.try_get(4)?,
            hash: r.try_get(5)?,
            config_fp: r.try_get(6)?,
            data_fp: r.try_get(7)?,
            metadata_fp: r.try_get(8)?,
            error: r.try_get(9)?,
        };
        out.insert(s.chart_id.clone(), s);
    }
    Ok(out)
}

/// Known versions by the fingerprint of their stored bytes.
pub type Fingerprints = HashMap<String, ChartState>;

pub fn fingerprints<'a>(states: impl IntoIterator<Item = &'a States>) -> Fingerprints {
    let mut out = HashMap::new();
    for s in states {
        for st in s.values().filter(|st| st.hash.is_some()) {
            out.entry(st.raw_fp.clone()).or_insert_with(|| st.clone());
        }
    }
    out
}

fn marker_key(side: &str, branch: &str) -> String {
    format!("{side}:{branch}")
}

/// What a side's refresh found.
pub struct Refreshed {
    /// The side's states, when they were loaded (`None`: the store did not change at all since
    /// the last scan, so nothing was listed, loaded or read).
    pub states: Option<States>,
    pub stats: SideStats,
}

/// Brings one side's states up to date with its store.
///
/// A SQLite store whose files did not change since the last scan is not even listed (see
/// [`ChartStore::change_marker`]); otherwise `(id, updated_at)` is listed and only new or moved
/// rows are read — all rows when `full`. Only states that differ are written back.
pub async fn refresh_side(
    db: &Db,
    store: &ChartStore,
    side: &str,
    branch: &str,
    full: bool,
    known: Arc<Fingerprints>,
) -> Result<Refreshed> {
    let marker_key = marker_key(side, branch);
    let marker = store.change_marker();
    if !full && store.unchanged_for(&marker_key) {
        return Ok(Refreshed { states: None, stats: SideStats { unchanged_store: true, ..Default::default() } });
    }
    let mut states = load_states(db, side, branch).await?;
    let stamps = store.stamps().await?;
    let mut stats = SideStats { listed: stamps.len(), ..Default::default() };

    let listed: HashSet<&str> = stamps.iter().map(|s| s.id.as_str()).collect();
    let removed: Vec<String> = states.keys().filter(|id| !listed.contains(id.as_str())).cloned().collect();
    let to_read: Vec<String> = stamps
        .iter()
        .filter(|s| full || states.get(&s.id).is_none_or(|c| c.updated_at != s.updated_at || c.error.is_some()))
        .map(|s| s.id.clone())
        .collect();
    stats.read = to_read.len();
    stats.removed = removed.len();
    if to_read.is_empty() && removed.is_empty() {
        store.set_marker(&marker_key, marker);
        return Ok(Refreshed { states: Some(states), stats });
    }

    // Known bytes: this side's own, then those the caller knows (production's, for staging).
    let own = Arc::new(fingerprints([&states]));
    let label: Arc<str> = format!("{side} store {}", store.name()).into();

    let (tx, mut rx) = tokio::sync::mpsc::channel::<Result<Vec<RawChart>>>(2);
    let reader_store = store.clone();
    let reader = tokio::spawn(async move {
        for chunk in to_read.chunks(BATCH) {
            let batch = reader_store.read(chunk).await;
            let failed = batch.is_err();
            if tx.send(batch).await.is_err() || failed {
                break;
            }
        }
    });

    let mut changed = Vec::new();
    while let Some(batch) = rx.recv().await {
        let batch = batch?;
        let (own, known, label) = (own.clone(), known.clone(), label.clone());
        let processed = tokio::task::spawn_blocking(move || {
            batch.par_iter().map(|raw| state_of(raw, [&own, &known], &label)).collect::<Vec<_>>()
        })
        .await
        .map_err(Error::internal)?;
        let versions: Vec<&CanonicalChart> = processed.iter().filter_map(|(_, v)| v.as_ref()).collect();
        stats.canonicalised += versions.len();
        insert_versions(db, &versions).await?;
        // A re-read row that says what Chartgate already knew needs no write.
        changed.extend(processed.into_iter().map(|(s, _)| s).filter(|s| states.get(&s.chart_id) != Some(s)));
    }
    reader.await.map_err(Error::internal)?;

    stats.errors = changed.iter().filter(|s| s.error.is_some()).count();
    write_states(db, side, branch, &changed, &removed).await?;
    for id in &removed {
        states.remove(id);
    }
    for s in changed {
        states.insert(s.chart_id.clone(), s);
    }
    store.set_marker(&marker_key, marker);
    Ok(Refreshed { states: Some(states), stats })
}

fn state_of(raw: &RawChart, known: [&Fingerprints; 2], label: &str) -> (ChartState, Option<CanonicalChart>) {
    let raw_fp = raw_fingerprint(raw);
    if let Some(k) = known.iter().find_map(|m| m.get(&raw_fp)) {
        let state = ChartState { chart_id: raw.id.clone(), updated_at: raw.updated_at.clone(), ..k.clone() };
        return (state, None);
    }
    match canonicalize(raw) {
        Ok(c) => {
            let state = ChartState {
                chart_id: raw.id.clone(),
                slug: c.slug.clone(),
                title: c.title.clone(),
                updated_at: raw.updated_at.clone(),
                raw_fp,
                hash: Some(c.hash.clone()),
                config_fp: Some(c.config_fp.clone()),
                data_fp: Some(c.data_fp.clone()),
                metadata_fp: Some(c.metadata_fp.clone()),
                error: None,
            };
            (state, Some(c))
        }
        Err(e) => {
            let state = ChartState {
                chart_id: raw.id.clone(),
                slug: raw.slug.clone(),
                title: raw.slug.clone(),
                updated_at: raw.updated_at.clone(),
                raw_fp,
                hash: None,
                config_fp: None,
                data_fp: None,
                metadata_fp: None,
                error: Some(format!("{label}, chart {}: {e}", raw.id)),
            };
            (state, None)
        }
    }
}

/// Stores versions not seen before; the content store is append-only and content-addressed.
pub async fn insert_versions(db: &Db, versions: &[&CanonicalChart]) -> Result<()> {
    if versions.is_empty() {
        return Ok(());
    }
    let now = db::now();
    let _guard = db.write_guard().await;
    let mut tx = db.pool.begin().await?;
    for chunk in versions.chunks(rows_per_statement(6)) {
        let values: Vec<String> = (0..chunk.len()).map(|i| format!("({})", placeholders(i * 6, 6))).collect();
        let sql = format!(
            "insert into versions (hash, slug, config, data, metadata, created_at) values {} on conflict (hash) do nothing",
            values.join(", ")
        );
        let mut q = sqlx::query(&sql);
        for v in chunk {
            q = q.bind(&v.hash).bind(&v.slug).bind(&v.config).bind(&v.data).bind(&v.metadata).bind(&now);
        }
        q.execute(&mut *tx).await?;
    }
    tx.commit().await?;
    Ok(())
}

async fn write_states(db: &Db, side: &str, branch: &str, states: &[ChartState], removed: &[String]) -> Result<()> {
    let _guard = db.write_guard().await;
    let mut tx = db.pool.begin().await?;
    for chunk in removed.chunks(MAX_PARAMS - 2) {
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
    for chunk in states.chunks(rows_per_statement(12)) {
        let values: Vec<String> = (0..chunk.len()).map(|i| format!("({})", placeholders(i * 12, 12))).collect();
        let sql = format!(
            "insert into chart_states (side, branch, {STATE_COLUMNS}) values {}
             on conflict (side, branch, chart_id) do update set slug = excluded.slug, title = excluded.title,
             updated_at = excluded.updated_at, raw_fp = excluded.raw_fp, hash = excluded.hash,
             config_fp = excluded.config_fp, data_fp = excluded.data_fp, metadata_fp = excluded.metadata_fp,
             error = excluded.error",
            values.join(", ")
        );
        let mut q = sqlx::query(&sql);
        for s in chunk {
            q = q
                .bind(side)
                .bind(branch)
                .bind(&s.chart_id)
                .bind(&s.slug)
                .bind(&s.title)
                .bind(&s.updated_at)
                .bind(&s.raw_fp)
                .bind(&s.hash)
                .bind(&s.config_fp)
                .bind(&s.data_fp)
                .bind(&s.metadata_fp)
                .bind(&s.error);
        }
        q.execute(&mut *tx).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Makes the branch's baseline a copy of what Chartgate knows of production now.
pub async fn take_baseline(tx: &mut sqlx::Transaction<'_, sqlx::Any>, branch: &str) -> Result<()> {
    sqlx::query(&format!(
        "insert into chart_states (side, branch, {STATE_COLUMNS})
         select 'baseline', $1, {STATE_COLUMNS} from chart_states where side = 'production' and branch = ''"
    ))
    .bind(branch)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// One item of a branch's diff, ready to be stored.
#[derive(Clone, Debug, PartialEq)]
pub struct ItemRow {
    pub chart_id: String,
    pub slug: String,
    pub title: String,
    pub kind: &'static str,
    pub conflict: bool,
    pub parts: String,
    pub staging_hash: Option<String>,
    pub production_hash: Option<String>,
    pub baseline_hash: Option<String>,
    pub error: Option<String>,
    pub changed_at: String,
}

/// The items of a branch from its three sides. A side whose row could not be read makes the
/// chart an error item when the branch touched it: it shows, but cannot be decided.
pub fn items_of(baseline: &States, staging: &States, production: &States) -> Vec<ItemRow> {
    let ids: HashSet<&String> = baseline.keys().chain(staging.keys()).collect();
    let mut items = Vec::new();
    for id in ids {
        let (b, s, p) = (baseline.get(id), staging.get(id), production.get(id));
        let error = [s, p, b].into_iter().flatten().find_map(|x| x.error.clone());
        // Name the chart after a readable side where there is one.
        let any = [s, b, p]
            .into_iter()
            .flatten()
            .find(|x| x.error.is_none())
            .or(s.or(b))
            .expect("the id comes from the baseline or staging");
        let (kind, conflict, parts) = if error.is_some() {
            if s.map(|x| x.raw_fp.as_str()) == b.map(|x| x.raw_fp.as_str()) {
                continue; // staging still holds the baseline's bytes: the branch did not touch it
            }
            let kind = match (b, s) {
                (_, None) => "deleted",
                (None, Some(_)) => "new",
                _ => "modified",
            };
            (kind, false, String::new())
        } else {
            let (sb, ss, sp) =
                (b.and_then(ChartState::side), s.and_then(ChartState::side), p.and_then(ChartState::side));
            match classify(sb.as_ref(), ss.as_ref(), sp.as_ref()) {
                None => continue,
                Some(c) => (c.kind.as_str(), c.conflict, c.parts.join(",")),
            }
        };
        items.push(ItemRow {
            chart_id: id.clone(),
            slug: any.slug.clone(),
            title: any.title.clone(),
            kind,
            conflict,
            parts,
            staging_hash: s.and_then(|x| x.hash.clone()),
            production_hash: p.and_then(|x| x.hash.clone()),
            baseline_hash: b.and_then(|x| x.hash.clone()),
            error,
            changed_at: s.or(b).map(|x| x.updated_at.clone()).unwrap_or_default(),
        });
    }
    items.sort_by(|a, b| a.chart_id.cmp(&b.chart_id));
    items
}

pub async fn write_items(db: &Db, branch: &str, items: &[ItemRow]) -> Result<()> {
    let _guard = db.write_guard().await;
    let mut tx = db.pool.begin().await?;
    sqlx::query("delete from branch_items where branch = $1").bind(branch).execute(&mut *tx).await?;
    for chunk in items.chunks(rows_per_statement(13)) {
        let values: Vec<String> = (0..chunk.len()).map(|i| format!("({})", placeholders(i * 13, 13))).collect();
        let sql = format!(
            "insert into branch_items (branch, chart_id, slug, title, search, kind, conflict, parts, staging_hash,
             production_hash, baseline_hash, error, changed_at) values {}",
            values.join(", ")
        );
        let mut q = sqlx::query(&sql);
        for i in chunk {
            q = q
                .bind(branch)
                .bind(&i.chart_id)
                .bind(&i.slug)
                .bind(&i.title)
                .bind(format!("{} {}", i.slug, i.title).to_lowercase())
                .bind(i.kind)
                .bind(i.conflict as i64)
                .bind(&i.parts)
                .bind(&i.staging_hash)
                .bind(&i.production_hash)
                .bind(&i.baseline_hash)
                .bind(&i.error)
                .bind(&i.changed_at);
        }
        q.execute(&mut *tx).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// What a rescan did, as `POST /rescan` answers.
#[derive(Clone, Debug, Serialize)]
pub struct ScanReport {
    pub branch: String,
    pub full: bool,
    pub scanned_at: String,
    pub duration_ms: u64,
    pub production: SideStats,
    pub staging: SideStats,
    pub items: usize,
}

/// Rescans one branch against production. The caller holds the branch's scan lock.
pub async fn scan_branch(
    db: &Db,
    production: &ChartStore,
    staging: &ChartStore,
    branch: &str,
    full: bool,
) -> Result<ScanReport> {
    let started = Instant::now();
    let prod = refresh_side(db, production, PRODUCTION, "", full, Default::default()).await?;
    let mut prod_states = prod.states;
    // Production's states are needed to reuse its versions for staging rows; when staging did not
    // change at all (the common rescan), they are not loaded.
    let staging_unchanged = !full && staging.unchanged_for(&marker_key(STAGING, branch));
    let known = match (&prod_states, staging_unchanged) {
        (_, true) => Fingerprints::new(),
        (Some(states), false) => fingerprints([states]),
        (None, false) => {
            let loaded = load_states(db, PRODUCTION, "").await?;
            let known = fingerprints([&loaded]);
            prod_states = Some(loaded);
            known
        }
    };
    let stage = refresh_side(db, staging, STAGING, branch, full, Arc::new(known)).await?;
    let (prod_stats, stage_stats) = (prod.stats, stage.stats);
    let moved = full
        || prod_stats.read + prod_stats.removed + stage_stats.read + stage_stats.removed > 0
        || !has_scanned(db, branch).await?;
    let items = if moved {
        let prod_states = match prod_states {
            Some(s) => s,
            None => load_states(db, PRODUCTION, "").await?,
        };
        let stage_states = match stage.states {
            Some(s) => s,
            None => load_states(db, STAGING, branch).await?,
        };
        let baseline = load_states(db, BASELINE, branch).await?;
        let items = items_of(&baseline, &stage_states, &prod_states);
        write_items(db, branch, &items).await?;
        items.len()
    } else {
        count_items(db, branch).await?
    };
    let scanned_at = db::now();
    let duration_ms = started.elapsed().as_millis() as u64;
    {
        let _guard = db.write_guard().await;
        sqlx::query(
            "update branches set last_scan_at = $1, last_scan_ms = $2, scan_error = null,
             last_full_scan_at = case when $3 = 1 then $1 else last_full_scan_at end where name = $4",
        )
        .bind(&scanned_at)
        .bind(duration_ms as i64)
        .bind(full as i64)
        .bind(branch)
        .execute(&db.pool)
        .await?;
    }
    Ok(ScanReport {
        branch: branch.to_string(),
        full,
        scanned_at,
        duration_ms,
        production: prod_stats,
        staging: stage_stats,
        items,
    })
}

async fn has_scanned(db: &Db, branch: &str) -> Result<bool> {
    let row =
        sqlx::query("select last_scan_at from branches where name = $1").bind(branch).fetch_optional(&db.pool).await?;
    Ok(match row {
        Some(r) => r.try_get::<Option<String>, _>(0)?.is_some(),
        None => false,
    })
}

async fn count_items(db: &Db, branch: &str) -> Result<usize> {
    let n: i64 = sqlx::query("select count(*) from branch_items where branch = $1")
        .bind(branch)
        .fetch_one(&db.pool)
        .await?
        .try_get(0)?;
    Ok(n as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(id: &str, hash: &str, fps: [&str; 3]) -> ChartState {
        ChartState {
            chart_id: id.into(),
            slug: format!("slug-{id}"),
            title: format!("Title {id}"),
            updated_at: "2024-01-01T00:00:00Z".into(),
            raw_fp: format!("raw-{hash}"),
            hash: Some(hash.into()),
            config_fp: Some(fps[0].into()),
            data_fp: Some(fps[1].into()),
            metadata_fp: Some(fps[2].into()),
            error: None,
        }
    }

    fn states(list: &[ChartState]) -> States {
        list.iter().map(|s| (s.chart_id.clone(), s.clone())).collect()
    }

    #[test]
    fn items_cover_every_kind_and_skip_non_items() {
        let f = ["c", "d", "m"];
        let baseline =
            states(&[state("same", "h", f), state("mod", "h", f), state("del", "h", f), state("prod", "h", f)]);
        let staging = states(&[
            state("same", "h", f),
            state("mod", "h2", ["c", "d2", "m"]),
            state("prod", "h", f),
            state("new", "h3", f),
        ]);
        let production =
            states(&[state("same", "h", f), state("mod", "h", f), state("del", "h", f), state("prod", "h9", f)]);
        let items = items_of(&baseline, &staging, &production);
        let summary: Vec<(&str, &str, bool, &str)> =
            items.iter().map(|i| (i.chart_id.as_str(), i.kind, i.conflict, i.parts.as_str())).collect();
        assert_eq!(
            summary,
            [
                ("del", "deleted", false, "config,data,metadata"),
                ("mod", "modified", false, "data"),
                ("new", "new", false, "config,data,metadata")
            ]
        );
        assert_eq!(items[1].staging_hash.as_deref(), Some("h2"));
        assert_eq!(items[0].staging_hash, None);
    }

    #[test]
    fn unreadable_rows_become_error_items_only_when_the_branch_touched_them() {
        let f = ["c", "d", "m"];
        let mut broken = state("x", "h", f);
        broken.hash = None;
        broken.raw_fp = "raw-broken".into();
        broken.error = Some("staging store s.db, chart x: data is not valid JSON".into());
        let baseline = states(&[state("x", "h", f)]);
        let items = items_of(&baseline, &states(&[broken]), &baseline);
        assert_eq!(items.len(), 1);
        assert_eq!(items[0].kind, "modified");
        assert!(items[0].error.as_deref().unwrap().contains("chart x"));

        let mut broken_prod = state("x", "h", f);
        broken_prod.error = Some("production store p.db, chart x: config is not valid JSON".into());
        broken_prod.hash = None;
        assert!(items_of(&baseline, &baseline, &states(&[broken_prod])).is_empty(), "untouched by the branch");
    }
}
