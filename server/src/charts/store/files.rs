//! Charts as files (design §13): `DIR/<id>.json` holds `{"slug", "config", "data", "metadata"}`.
//!
//! A chart's change stamp is its file's modification time and size. The parts are read as the
//! exact text the file holds for them (`serde_json`'s `RawValue`), so hashing, diffing and the
//! bytes written back are those of the file. Writes go to a hidden temporary file in the same
//! directory, are fsynced, read back and checked against the approved version, and only then
//! renamed over the chart's file: a reader sees the old file or the new one, never half of one.
//! Files that are not `*.json`, and hidden files, are not charts: never read, copied or touched.
//!
//! A store's change marker is an inotify watch on its directory ([`FileStore::change_marker`]):
//! a rescan skips listing a directory in which no chart's file changed since its last listing,
//! and the listing of a watched directory is kept, each file the watch names since re-`stat`ed
//! ([`FileStore::stamps`]). A file's parts are kept as positions in its text, by the hash of
//! the text: reading the same bytes again does not parse them again ([`Split`]).

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::ops::Range;
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
    /// The directory's watch, one per open store (the pool shares it with every clone).
    watch: Arc<std::sync::Mutex<Watch>>,
    /// Where the parts of each chart's file were found, by the hash of its text (see [`Split`]).
    splits: Arc<std::sync::Mutex<HashMap<String, Split>>>,
}

/// Where a chart file's parts lie in its text, and the text's hash: a file read again with the
/// same bytes (every file, at a full rescan) is cut at the same places instead of parsed again.
/// Parsing each file whole to find its three values was about half of the server's CPU time in
/// a warm full rescan (perf, 2 × 20,000 files of ~18 KB; serde_json validates ~800 MB/s here);
/// hashing the text costs a seventh of that. The hash is XXH3's 128 bits, what a scan already
/// takes as "the same bytes" (`raw_fingerprint`). Only files that parse are kept: any other is
/// parsed again at every read, as before. The first read of a file in a process still parses it
/// (a server's first full rescan costs what it did).
struct Split {
    hash: u128,
    slug: String,
    config: Range<usize>,
    data: Range<usize>,
    metadata: Range<usize>,
}

impl Split {
    fn of(text: &str, hash: u128, d: &Document<'_>) -> Split {
        // `RawValue::get` is a slice of `text` (the document is borrowed from it).
        let at = |part: &RawValue| {
            let start = part.get().as_ptr() as usize - text.as_ptr() as usize;
            start..start + part.get().len()
        };
        Split { hash, slug: d.slug.clone(), config: at(d.config), data: at(d.data), metadata: at(d.metadata) }
    }

    /// The chart `text` holds, when `text` is the one this split was made of.
    fn chart(&self, id: &str, text: &str, hash: u128, stamp: &str) -> Option<RawChart> {
        if self.hash != hash {
            return None;
        }
        let part = |r: &Range<usize>| text.get(r.clone()).map(str::to_string);
        Some(RawChart {
            id: id.to_string(),
            slug: self.slug.clone(),
            config: part(&self.config)?,
            data: part(&self.data)?,
            metadata: part(&self.metadata)?,
            updated_at: stamp.to_string(),
        })
    }
}

/// A hidden file that, present in a store's directory, turns the store's change marker off:
/// every rescan lists the directory, as on a filesystem whose writes inotify cannot see.
pub const NO_WATCH_FILE: &str = ".chartgate-no-watch";

/// Filesystems whose every write is made through this machine's kernel, so that inotify sees it
/// (`/proc/self/mountinfo`'s names). On any other (NFS, SMB, FUSE, 9p, virtiofs, Ceph, …) another
/// machine's writes raise no event, and a store there has no change marker.
#[cfg(target_os = "linux")]
const WATCHABLE: &[&str] = &[
    "ext2", "ext3", "ext4", "xfs", "btrfs", "zfs", "f2fs", "bcachefs", "jfs", "reiserfs", "nilfs2", "tmpfs", "ramfs",
    "overlay",
];

/// A file store's change marker: an inotify watch's id (unique within the process) and how
/// many times events on a chart's file were found on it.
pub type WatchMarker = (u64, u64);

/// The state of a store's watch (see [`FileStore::change_marker`]).
#[derive(Default)]
struct Watch {
    /// Not armed until a marker is first asked for: a store opened only to be checked or forked
    /// never holds an inotify instance.
    #[cfg(target_os = "linux")]
    live: Option<watch::Live>,
    /// The device of the last directory found on a filesystem that cannot be watched
    /// ([`WATCHABLE`]), and why: a store on NFS does not read the mount table at every scan. A
    /// verdict that it can be is never kept (a device number may come to name another mount).
    #[cfg(target_os = "linux")]
    unwatchable: Option<(u64, String)>,
    /// Why the store has no marker, as last logged (logged again only when the reason changes).
    off: Option<String>,
}

