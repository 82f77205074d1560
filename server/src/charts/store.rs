//! A chart store: where a target's or a branch's charts live (design §3, §13). Three kinds sit
//! behind one interface, [`ChartStore`]:
//!
//! - [`sql`]: a SQL database (SQLite, PostgreSQL, MySQL/MariaDB) holding §3's `charts` table, or
//!   the store's own schema read and written through a [`mapping`];
//! - [`files`]: one `<id>.json` per chart in a directory (charts as code).
//!
//! Scans, the diff, sync, merges and upgrades call [`ChartStore`] and never ask which kind it is;
//! the conformance suite (`tests/it/stores.rs`) runs the same checks against every kind. Every
//! write is a compare-and-swap that reads the chart back through the same path before it commits
//! ([`ReadBack`]). Every error names the store, so a user can tell which environment is broken.

pub mod files;
pub mod identity;
pub mod mapping;
pub mod sql;

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;

use super::canonical::canonicalize;
use super::raw::{RawChart, Stamp};
use crate::db::{self, redact, Backend};
use crate::error::{Error, Result};
use files::FileStore;
use mapping::{Mapping, MappingConfig, RenderKeys};
use sql::SqlStore;

pub use sql::{CHARTS_TABLE, STAMPS_INDEX_NAME};

#[derive(Clone)]
pub struct ChartStore {
    /// The URL as given (with `?mapping=` when there is one).
    pub url: String,
    kind: Kind,
    /// The change marker each scanner (`side:branch`) saw when it last listed this store.
    markers: Arc<std::sync::Mutex<HashMap<String, Option<ChangeMarker>>>>,
    /// The last `chart_views` read (see [`ChartStore::chart_views`]).
    views: Arc<std::sync::Mutex<Option<ViewsRead>>>,
    /// How this store's configs are read for titles and drawing (its mapping's keys, `[files]`).
    render: Arc<RenderKeys>,
}

#[derive(Clone)]
enum Kind {
    Sql(SqlStore),
    Files(FileStore),
}

/// `chart_views` as read (`None`: the store has no such table), with when and at which change
/// marker.
struct ViewsRead {
    marker: Option<ChangeMarker>,
    at: std::time::Instant,
    views: Option<Arc<HashMap<String, i64>>>,
}

/// How long views read from a store without a change marker (PostgreSQL) are used again.
const VIEWS_FRESH_FOR: std::time::Duration = std::time::Duration::from_secs(10);

/// How long such a store is taken to have no `chart_views` table before it is asked again: a
/// table an operator adds shows within a second.
const NO_VIEWS_FRESH_FOR: std::time::Duration = std::time::Duration::from_secs(1);

/// What tells that a store did not change since a scan listed it (see
/// [`ChartStore::change_marker`]): equal markers, nothing moved between them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChangeMarker {
    /// Modification time and length of a SQLite store's file and its write-ahead log: any
    /// commit changes one of them. Listing `updated_at` of a SQLite store reads every page of
    /// the table (the column sits after ~25 KB of JSON), so an unchanged file is worth knowing
    /// about.
    Sqlite([(u128, u64); 2]),
    /// A file store's inotify watch on its directory (an id unique within the process) and how
    /// many times events on a chart's file were found on it (see [`FileStore::change_marker`]).
    /// Listing a directory `stat`s every file: 20,000 files are ~50 ms a side.
    Watch { watch: u64, generation: u64 },
}

/// What the mappings and file stores of a configuration say (`[mappings.*]`, `[files]`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct StoreSettings {
    pub mappings: BTreeMap<String, MappingConfig>,
    pub files: RenderKeys,
}

/// A store URL taken apart (design §13).
#[derive(Clone, Debug, PartialEq)]
pub enum StoreUrl {
    /// A SQL database: the URL to connect to (Chartgate's `mapping` parameter stripped).
    Sql { engine: Backend, connect: String, mapping: Option<String> },
    /// `file://DIR`.
    Files { dir: PathBuf },
}

