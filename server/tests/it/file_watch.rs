//! A file store's change marker (`FileStore::change_marker`, an inotify watch on its directory):
//! a rescan does not list a directory in which no chart's file changed, and sees every change
//! made before it asked, however it was made (written in place, renamed over, created, removed,
//! the directory replaced, the path's symlink swapped), with no wait between the write and the
//! scan.

use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, UNIX_EPOCH};

use app::types::{DiffQuery, ItemKind};
use chartgate::access::Actor;
use chartgate::charts::store::files::{document_of, NO_WATCH_FILE};
use chartgate::charts::store::{ChangeMarker, Target};
use chartgate::charts::ChartStore;
use chartgate::scans::{self, ScanReport};
use chartgate::state::AppState;

use crate::engine::{items, register_url};
use crate::support::{chart, Kind, TestEnv};

const BRANCH: &str = "feature-watch";

/// A branch on a file store holding production's three charts, scanned until both sides are
/// known: the last rescan lists neither.
struct Watched {
    env: TestEnv,
    state: AppState,
    production: PathBuf,
    staging: PathBuf,
}

/// Every chart file's modification time set far in the past: a write made now moves its stamp,
/// whatever the grain of the filesystem's clock.
fn age(dir: &Path) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "json") {
            let file = std::fs::File::options().write(true).open(&path).unwrap();
            file.set_modified(UNIX_EPOCH + Duration::from_secs(1_000_000_000)).unwrap();
        }
    }
}

