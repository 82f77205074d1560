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
    /// A page of a branch's items; `user` is who `waiting_on=me` means.
    async fn diffs(&self, user: &CurrentUser, branch: &str, query: &DiffQuery) -> Result<DiffPage, ServiceError>;
    /// Adds a comment to an item's thread (design §14).
    async fn comment(
        &self,
        user: &CurrentUser,
        branch: &str,
        chart_id: &str,
        body: &crate::types::CommentRequest,
    ) -> Result<crate::types::Comment, ServiceError>;
    /// A lead dismisses a reviewer's rejection, with a reason.
    async fn dismiss(
        &self,
        user: &CurrentUser,
        branch: &str,
        chart_id: &str,
        req: &crate::types::DismissRequest,
    ) -> Result<DiffItem, ServiceError>;
    /// Asks people to review a branch or some of its charts.
    async fn ask(
        &self,
        user: &CurrentUser,
        branch: &str,
        req: &crate::types::AskForReview,
    ) -> Result<crate::types::AskedForReview, ServiceError>;
    /// Across open branches, the items waiting on `user`.
    async fn my_reviews(&self, user: &CurrentUser, page: Option<u32>) -> Result<crate::types::MyReviews, ServiceError>;
    /// How many items wait on `user` (the header's badge).
    async fn waiting_count(&self, user: &CurrentUser) -> Result<i64, ServiceError>;
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
