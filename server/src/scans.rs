//! Scans: what Chartgate knows of the stores, kept up to date incrementally, and the items of a
//! branch rebuilt from it.
//!
//! Stores change underneath Chartgate, so every side (production, once for all branches; each
//! branch's staging) keeps a row per chart in `chart_states` ([`crate::repo::states`]): its
//! `updated_at`, a fingerprint of its stored bytes and its version hash. A rescan lists
//! `(id, updated_at)` of the store and re-reads only rows whose stamp moved (or all, for a full
//! scan, which also catches edits that forgot to touch `updated_at`). A re-read row whose bytes
//! match a known fingerprint — a staging copy of production, typically — reuses that version
//! instead of canonicalising it again.
//!
//! Work is pipelined: two tasks read batches from the store, each row becoming its state on the
//! thread that read it, while states are written a few thousand at a time. A scan holds a side's
//! stamps (id, `updated_at`, fingerprint), never its states: the states it classifies are those of
//! charts the branch touched or the target moved, chosen by the database ([`states::relevant`])
//! and loaded, hashed, classified and kept a few thousand at a time, so memory stays flat however
//! large the store or the change.
//! Chartgate keeps hashes and fingerprints of every chart but the canonical text only of what the
//! branch's items point at ([`keep`]).

mod keep;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Instant;

use app::types::{ItemKind, Role};
use futures::StreamExt;
use serde::Serialize;

use crate::access::Actor;
use crate::charts::store::mapping::RenderKeys;
use crate::charts::{canonicalize, raw_fingerprint, CanonicalChart, ChartStore, RawChart};
use crate::db::{self, Db};
use crate::diff::{classify, classify_without_base};
use crate::error::{Error, Result};
use crate::repo::branches::{self as branch_rows, BranchRow};
use crate::repo::items::{self, NewItem};
use crate::repo::states::{self, ChartState, States, BASELINE, PRODUCTION, STAGING};
use crate::repo::versions::{self, PackedVersion};
use crate::state::AppState;
use crate::targets::Target;
use crate::telemetry;

/// Rows read from a store per batch.
const BATCH: usize = 128;

/// Batches read at once (see [`refresh_side`]).
const READERS: usize = 2;

#[derive(Clone, Debug, Default, Serialize, PartialEq, utoipa::ToSchema)]
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

fn marker_key(side: &str, branch: &str) -> String {
    format!("{side}:{branch}")
}

/// What a side's refresh found.
pub struct Refreshed {
    pub stats: SideStats,
    /// The versions this refresh canonicalised, packed, when asked to retain them: a staging
    /// row canonicalised is most often an item's version, which [`keep`] stores without
    /// reading and canonicalising it again.
    pub packed: HashMap<String, PackedVersion>,
}

/// Versions a refresh retains at most (~3 KB each, packed); past this, [`keep`] reads again.
const RETAIN_AT_MOST: usize = 15_000;

/// Charts whose versions a scan hashes, classifies and keeps at once (see [`scan_branch`]).
const RELEVANT_AT_ONCE: usize = 2000;

/// States (whole or copied) a refresh writes at once: it holds no more than three such lots in
/// memory (one being written, one waiting, one filling), so a 100,000-chart side costs what a
/// 3,000-chart one does.
const WRITE_EVERY: usize = 1000;

/// A lot of states, and the texts they point at, for the writer (see [`refresh_side`]).
#[derive(Default)]
struct StateLot {
    changed: Vec<ChartState>,
    copied: Vec<states::Copied>,
    bases: Vec<PackedVersion>,
}

impl StateLot {
    fn len(&self) -> usize {
        self.changed.len() + self.copied.len()
    }
}

/// What reading one row found.
enum Read {
    /// Its state says so already.
    Same,
    /// Its state is another row's with the same bytes (see [`states::Copied`]).
    Copied(states::Copied),
    /// A new state; `canonicalised` when its content was parsed and hashed for it.
    State { state: ChartState, canonicalised: bool, version: Option<PackedVersion> },
}