fn copy_charts(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

async fn rescan(state: &AppState) -> ScanReport {
    scans::rescan(state, &Actor::system(), BRANCH, false).await.unwrap()
}

/// A chart file's text, as Chartgate writes one.
fn chart_text(id: &str, title: &str) -> String {
    document_of(&Target::of_raw("", &chart(id, title)))
}

/// The branch's items as `(id, kind, title)`.
async fn listed(state: &AppState) -> Vec<(String, ItemKind, String)> {
    let mut out: Vec<_> =
        items(state, BRANCH, DiffQuery::default()).await.into_iter().map(|i| (i.chart_id, i.kind, i.title)).collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

fn item(id: &str, kind: ItemKind, title: &str) -> (String, ItemKind, String) {
    (id.to_string(), kind, title.to_string())
}

/// Registers the branch on a copy of production's files: `DIR/work`, or with `through_link`
/// `DIR/current`, a symlink to `DIR/v1`.
async fn watched(through_link: bool) -> Watched {
    let env = TestEnv::new(Kind::Files).await;
    let (state, production_store) = env.state().await;
    production_store.put_many(&[chart("a", "Alpha"), chart("b", "Beta"), chart("c", "Gamma")]).await.unwrap();
    let production = env.dir.path().join("production");
    let staging = match through_link {
        false => env.dir.path().join("work"),
        true => {
            std::fs::create_dir(env.dir.path().join("v1")).unwrap();
            std::os::unix::fs::symlink("v1", env.dir.path().join("current")).unwrap();
            env.dir.path().join("current")
        }
    };
    copy_charts(&production, &staging);
    age(&production);
    age(&staging);
    register_url(&state, "feature/watch", &format!("file://{}", staging.display())).await.unwrap();
    rescan(&state).await;
    let r = rescan(&state).await;
    assert!(r.staging.unchanged_store && r.production.unchanged_store, "nothing moved, nothing listed: {r:?}");
    assert_eq!((r.staging.listed, r.production.listed), (0, 0));
    Watched { env, state, production, staging }
}

/// Writes `to` over the first `from` in the file, in place: the same size, no rename, no
/// truncation (the directory's time does not move).
fn edit_in_place(path: &Path, from: &str, to: &str) {
    assert_eq!(from.len(), to.len());
    let at = std::fs::read_to_string(path).unwrap().find(from).expect("the text to replace");
    let mut file = std::fs::File::options().write(true).open(path).unwrap();
    file.seek(SeekFrom::Start(at as u64)).unwrap();
    file.write_all(to.as_bytes()).unwrap();
}

/// A rescan with nothing changed lists neither store; an edit in place, of the same size, right
/// before a rescan is seen by that rescan, which lists only the side that moved.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edit_in_place_is_seen_by_the_next_rescan() {
    let w = watched(false).await;
    let size = std::fs::metadata(w.staging.join("a.json")).unwrap().len();
    edit_in_place(&w.staging.join("a.json"), "Alpha", "Alphz");
    assert_eq!(std::fs::metadata(w.staging.join("a.json")).unwrap().len(), size);
    let r = rescan(&w.state).await;
    assert!(!r.staging.unchanged_store, "{r:?}");
    assert_eq!((r.staging.listed, r.staging.read), (3, 1), "{r:?}");
    assert!(r.production.unchanged_store, "production did not move: {r:?}");
    assert_eq!(listed(&w.state).await, [item("a", ItemKind::Modified, "Alphz")]);

    // Production edited in place: seen too, and staging is not listed.
    edit_in_place(&w.production.join("b.json"), "Beta", "Bet!");
    let r = rescan(&w.state).await;
    assert!(!r.production.unchanged_store && r.staging.unchanged_store, "{r:?}");
    assert_eq!(r.production.read, 1, "{r:?}");
    let r = rescan(&w.state).await;
    assert!(r.staging.unchanged_store && r.production.unchanged_store, "{r:?}");
    w.env.cleanup().await;
}

/// A rescan after a write to one chart's file `stat`s only that file again, the one the watch
/// named (the directory's listing is kept): a write the watch cannot see, through a hard link
/// outside the directory, is not found by it, and is by a full rescan, which reads every file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rescan_stats_again_only_the_files_the_watch_named() {
    let w = watched(false).await;
    let outside = w.env.dir.path().join("outside");
    std::fs::create_dir(&outside).unwrap();
    std::fs::hard_link(w.staging.join("b.json"), outside.join("b")).unwrap();
    std::fs::write(outside.join("b"), chart_text("b", "Beta, unseen")).unwrap();
    edit_in_place(&w.staging.join("a.json"), "Alpha", "Alphz");
    let r = rescan(&w.state).await;
    assert!(!r.staging.unchanged_store && r.production.unchanged_store, "{r:?}");
    assert_eq!((r.staging.listed, r.staging.read), (3, 1), "b.json is not stat'ed again: {r:?}");
    assert_eq!(listed(&w.state).await, [item("a", ItemKind::Modified, "Alphz")]);

    let r = scans::rescan(&w.state, &Actor::system(), BRANCH, true).await.unwrap();
    assert_eq!((r.staging.listed, r.staging.read, r.production.read), (3, 3, 3), "{r:?}");
    assert_eq!(
        listed(&w.state).await,
        [item("a", ItemKind::Modified, "Alphz"), item("b", ItemKind::Modified, "Beta, unseen")]
    );
    w.env.cleanup().await;
}

/// An editor's save: a temporary file written beside the chart's, then renamed over it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_editor_s_rename_over_a_chart_is_seen_by_the_next_rescan() {
    let w = watched(false).await;
    let temp = w.staging.join(".a.json.swp");
    std::fs::write(&temp, chart_text("a", "Alpha, renamed")).unwrap();
    std::fs::rename(&temp, w.staging.join("a.json")).unwrap();
    let r = rescan(&w.state).await;
    assert!(!r.staging.unchanged_store && r.staging.read == 1, "{r:?}");
    assert_eq!(listed(&w.state).await, [item("a", ItemKind::Modified, "Alpha, renamed")]);
    w.env.cleanup().await;
}

