//! The services the pages need, as a trait the server implements.
//!
//! `app` must not depend on `server` (the dependency points one way), so server functions reach
//! the database through this trait, provided as context by the server at start-up.

use std::sync::Arc;

use crate::types::{
    AuditPage, AuditQuery, BranchSummary, ChartVersion, CurrentUser, DiffDetail, DiffItem, DiffPage, DiffQuery,
    ReviewRequest,
};

pub use crate::error::AppError as ServiceError;

#[async_trait::async_trait]
pub trait ChartgateService: Send + Sync + 'static {
    async fn branches(&self) -> Result<Vec<BranchSummary>, ServiceError>;
    async fn targets(&self) -> Result<Vec<crate::types::TargetSummary>, ServiceError>;
    async fn diffs(&self, branch: &str, query: &DiffQuery) -> Result<DiffPage, ServiceError>;
    async fn diff_detail(&self, branch: &str, chart_id: &str) -> Result<DiffDetail, ServiceError>;
    async fn decide(
        &self,
        user: &CurrentUser,
        branch: &str,
        chart_id: &str,
        review: &ReviewRequest,
    ) -> Result<DiffItem, ServiceError>;
    async fn audit(&self, user: &CurrentUser, query: &AuditQuery) -> Result<AuditPage, ServiceError>;
    async fn version(&self, hash: &str) -> Result<ChartVersion, ServiceError>;
    /// Groups of items with the same change (design §11).
    async fn groups(&self, branch: &str) -> Result<Vec<crate::types::ChangeGroup>, ServiceError>;
    async fn group(&self, branch: &str, id: &str) -> Result<crate::types::GroupDetail, ServiceError>;
    async fn decide_group(
        &self,
        user: &CurrentUser,
        branch: &str,
        id: &str,
        review: &crate::types::GroupReviewRequest,
    ) -> Result<crate::types::BulkReviewResult, ServiceError>;
    async fn jobs(&self, branch: Option<String>) -> Result<Vec<crate::sync::SyncJob>, ServiceError>;
    async fn job(&self, id: i64) -> Result<crate::sync::SyncJob, ServiceError>;
}

/// How the server hands the service to server functions (`provide_context`).
pub type SharedService = Arc<dyn ChartgateService>;