impl StoreUrl {
    pub fn parse(url: &str) -> Result<StoreUrl> {
        if let Some(dir) = url.strip_prefix("file://") {
            if dir.is_empty() || dir.contains('?') {
                return Err(Error::BadRequest(format!(
                    "{url}: a file store is file://DIR, with nothing after the directory"
                )));
            }
            return Ok(StoreUrl::Files { dir: PathBuf::from(dir) });
        }
        let engine = Backend::of(url).map_err(|_| {
            Error::BadRequest(format!(
                "unsupported store URL {}: use sqlite://PATH, postgres://…, mysql://… or file://DIR",
                redact(url)
            ))
        })?;
        let Some((base, query)) = url.split_once('?') else {
            return Ok(StoreUrl::Sql { engine, connect: url.to_string(), mapping: None });
        };
        let mut mapping = None;
        let mut kept = Vec::new();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            match pair.strip_prefix("mapping=") {
                Some("") => return Err(Error::BadRequest(format!("{}: mapping= needs a name", redact(url)))),
                Some(name) => mapping = Some(name.to_string()),
                None => kept.push(pair),
            }
        }
        let connect = if kept.is_empty() { base.to_string() } else { format!("{base}?{}", kept.join("&")) };
        Ok(StoreUrl::Sql { engine, connect, mapping })
    }
}

impl StoreSettings {
    /// The mapping a store URL names (§3's table when it names none); an unknown name is an
    /// error naming the ones configured.
    pub fn mapping(&self, name: Option<&str>) -> Result<Mapping> {
        let Some(name) = name else { return Ok(Mapping::charts_table()) };
        let config = self.mappings.get(name).ok_or_else(|| {
            let known: Vec<&str> = self.mappings.keys().map(String::as_str).collect();
            Error::Unprocessable(format!(
                "unknown mapping {name:?} ({})",
                if known.is_empty() {
                    "no [mappings.*] are configured".to_string()
                } else {
                    format!("configured: {}", known.join(", "))
                }
            ))
        })?;
        Mapping::from_config(name, config).map_err(Error::Unprocessable)
    }

    /// How a store URL's configs are read for drawing, without opening it: its mapping's keys,
    /// `[files]` for a file store, none for §3's table (or a URL that does not parse).
    pub fn render_keys_for(&self, url: &str) -> RenderKeys {
        match StoreUrl::parse(url) {
            Ok(StoreUrl::Files { .. }) => self.files.clone(),
            Ok(StoreUrl::Sql { mapping: Some(name), .. }) => {
                self.mappings.get(&name).map(MappingConfig::render).unwrap_or_default()
            }
            _ => RenderKeys::default(),
        }
    }

    /// Checks every mapping and the `[files]` keys without a database.
    pub fn check(&self) -> Result<()> {
        for name in self.mappings.keys() {
            self.mapping(Some(name))?;
        }
        self.files.check("[files]").map_err(Error::BadRequest)
    }
}

impl ChartStore {
    /// Opens an existing store of §3's table or a file store; `create` makes a missing SQLite
    /// file or directory (for the demo and `--fork`). A mapped store needs [`ChartStore::open_with`].
    pub async fn open(url: &str, create: bool) -> Result<ChartStore> {
        ChartStore::open_with(url, create, &StoreSettings::default()).await
    }

    /// Opens a store of any kind. A mapped store is validated against the database before it
    /// is handed out: a statement that does not prepare or lacks a column is an error here.
    pub async fn open_with(url: &str, create: bool, settings: &StoreSettings) -> Result<ChartStore> {
        let kind = match StoreUrl::parse(url)? {
            StoreUrl::Files { dir } => Kind::Files(FileStore::open(url, &dir, create)?),
            StoreUrl::Sql { engine, connect, mapping } => {
                let mapping = Arc::new(settings.mapping(mapping.as_deref())?);
                let store = SqlStore::open(&connect, engine, create, mapping.clone()).await?;
                if !mapping.builtin {
                    store.validate().await?;
                }
                Kind::Sql(store)
            }
        };
        let render = Arc::new(settings.render_keys_for(url));
        Ok(ChartStore { url: url.to_string(), kind, markers: Default::default(), views: Default::default(), render })
    }

    /// How this store's configs are read for titles and drawing (design §13).
    pub fn render_keys(&self) -> &RenderKeys {
        &self.render
    }

    /// The engine of a SQL store; `None` for a file store.
    pub fn engine(&self) -> Option<Backend> {
        match &self.kind {
            Kind::Sql(s) => Some(s.engine),
            Kind::Files(_) => None,
        }
    }

