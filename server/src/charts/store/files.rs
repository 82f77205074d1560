//! Charts as files (design §13): `DIR/<id>.json` holds `{"slug", "config", "data", "metadata"}`.
//!
//! A chart's change stamp is its file's modification time and size. The parts are read as the
//! exact text the file holds for them (`serde_json`'s `RawValue`), so hashing, diffing and the
//! bytes written back are those of the file. Writes go to a hidden temporary file in the same
//! directory, are fsynced, read back and checked against the approved version, and only then
//! renamed over the chart's file: a reader sees the old file or the new one, never half of one.
//! Files that are not `*.json`, and hidden files, are not charts: never read, copied or touched.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::UNIX_EPOCH;

use serde::Deserialize;
use serde_json::value::RawValue;

use super::{before_write, ReadBack, Swap, Target};
use crate::charts::raw::{RawChart, Stamp};
use crate::error::{Error, Result};

#[derive(Clone)]
pub struct FileStore {
    pub url: String,
    pub dir: PathBuf,
    /// One writer at a time within this process (the compare-and-swap's read and rename).
    write_lock: Arc<tokio::sync::Mutex<()>>,
}

/// A chart file as it is laid out; other keys are allowed and kept (the file is written whole).
#[derive(Deserialize)]
struct Document<'a> {
    slug: String,
    #[serde(borrow)]
    config: &'a RawValue,
    #[serde(borrow)]
    data: &'a RawValue,
    #[serde(borrow)]
    metadata: &'a RawValue,
}

/// The file name of a chart id, or `None` for an id no file can carry (a path separator, a
/// leading dot, nothing at all).
fn file_name(id: &str) -> Option<String> {
    let bad = id.is_empty() || id.starts_with('.') || id.contains(['/', '\\', '\0']) || id.len() > 250;
    (!bad).then(|| format!("{id}.json"))
}

/// The chart id of a file name, when the file is a chart's.
fn chart_id(name: &str) -> Option<&str> {
    let id = name.strip_suffix(".json")?;
    (!id.is_empty() && !name.starts_with('.')).then_some(id)
}

/// A chart as a file holds it; a file that is not such a document is still a chart, whose parts
/// do not parse (an unreadable item, as a SQL row with broken JSON is).
fn parse(id: &str, text: &str, stamp: String) -> RawChart {
    match serde_json::from_str::<Document<'_>>(text) {
        Ok(d) => RawChart {
            id: id.to_string(),
            slug: d.slug,
            config: d.config.get().to_string(),
            data: d.data.get().to_string(),
            metadata: d.metadata.get().to_string(),
            updated_at: stamp,
        },
        Err(_) => {
            // Not JSON: its own parse error is the config's; JSON of another shape: no config.
            let config = if serde_json::from_str::<serde::de::IgnoredAny>(text).is_err() { text } else { "" };
            RawChart {
                id: id.to_string(),
                slug: id.to_string(),
                config: config.to_string(),
                data: String::new(),
                metadata: String::new(),
                updated_at: stamp,
            }
        }
    }
}

/// The text of a chart file holding `t`'s parts as they are.
pub fn document_of(t: &Target<'_>) -> String {
    let slug = serde_json::to_string(t.slug).expect("a string serialises");
    format!(
        "{{\n  \"slug\": {slug},\n  \"config\": {},\n  \"data\": {},\n  \"metadata\": {}\n}}\n",
        t.config, t.data, t.metadata
    )
}

/// A file's change stamp: its modification time (RFC 3339, to the nanosecond, so it reads and
/// sorts as the time the chart changed wherever `updated_at` is shown) and its size.
fn stamp_of(meta: &std::fs::Metadata) -> String {
    const FORMAT: &[time::format_description::FormatItem<'_>] =
        time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:9]Z");
    let mtime = meta
        .modified()
        .ok()
        .and_then(|m| m.duration_since(UNIX_EPOCH).ok())
        .and_then(|d| time::OffsetDateTime::from_unix_timestamp_nanos(d.as_nanos() as i128).ok())
        .and_then(|t| t.format(FORMAT).ok())
        .unwrap_or_else(|| "unknown time".into());
    format!("{mtime}, {} bytes", meta.len())
}

