//! The upgrader in the browser: the plain form endpoints behind its pages (apply, undo, approve
//! an upgrade's items), which work with or without WebAssembly, and the pages' upgrade service.
//!
//! Like [`super::forms`]: the session middleware checked the Origin of these cookie-authenticated
//! POSTs, the role extractor checks the caller, the feature checks again; each action redirects
//! to a page with a `notice` (or an `error` it shows as text).

use std::collections::BTreeMap;

use app::types::{BulkReviewRequest, CurrentUser, DiffQuery, ReviewStatus};
use app::upgrades::{Datasets, Preview, PreviewRequest, Upgrade, UpgradeRequest, UpgradeService};
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::post;
use axum::{Form, Router};

use super::extract::Reviewer;
use super::session::login_url;
use super::WebState;
use crate::access::{Actor, User};
use crate::error::Error;
use crate::state::AppState;
use crate::{diffs, reviews, upgrades};

pub fn router() -> Router<WebState> {
    Router::new()
        .route("/branches/{branch}/upgrade/apply", post(apply))
        .route("/branches/{branch}/upgrades/{id}/undo", post(undo))
        .route("/branches/{branch}/upgrades/{id}/approve", post(approve))
}

/// Bytes kept as they are in a path segment or query value: RFC 3986's unreserved characters.
const UNRESERVED: &percent_encoding::AsciiSet =
    &percent_encoding::NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');

fn enc(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, UNRESERVED).to_string()
}

/// `path` with what was done (`notice=` for decisions, which the shared flash message reads;
/// `done=` for the upgrader's own actions) or the error's message (safe: pages show it as text).
fn back(path: &str, result: Result<&str, &Error>) -> Response {
    let sep = if path.contains('?') { '&' } else { '?' };
    let to = match result {
        Ok(notice @ "approved") => format!("{path}{sep}notice={notice}"),
        Ok(done) => format!("{path}{sep}done={done}"),
        Err(e) => {
            if e.status().is_server_error() {
                tracing::error!(error = ?e, "upgrade form action failed");
            }
            let message = if e.status().is_server_error() { "something went wrong".to_string() } else { e.to_string() };
            format!("{path}{sep}error={}", enc(&message))
        }
    };
    Redirect::to(&to).into_response()
}

fn caller(caller: Result<Reviewer, Error>, next: &str) -> Result<User, Box<Response>> {
    match caller {
        Ok(Reviewer(user)) => Ok(user),
        Err(Error::Unauthorized) => Err(Box::new(Redirect::to(&login_url(None, next)).into_response())),
        Err(e) => Err(Box::new(back(next, Err(&e)))),
    }
}

/// The mapping form: `from`, `to`, and one `map:<old id>` per row (empty: leave it alone).
async fn apply(
    State(state): State<AppState>,
    who: Result<Reviewer, Error>,
    Path(branch): Path<String>,
    Form(fields): Form<Vec<(String, String)>>,
) -> Response {
    if let Some(refused) = super::forms::control_characters_refused(&[&branch]) {
        return refused;
    }
    let field = |k: &str| fields.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()).unwrap_or_default();
    let (from, to) = (field("from"), field("to"));
    let page = format!("/branches/{}/upgrade?from={}&to={}", enc(&branch), enc(&from), enc(&to));
    let user = match caller(who, &page) {
        Ok(u) => u,
        Err(r) => return *r,
    };
    let mapping: BTreeMap<String, Option<String>> = fields
        .iter()
        .filter_map(|(k, v)| Some((k.strip_prefix("map:")?.to_string(), Some(v.clone()).filter(|v| !v.is_empty()))))
        .collect();
    let req = UpgradeRequest { from, to, mapping, dry_run: false };
    match upgrades::apply(&state, &Actor::from(&user), &branch, &req).await {
        Ok(done) => {
            let id = done.id.unwrap_or_default();
            back(&format!("/branches/{}/upgrades/{id}", enc(&branch)), Ok("applied"))
        }
        Err(e) => back(&page, Err(&e)),
    }
}

async fn undo(
    State(state): State<AppState>,
    who: Result<Reviewer, Error>,
    Path((branch, id)): Path<(String, i64)>,
) -> Response {
    if let Some(refused) = super::forms::control_characters_refused(&[&branch]) {
        return refused;
    }
    let page = format!("/branches/{}/upgrades/{id}", enc(&branch));
    let user = match caller(who, &page) {
        Ok(u) => u,
        Err(r) => return *r,
    };
    match upgrades::undo(&state, &Actor::from(&user), &branch, id).await {
        Ok(_) => back(&page, Ok("undone")),
        Err(e) => back(&page, Err(&e)),
    }
}

/// Approves every item the upgrade made that is not approved yet, each bound to its current
/// hashes (a bulk decision, audited as one).
async fn approve(
    State(state): State<AppState>,
    who: Result<Reviewer, Error>,
    Path((branch, id)): Path<(String, i64)>,
) -> Response {
    if let Some(refused) = super::forms::control_characters_refused(&[&branch]) {
        return refused;
    }
    let list = format!("/branches/{}?upgrade={id}", enc(&branch));
    let user = match caller(who, &list) {
        Ok(u) => u,
        Err(r) => return *r,
    };
    let result = async {
        let mut chart_ids = Vec::new();
        let mut page = 1;
        loop {
            let q = DiffQuery {
                upgrade: Some(id),
                per_page: Some(diffs::MAX_PER_PAGE),
                page: Some(page),
                ..Default::default()
            };
            let found = diffs::list(&state, &branch, &q, user.role).await?;
            let n = found.items.len();
            chart_ids.extend(
                found.items.into_iter().filter(|i| i.review.in_force != ReviewStatus::Approved).map(|i| i.chart_id),
            );
            if n < diffs::MAX_PER_PAGE as usize {
                break;
            }
            page += 1;
        }
        if chart_ids.is_empty() {
            return Ok(()); // every item of the upgrade is approved already
        }
        let req =
            BulkReviewRequest { status: ReviewStatus::Approved, chart_ids, comment: Some(format!("upgrade {id}")) };
        reviews::decide_many(&state, &branch, &user, &req).await.map(|_| ())
    }
    .await;
    match result {
        Ok(_) => back(&list, Ok("approved")),
        Err(e) => back(&list, Err(&e)),
    }
}

/// The upgrade service of the pages, over the same feature functions as the REST API.
pub struct UpgradeServices {
    pub state: AppState,
}

#[async_trait::async_trait]
impl UpgradeService for UpgradeServices {
    async fn datasets(&self, user: &CurrentUser, branch: &str) -> Result<Datasets, app::error::AppError> {
        Ok(upgrades::datasets(&self.state, &Actor::from(&User::from(user)), branch).await?)
    }

    async fn preview(
        &self,
        user: &CurrentUser,
        branch: &str,
        from: &str,
        to: &str,
    ) -> Result<Preview, app::error::AppError> {
        let req = PreviewRequest { from: from.into(), to: to.into() };
        Ok(upgrades::preview(&self.state, &Actor::from(&User::from(user)), branch, &req).await?)
    }

    async fn upgrade(&self, user: &CurrentUser, branch: &str, id: i64) -> Result<Upgrade, app::error::AppError> {
        Ok(upgrades::get(&self.state, &Actor::from(&User::from(user)), branch, id).await?)
    }
}
