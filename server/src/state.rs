//! The application state every handler, server function and command shares: configuration,
//! Chartgate's database, the open chart stores and the scan locks. Built once at start-up.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::FromRef;
use leptos::config::LeptosOptions;
use tokio::sync::Mutex;

use crate::charts::{ChartStore, StorePools};
use crate::config::Config;
use crate::db::Db;
use crate::error::Result;

#[derive(Clone, FromRef)]
pub struct AppState {
    pub config: Arc<Config>,
    pub db: Db,
    pub stores: StorePools,
    pub scan_locks: ScanLocks,
    pub login_limiter: crate::session::LoginLimiter,
    pub leptos_options: LeptosOptions,
}

impl AppState {
    /// Connects to Chartgate's database and migrates it.
    pub async fn new(config: Config) -> Result<AppState> {
        let db = Db::connect(&config.database_url).await?;
        db.migrate().await?;
        let site_addr: std::net::SocketAddr = config.listen.parse().unwrap_or_else(|_| ([127, 0, 0, 1], 3000).into());
        let leptos_options = LeptosOptions::builder()
            .output_name("chartgate")
            .site_root(config.site_root.as_str())
            .site_pkg_dir("pkg")
            .site_addr(site_addr)
            .build();
        Ok(AppState {
            config: Arc::new(config),
            db,
            stores: StorePools::default(),
            scan_locks: ScanLocks::default(),
            login_limiter: Default::default(),
            leptos_options,
        })
    }

    pub async fn production(&self) -> Result<ChartStore> {
        self.stores.get(&self.config.production_url).await
    }
}

/// One lock per branch, so two rescans of the same branch never interleave their writes.
#[derive(Clone, Default)]
pub struct ScanLocks {
    locks: Arc<Mutex<HashMap<String, Arc<Mutex<()>>>>>,
}

impl ScanLocks {
    pub async fn for_branch(&self, branch: &str) -> Arc<Mutex<()>> {
        self.locks.lock().await.entry(branch.to_string()).or_default().clone()
    }
}
