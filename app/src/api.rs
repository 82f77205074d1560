//! Server functions: the pages' only way to the server. Each checks its input and calls the
//! [`ChartgateService`](crate::service::ChartgateService) provided as context.

use leptos::prelude::*;

use crate::types::{BranchSummary, DiffDetail, DiffPage, DiffQuery};

#[cfg(feature = "ssr")]
fn service() -> Result<crate::service::SharedService, ServerFnError> {
    use_context::<crate::service::SharedService>().ok_or_else(|| ServerFnError::new("the service is not configured"))
}

#[cfg(feature = "ssr")]
fn to_server_error(err: crate::service::ServiceError) -> ServerFnError {
    ServerFnError::new(err.to_string())
}

#[server]
pub async fn list_branches() -> Result<Vec<BranchSummary>, ServerFnError> {
    service()?.branches().await.map_err(to_server_error)
}

#[server]
pub async fn list_diffs(branch: String, query: DiffQuery) -> Result<DiffPage, ServerFnError> {
    if branch.is_empty() {
        return Err(ServerFnError::new("no branch given"));
    }
    service()?.diffs(&branch, &query).await.map_err(to_server_error)
}

#[server]
pub async fn get_diff(branch: String, chart_id: String) -> Result<DiffDetail, ServerFnError> {
    service()?.diff_detail(&branch, &chart_id).await.map_err(to_server_error)
}