/// Brings one side's states up to date with its store.
///
/// A store that did not change since the last scan (a SQLite store's files, a watched file
/// store's directory) is not even listed (see
/// [`ChartStore::change_marker`]); otherwise `(id, updated_at)` is listed and only new or moved
/// rows are read — all rows when `full`. A read row whose bytes are its state's, or a row's in
/// `known` (the target's, for staging), is copied in the database rather than parsed; only
/// states that differ are written, a few thousand at a time, so memory does not grow with the
/// store. With `retain`, the versions canonicalised on the way are handed back packed (see
/// [`Refreshed`]).
///
/// A target's side is hashed whole, and every version it holds is kept (compressed, once per
/// content, shared by every branch that forks it): each is a branch's baseline — the three-way
/// merge's base — from the moment the branch is registered. A base read only when a scan needed
/// it was lost whenever staging and the target both changed a chart between two scans (a restart,
/// a deploy): the merge then had no base, and a reviewer could revert the target's hotfix
/// without being told. States a target listed unhashed before this (older databases) are read
/// and hashed on its next refresh.
pub async fn refresh_side(
    db: &Db,
    store: &ChartStore,
    side: &str,
    branch: &str,
    full: bool,
    known: Arc<states::KnownBytes>,
    retain: bool,
) -> Result<Refreshed> {
    let began = Instant::now();
    let marker_key = marker_key(side, branch);
    let marker = store.change_marker();
    if !full && store.unchanged_for(&marker_key) {
        let stats = SideStats { unchanged_store: true, ..Default::default() };
        return Ok(Refreshed { stats, packed: HashMap::new() });
    }
    let stamps = store.stamps().await?;
    let mut stats = SideStats { listed: stamps.len(), ..Default::default() };
    let own = states::stamps(db, side, branch).await?;
    let listed_in = began.elapsed();
    let listed: HashSet<&str> = stamps.iter().map(|s| s.id.as_str()).collect();
    let removed: Vec<String> = own.keys().filter(|id| !listed.contains(id.as_str())).cloned().collect();
    drop(listed);
    // A full scan reads every row (it also catches edits that did not touch `updated_at`).
    let target = side == PRODUCTION;
    let to_read: Vec<String> = stamps
        .into_iter()
        .filter(|s| {
            full || own
                .get(&s.id)
                .is_none_or(|c| c.updated_at != s.updated_at || c.error.is_some() || (target && !c.hashed))
        })
        .map(|s| s.id)
        .collect();
    stats.read = to_read.len();
    stats.removed = removed.len();
    if to_read.is_empty() && removed.is_empty() {
        store.set_marker(&marker_key, marker);
        return Ok(Refreshed { stats, packed: HashMap::new() });
    }

    let own = Arc::new(own);
    // What an item's error names: the side, never the store's address (viewers read it).
    let label: Arc<str> = format!("{side} store").into();
    let keys = Arc::new(store.render_keys().clone());
    let (side_name, branch_name): (Arc<str>, Arc<str>) = (side.into(), branch.into());

    // Two readers, each on its own connection, take every other batch: reading a SQLite store
    // is one core's work per connection, and a warm scan is mostly reading. Each row becomes its
    // state on the thread that read it (see [`ChartStore::read_each`]).
    let retained = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let process = move |raw: RawChart| -> Read {
        let raw_fp = raw_fingerprint(&raw);
        let mine = own.get(&raw.id);
        if let Some(m) = mine.filter(|m| m.raw_fp == raw_fp && m.error.is_none() && (m.hashed || !target)) {
            if m.updated_at == raw.updated_at {
                return Read::Same;
            }
            let copy = states::Copied::from(&side_name, &branch_name, &raw.id, &raw.id, &raw.updated_at, &raw_fp);
            return Read::Copied(copy);
        }
        if let Some(copy) = known.copy_for(&raw.id, &raw.updated_at, &raw_fp) {
            return Read::Copied(copy);
        }
        let (state, version) = canonical_state(&raw, raw_fp, &label, &keys);
        // An unreadable row read again, still unreadable for the same reason.
        if mine.is_some_and(|m| m.describes(&state)) {
            return Read::Same;
        }
        let canonicalised = version.is_some();
        // A target's versions are all kept (see above); a staging side's are handed back to
        // the scan, as many as fit.
        let keep = canonicalised
            && (target || retain && retained.fetch_add(1, std::sync::atomic::Ordering::Relaxed) < RETAIN_AT_MOST);
        Read::State { state, canonicalised, version: version.filter(|_| keep).map(|v| PackedVersion::of(&v)) }
    };
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Result<Vec<Read>>>(READERS);
    let to_read: Arc<[String]> = to_read.into();
    let readers: Vec<_> = (0..READERS)
        .map(|first| {
            let (store, to_read, tx, process) = (store.clone(), to_read.clone(), tx.clone(), process.clone());
            tokio::spawn(async move {
                for chunk in to_read.chunks(BATCH).skip(first).step_by(READERS) {
                    let batch = store.read_each(chunk, process.clone()).await;
                    let failed = batch.is_err();
                    if tx.send(batch).await.is_err() || failed {
                        break;
                    }
                }
            })
        })
        .collect();
    drop(tx);

    // States and kept texts are written by their own task, a few thousand at a time, while the
    // reading goes on: one lot being written, one waiting, one filling (see [`WRITE_EVERY`]).
    let (to_write, mut writes) = tokio::sync::mpsc::channel::<StateLot>(1);
    let writer = {
        let (db, side, branch) = (db.clone(), side.to_string(), branch.to_string());
        tokio::spawn(async move {
            let mut busy = std::time::Duration::ZERO;
            while let Some(lot) = writes.recv().await {
                let began = Instant::now();
                // The texts first: a state never points at a version that is not kept.
                versions::insert(&db, &lot.bases).await?;
                states::write(&db, &side, &branch, &lot.changed, &lot.copied, &[]).await?;
                busy += began.elapsed();
            }
            Ok::<_, Error>(busy)
        })
    };
    let mut lot = StateLot::default();
    let mut written = 0;
    let mut packed = HashMap::new();
    let (mut read_failed, mut send_failed) = (None, false);
    while let Some(batch) = rx.recv().await {
        let batch = match batch {
            Ok(batch) => batch,
            Err(e) => {
                read_failed = Some(e);
                break;
            }
        };
        for read in batch {
            match read {
                Read::Same => {}
                Read::Copied(c) => lot.copied.push(c),
                Read::State { state, canonicalised, version } => {
                    stats.canonicalised += usize::from(canonicalised);
                    stats.errors += usize::from(state.error.is_some());
                    match version {
                        Some(v) if target => lot.bases.push(v),
                        Some(v) => {
                            packed.insert(v.hash().to_string(), v);
                        }
                        None => {}
                    }
                    lot.changed.push(state);
                }
            }
        }
        if lot.len() >= WRITE_EVERY {
            written += lot.len();
            if to_write.send(std::mem::take(&mut lot)).await.is_err() {
                send_failed = true; // the writer stopped on an error, which it returns below
                break;
            }
        }
    }
    // The writer finishes before this returns, whatever happened: a lot it still wrote after
    // an error would land after the scan's lock is released, under the next scan's states.
    drop(to_write);
    let written_by_writer = writer.await.map_err(Error::internal)?;
    if let Some(e) = read_failed {
        return Err(e);
    }
    let writer_busy = written_by_writer?;
    if send_failed {
        return Err(Error::internal("the state writer stopped without an error"));
    }
    for reader in readers {
        reader.await.map_err(Error::internal)?;
    }
    let read_in = began.elapsed() - listed_in;
    let write_began = Instant::now();
    written += lot.len();
    versions::insert(db, &lot.bases).await?;
    if !(lot.changed.is_empty() && lot.copied.is_empty() && removed.is_empty()) {
        states::write(db, side, branch, &lot.changed, &lot.copied, &removed).await?;
    }
    db::renew_statistics(db, "chart_states", (written + removed.len()) as u64).await?;
    // The phases the scan benchmark reports: listing (the store's stamps and Chartgate's),
    // reading (rows read, fingerprinted, canonicalised where new, while earlier lots were
    // written: `writer_busy_ms` of it), writing what was left once reading ended.
    tracing::debug!(
        side,
        branch,
        read = stats.read,
        canonicalised = stats.canonicalised,
        written,
        list_ms = listed_in.as_millis() as u64,
        read_ms = read_in.as_millis() as u64,
        writer_busy_ms = writer_busy.as_millis() as u64,
        write_ms = write_began.elapsed().as_millis() as u64,
        total_ms = began.elapsed().as_millis() as u64,
        "side refreshed"
    );
    store.set_marker(&marker_key, marker);
    Ok(Refreshed { stats, packed })
}