/// What [`Watch::listing`] has for a listing of the directory.
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
enum Listing {
    /// The directory's listing, up to date: the watch's kept listing, each file the watch named
    /// since re-`stat`ed; and the charts it no longer holds.
    Current(Vec<Stamp>, Vec<String>),
    /// The directory must be listed; the listing is then kept ([`Watch::keep`]) under this token.
    Keep((u64, u64)),
    /// The directory must be listed, and nothing is kept: no watch.
    Unwatched,
}

impl Watch {
    #[cfg(target_os = "linux")]
    fn marker(&mut self, dir: &Path) -> std::result::Result<WatchMarker, String> {
        if self.still_live(dir)? {
            return Ok(self.live.as_ref().expect("a live watch").marker());
        }
        let live = watch::Live::arm(dir, &mut self.unwatchable)?;
        let marker = live.marker();
        self.live = Some(live);
        Ok(marker)
    }

    /// Whether the watch is armed and still watches the directory, every event queued read;
    /// a watch that no longer does is dropped. An error when the watch is turned off.
    #[cfg(target_os = "linux")]
    fn still_live(&mut self, dir: &Path) -> std::result::Result<bool, String> {
        if std::fs::symlink_metadata(dir.join(NO_WATCH_FILE)).is_ok() {
            self.live = None;
            return Err(format!("{NO_WATCH_FILE} is in the directory"));
        }
        if let Some(live) = &mut self.live {
            if live.drain() && live.watches(dir) {
                return Ok(true);
            }
            // The directory was deleted, moved, unmounted or replaced: a new watch on whatever
            // the path is now, under a new id, so the next scan lists it.
            self.live = None;
        }
        Ok(false)
    }

    /// The directory's listing as the watch keeps it. A watch is never armed here (a store
    /// only forked from holds none): without one, or without a listing kept since it was
    /// armed (or since its queue overflowed, or the directory itself changed), the directory
    /// is listed.
    #[cfg(target_os = "linux")]
    fn listing(&mut self, dir: &Path) -> Listing {
        if !self.still_live(dir).unwrap_or(false) {
            return Listing::Unwatched;
        }
        let live = self.live.as_mut().expect("a live watch");
        match live.kept(dir) {
            Some((stamps, gone)) => Listing::Current(stamps, gone),
            None => Listing::Keep(live.listing_token()),
        }
    }

    #[cfg(not(target_os = "linux"))]
    fn marker(&mut self, _dir: &Path) -> std::result::Result<WatchMarker, String> {
        Err("inotify is Linux's".into())
    }

    #[cfg(not(target_os = "linux"))]
    fn listing(&mut self, _dir: &Path) -> Listing {
        Listing::Unwatched
    }

    /// Keeps `stamps`, a listing made after [`Watch::listing`] handed out `token`, unless the
    /// watch is another by now or another listing began since.
    #[cfg_attr(not(target_os = "linux"), allow(unused_variables))]
    fn keep(&mut self, token: (u64, u64), stamps: &[Stamp]) {
        #[cfg(target_os = "linux")]
        if let Some(live) = &mut self.live {
            live.keep(token, stamps);
        }
    }
}

/// The inotify watch of a store's directory.
///
/// The kernel queues an event within the system call that changes a file (a write, a rename, a
/// removal, a `utime`), before that call returns; a marker first reads every event queued, so a
/// write that finished before a scan asked for the marker is seen by that scan: no thread, no
/// delay. Only events on a chart's file name (`<id>.json`, not hidden) or on the directory itself
/// count: the listing reads nothing else. A queue that overflowed counts as a change.
#[cfg(target_os = "linux")]
mod watch {
    use std::collections::{BTreeMap, BTreeSet};
    use std::io::ErrorKind;
    use std::os::unix::fs::MetadataExt;
    use std::path::Path;
    use std::sync::atomic::{AtomicU64, Ordering};

    use inotify::{EventMask, Inotify, WatchMask};

    use super::{chart_id, filesystem_of, stamp_of, Stamp, WatchMarker, WATCHABLE};

    /// Files named by events that are re-`stat`ed one by one at most; past this, the directory
    /// is listed again (and the names are not held).
    const RESTAT_AT_MOST: usize = 1024;

    /// Ids of watches, never reused within the process: a marker of a previous watch never
    /// equals one of a new one.
    static NEXT_ID: AtomicU64 = AtomicU64::new(1);

    /// Everything that changes a file's content, stamp or the set of files, and the directory's
    /// own end.
    fn mask() -> WatchMask {
        WatchMask::MODIFY
            | WatchMask::CLOSE_WRITE
            | WatchMask::ATTRIB
            | WatchMask::CREATE
            | WatchMask::DELETE
            | WatchMask::MOVED_FROM
            | WatchMask::MOVED_TO
            | WatchMask::DELETE_SELF
            | WatchMask::MOVE_SELF
            | WatchMask::ONLYDIR
    }