    /// §3's own table, when that is what the store holds (the upgrader's `indicators` and
    /// `chart_views` live beside it).
    pub fn charts_table(&self) -> Option<&SqlStore> {
        match &self.kind {
            Kind::Sql(s) if s.mapping.builtin => Some(s),
            _ => None,
        }
    }

    /// The store's change marker, taken before the listing it vouches for: SQLite's files, a
    /// file store's directory watch; none on a server (PostgreSQL keeps large text out of line,
    /// so its listing is cheap anyway). `None` when it cannot be taken: the store is listed.
    pub fn change_marker(&self) -> Option<ChangeMarker> {
        let s = match &self.kind {
            Kind::Files(f) => {
                return f.change_marker().map(|(watch, generation)| ChangeMarker::Watch { watch, generation })
            }
            Kind::Sql(s) if s.engine == Backend::Sqlite => s,
            Kind::Sql(_) => return None,
        };
        let path = db::sqlite_path(&s.url);
        let stat = |p: &str| -> Option<(u128, u64)> {
            match std::fs::metadata(p) {
                Ok(m) => {
                    let mtime = m.modified().ok()?.duration_since(std::time::UNIX_EPOCH).ok()?.as_nanos();
                    Some((mtime, m.len()))
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Some((0, 0)),
                Err(_) => None,
            }
        };
        Some(ChangeMarker::Sqlite([stat(&path)?, stat(&format!("{path}-wal"))?]))
    }

    /// True when this store is exactly as `key`'s last scan left it (SQLite's files, a file
    /// store's chart files).
    pub fn unchanged_for(&self, key: &str) -> bool {
        let now = self.change_marker();
        now.is_some() && self.last_marker(key) == now
    }

    pub fn last_marker(&self, key: &str) -> Option<ChangeMarker> {
        self.markers.lock().expect("marker lock").get(key).copied().flatten()
    }

    pub fn set_marker(&self, key: &str, marker: Option<ChangeMarker>) {
        self.markers.lock().expect("marker lock").insert(key.to_string(), marker);
    }

    /// The store's name in messages (its URL without a password).
    pub fn name(&self) -> String {
        redact(&self.url)
    }

    /// Creates what the store needs to hold charts: §3's table, or a file store's directory.
    pub async fn create_schema(&self) -> Result<()> {
        match &self.kind {
            Kind::Sql(s) => s.create_schema().await,
            Kind::Files(f) => f.check_dir(),
        }
    }

    /// Adds the optional index of design §3, `charts_id_updated_at (id, updated_at)`, unless the
    /// store has it; returns whether it was added. With it, listing `(id, updated_at)` — what
    /// every rescan after a write does — reads a small index instead of every chart's JSON (on
    /// SQLite `updated_at` sits after ~25 KB of text per row). Chartgate never adds it by itself:
    /// a store's schema is its owner's, so this runs only when asked (`chartgate store prepare`).
    pub async fn prepare(&self) -> Result<bool> {
        match &self.kind {
            Kind::Sql(s) => s.prepare().await,
            Kind::Files(_) => Err(Error::Unprocessable(format!(
                "{} is a file store: listing it reads no chart's content, there is nothing to prepare",
                self.name()
            ))),
        }
    }

    /// Whether the store has the index [`ChartStore::prepare`] adds.
    pub async fn has_stamps_index(&self) -> Result<bool> {
        match self.charts_table() {
            Some(s) => s.has_stamps_index().await,
            None => Ok(false),
        }
    }

    pub async fn ping(&self) -> Result<()> {
        match &self.kind {
            Kind::Sql(s) => s.ping().await,
            Kind::Files(f) => f.check_dir(),
        }
    }

    /// Every chart's id and change stamp.
    pub async fn stamps(&self) -> Result<Vec<Stamp>> {
        match &self.kind {
            Kind::Sql(s) => s.stamps().await,
            Kind::Files(f) => f.stamps().await,
        }
    }

    /// Reads the given charts (those that exist).
    pub async fn read(&self, ids: &[String]) -> Result<Vec<RawChart>> {
        self.read_each(ids, |raw| raw).await
    }

    /// Reads the given charts (those that exist) and hands each to `each` on the thread that
    /// read it, keeping only what `each` returns. A scan keeps a chart's state, not its 25 KB of
    /// JSON: dropped where it was read, the text is freed by the thread that allocated it, which
    /// the allocator reuses at once; handed to another thread first, it was held per thread and a
    /// 20,000-chart registration's memory grew with every batch read.
    pub async fn read_each<T: Send + 'static>(
        &self,
        ids: &[String],
        each: impl Fn(RawChart) -> T + Send + 'static,
    ) -> Result<Vec<T>> {
        match &self.kind {
            Kind::Sql(s) => s.read_each(ids, each).await,
            Kind::Files(f) => f.read_each(ids, each).await,
        }
    }

