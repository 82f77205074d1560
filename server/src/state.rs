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
use crate::error::{Error, Result};
use crate::naming::env_name;
use crate::policy::Policy;
use crate::repo::reviews::DecisionQueue;
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
    /// People's decisions, written together (see [`DecisionQueue`]).
    pub decisions: DecisionQueue,
    /// The team's review policy (`[review]`, design §14).
    pub policy: Arc<Policy>,
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
        let stores = StorePools::new(config.store_settings());
        let policy = Arc::new(Policy::new(config.review.as_ref()));
        Ok(AppState {
            config: Arc::new(config),
            targets,
            decisions: DecisionQueue::start(db.clone(), policy.clone()),
            policy,
            db,
            stores,
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

impl AppState {
    /// What the server checks and settles before it serves: every owner the policy names is a
    /// user who can review, and every item's answer follows the policy (which may differ from
    /// the last start's).
    pub async fn settle_review_policy(&self) -> Result<()> {
        check_owners(&self.db, &self.policy).await?;
        let fingerprint = serde_json::to_string(&self.config.review).map_err(Error::internal)?;
        let settled: Option<String> = sqlx::query_scalar("select fingerprint from review_policy where id = 1")
            .fetch_optional(&self.db.pool)
            .await?;
        if settled.as_deref() == Some(fingerprint.as_str()) {
            return Ok(());
        }
        let changed = crate::repo::reviews::resolve_open(&self.db, &self.policy).await?;
        if changed > 0 {
            tracing::info!(items = changed, "review answers changed under the review policy");
        }
        sqlx::query(
            "insert into review_policy (id, fingerprint) values (1, $1)
             on conflict (id) do update set fingerprint = excluded.fingerprint",
        )
        .bind(&fingerprint)
        .execute(&self.db.pool)
        .await?;
        Ok(())
    }
}

/// Every owner `[[review.owners]]` names must be a user who can review.
pub async fn check_owners(db: &Db, policy: &Policy) -> Result<()> {
    for email in policy.all_owners() {
        match crate::repo::users::active_by_email(db, email).await? {
            Some(u) if u.role >= app::types::Role::Reviewer => {}
            Some(_) => {
                return Err(Error::BadRequest(format!(
                    "review.owners: {email} is a viewer; an owner must be able to review"
                )))
            }
            None => {
                return Err(Error::BadRequest(format!(
                    "review.owners: {email} is not a user (add them with `chartgate users add`)"
                )))
            }
        }
    }
    Ok(())
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
    /// A branch's item counts.
    pub counts: AtRevision<String, ItemCounts>,
    /// A branch's filtered total, by (branch, the filter's SQL and values).
    pub totals: AtRevision<(String, String), i64>,
    /// How many items wait on a person (the header's badge), by the open branches' revisions.
    pub waiting: AtRevision<String, i64>,
    /// A person's "My reviews" page, by (email, page, per page), at the same revisions.
    pub inboxes: AtRevision<String, app::types::MyReviews>,
}

/// Filtered totals kept at most (a filter is a key; past this the map starts over).
const KEPT_AT_MOST: usize = 4096;

/// Values read at a branch revision, each answered while the revision is the same.
pub struct AtRevision<K, V>(Arc<std::sync::Mutex<HashMap<K, (i64, V)>>>);

impl<K, V> Default for AtRevision<K, V> {
    fn default() -> Self {
        AtRevision(Default::default())
    }
}

impl<K, V> Clone for AtRevision<K, V> {
    fn clone(&self) -> Self {
        AtRevision(self.0.clone())
    }
}

impl<K: std::hash::Hash + Eq, V: Clone> AtRevision<K, V> {
    pub fn get(&self, key: &K, revision: i64) -> Option<V> {
        let map = self.0.lock().expect("list cache lock");
        map.get(key).filter(|(r, _)| *r == revision).map(|(_, v)| v.clone())
    }

    pub fn keep(&self, key: K, revision: i64, value: V) {
        let mut map = self.0.lock().expect("list cache lock");
        if map.len() >= KEPT_AT_MOST {
            map.clear();
        }
        map.insert(key, (revision, value));
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
