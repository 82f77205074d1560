//! The application state every feature shares: configuration, Chartgate's database, the open
//! chart stores, the scan locks and the list cache. Built once at start-up (the server, each CLI command).
//! The HTTP edge wraps it with what only the web needs (see [`crate::http::WebState`]).

use std::collections::HashMap;
use std::sync::Arc;

use app::types::ItemCounts;
use tokio::sync::Mutex;

use crate::charts::{ChartStore, StorePools};
use crate::config::Config;
use crate::db::Db;
use crate::error::Result;
use crate::naming::env_name;
use crate::targets::{Target, Targets};

#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub targets: Arc<Targets>,
    pub db: Db,
    pub stores: StorePools,
    pub scan_locks: ScanLocks,
    /// Diff-list counts by branch revision (see [`ListCache`]).
    pub lists: ListCache,
}

impl AppState {
    /// Connects to Chartgate's database and migrates it.
    pub async fn new(config: Config) -> Result<AppState> {
        let targets = Arc::new(config.resolve_targets()?);
        let db = Db::connect(&config.database_url).await?;
        db.migrate().await?;
        // Migration 0012's data step: versions stored uncompressed before it move over.
        let moved = crate::repo::versions::move_legacy(&db).await?;
        if moved > 0 {
            tracing::info!(versions = moved, "moved uncompressed versions into version_texts");
        }
        Ok(AppState {
            config: Arc::new(config),
            targets,
            db,
            stores: StorePools::default(),
            scan_locks: ScanLocks::default(),
            lists: ListCache::default(),
        })
    }

    /// The open store of a target.
    pub async fn target_store(&self, target: &Target) -> Result<ChartStore> {
        self.stores.get(&target.store_url).await
    }

    /// The environment name of a branch given by its raw or environment name.
    pub fn env_name(&self, branch: &str) -> String {
        env_name(branch, self.config.branch_name_max)
    }
}

/// One lock per scanned side, so two rescans of the same branch (or two refreshes of a
/// target's store) never interleave their writes. A branch's lock holds when its last successful
/// scan began, so callers that queued behind a scan which began after they asked can use it
/// instead of scanning again.
/// What every diff list of a branch counts, kept by the branch's revision.
///
/// Counting a branch's items with their decisions reads every item; a branch's revision moves
/// with every change to them (database triggers, in the writing transaction), so a count read at
/// a revision is the count until the revision moves — on this replica or any other. The revision
/// is read before counting, so a cached count is never older than its revision.
#[derive(Clone, Default)]
pub struct ListCache {
    /// Branch → (revision, counts).
    counts: Arc<std::sync::Mutex<HashMap<String, (i64, ItemCounts)>>>,
    /// (branch, filter) → (revision, total).
    totals: Arc<std::sync::Mutex<HashMap<FilterKey, (i64, i64)>>>,
}

/// A branch and one of its list filters (the filter's SQL and values).
type FilterKey = (String, String);

/// Filtered totals kept at most (a filter is a key; past this the map starts over).
const TOTALS_KEPT: usize = 4096;

impl ListCache {
    pub fn counts(&self, branch: &str, revision: i64) -> Option<ItemCounts> {
        let counts = self.counts.lock().expect("list cache lock");
        counts.get(branch).filter(|(r, _)| *r == revision).map(|(_, c)| c.clone())
    }

    pub fn keep_counts(&self, branch: &str, revision: i64, counts: &ItemCounts) {
        self.counts.lock().expect("list cache lock").insert(branch.to_string(), (revision, counts.clone()));
    }

    /// The total of a filtered list (`filter`: the filter's SQL and values, as one key).
    pub fn total(&self, branch: &str, filter: &str, revision: i64) -> Option<i64> {
        let totals = self.totals.lock().expect("list cache lock");
        totals.get(&(branch.to_string(), filter.to_string())).filter(|(r, _)| *r == revision).map(|(_, n)| *n)
    }

    pub fn keep_total(&self, branch: &str, filter: &str, revision: i64, total: i64) {
        let mut totals = self.totals.lock().expect("list cache lock");
        if totals.len() >= TOTALS_KEPT {
            totals.clear();
        }
        totals.insert((branch.to_string(), filter.to_string()), (revision, total));
    }
}

#[derive(Clone, Default)]
pub struct ScanLocks {
    targets: Arc<Mutex<HashMap<String, Arc<Mutex<()>>>>>,
    branches: Arc<Mutex<HashMap<String, BranchScanLock>>>,
}

/// A branch's scan lock, holding when its last successful scan began.
pub type BranchScanLock = Arc<Mutex<Option<std::time::Instant>>>;

impl ScanLocks {
    pub async fn for_branch(&self, branch: &str) -> BranchScanLock {
        self.branches.lock().await.entry(branch.to_string()).or_default().clone()
    }

    pub async fn for_target(&self, target: &str) -> Arc<Mutex<()>> {
        self.targets.lock().await.entry(target.to_string()).or_default().clone()
    }
}