    pub async fn get(&self, id: &str) -> Result<Option<RawChart>> {
        Ok(self.read(&[id.to_string()]).await?.pop())
    }

    /// A chart exactly as stored: its parts, and for a file store the file's whole text (what a
    /// sync writes to another file store, byte for byte).
    pub async fn exact(&self, id: &str) -> Result<Option<Exact>> {
        match &self.kind {
            Kind::Files(f) => Ok(f.exact(id).await?.map(|(raw, text)| Exact { raw, document: Some(text) })),
            Kind::Sql(_) => Ok(self.get(id).await?.map(|raw| Exact { raw, document: None })),
        }
    }

    /// Writes charts as they are (insert or replace by id), in one transaction (a file each).
    pub async fn put_many(&self, charts: &[RawChart]) -> Result<()> {
        match &self.kind {
            Kind::Sql(s) => s.put_many(charts).await,
            Kind::Files(f) => f.put_many(charts).await,
        }
    }

    pub async fn delete(&self, id: &str) -> Result<()> {
        match &self.kind {
            Kind::Sql(s) => s.delete(id).await,
            Kind::Files(f) => f.delete(id).await,
        }
    }

    /// Copies every chart of `from` into this store (used by `branch add --fork`): a file store
    /// from a file store copies the files byte for byte.
    pub async fn copy_from(&self, from: &ChartStore) -> Result<usize> {
        if let (Kind::Files(to), Kind::Files(from)) = (&self.kind, &from.kind) {
            return to.copy_files_from(from).await;
        }
        let ids: Vec<String> = from.stamps().await?.into_iter().map(|s| s.id).collect();
        for chunk in ids.chunks(db::MAX_PARAMS) {
            self.put_many(&from.read(chunk).await?).await?;
        }
        Ok(ids.len())
    }

    /// Page views per chart over 30 days, from the store's optional `chart_views (chart_id text
    /// primary key, views_30d integer)` table (design §11); `None` when the store has no such
    /// table (or it cannot be read: relevance is a help, never a reason to fail the list).
    ///
    /// Every diff list shows them, so they are read again only when the store changed (SQLite:
    /// its files' change marker) or, without a marker (PostgreSQL), after ten seconds. A list
    /// used to read the whole table, row by row, on every request. That a store has no such
    /// table is kept too (for a second without a marker): asking on every list cost a failed
    /// statement each time, and an error line in PostgreSQL's log per request.
    pub async fn chart_views(&self) -> Option<Arc<HashMap<String, i64>>> {
        let Kind::Sql(store) = &self.kind else { return None };
        let marker = self.change_marker();
        if let Some(last) = self.views.lock().expect("views lock").as_ref() {
            let fresh = match marker {
                Some(now) => last.marker == Some(now),
                None if last.views.is_some() => last.at.elapsed() < VIEWS_FRESH_FOR,
                None => last.at.elapsed() < NO_VIEWS_FRESH_FOR,
            };
            if fresh {
                return last.views.clone();
            }
        }
        #[derive(sqlx::FromRow)]
        struct Views {
            chart_id: String,
            views_30d: Option<i64>,
        }
        let views = match sqlx::query_as::<_, Views>("select chart_id, views_30d from chart_views")
            .fetch_all(store.pool())
            .await
        {
            Ok(rows) => Some(Arc::new(rows.into_iter().map(|r| (r.chart_id, r.views_30d.unwrap_or(0))).collect())),
            Err(e) => {
                tracing::debug!(store = %self.name(), error = %e, "no chart_views table");
                None
            }
        };
        let read = ViewsRead { marker, at: std::time::Instant::now(), views: views.clone() };
        *self.views.lock().expect("views lock") = Some(read);
        views
    }

