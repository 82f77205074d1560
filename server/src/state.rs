//! The application state every feature shares: configuration, Chartgate's database, the open
//! chart stores and the scan locks. Built once at start-up (the server, each CLI command).
//! The HTTP edge wraps it with what only the web needs (see [`crate::http::WebState`]).

use std::collections::HashMap;
use std::sync::Arc;

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
}

impl AppState {
    /// Connects to Chartgate's database and migrates it.
    pub async fn new(config: Config) -> Result<AppState> {
        let targets = Arc::new(config.resolve_targets()?);
        let db = Db::connect(&config.database_url).await?;
        db.migrate().await?;
        Ok(AppState {
            config: Arc::new(config),
            targets,
            db,
            stores: StorePools::default(),
            scan_locks: ScanLocks::default(),
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