    pub(super) struct Live {
        inotify: Inotify,
        id: u64,
        generation: u64,
        /// Device and inode of the directory watched: the path may come to name another (a
        /// symlink swapped, a directory moved away and another put in its place).
        dir: (u64, u64),
        buffer: Box<[u8]>,
        /// The directory's last listing (chart id → stamp), kept up to date with `named`.
        listing: Option<BTreeMap<String, String>>,
        /// Charts whose files events named since the listing was last brought up to date.
        named: BTreeSet<String>,
        /// An event named no file (the queue overflowed, the directory itself changed), or too
        /// many did: the directory must be listed again.
        everything: bool,
        /// Listings begun under this watch: only the last one begun is kept.
        listings: u64,
    }

    /// Whether `dir`'s filesystem is one whose writes inotify sees ([`WATCHABLE`]).
    fn watchable(dir: &Path) -> std::result::Result<(), String> {
        let canonical = std::fs::canonicalize(dir).map_err(|e| format!("cannot resolve {}: {e}", dir.display()))?;
        let mounts = std::fs::read_to_string("/proc/self/mountinfo")
            .map_err(|e| format!("cannot read /proc/self/mountinfo to tell its filesystem: {e}"))?;
        match filesystem_of(&mounts, &canonical) {
            Some(fs) if WATCHABLE.contains(&fs.as_str()) => Ok(()),
            Some(fs) => Err(format!("it is on {fs}, where inotify may not see other machines' writes")),
            None => Err("its filesystem is not in /proc/self/mountinfo".into()),
        }
    }

    fn identity(dir: &Path) -> std::result::Result<(u64, u64), String> {
        let meta = std::fs::metadata(dir).map_err(|e| format!("no directory at {}: {e}", dir.display()))?;
        Ok((meta.dev(), meta.ino()))
    }

    impl Live {
        /// A watch on `dir`, when its filesystem is one whose writes inotify sees
        /// (`unwatchable`: the device last found not to be, and why).
        pub(super) fn arm(dir: &Path, unwatchable: &mut Option<(u64, String)>) -> std::result::Result<Live, String> {
            let before = identity(dir)?;
            match unwatchable {
                Some((device, why)) if *device == before.0 => return Err(why.clone()),
                _ => {
                    if let Err(why) = watchable(dir) {
                        *unwatchable = Some((before.0, why.clone()));
                        return Err(why);
                    }
                }
            }
            let inotify =
                Inotify::init().map_err(|e| format!("no inotify instance ({e}; see fs.inotify.max_user_instances)"))?;
            inotify
                .watches()
                .add(dir, mask())
                .map_err(|e| format!("no inotify watch ({e}; see fs.inotify.max_user_watches)"))?;
            if identity(dir)? != before {
                return Err("the directory was replaced while its watch was made".into());
            }
            let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
            Ok(Live {
                inotify,
                id,
                generation: 0,
                dir: before,
                buffer: vec![0; 32 * 1024].into_boxed_slice(),
                listing: None,
                named: BTreeSet::new(),
                everything: true,
                listings: 0,
            })
        }

        pub(super) fn marker(&self) -> WatchMarker {
            (self.id, self.generation)
        }