    /// Compare-and-swap of one chart, in one transaction (every write to a chart goes here:
    /// sync, merges).
    ///
    /// Reads the chart (locked: `begin immediate` on SQLite, `for update` on §3's table on a
    /// server, a serializable transaction through a mapping, one writer per file store),
    /// canonicalises it and compares its version hash: equal to `target`'s hash, nothing to do;
    /// different from `expected` (the hash the approval was made on, `None` for "absent"), nothing
    /// is written either. Otherwise writes `target` (`None` deletes) unless `dry_run`, reads the
    /// chart back through the same path and commits only when it hashes to `target`'s version
    /// ([`Swap::ReadBackDiffers`] otherwise, with nothing written). A constraint the write breaks
    /// (a slug another chart uses) is an [`Error::Conflict`]; an unreachable store an
    /// [`Error::Store`].
    pub async fn compare_and_swap(
        &self,
        id: &str,
        expected: Option<&str>,
        target: Option<&Target<'_>>,
        dry_run: bool,
    ) -> Result<Swap> {
        match &self.kind {
            Kind::Sql(s) => s.compare_and_swap(id, expected, target, dry_run).await,
            Kind::Files(f) => f.compare_and_swap(id, expected, target, dry_run).await,
        }
    }
}

/// A chart exactly as its store holds it (see [`ChartStore::exact`]).
#[derive(Clone, Debug, PartialEq)]
pub struct Exact {
    pub raw: RawChart,
    /// A file store's whole file.
    pub document: Option<String>,
}

/// The content a compare-and-swap writes: its version hash and its exact text.
#[derive(Clone, Copy, Debug)]
pub struct Target<'a> {
    pub hash: &'a str,
    pub slug: &'a str,
    pub config: &'a str,
    pub data: &'a str,
    pub metadata: &'a str,
    /// The whole file, when the text comes from a file store (a file store target writes it as
    /// it is; others write the parts).
    pub document: Option<&'a str>,
}

impl<'a> Target<'a> {
    pub fn of_raw(hash: &'a str, raw: &'a RawChart) -> Target<'a> {
        Target { hash, slug: &raw.slug, config: &raw.config, data: &raw.data, metadata: &raw.metadata, document: None }
    }

    /// The parts as a row (for checks that run where the borrow cannot go).
    pub fn to_raw(&self, id: &str) -> RawChart {
        RawChart {
            id: id.to_string(),
            slug: self.slug.to_string(),
            config: self.config.to_string(),
            data: self.data.to_string(),
            metadata: self.metadata.to_string(),
            updated_at: String::new(),
        }
    }
}

/// What [`ChartStore::compare_and_swap`] found and did.
#[derive(Clone, Debug, PartialEq)]
pub enum Swap {
    /// The store held the expected version; the target was written (or, dry, would be).
    Written,
    /// The store already holds the target; nothing written.
    AlreadyThere,
    /// The store holds neither (`found`: what it holds, when known); nothing written.
    Changed { found: Option<String> },
    /// The stored chart is not valid JSON; nothing written.
    Unreadable(String),
    /// Written, but reading it back gave other content (the reason says what differed): rolled
    /// back, nothing written.
    ReadBackDiffers(String),
}

/// The compare of a compare-and-swap, the same for every kind: `Some` when the answer is
/// known before writing (the stored chart is unreadable, already the target, not the expected
/// version, or the run is dry), `None` when the write goes ahead.
pub(crate) fn before_write(
    id: &str,
    current: Option<&RawChart>,
    expected: Option<&str>,
    target: Option<&Target<'_>>,
    dry_run: bool,
) -> Option<Swap> {
    let current = match current.map(canonicalize) {
        None => None,
        Some(Ok(c)) => Some(c.hash),
        Some(Err(e)) => return Some(Swap::Unreadable(format!("chart {id}: {e}"))),
    };
    if current.as_deref() == target.map(|t| t.hash) {
        return Some(Swap::AlreadyThere);
    }
    if current.as_deref() != expected {
        return Some(Swap::Changed { found: current });
    }
    dry_run.then_some(Swap::Written)
}

