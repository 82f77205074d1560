//! The services the pages need, as a trait the server implements.
//!
//! `app` must not depend on `server` (the dependency points one way), so server functions reach
//! the database through this trait, provided as context by the server at start-up.

use std::sync::Arc;

use crate::types::{BranchSummary, DiffDetail, DiffPage, DiffQuery};

/// What a service call can fail with, in words safe to show a user.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ServiceError {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Conflict(String),
    #[error("something went wrong on our side; it has been logged")]
    Internal,
}

#[async_trait::async_trait]
pub trait ChartgateService: Send + Sync + 'static {
    async fn branches(&self) -> Result<Vec<BranchSummary>, ServiceError>;
    async fn diffs(&self, branch: &str, query: &DiffQuery) -> Result<DiffPage, ServiceError>;
    async fn diff_detail(&self, branch: &str, chart_id: &str) -> Result<DiffDetail, ServiceError>;
}

/// How the server hands the service to server functions (`provide_context`).
pub type SharedService = Arc<dyn ChartgateService>;
