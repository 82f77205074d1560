//! The Leptos pages: the server's implementation of the pages' service trait, over the same
//! feature functions the REST API calls, so the browser and the API cannot drift apart.

use app::service::{ChartgateService, ServiceError};
use app::types::{
    AskForReview, AskedForReview, AuditPage, AuditQuery, BranchSummary, ChartVersion, Comment, CommentRequest,
    CurrentUser, DiffDetail, DiffItem, DiffPage, DiffQuery, DismissRequest, MyReviews, ReviewRequest, Role,
};

use crate::access::User;
use crate::error::Error;
use crate::repo::versions;
use crate::state::AppState;
use crate::{audit, branches, conversations, diffs, groups, inbox, reviews, sync};

pub struct Services {
    state: AppState,
}

impl Services {
    pub fn new(state: AppState) -> Self {
        Services { state }
    }
}

#[async_trait::async_trait]
impl ChartgateService for Services {
    async fn branches(&self) -> Result<Vec<BranchSummary>, ServiceError> {
        Ok(branches::list(&self.state, Role::Viewer).await?)
    }

    async fn targets(&self) -> Result<Vec<app::types::TargetSummary>, ServiceError> {
        Ok(branches::targets(&self.state, Role::Viewer))
    }

    async fn diffs(&self, user: &CurrentUser, branch: &str, query: &DiffQuery) -> Result<DiffPage, ServiceError> {
        Ok(diffs::list_for(&self.state, branch, query, Role::Viewer, &user.email).await?)
    }

    async fn comment(
        &self,
        user: &CurrentUser,
        branch: &str,
        chart_id: &str,
        body: &CommentRequest,
    ) -> Result<Comment, ServiceError> {
        Ok(conversations::post(&self.state, branch, chart_id, &User::from(user), body).await?)
    }

    async fn dismiss(
        &self,
        user: &CurrentUser,
        branch: &str,
        chart_id: &str,
        req: &DismissRequest,
    ) -> Result<DiffItem, ServiceError> {
        Ok(reviews::dismiss(&self.state, branch, chart_id, &User::from(user), req).await?)
    }

    async fn ask(&self, user: &CurrentUser, branch: &str, req: &AskForReview) -> Result<AskedForReview, ServiceError> {
        Ok(inbox::ask(&self.state, branch, &User::from(user), req).await?)
    }

    async fn my_reviews(&self, user: &CurrentUser, page: Option<u32>) -> Result<MyReviews, ServiceError> {
        Ok(inbox::my_reviews(&self.state, &User::from(user), page, None).await?)
    }

    async fn waiting_count(&self, user: &CurrentUser) -> Result<i64, ServiceError> {
        Ok(inbox::count(&self.state, &user.email).await?)
    }

    async fn diff_detail(&self, branch: &str, chart_id: &str) -> Result<DiffDetail, ServiceError> {
        Ok(diffs::detail(&self.state, branch, chart_id).await?)
    }

    async fn decide(
        &self,
        user: &CurrentUser,
        branch: &str,
        chart_id: &str,
        review: &ReviewRequest,
    ) -> Result<DiffItem, ServiceError> {
        Ok(reviews::decide(&self.state, branch, chart_id, &User::from(user), review).await?)
    }

    async fn audit(&self, user: &CurrentUser, query: &AuditQuery) -> Result<AuditPage, ServiceError> {
        Ok(audit::list(&self.state, &User::from(user), query).await?)
    }

    async fn version(&self, hash: &str) -> Result<ChartVersion, ServiceError> {
        Ok(versions::get(&self.state.db, hash).await?.ok_or_else(|| Error::NotFound(format!("no version {hash}")))?)
    }

    async fn groups(&self, branch: &str) -> Result<Vec<app::types::ChangeGroup>, ServiceError> {
        Ok(groups::list(&self.state, branch).await?)
    }

    async fn group(&self, branch: &str, id: &str) -> Result<app::types::GroupDetail, ServiceError> {
        Ok(groups::detail(&self.state, branch, id).await?)
    }

    async fn decide_group(
        &self,
        user: &CurrentUser,
        branch: &str,
        id: &str,
        review: &app::types::GroupReviewRequest,
    ) -> Result<app::types::BulkReviewResult, ServiceError> {
        Ok(groups::decide(&self.state, branch, id, &User::from(user), review).await?)
    }

    async fn jobs(&self, branch: Option<String>) -> Result<Vec<app::sync::SyncJob>, ServiceError> {
        Ok(sync::list_jobs(&self.state, branch.as_deref()).await?)
    }

    async fn job(&self, id: i64) -> Result<app::sync::SyncJob, ServiceError> {
        Ok(sync::get_job(&self.state.db, id).await?)
    }
}
