//! The server's implementation of the pages' service trait: the same feature functions the REST
//! API calls, so the browser and the API cannot drift apart.

use app::service::{ChartgateService, ServiceError};
use app::types::{
    AuditPage, AuditQuery, BranchSummary, ChartVersion, CurrentUser, DiffDetail, DiffItem, DiffPage, DiffQuery,
    ReviewRequest, Role,
};

use crate::auth::User;
use crate::error::Error;
use crate::state::AppState;
use crate::{audit, branches, diffs, reviews};

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
        Ok(branches::list(&self.state).await?)
    }

    async fn diffs(&self, branch: &str, query: &DiffQuery) -> Result<DiffPage, ServiceError> {
        Ok(diffs::list(&self.state, branch, query).await?)
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
        User::from(user).require(Role::Lead)?;
        Ok(audit::query::list(&self.state.db, query).await?)
    }

    async fn version(&self, hash: &str) -> Result<ChartVersion, ServiceError> {
        Ok(diffs::version(&self.state.db, hash).await?.ok_or_else(|| Error::NotFound(format!("no version {hash}")))?)
    }

    async fn jobs(&self, branch: Option<String>) -> Result<Vec<app::sync::SyncJob>, ServiceError> {
        Ok(crate::sync::list_jobs(&self.state, branch.as_deref()).await?)
    }

    async fn job(&self, id: i64) -> Result<app::sync::SyncJob, ServiceError> {
        Ok(crate::sync::get_job(&self.state.db, id).await?)
    }
}