/// A new chart file and a removed one, each right before a rescan.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_file_and_a_removed_file_are_seen_by_the_next_rescan() {
    let w = watched(false).await;
    std::fs::write(w.staging.join("d.json"), chart_text("d", "Delta")).unwrap();
    let r = rescan(&w.state).await;
    assert!(!r.staging.unchanged_store && r.staging.read == 1, "{r:?}");
    assert_eq!(listed(&w.state).await, [item("d", ItemKind::New, "Delta")]);

    std::fs::remove_file(w.staging.join("b.json")).unwrap();
    let r = rescan(&w.state).await;
    assert!(!r.staging.unchanged_store && r.staging.removed == 1, "{r:?}");
    assert_eq!(listed(&w.state).await, [item("b", ItemKind::Deleted, "Beta"), item("d", ItemKind::New, "Delta")]);

    // A chart file renamed to a name that is no chart's, and back.
    std::fs::rename(w.staging.join("c.json"), w.staging.join("c.json.bak")).unwrap();
    let r = rescan(&w.state).await;
    assert!(!r.staging.unchanged_store && r.staging.removed == 1, "{r:?}");
    std::fs::rename(w.staging.join("c.json.bak"), w.staging.join("c.json")).unwrap();
    let r = rescan(&w.state).await;
    assert!(!r.staging.unchanged_store && r.staging.read == 1, "{r:?}");
    assert_eq!(listed(&w.state).await, [item("b", ItemKind::Deleted, "Beta"), item("d", ItemKind::New, "Delta")]);
    w.env.cleanup().await;
}

/// Files that are not charts (another file of the checkout, a hidden editor file) are not listed,
/// so writing them does not make a rescan list the directory; Chartgate's own sync does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_to_files_that_are_not_charts_list_nothing() {
    let w = watched(false).await;
    for dir in [&w.staging, &w.production] {
        std::fs::write(dir.join("NOTES.md"), "touched\n").unwrap();
        std::fs::write(dir.join(".a.json.swp"), "x").unwrap();
        std::fs::write(dir.join("a.json.orig"), "x").unwrap();
    }
    let r = rescan(&w.state).await;
    assert!(r.staging.unchanged_store && r.production.unchanged_store, "{r:?}");

    // A chart touched without a change: listed and read, no item.
    std::fs::File::options().write(true).open(w.staging.join("c.json")).unwrap().set_modified(UNIX_EPOCH).unwrap();
    let r = rescan(&w.state).await;
    assert!(!r.staging.unchanged_store && r.staging.read == 1 && r.items == 0, "{r:?}");
    w.env.cleanup().await;
}

/// `.chartgate-no-watch` in a directory turns its marker off: every rescan lists it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_marker_can_be_turned_off_per_directory() {
    let w = watched(false).await;
    std::fs::write(w.staging.join(NO_WATCH_FILE), "").unwrap();
    for _ in 0..2 {
        let r = rescan(&w.state).await;
        assert!(!r.staging.unchanged_store && r.staging.listed == 3, "{r:?}");
        assert!(r.production.unchanged_store, "{r:?}");
    }
    std::fs::remove_file(w.staging.join(NO_WATCH_FILE)).unwrap();
    let r = rescan(&w.state).await;
    assert!(!r.staging.unchanged_store, "the first scan of a new watch lists: {r:?}");
    let r = rescan(&w.state).await;
    assert!(r.staging.unchanged_store, "{r:?}");
    w.env.cleanup().await;
}

