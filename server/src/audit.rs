//! The audit trail for team leads: filtered pages, CSV exports, and one chart's decisions (which
//! every viewer sees on the chart's page).

use app::types::{AuditEvent, AuditPage, AuditQuery, Role};
use futures::Stream;

use crate::access::User;
use crate::error::Result;
use crate::repo::audit;
use crate::state::AppState;

/// The branch filter as an environment name (raw names are accepted), if one is given.
fn branch_filter(state: &AppState, q: &AuditQuery) -> Option<String> {
    q.branch.as_deref().map(str::trim).filter(|b| !b.is_empty()).map(|b| state.env_name(b))
}

/// A page of matching events (leads).
pub async fn list(state: &AppState, user: &User, q: &AuditQuery) -> Result<AuditPage> {
    user.require(Role::Lead)?;
    audit::list(&state.db, q, branch_filter(state, q)).await
}

/// Every matching event as streamed CSV (leads).
pub fn csv(state: &AppState, user: &User, q: AuditQuery) -> Result<impl Stream<Item = Result<String, std::io::Error>>> {
    user.require(Role::Lead)?;
    let branch = branch_filter(state, &q);
    audit::csv_stream(state.db.clone(), q, branch)
}

/// Every decision on one chart, across branches, newest first (viewers).
pub async fn chart_history(state: &AppState, user: &User, chart_id: &str) -> Result<Vec<AuditEvent>> {
    user.require(Role::Viewer)?;
    audit::chart_history(&state.db, chart_id).await
}