impl FileStore {
    pub fn open(url: &str, dir: &Path, create: bool) -> Result<FileStore> {
        if create {
            std::fs::create_dir_all(dir)
                .map_err(|e| Error::store(url, format!("cannot create {}: {e}", dir.display())))?;
        }
        let store = FileStore { url: url.to_string(), dir: dir.to_path_buf(), write_lock: Default::default() };
        store.check_dir()?;
        Ok(store)
    }

    /// The directory is there and is a directory.
    pub fn check_dir(&self) -> Result<()> {
        match std::fs::metadata(&self.dir) {
            Ok(m) if m.is_dir() => Ok(()),
            Ok(_) => Err(Error::store(&self.url, format!("{} is not a directory", self.dir.display()))),
            Err(e) => Err(Error::store(&self.url, format!("no directory at {}: {e}", self.dir.display()))),
        }
    }

    async fn blocking<T: Send + 'static>(&self, f: impl FnOnce(&FileStore) -> Result<T> + Send + 'static) -> Result<T> {
        let me = self.clone();
        tokio::task::spawn_blocking(move || f(&me)).await.map_err(Error::internal)?
    }

    pub async fn stamps(&self) -> Result<Vec<Stamp>> {
        self.blocking(|s| {
            s.check_dir()?;
            let entries = std::fs::read_dir(&s.dir)
                .map_err(|e| Error::store(&s.url, format!("cannot list {}: {e}", s.dir.display())))?;
            let mut out = Vec::new();
            for entry in entries {
                let entry = entry.map_err(|e| Error::store(&s.url, format!("cannot list {}: {e}", s.dir.display())))?;
                let name = entry.file_name();
                let Some(id) = name.to_str().and_then(chart_id) else { continue };
                // A file that cannot be stat'ed is still listed: reading it makes it an
                // unreadable item instead of a chart that silently vanished.
                let updated_at = match entry.metadata() {
                    Ok(m) if m.is_file() => stamp_of(&m),
                    Ok(_) => continue,
                    Err(e) => format!("unreadable: {e}"),
                };
                out.push(Stamp { id: id.to_string(), updated_at });
            }
            Ok(out)
        })
        .await
    }

    /// Reads one chart's file: `None` when there is none; an unreadable file is a chart whose
    /// parts do not parse. The file is opened once and its stamp taken from the open file: a
    /// full scan reads every chart, and a second lookup of each path (a `stat` before the read)
    /// is work for nothing.
    fn read_one(&self, id: &str) -> Option<(RawChart, String)> {
        use std::io::Read;
        let path = self.dir.join(file_name(id)?);
        let unreadable = |why: String, stamp: String| Some((RawChart::unreadable(id, why, stamp), String::new()));
        let mut file = match std::fs::File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
            Err(e) => return unreadable(e.to_string(), String::new()),
        };
        let meta = match file.metadata() {
            Ok(m) if m.is_file() => m,
            Ok(_) => return None,
            Err(e) => return unreadable(e.to_string(), String::new()),
        };
        let mut bytes = Vec::with_capacity(meta.len() as usize);
        if let Err(e) = file.read_to_end(&mut bytes) {
            return unreadable(e.to_string(), stamp_of(&meta));
        }
        match String::from_utf8(bytes) {
            Ok(text) => Some((parse(id, &text, stamp_of(&meta)), text)),
            Err(e) => unreadable(format!("it is not UTF-8 text ({})", e.utf8_error()), stamp_of(&meta)),
        }
    }

    pub async fn read_each<T: Send + 'static>(
        &self,
        ids: &[String],
        each: impl Fn(RawChart) -> T + Send + 'static,
    ) -> Result<Vec<T>> {
        let ids = ids.to_vec();
        self.blocking(move |s| {
            s.check_dir()?;
            Ok(ids.iter().filter_map(|id| s.read_one(id)).map(|(raw, _)| each(raw)).collect())
        })
        .await
    }

    /// A chart's file: its parts and its whole text.
    pub async fn exact(&self, id: &str) -> Result<Option<(RawChart, String)>> {
        let id = id.to_string();
        self.blocking(move |s| {
            s.check_dir()?;
            Ok(s.read_one(&id))
        })
        .await
    }

    /// Writes `text` as `id`'s file: a hidden temporary file in the directory, fsynced, checked
    /// by `verify` (which reads it back), then renamed over the chart's file. `verify` failing
    /// removes the temporary file and leaves the chart's file alone. The caller fsyncs the
    /// directory ([`FileStore::sync_dir`]): once per chart for a sync's write, once per batch for
    /// bulk writes (a fork of 5,000 charts spent most of its time in per-file directory syncs).
    fn write_file(&self, id: &str, text: &str, verify: impl Fn(&RawChart) -> Option<String>) -> Result<Option<String>> {
        let name =
            file_name(id).ok_or_else(|| Error::Unprocessable(format!("chart id {id:?} cannot be a file name")))?;
        let fail = |e: std::io::Error| Error::store(&self.url, format!("cannot write {name}: {e}"));
        let mut tmp =
            tempfile::Builder::new().prefix(".chartgate-").suffix(".tmp").tempfile_in(&self.dir).map_err(fail)?;
        tmp.write_all(text.as_bytes()).map_err(fail)?;
        tmp.as_file().sync_all().map_err(fail)?;
        let back = std::fs::read_to_string(tmp.path()).map_err(fail)?;
        if let Some(differs) = verify(&parse(id, &back, String::new())) {
            return Ok(Some(differs));
        }
        tmp.persist(self.dir.join(&name)).map_err(|e| fail(e.error))?;
        Ok(None)
    }

    /// Makes the directory's entries (renames, removals) durable.
    fn sync_dir(&self) -> Result<()> {
        let sync = || std::fs::File::open(&self.dir)?.sync_all();
        sync().map_err(|e: std::io::Error| Error::store(&self.url, format!("cannot sync {}: {e}", self.dir.display())))
    }

    fn remove(&self, id: &str) -> Result<()> {
        let Some(name) = file_name(id) else { return Ok(()) };
        match std::fs::remove_file(self.dir.join(&name)) {
            Ok(()) => self.sync_dir(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::store(&self.url, format!("cannot remove {name}: {e}"))),
        }
    }

    /// See [`super::ChartStore::compare_and_swap`]; a chart's file is written whole, with the
    /// staging file's exact bytes when the target carries them.
    pub async fn compare_and_swap(
        &self,
        id: &str,
        expected: Option<&str>,
        target: Option<&Target<'_>>,
        dry_run: bool,
    ) -> Result<Swap> {
        let _one_writer = self.write_lock.lock().await;
        let current = self.exact(id).await?.map(|(raw, _)| raw);
        if let Some(known) = before_write(id, current.as_ref(), expected, target, dry_run) {
            return Ok(known);
        }
        let id_owned = id.to_string();
        match target {
            None => self.blocking(move |s| s.remove(&id_owned)).await.map(|()| Swap::Written),
            Some(t) => {
                let text = t.document.map_or_else(|| document_of(t), str::to_string);
                let (hash, approved) = (t.hash.to_string(), t.to_raw(id));
                let differs = self
                    .blocking(move |s| {
                        let differs = s.write_file(&id_owned, &text, |back| {
                            ReadBack::check(&id_owned, Some(&Target::of_raw(&hash, &approved)), Some(back))
                        })?;
                        if differs.is_none() {
                            s.sync_dir()?;
                        }
                        Ok(differs)
                    })
                    .await?;
                Ok(differs.map_or(Swap::Written, Swap::ReadBackDiffers))
            }
        }
    }

    /// Writes charts as files (the demo and tests): each file composed from the parts.
    pub async fn put_many(&self, charts: &[RawChart]) -> Result<()> {
        let charts = charts.to_vec();
        self.blocking(move |s| {
            for c in &charts {
                let text = document_of(&Target::of_raw("", c));
                s.write_file(&c.id, &text, |_| None)?;
            }
            s.sync_dir()
        })
        .await
    }

    pub async fn delete(&self, id: &str) -> Result<()> {
        let id = id.to_string();
        self.blocking(move |s| s.remove(&id)).await
    }

    /// Copies `from`'s chart files byte for byte (`--fork`); nothing else in it is copied.
    pub async fn copy_files_from(&self, from: &FileStore) -> Result<usize> {
        let stamps = from.stamps().await?;
        let from = from.clone();
        self.blocking(move |s| {
            let mut n = 0;
            for stamp in stamps {
                if let Some((_, text)) = from.read_one(&stamp.id) {
                    s.write_file(&stamp.id, &text, |_| None)?;
                    n += 1;
                }
            }
            s.sync_dir()?;
            Ok(n)
        })
        .await
    }
}