/// The directory removed and made again (with other charts) between two rescans, or removed
/// before one: the marker is none while there is no directory and a new one after; every listing
/// is right and nothing panics.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_directory_removed_and_made_again_is_listed_again() {
    let w = watched(false).await;
    let url = format!("file://{}", w.staging.display());
    let store = ChartStore::open(&url, false).await.unwrap();
    let before = store.change_marker().expect("a marker on a local filesystem");
    assert!(matches!(before, ChangeMarker::Watch { .. }), "{before:?}");
    assert_eq!(store.change_marker(), Some(before), "nothing moved");

    // Replaced between two rescans: the new directory holds one more chart.
    std::fs::remove_dir_all(&w.staging).unwrap();
    assert_eq!(store.change_marker(), None, "no directory, no marker");
    copy_charts(&w.production, &w.staging);
    age(&w.staging);
    std::fs::write(w.staging.join("d.json"), chart_text("d", "Delta")).unwrap();
    let after = store.change_marker().expect("a new watch on the new directory");
    assert_ne!(after, before);
    let r = rescan(&w.state).await;
    assert!(!r.staging.unchanged_store && (r.staging.listed, r.staging.read) == (4, 1), "{r:?}");
    assert_eq!(listed(&w.state).await, [item("d", ItemKind::New, "Delta")]);
    let r = rescan(&w.state).await;
    assert!(r.staging.unchanged_store, "the new directory is watched: {r:?}");
    std::fs::remove_file(w.staging.join("d.json")).unwrap();
    let r = rescan(&w.state).await;
    assert!(!r.staging.unchanged_store && r.staging.removed == 1, "{r:?}");
    assert_eq!(listed(&w.state).await, []);

    // Moved away and another put in its place.
    let old = w.env.dir.path().join("work.old");
    std::fs::rename(&w.staging, &old).unwrap();
    copy_charts(&old, &w.staging);
    age(&w.staging);
    std::fs::write(w.staging.join("e.json"), chart_text("e", "Epsilon")).unwrap();
    let r = rescan(&w.state).await;
    assert!(!r.staging.unchanged_store && r.staging.read == 1, "{r:?}");
    assert_eq!(listed(&w.state).await, [item("e", ItemKind::New, "Epsilon")]);
    std::fs::write(old.join("f.json"), chart_text("f", "Phi")).unwrap();
    let r = rescan(&w.state).await;
    assert!(r.staging.unchanged_store, "the old directory is no longer the store: {r:?}");

    // Removed before a rescan: a scan error, then right again once it is back.
    std::fs::remove_dir_all(&w.staging).unwrap();
    let err = scans::rescan(&w.state, &Actor::system(), BRANCH, false).await.unwrap_err();
    assert!(err.detail().contains("no directory"), "{}", err.detail());
    copy_charts(&w.production, &w.staging);
    let r = rescan(&w.state).await;
    assert!(!r.staging.unchanged_store && r.staging.removed == 1, "{r:?}");
    assert_eq!(listed(&w.state).await, []);
    w.env.cleanup().await;
}

/// A store whose path is a symlink (a deploy that swaps `current` to a new release): the swap
/// raises no event on the directory watched, and is seen all the same.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_swapped_symlink_is_seen_by_the_next_rescan() {
    let w = watched(true).await;
    let (v1, v2) = (w.env.dir.path().join("v1"), w.env.dir.path().join("v2"));
    copy_charts(&v1, &v2);
    age(&v2);
    std::fs::write(v2.join("a.json"), chart_text("a", "Alpha v2")).unwrap();
    let next = w.env.dir.path().join("current.next");
    std::os::unix::fs::symlink("v2", &next).unwrap();
    std::fs::rename(&next, &w.staging).unwrap();
    let r = rescan(&w.state).await;
    assert!(!r.staging.unchanged_store && r.staging.read == 1, "{r:?}");
    assert_eq!(listed(&w.state).await, [item("a", ItemKind::Modified, "Alpha v2")]);
    let r = rescan(&w.state).await;
    assert!(r.staging.unchanged_store, "v2 is watched: {r:?}");

    // The old release is no longer the store; the new one is.
    std::fs::write(v1.join("b.json"), chart_text("b", "Beta v1")).unwrap();
    let r = rescan(&w.state).await;
    assert!(r.staging.unchanged_store, "{r:?}");
    edit_in_place(&v2.join("b.json"), "Beta", "Bet2");
    let r = rescan(&w.state).await;
    assert!(!r.staging.unchanged_store && r.staging.read == 1, "{r:?}");
    assert_eq!(
        listed(&w.state).await,
        [item("a", ItemKind::Modified, "Alpha v2"), item("b", ItemKind::Modified, "Bet2")]
    );
    w.env.cleanup().await;
}
