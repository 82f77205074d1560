//! The server's implementation of the pages' service trait: the same feature functions the REST
//! API calls, so the browser and the API cannot drift apart.

use app::service::{ChartgateService, ServiceError};
use app::types::{BranchSummary, DiffDetail, DiffPage, DiffQuery};

use crate::state::AppState;
use crate::{branches, diffs};

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
}