/// The check after every write: the chart read back must be the version written.
pub struct ReadBack;

impl ReadBack {
    /// `None` when `back` is `target` (both absent, or hashing alike); otherwise what differs.
    pub fn check(id: &str, target: Option<&Target<'_>>, back: Option<&RawChart>) -> Option<String> {
        let (target, back) = match (target, back) {
            (None, None) => return None,
            (None, Some(_)) => return Some(format!("chart {id} is still there after its delete statements")),
            (Some(_), None) => {
                return Some(format!("chart {id} cannot be read back after the write (read finds no row)"))
            }
            (Some(t), Some(b)) => (t, b),
        };
        let back = match canonicalize(back) {
            Ok(b) if b.hash == target.hash => return None,
            Ok(b) => b,
            Err(e) => return Some(format!("chart {id} read back is not valid: {e}")),
        };
        let written = match canonicalize(&target.to_raw(id)) {
            Ok(w) => w,
            Err(e) => return Some(format!("chart {id}: the approved text is not valid: {e}")),
        };
        let mut parts = Vec::new();
        if back.slug != written.slug {
            parts.push(format!("slug ({:?} written, {:?} read back)", written.slug, back.slug));
        }
        for (part, w, b) in [
            ("config", &written.config, &back.config),
            ("data", &written.data, &back.data),
            ("metadata", &written.metadata, &back.metadata),
        ] {
            if w != b {
                let at = first_difference(w, b).map(|p| format!(" at {p}")).unwrap_or_default();
                parts.push(format!("{part}{at}"));
            }
        }
        Some(format!(
            "chart {id} read back after the write differs from the approved version in {}; rolled back, nothing written",
            if parts.is_empty() { "its content".to_string() } else { parts.join(", ") }
        ))
    }
}

/// The first JSON path where two canonical texts differ.
fn first_difference(a: &str, b: &str) -> Option<String> {
    use serde_json::Value;
    fn walk(a: &Value, b: &Value, path: String) -> Option<String> {
        match (a, b) {
            (Value::Object(x), Value::Object(y)) => {
                for (k, v) in x {
                    match y.get(k) {
                        None => return Some(format!("{path}/{k} (missing)")),
                        Some(w) if w != v => return walk(v, w, format!("{path}/{k}")),
                        Some(_) => {}
                    }
                }
                y.keys().find(|k| !x.contains_key(*k)).map(|k| format!("{path}/{k} (added)"))
            }
            (Value::Array(x), Value::Array(y)) if x.len() == y.len() => x
                .iter()
                .zip(y)
                .enumerate()
                .find(|(_, (v, w))| v != w)
                .and_then(|(i, (v, w))| walk(v, w, format!("{path}/{i}"))),
            _ if a == b => None,
            _ => Some(if path.is_empty() { "/".to_string() } else { path }),
        }
    }
    walk(&serde_json::from_str(a).ok()?, &serde_json::from_str(b).ok()?, String::new())
}

/// Open chart stores by URL, so a scan reuses its connections instead of connecting per call.
/// Stores open with the configuration's mappings (`?mapping=NAME`).
#[derive(Clone, Default)]
pub struct StorePools {
    open: Arc<Mutex<HashMap<String, ChartStore>>>,
    pub settings: Arc<StoreSettings>,
}

impl StorePools {
    pub fn new(settings: StoreSettings) -> StorePools {
        StorePools { open: Default::default(), settings: Arc::new(settings) }
    }

    pub async fn get(&self, url: &str) -> Result<ChartStore> {
        if let Some(s) = self.open.lock().await.get(url) {
            return Ok(s.clone());
        }
        let store = ChartStore::open_with(url, false, &self.settings).await?;
        self.open.lock().await.insert(url.to_string(), store.clone());
        Ok(store)
    }

    /// Opens a store that is not pooled (a registration's check, a fork being made).
    pub async fn open(&self, url: &str, create: bool) -> Result<ChartStore> {
        ChartStore::open_with(url, create, &self.settings).await
    }

    /// Forgets a store whose connections failed, so the next call reconnects.
    pub async fn forget(&self, url: &str) {
        self.open.lock().await.remove(url);
    }
}