/// The rows of `ids`, read [`BATCH`] at a time and [`READERS`] batches at once, each turned by
/// `each` on the thread that read it (both cores busy, as in a refresh); batches in `ids` order.
fn read_batches<'a, T: Send + 'static>(
    store: &'a ChartStore,
    ids: &'a [String],
    each: impl Fn(RawChart) -> T + Clone + Send + 'static,
) -> impl futures::Stream<Item = Result<Vec<T>>> + 'a {
    futures::stream::iter(ids.chunks(BATCH).map(<[String]>::to_vec))
        .map(move |chunk| {
            let (store, each) = (store.clone(), each.clone());
            async move { store.read_each(&chunk, each).await }
        })
        .buffered(READERS)
}

/// The state of a chart whose content Chartgate wrote itself (a sync moving a baseline).
pub fn state_of_written(raw: &RawChart, label: &str, keys: &RenderKeys) -> ChartState {
    canonical_state(raw, raw_fingerprint(raw), label, keys).0
}

/// A row's state from its canonical version, and the version; without one (the row does not
/// parse), the state says why, naming the side (`label`) and the chart.
fn canonical_state(
    raw: &RawChart,
    raw_fp: String,
    label: &str,
    keys: &RenderKeys,
) -> (ChartState, Option<CanonicalChart>) {
    match canonicalize(raw) {
        Ok(c) => {
            let state = ChartState {
                chart_id: raw.id.clone(),
                slug: c.slug.clone(),
                title: keys.title_in(&c.config).unwrap_or_else(|| c.title.clone()),
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
            let error = Some(format!("{label}, chart {}: {e}", raw.id));
            (ChartState { error, ..ChartState::unhashed(raw, raw_fp) }, None)
        }
    }
}

/// The items of a branch from its three sides. A side whose row could not be read makes the
/// chart an error item when the branch touched it: it shows, but cannot be decided.
///
/// Expects [`hydrate`] to have run: a touched chart's states are hashed, except a baseline whose
/// bytes neither store holds any more (classified without it, see [`classify_without_base`]) and
/// a row that moved while this scan read it (an error item until the next scan reads it again).
pub fn items_of(baseline: &States, staging: &States, production: &States) -> Vec<NewItem> {
    let ids: HashSet<&String> = baseline.keys().chain(staging.keys()).collect();
    let mut items = Vec::new();
    for id in ids {
        let (b, s, p) = (baseline.get(id), staging.get(id), production.get(id));
        if s.map(|x| x.raw_fp.as_str()) == b.map(|x| x.raw_fp.as_str()) {
            continue; // staging still holds the baseline's bytes: the branch did not touch it
        }
        let moved_meanwhile = [s, p].into_iter().flatten().any(ChartState::is_unhashed);
        let error = [s, p, b].into_iter().flatten().find_map(|x| x.error.clone()).or_else(|| {
            moved_meanwhile.then(|| format!("chart {id} changed while Chartgate read it; the next scan reads it again"))
        });
        // Name the chart after a hashed side where there is one.
        let any = [s, b, p]
            .into_iter()
            .flatten()
            .find(|x| x.hash.is_some())
            .or(s.or(b))
            .expect("the id comes from the baseline or staging");
        let (kind, conflict, parts) = if error.is_some() {
            let kind = match (b, s) {
                (_, None) => ItemKind::Deleted,
                (None, Some(_)) => ItemKind::New,
                _ => ItemKind::Modified,
            };
            (kind, false, String::new())
        } else {
            let (ss, sp) = (s.and_then(ChartState::side), p.and_then(ChartState::side));
            let classified = match b {
                Some(b) if b.is_unhashed() => classify_without_base(ss.as_ref(), sp.as_ref()),
                _ => classify(b.and_then(ChartState::side).as_ref(), ss.as_ref(), sp.as_ref()),
            };
            match classified {
                None => continue,
                Some(c) => (c.kind, c.conflict, c.parts.join(",")),
            }
        };
        items.push(NewItem {
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

/// Where an unhashed state's bytes can be read again.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum HeldBy {
    Target,
    Staging,
}

/// The charts whose unhashed states a scan needs hashed, with the store that holds those bytes:
/// every side of a chart the branch touched (staging's bytes are not the baseline's), and the
/// baseline of a chart the target moved while staging kept it ([`keep`] keeps that baseline).
fn to_hydrate(baseline: &States, staging: &States, production: &States) -> HashSet<(String, HeldBy)> {
    fn fp(x: Option<&ChartState>) -> Option<&str> {
        x.map(|x| x.raw_fp.as_str())
    }
    let mut out = HashSet::new();
    let ids: HashSet<&String> = baseline.keys().chain(staging.keys()).collect();
    for id in ids {
        let (b, s, p) = (baseline.get(id), staging.get(id), production.get(id));
        let touched = fp(s) != fp(b);
        let target_moved = b.is_some() && fp(p) != fp(b);
        let needed: &[Option<&ChartState>] = match (touched, target_moved) {
            (true, _) => &[b, s, p],
            (false, true) => &[b],
            (false, false) => continue,
        };
        for state in needed.iter().flatten().filter(|x| x.is_unhashed()) {
            if fp(p) == Some(state.raw_fp.as_str()) {
                out.insert((id.clone(), HeldBy::Target));
            } else if fp(s) == Some(state.raw_fp.as_str()) {
                out.insert((id.clone(), HeldBy::Staging));
            }
        }
    }
    out
}

/// What [`hydrate`] did.
#[derive(Default)]
struct Hydrated {
    /// Rows read and canonicalised, per store.
    target_rows: usize,
    staging_rows: usize,
    /// The versions read, packed for [`keep`].
    packed: HashMap<String, PackedVersion>,
}

/// Hashes the unhashed states this scan needs ([`to_hydrate`]): each chart's row is read again
/// from the store that holds the bytes, canonicalised, and — when its bytes are still the ones
/// fingerprinted — every unhashed state of those bytes of the chart (on any side) takes its hash,
/// written back so no later scan reads it again. A row that moved since stays unhashed; the move
/// makes the next scan read it.
async fn hydrate(
    db: &Db,
    branch: &BranchRow,
    sides: (&mut States, &mut States, &mut States),
    target: &ChartStore,
    staging: &ChartStore,
) -> Result<Hydrated> {
    let (baseline, stage_states, prod_states) = sides;
    let wanted = to_hydrate(baseline, stage_states, prod_states);
    let mut out = Hydrated::default();
    if wanted.is_empty() {
        return Ok(out);
    }
    let mut changed: [Vec<ChartState>; 3] = Default::default();
    for (held_by, store, side) in [(HeldBy::Target, target, PRODUCTION), (HeldBy::Staging, staging, STAGING)] {
        let mut ids: Vec<String> = wanted.iter().filter(|(_, h)| *h == held_by).map(|(id, _)| id.clone()).collect();
        ids.sort();
        let label: Arc<str> = format!("{side} store").into();
        let keys = Arc::new(store.render_keys().clone());
        let mut batches = read_batches(store, &ids, move |raw| {
            let (state, version) = canonical_state(&raw, raw_fingerprint(&raw), &label, &keys);
            (state, version.map(|v| PackedVersion::of(&v)))
        });
        while let Some(read) = batches.next().await {
            let read = read?;
            match held_by {
                HeldBy::Target => out.target_rows += read.len(),
                HeldBy::Staging => out.staging_rows += read.len(),
            }
            for (state, version) in read {
                let mut used = false;
                for (n, states) in [&mut *baseline, &mut *stage_states, &mut *prod_states].into_iter().enumerate() {
                    if let Some(known) = states.get_mut(&state.chart_id) {
                        if known.is_unhashed() && known.raw_fp == state.raw_fp {
                            known.hydrate_from(&state);
                            changed[n].push(known.clone());
                            used = true;
                        }
                    }
                }
                if let (true, Some(v)) = (used, version) {
                    out.packed.insert(v.hash().to_string(), v);
                }
            }
        }
    }
    let [b, s, p] = changed;
    states::write_hydrated(db, BASELINE, &branch.name, &b).await?;
    states::write_hydrated(db, STAGING, &branch.name, &s).await?;
    states::write_hydrated(db, PRODUCTION, &branch.target, &p).await?;
    Ok(out)
}

/// What a rescan did, as `POST /rescan` answers.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct ScanReport {
    pub branch: String,
    pub full: bool,
    pub scanned_at: String,
    pub duration_ms: u64,
    pub production: SideStats,
    pub staging: SideStats,
    pub items: usize,
    /// Items the `[[auto_approve]]` rules approved after this scan.
    pub auto_approved: usize,
}

/// Rescans one branch against its target. The caller holds the branch's and the target's scan
/// locks.
async fn scan_branch(
    db: &Db,
    branch: &BranchRow,
    target: &ChartStore,
    staging: &ChartStore,
    full: bool,
) -> Result<ScanReport> {
    let started = Instant::now();
    let name = branch.name.as_str();
    let target_name = branch.target.as_str();
    let prod = refresh_side(db, target, PRODUCTION, target_name, full, Default::default(), false).await?;
    // The target's bytes are needed to copy its states for staging rows holding the same; when
    // staging did not change at all (the common rescan), they are not loaded. (Reading both
    // stores at once was measured: no faster on 2 cores, and the server's peak memory grew by
    // the other side's batches.)
    let staging_unchanged = !full && staging.unchanged_for(&marker_key(STAGING, name));
    let known = match staging_unchanged {
        true => states::KnownBytes::default(),
        false => states::known_bytes(db, PRODUCTION, target_name).await?,
    };
    let stage = refresh_side(db, staging, STAGING, name, full, Arc::new(known), true).await?;
    let (mut prod_stats, mut stage_stats) = (prod.stats, stage.stats);
    let mut packed = stage.packed;
    // The target is shared: another branch's scan may have brought its changes in already.
    let target_generation = states::generation(db, PRODUCTION, target_name).await?;
    let moved = full
        || stage_stats.read + stage_stats.removed > 0
        || branch.target_generation != target_generation
        || branch.last_scan_at.is_none();
    let items = if moved {
        let refreshed_at = started.elapsed();
        let ids = states::relevant(db, name, target_name).await?;
        let relevant_at = started.elapsed();
        // A few thousand charts at a time: each chunk's states are loaded, its versions hashed,
        // classified and stored before the next chunk is read, so what is held follows the chunk,
        // not the branch.
        let (mut items, mut stored, mut hydrated_rows) = (Vec::new(), 0, 0);
        let mut keeping = std::time::Duration::ZERO;
        for chunk in ids.chunks(RELEVANT_AT_ONCE) {
            let [mut b, mut s, mut p] = states::load_charts(db, name, target_name, chunk).await?;
            let hydrated = hydrate(db, branch, (&mut b, &mut s, &mut p), target, staging).await?;
            prod_stats.canonicalised += hydrated.target_rows;
            stage_stats.canonicalised += hydrated.staging_rows;
            hydrated_rows += hydrated.target_rows + hydrated.staging_rows;
            // The versions at hand for this chunk: those just hydrated, and those the staging
            // refresh retained for its charts.
            let mut at_hand = hydrated.packed;
            for hash in s.values().filter_map(|x| x.hash.as_ref()) {
                if let Some(v) = packed.remove(hash) {
                    at_hand.insert(hash.clone(), v);
                }
            }
            let keep_began = Instant::now();
            let chunk_items = items_of(&b, &s, &p);
            let wanted = keep::wanted(&chunk_items, &b, &s, &p);
            stored += keep::keep(db, &wanted, &mut at_hand, staging, target).await?;
            keeping += keep_began.elapsed();
            items.extend(chunk_items);
        }
        let kept_at = started.elapsed(); // chunks in id order, each sorted: the items are sorted
        items::replace(db, name, &items).await?;
        tracing::debug!(
            branch = name,
            relevant = ids.len(),
            relevant_ms = (relevant_at - refreshed_at).as_millis() as u64,
            hydrated = hydrated_rows,
            items = items.len(),
            versions_stored = stored,
            // Loading the chunks' states and hashing those the items need, then classifying and
            // keeping the items' texts.
            hydrate_ms = (kept_at - relevant_at - keeping).as_millis() as u64,
            keep_ms = keeping.as_millis() as u64,
            replace_ms = (started.elapsed() - kept_at).as_millis() as u64,
            "items rebuilt"
        );
        items.len()
    } else {
        items::count(db, name).await?
    };
    let scanned_at = db::now();
    let duration_ms = started.elapsed().as_millis() as u64;
    branch_rows::record_scan(db, name, &scanned_at, duration_ms, full, target_generation).await?;
    Ok(ScanReport {
        branch: name.to_string(),
        full,
        scanned_at,
        duration_ms,
        production: prod_stats,
        staging: stage_stats,
        items,
        auto_approved: 0,
    })
}

/// Chartgate's view of a target's store, brought up to date and held still: no scan changes it
/// while this lives (a branch's baseline is taken from it).
pub struct FreshTarget {
    _held: tokio::sync::OwnedMutexGuard<()>,
}

pub async fn fresh_target(state: &AppState, target: &Target) -> Result<FreshTarget> {
    let store = state.target_store(target).await?;
    let held = state.scan_locks.for_target(&target.name).await.lock_owned().await;
    refresh_side(&state.db, &store, PRODUCTION, &target.name, false, Default::default(), false).await?;
    Ok(FreshTarget { _held: held })
}

/// Rescans a branch now (incrementally unless `full`), one scan per branch at a time. A store
/// that cannot be read is recorded on the branch (and shown), then returned as the error.
///
/// The entry point of every door (REST, CLI, background): anyone who may view may rescan.
pub async fn rescan(state: &AppState, actor: &Actor, branch: &str, full: bool) -> Result<ScanReport> {
    actor.require(Role::Viewer)?;
    rescan_branch(state, &state.env_name(branch), full).await
}

/// Brings the branch's items up to date before they are relied on (a decision, the merge gate):
/// a rescan, unless nothing can have moved since the last one — both stores exactly as that scan
/// left them (a SQLite store's files, a file store's watched directory; see
/// [`ChartStore::change_marker`]) and the target's states of the same generation. That check is a
/// few `stat`s (or a drained inotify queue) and one small read: no branch lock and no write, so
/// reviewers deciding at once do not queue behind each other's rescans. A store without a change
/// marker (a database server, a file store that cannot be watched) is always rescanned.
pub(crate) async fn ensure_current(state: &AppState, name: &str) -> Result<()> {
    let row = branch_rows::get(&state.db, name)
        .await?
        .ok_or_else(|| Error::NotFound(format!("no branch {name} is registered")))?;
    ensure_row_current(state, &row).await
}

/// [`ensure_current`] of a branch whose row the caller just read.
pub(crate) async fn ensure_row_current(state: &AppState, row: &BranchRow) -> Result<()> {
    let name = row.name.as_str();
    if row.last_scan_at.is_some() && row.scan_error.is_none() {
        let target = state.targets.get(&row.target)?;
        let target_store = state.target_store(target).await?;
        let staging = state.stores.get(&row.store_url).await?;
        if target_store.unchanged_for(&marker_key(PRODUCTION, &row.target))
            && staging.unchanged_for(&marker_key(STAGING, name))
            && states::generation(&state.db, PRODUCTION, &row.target).await? == row.target_generation
        {
            return Ok(());
        }
    }
    rescan_branch(state, name, false).await.map(|_| ())
}

/// [`rescan`] for features that already checked their caller (a decision, the gate, a sync).
///
/// Incremental rescans coalesce: a caller that waited for the branch's lock while another scan
/// ran, and that scan began after the caller asked, gets that scan's result (its reads are newer
/// than the request) instead of scanning again. Fifty reviewers deciding at once cost one scan
/// per wave, not fifty in a row.
pub(crate) async fn rescan_branch(state: &AppState, name: &str, full: bool) -> Result<ScanReport> {
    let asked = Instant::now();
    let lock = state.scan_locks.for_branch(name).await;
    let mut last_began = lock.lock().await;
    let row = branch_rows::get(&state.db, name)
        .await?
        .ok_or_else(|| Error::NotFound(format!("no branch {name} is registered")))?;
    if !full && last_began.is_some_and(|began| began >= asked) {
        return Ok(ScanReport {
            branch: name.to_string(),
            full: false,
            scanned_at: row.last_scan_at.unwrap_or_default(),
            duration_ms: 0,
            production: SideStats::default(),
            staging: SideStats::default(),
            items: items::counts(&state.db, name).await?.total as usize,
            auto_approved: 0,
        });
    }
    let target = state.targets.get(&row.target)?;
    let target_lock = state.scan_locks.for_target(&target.name).await;
    let _target_held = target_lock.lock().await;
    let started = std::time::Instant::now();
    let result = async {
        let target_store = state.target_store(target).await?;
        let staging = state.stores.get(&row.store_url).await?;
        scan_branch(&state.db, &row, &target_store, &staging, full).await
    }
    .await;
    let sides = match &result {
        Ok(r) => vec![
            telemetry::ScanSide { side: "staging", read: r.staging.read, canonicalised: r.staging.canonicalised },
            telemetry::ScanSide {
                side: "production",
                read: r.production.read,
                canonicalised: r.production.canonicalised,
            },
        ],
        Err(_) => Vec::new(),
    };
    telemetry::scan(full, result.is_ok(), started.elapsed(), &sides);
    let mut result = result;
    if let Ok(report) = &mut result {
        *last_began = Some(started);
        // Still under the branch's lock: no other scan judges these items meanwhile. A rule that
        // cannot be applied leaves the items pending; the scan itself stands.
        match crate::rules::apply(state, name).await {
            Ok(n) => report.auto_approved = n,
            Err(e) => tracing::warn!(branch = name, error = %e.detail(), "auto-approval rules not applied"),
        }
        crate::notify::gate_may_have_changed(state, name);
    }
    if let Err(e @ Error::Store { .. }) = &result {
        state.stores.forget(&row.store_url).await;
        state.stores.forget(&target.store_url).await;
        tracing::warn!(branch = name, error = %e.detail(), "scan failed: a chart store is not usable");
        branch_rows::set_scan_error(&state.db, name, &e.to_string(), &e.detail()).await?;
    }
    result
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
            items.iter().map(|i| (i.chart_id.as_str(), i.kind.as_str(), i.conflict, i.parts.as_str())).collect();
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
        assert_eq!(items[0].kind, ItemKind::Modified);
        assert!(items[0].error.as_deref().unwrap().contains("chart x"));

        let mut broken_prod = state("x", "h", f);
        broken_prod.error = Some("production store p.db, chart x: config is not valid JSON".into());
        broken_prod.hash = None;
        assert!(items_of(&baseline, &baseline, &states(&[broken_prod])).is_empty(), "untouched by the branch");
    }
}