        /// Reads every queued event, without waiting, and moves the generation when one
        /// concerns a chart's file or the directory; false when the watch is gone (the directory
        /// deleted, moved or unmounted) or cannot be read.
        pub(super) fn drain(&mut self) -> bool {
            let mut changed = false;
            let mut alive = true;
            loop {
                match self.inotify.read_events(&mut self.buffer) {
                    Ok(events) => {
                        for event in events {
                            let gone =
                                EventMask::IGNORED | EventMask::DELETE_SELF | EventMask::MOVE_SELF | EventMask::UNMOUNT;
                            alive &= !event.mask.intersects(gone);
                            match event.name {
                                // No name: the directory itself, or the queue overflowed.
                                None => {
                                    changed = true;
                                    self.everything = true;
                                }
                                Some(name) => {
                                    if let Some(id) = name.to_str().and_then(chart_id) {
                                        changed = true;
                                        if !self.everything {
                                            self.named.insert(id.to_string());
                                        }
                                    }
                                }
                            }
                        }
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                    Err(e) => {
                        tracing::warn!(error = %e, "a file store's inotify queue cannot be read");
                        alive = false;
                        break;
                    }
                }
            }
            self.generation += u64::from(changed);
            if self.named.len() > RESTAT_AT_MOST {
                self.everything = true;
            }
            if self.everything {
                self.named.clear();
            }
            alive
        }

        /// The kept listing, each file named since re-`stat`ed (as the listing `stat`s it: a
        /// symlink, a directory, or no file at all is no chart), and the charts named that are
        /// gone; `None` when there is none, or the directory must be listed again. Events are
        /// read first ([`Live::drain`]): a file changed before this is called is `stat`ed after
        /// its change.
        pub(super) fn kept(&mut self, dir: &Path) -> Option<(Vec<Stamp>, Vec<String>)> {
            let listing = self.listing.as_mut().filter(|_| !self.everything)?;
            let mut gone = Vec::new();
            for id in std::mem::take(&mut self.named) {
                match std::fs::symlink_metadata(dir.join(format!("{id}.json"))) {
                    Ok(m) if m.is_file() => {
                        listing.insert(id, stamp_of(&m));
                    }
                    Err(e) if e.kind() != ErrorKind::NotFound => {
                        listing.insert(id, format!("unreadable: {e}"));
                    }
                    _ => {
                        listing.remove(&id);
                        gone.push(id);
                    }
                }
            }
            let stamps = listing.iter().map(|(id, at)| Stamp { id: id.clone(), updated_at: at.clone() }).collect();
            Some((stamps, gone))
        }

        /// A listing of the directory begins: what is kept is dropped, and so are the names
        /// events gave so far (the listing `stat`s their files after their changes); events read
        /// from now on are applied to the listing once it is kept. The token names this listing.
        pub(super) fn listing_token(&mut self) -> (u64, u64) {
            self.listing = None;
            self.named.clear();
            self.everything = false;
            self.listings += 1;
            (self.id, self.listings)
        }

        /// Keeps a listing begun under `token`, unless another began since (that one is newer).
        pub(super) fn keep(&mut self, token: (u64, u64), stamps: &[Stamp]) {
            if token == (self.id, self.listings) && !self.everything {
                self.listing = Some(stamps.iter().map(|s| (s.id.clone(), s.updated_at.clone())).collect());
            }
        }

        /// The path still names the directory watched.
        pub(super) fn watches(&self, dir: &Path) -> bool {
            identity(dir).is_ok_and(|now| now == self.dir)
        }
    }
}

/// The type of the filesystem holding `dir` (a canonical path), from the text of
/// `/proc/self/mountinfo`: that of the deepest mount point above it, the last mounted when
/// several are stacked on one point.
#[cfg(target_os = "linux")]
fn filesystem_of(mountinfo: &str, dir: &Path) -> Option<String> {
    let mut best: Option<(usize, &str)> = None;
    for line in mountinfo.lines() {
        // `ID PARENT MAJ:MIN ROOT MOUNT_POINT OPTIONS [OPTIONAL…] - TYPE SOURCE SUPER_OPTIONS`
        let (Some(point), Some((_, after))) = (line.split(' ').nth(4), line.split_once(" - ")) else { continue };
        let Some(kind) = after.split(' ').next() else { continue };
        let point = unescape_mount(point);
        if dir.starts_with(&point) {
            let depth = point.components().count();
            if best.is_none_or(|(deepest, _)| depth >= deepest) {
                best = Some((depth, kind));
            }
        }
    }
    best.map(|(_, kind)| kind.to_string())
}

/// A mount point as `/proc/self/mountinfo` writes it, its space, tab, newline and backslash as
/// octal escapes (`\040`).
#[cfg(target_os = "linux")]
fn unescape_mount(text: &str) -> PathBuf {
    use std::os::unix::ffi::OsStringExt;
    let bytes = text.as_bytes();
    let (mut out, mut i) = (Vec::with_capacity(bytes.len()), 0);
    while i < bytes.len() {
        let octal =
            bytes.get(i + 1..i + 4).filter(|d| bytes[i] == b'\\' && d.iter().all(|c| (b'0'..=b'7').contains(c)));
        match octal {
            Some(d) => {
                out.push(d.iter().fold(0u8, |n, c| n.wrapping_mul(8).wrapping_add(c - b'0')));
                i += 4;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    PathBuf::from(std::ffi::OsString::from_vec(out))
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
    parse_split(id, text, None, stamp).0
}

/// [`parse`], and, given the text's hash, where the parts were found when it is a document.
fn parse_split(id: &str, text: &str, hash: Option<u128>, stamp: String) -> (RawChart, Option<Split>) {
    match serde_json::from_str::<Document<'_>>(text) {
        Ok(d) => {
            let split = hash.map(|hash| Split::of(text, hash, &d));
            let raw = RawChart {
                id: id.to_string(),
                slug: d.slug,
                config: d.config.get().to_string(),
                data: d.data.get().to_string(),
                metadata: d.metadata.get().to_string(),
                updated_at: stamp,
            };
            (raw, split)
        }
        Err(_) => {
            // Not JSON: its own parse error is the config's; JSON of another shape: no config.
            let config = if serde_json::from_str::<serde::de::IgnoredAny>(text).is_err() { text } else { "" };
            let raw = RawChart {
                id: id.to_string(),
                slug: id.to_string(),
                config: config.to_string(),
                data: String::new(),
                metadata: String::new(),
                updated_at: stamp,
            };
            (raw, None)
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

/// An open file's bytes, `size` its size when opened: into a buffer of that size and one byte
/// more, so that reading it whole takes one `read` and the `read` that finds its end (`File`'s
/// `read_to_end` `stat`s the file and seeks it again to size its buffer); a file that grew is
/// read on.
fn read_whole(file: &mut std::fs::File, size: u64) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut bytes = vec![0; usize::try_from(size).unwrap_or(usize::MAX - 1).saturating_add(1)];
    let mut filled = 0;
    loop {
        if filled == bytes.len() {
            bytes.resize(bytes.len() * 2, 0);
        }
        match file.read(&mut bytes[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    bytes.truncate(filled);
    Ok(bytes)
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
        let store = FileStore {
            url: url.to_string(),
            dir: dir.to_path_buf(),
            write_lock: Default::default(),
            watch: Default::default(),
            splits: Default::default(),
        };
        store.check_dir()?;
        Ok(store)
    }

    /// The store's change marker: an inotify watch on its directory and the number of times
    /// events on a chart's file were found on it; equal markers mean that no chart's file was
    /// written, created, removed, renamed or touched between them. Taken before a listing, a
    /// marker vouches for it: an event during the listing moves the next marker.
    ///
    /// The watch is made at the first call; a directory deleted, moved, unmounted or no longer
    /// the one the path names is watched anew, under a new id. `None` (every scan lists the
    /// directory) where there can be no watch: not Linux, a filesystem on which other machines
    /// write unseen ([`WATCHABLE`]), [`NO_WATCH_FILE`] in the directory, no directory, or the
    /// inotify limits reached. Writes through a shared `mmap`, or through a hard link under a name
    /// that is not the chart's, raise no event on the chart's name and are not seen.
    pub fn change_marker(&self) -> Option<WatchMarker> {
        let mut watch = self.watch.lock().expect("watch lock");
        match watch.marker(&self.dir) {
            Ok(marker) => {
                watch.off = None;
                Some(marker)
            }
            Err(why) => {
                if watch.off.as_deref() != Some(why.as_str()) {
                    tracing::info!(store = %self.url, reason = %why, "file store has no change marker: every scan lists it");
                    watch.off = Some(why);
                }
                None
            }
        }
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

    /// Every chart's id and stamp. A watched directory's listing is kept: the files events
    /// named since are `stat`ed again, no other (20,000 files are ~50 ms to list, one is a few
    /// µs); without a watch, or a kept listing, the directory is listed. So a write the watch
    /// does not see (a shared `mmap`, a hard link under another name; see
    /// [`FileStore::change_marker`]) is not found either when another chart's change makes a
    /// rescan list the directory: a full rescan, which reads every file, finds it.
    pub async fn stamps(&self) -> Result<Vec<Stamp>> {
        self.blocking(|s| s.list()).await
    }

    fn list(&self) -> Result<Vec<Stamp>> {
        self.check_dir()?;
        let listing = self.watch.lock().expect("watch lock").listing(&self.dir);
        let token = match listing {
            Listing::Current(stamps, gone) => {
                let mut splits = self.splits.lock().expect("splits lock");
                for id in gone {
                    splits.remove(&id);
                }
                return Ok(stamps);
            }
            Listing::Keep(token) => Some(token),
            Listing::Unwatched => None,
        };
        let stamps = self.list_dir()?;
        if let Some(token) = token {
            self.watch.lock().expect("watch lock").keep(token, &stamps);
        }
        self.forget_splits_but(&stamps);
        Ok(stamps)
    }

    fn list_dir(&self) -> Result<Vec<Stamp>> {
        let entries = std::fs::read_dir(&self.dir)
            .map_err(|e| Error::store(&self.url, format!("cannot list {}: {e}", self.dir.display())))?;
        let mut out = Vec::new();
        for entry in entries {
            let entry =
                entry.map_err(|e| Error::store(&self.url, format!("cannot list {}: {e}", self.dir.display())))?;
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
    }

    /// Drops the splits of files no longer listed (removed, renamed away).
    fn forget_splits_but(&self, listed: &[Stamp]) {
        let mut splits = self.splits.lock().expect("splits lock");
        if splits.is_empty() {
            return;
        }
        let listed: HashSet<&str> = listed.iter().map(|s| s.id.as_str()).collect();
        splits.retain(|id, _| listed.contains(id.as_str()));
    }

    /// Reads one chart's file: `None` when there is none; an unreadable file is a chart whose
    /// parts do not parse. The file is opened once and its stamp taken from the open file: a
    /// full scan reads every chart, and a second lookup of each path (a `stat` before the read)
    /// is work for nothing. Text read before is cut where it was (see [`Split`]).
    fn read_one(&self, id: &str) -> Option<(RawChart, String)> {
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
        let stamp = stamp_of(&meta);
        let bytes = match read_whole(&mut file, meta.len()) {
            Ok(bytes) => bytes,
            Err(e) => return unreadable(e.to_string(), stamp),
        };
        drop(file);
        let text = match String::from_utf8(bytes) {
            Ok(text) => text,
            Err(e) => return unreadable(format!("it is not UTF-8 text ({})", e.utf8_error()), stamp),
        };
        let hash = xxhash_rust::xxh3::xxh3_128(text.as_bytes());
        let known = self.splits.lock().expect("splits lock").get(id).and_then(|s| s.chart(id, &text, hash, &stamp));
        if let Some(raw) = known {
            return Some((raw, text));
        }
        let (raw, split) = parse_split(id, &text, Some(hash), stamp);
        if let Some(split) = split {
            self.splits.lock().expect("splits lock").insert(id.to_string(), split);
        }
        Some((raw, text))
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

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use std::io::Write;
    use std::path::Path;
    use std::time::{Duration, UNIX_EPOCH};

    use super::{filesystem_of, FileStore, Stamp, WatchMarker, NO_WATCH_FILE};
    use crate::charts::raw::RawChart;

    const MOUNTS: &str = "\
22 27 0:21 / /proc rw,relatime - proc proc rw
27 1 254:0 / / rw,relatime - ext4 /dev/vda rw,discard
40 27 0:40 / /srv/charts rw,relatime shared:5 master:2 - nfs4 server:/charts rw,vers=4.2
41 40 0:41 / /srv/charts/local\\040copy rw - tmpfs tmpfs rw
42 27 0:42 / /mnt rw - ext4 /dev/vdb rw
43 27 0:43 / /mnt rw - fuse.sshfs host:/x rw
";

    #[test]
    fn a_directory_s_filesystem_is_that_of_the_deepest_mount_above_it() {
        let of = |p: &str| filesystem_of(MOUNTS, Path::new(p));
        assert_eq!(of("/home/charts").as_deref(), Some("ext4"));
        assert_eq!(of("/srv/charts").as_deref(), Some("nfs4"));
        assert_eq!(of("/srv/charts/production").as_deref(), Some("nfs4"), "optional fields skipped");
        assert_eq!(of("/srv/charts/local copy/x").as_deref(), Some("tmpfs"), "an escaped space");
        assert_eq!(of("/srv/chartsx").as_deref(), Some("ext4"), "a name's prefix is no mount above it");
        assert_eq!(of("/mnt/x").as_deref(), Some("fuse.sshfs"), "the last mounted on a point");
        assert_eq!(filesystem_of("garbage\n\n", Path::new("/x")), None);
    }

    fn store() -> (tempfile::TempDir, FileStore) {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join("a.json"), "{}").unwrap();
        std::fs::write(dir.path().join("b.json"), "{}").unwrap();
        let store = FileStore::open("file://test", dir.path(), false).expect("store");
        (dir, store)
    }

    fn marker(store: &FileStore) -> WatchMarker {
        store.change_marker().expect("a marker on a local filesystem")
    }

    /// A listing as `(id, stamp)`, by id.
    type Listed = Vec<(String, String)>;

    fn sorted(mut stamps: Vec<Stamp>) -> Listed {
        stamps.sort_by(|a, b| a.id.cmp(&b.id));
        stamps.into_iter().map(|s| (s.id, s.updated_at)).collect()
    }

    /// The store's listing (kept, when watched) and the directory listed afresh.
    fn listings(store: &FileStore) -> (Listed, Listed) {
        (sorted(store.list().unwrap()), sorted(store.list_dir().unwrap()))
    }

    /// A watched directory's kept listing is the directory's after every kind of change, each
    /// made right before the listing.
    #[test]
    fn the_kept_listing_follows_every_change() {
        let (dir, store) = store();
        let d = dir.path().to_path_buf();
        marker(&store);
        let (kept, fresh) = listings(&store);
        assert_eq!(kept, fresh);
        assert_eq!(kept.len(), 2);
        let open = |name: &str| std::fs::File::options().write(true).open(d.join(name)).unwrap();
        type Change<'a> = (&'static str, Box<dyn Fn() + 'a>);
        let changes: Vec<Change<'_>> = vec![
            ("written in place", Box::new(|| open("a.json").write_all(b"[1]").unwrap())),
            ("touched", Box::new(|| open("a.json").set_modified(UNIX_EPOCH + Duration::from_secs(9)).unwrap())),
            ("created", Box::new(|| std::fs::write(d.join("c.json"), "{}").unwrap())),
            (
                "renamed over",
                Box::new(|| {
                    std::fs::write(d.join(".tmp"), "{\"x\": 12}").unwrap();
                    std::fs::rename(d.join(".tmp"), d.join("a.json")).unwrap()
                }),
            ),
            ("renamed away", Box::new(|| std::fs::rename(d.join("c.json"), d.join("c.txt")).unwrap())),
            ("renamed in", Box::new(|| std::fs::rename(d.join("c.txt"), d.join("c.json")).unwrap())),
            ("removed", Box::new(|| std::fs::remove_file(d.join("c.json")).unwrap())),
            ("a directory of a chart's name", Box::new(|| std::fs::create_dir(d.join("d.json")).unwrap())),
            (
                "a symlink of a chart's name",
                Box::new(|| std::os::unix::fs::symlink("a.json", d.join("e.json")).unwrap()),
            ),
            ("no chart's file", Box::new(|| std::fs::write(d.join("NOTES.md"), "x").unwrap())),
        ];
        for (what, change) in changes {
            change();
            let (kept, fresh) = listings(&store);
            assert_eq!(kept, fresh, "{what}");
        }
    }

    /// The kept listing `stat`s again only the files events named: a write the watch cannot
    /// see (through a hard link outside the directory) is not in it, until the directory is
    /// listed again.
    #[test]
    fn the_kept_listing_stats_only_what_events_named() {
        let (dir, store) = store();
        let outside = tempfile::tempdir().unwrap();
        std::fs::hard_link(dir.path().join("a.json"), outside.path().join("a")).unwrap();
        marker(&store);
        let first = sorted(store.list().unwrap());
        std::fs::write(outside.path().join("a"), "{\"unseen\": true}").unwrap();
        std::fs::write(dir.path().join("b.json"), "[1]").unwrap(); // another size: another stamp
        let (kept, fresh) = listings(&store);
        assert_eq!(kept[0], first[0], "a.json is not stat'ed again");
        assert_ne!(kept[1], first[1], "b.json is");
        assert_eq!(kept[1], fresh[1]);
        assert_ne!(fresh[0], first[0]);

        // Without the watch, the directory is listed.
        std::fs::write(dir.path().join(NO_WATCH_FILE), "").unwrap();
        let (unwatched, fresh) = listings(&store);
        assert_eq!(unwatched, fresh);
    }

    /// A file read again with the same bytes has the same parts, without a parse; other bytes
    /// (of the same size, written in place), or a file that no longer parses, are parsed.
    #[test]
    fn a_file_s_parts_are_kept_by_its_bytes() {
        let (dir, store) = store();
        let path = dir.path().join("a.json");
        let doc = |title: &str| {
            format!("{{\n  \"slug\": \"a-slug\",\n  \"config\": {{\"title\":\"{title}\"}},\n  \"data\": [1, 2],\n  \"metadata\": {{}}\n}}\n")
        };
        std::fs::write(&path, doc("Alpha")).unwrap();
        let parts = |raw: &RawChart| (raw.slug.clone(), raw.config.clone(), raw.data.clone(), raw.metadata.clone());
        let read = || store.read_one("a").unwrap();
        let (first, text) = read();
        assert_eq!(text, doc("Alpha"));
        assert_eq!(parts(&first), ("a-slug".into(), r#"{"title":"Alpha"}"#.into(), "[1, 2]".into(), "{}".into()));
        assert!(store.splits.lock().unwrap().contains_key("a"));
        assert_eq!(read().0, first, "kept: the same parts");

        std::fs::write(&path, doc("Alphz")).unwrap();
        let (second, _) = read();
        assert_eq!(second.config, r#"{"title":"Alphz"}"#);
        assert_eq!(read().0, second);

        // No longer a document: the whole text is its config, and nothing is kept for it.
        std::fs::write(&path, "{\"slug\": ").unwrap();
        let (broken, _) = read();
        assert_eq!((broken.slug.as_str(), broken.config.as_str(), broken.data.as_str()), ("a", "{\"slug\": ", ""));
        std::fs::write(&path, doc("Alpha")).unwrap();
        assert_eq!(parts(&read().0), parts(&first));

        // Removed: the next listing forgets it, kept (the watch names it) or made afresh.
        marker(&store);
        store.list().unwrap();
        std::fs::remove_file(&path).unwrap();
        assert!(store.read_one("a").is_none());
        store.list().unwrap();
        assert!(!store.splits.lock().unwrap().contains_key("a"));
        std::fs::write(&path, doc("Alpha")).unwrap();
        read();
        assert!(store.splits.lock().unwrap().contains_key("a"));
        std::fs::write(dir.path().join(NO_WATCH_FILE), "").unwrap();
        std::fs::remove_file(&path).unwrap();
        store.list().unwrap();
        assert!(!store.splits.lock().unwrap().contains_key("a"));
    }

    /// Every way a chart's file changes moves the marker, which then holds still; a file that is
    /// no chart's does not move it.
    #[test]
    fn the_marker_moves_with_every_change_to_a_chart_file_and_only_then() {
        let (dir, store) = store();
        let d = dir.path().to_path_buf();
        let first = marker(&store);
        assert_eq!(marker(&store), first, "nothing happened");
        std::fs::write(d.join("NOTES.md"), "x").unwrap();
        std::fs::write(d.join(".a.json.swp"), "x").unwrap();
        std::fs::write(d.join("a.json~"), "x").unwrap();
        std::fs::create_dir(d.join("sub")).unwrap();
        assert_eq!(marker(&store), first, "no chart's file changed");

        let open = |name: &str| std::fs::File::options().write(true).open(d.join(name)).unwrap();
        type Change<'a> = (&'static str, Box<dyn Fn() + 'a>);
        let changes: Vec<Change<'_>> = vec![
            ("written in place", Box::new(|| open("a.json").write_all(b"[]").unwrap())),
            ("truncated", Box::new(|| open("a.json").set_len(0).unwrap())),
            ("touched", Box::new(|| open("a.json").set_modified(UNIX_EPOCH + Duration::from_secs(9)).unwrap())),
            (
                "made read-only",
                Box::new(|| {
                    let mut p = std::fs::metadata(d.join("b.json")).unwrap().permissions();
                    p.set_readonly(true);
                    std::fs::set_permissions(d.join("b.json"), p).unwrap()
                }),
            ),
            ("created", Box::new(|| std::fs::write(d.join("c.json"), "{}").unwrap())),
            (
                "renamed over",
                Box::new(|| {
                    std::fs::write(d.join(".tmp"), "{\"x\": 1}").unwrap();
                    std::fs::rename(d.join(".tmp"), d.join("a.json")).unwrap()
                }),
            ),
            ("renamed away", Box::new(|| std::fs::rename(d.join("c.json"), d.join("c.txt")).unwrap())),
            ("renamed in", Box::new(|| std::fs::rename(d.join("c.txt"), d.join("c.json")).unwrap())),
            ("removed", Box::new(|| std::fs::remove_file(d.join("c.json")).unwrap())),
        ];
        let mut last = first;
        for (what, change) in changes {
            change();
            let now = marker(&store);
            assert_ne!(now, last, "{what}: the marker moves");
            assert_eq!(now.0, first.0, "{what}: the same watch");
            assert_eq!(marker(&store), now, "{what}: then holds still");
            last = now;
        }
    }

    /// More events than the kernel queues: the overflow is a change, and the watch goes on.
    #[test]
    fn an_overflowed_queue_is_a_change() {
        let (dir, store) = store();
        let queued: usize = std::fs::read_to_string("/proc/sys/fs/inotify/max_queued_events")
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(16_384);
        if queued > 200_000 {
            return; // too many to fill here
        }
        let first = marker(&store);
        let (mut a, mut b) = (
            std::fs::File::options().append(true).open(dir.path().join("a.json")).unwrap(),
            std::fs::File::options().append(true).open(dir.path().join("b.json")).unwrap(),
        );
        // Alternating files: identical successive events are merged, these are not.
        for _ in 0..queued / 2 + 10 {
            a.write_all(b" ").unwrap();
            b.write_all(b" ").unwrap();
        }
        let now = marker(&store);
        assert_ne!(now, first);
        assert_eq!(marker(&store), now);
        std::fs::write(dir.path().join("c.json"), "{}").unwrap();
        assert_ne!(marker(&store), now, "still watching");
    }

    /// No marker without a directory, or with `.chartgate-no-watch` in it; a new watch, never
    /// equal to the old one, once it is back.
    #[test]
    fn the_marker_follows_the_directory() {
        let (dir, store) = store();
        let first = marker(&store);
        std::fs::write(dir.path().join(NO_WATCH_FILE), "").unwrap();
        assert_eq!(store.change_marker(), None, "turned off");
        std::fs::remove_file(dir.path().join(NO_WATCH_FILE)).unwrap();
        let second = marker(&store);
        assert_ne!(second.0, first.0, "a new watch");

        std::fs::remove_dir_all(dir.path()).unwrap();
        assert_eq!(store.change_marker(), None, "no directory");
        assert_eq!(store.change_marker(), None);
        std::fs::create_dir(dir.path()).unwrap();
        let third = marker(&store);
        assert!(third.0 != first.0 && third.0 != second.0, "a new watch");
        std::fs::write(dir.path().join("a.json"), "{}").unwrap();
        assert_ne!(marker(&store), third, "the new directory is watched");

        // Moved away, another made in its place: the path names another directory.
        let moved = tempfile::tempdir().unwrap();
        let away = moved.path().join("away");
        let before = marker(&store);
        std::fs::rename(dir.path(), &away).unwrap();
        std::fs::create_dir(dir.path()).unwrap();
        let after = marker(&store);
        assert_ne!(after.0, before.0);
        std::fs::write(away.join("a.json"), "[]").unwrap();
        assert_eq!(marker(&store), after, "the directory moved away is no longer the store");
    }
}
