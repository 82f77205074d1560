//! Dataset upgrades (design §9): the types that cross the wire between the upgrader's API, its
//! pages and the CLI.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// A dataset version the staging store holds, with how many indicators it has and how many
/// charts draw one of them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct DatasetUse {
    pub dataset: String,
    pub indicators: i64,
    pub charts: i64,
}

/// A proposed upgrade: a version charts use, to the newest version of the same dataset.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Suggestion {
    pub from: String,
    pub to: String,
}

/// `GET /branches/{b}/datasets`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Datasets {
    pub datasets: Vec<DatasetUse>,
    pub suggested: Vec<Suggestion>,
}

/// `POST /branches/{b}/upgrades/preview`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct PreviewRequest {
    /// The dataset version the charts use now.
    #[cfg_attr(feature = "ssr", schema(min_length = 1, pattern = r"\S"))]
    pub from: String,
    /// The dataset version to move them to (another one).
    #[cfg_attr(feature = "ssr", schema(min_length = 1, pattern = r"\S"))]
    pub to: String,
}

/// One old indicator and its proposed match (`new: None`: nothing similar enough), with the data
/// side by side: rows (entity, time) both have, how many of those changed value, and the largest
/// relative change among them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Pair {
    pub old: String,
    pub old_name: String,
    pub new: Option<String>,
    pub new_name: Option<String>,
    /// 1 for the same name; otherwise the similarity of the names, in 0..1.
    pub score: f64,
    pub old_rows: i64,
    pub new_rows: i64,
    pub rows_in_common: i64,
    pub values_changed: i64,
    pub max_relative_change: Option<f64>,
}

/// An indicator's id and name (the choices of a mapping row).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct IndicatorRef {
    pub id: String,
    pub name: String,
}

/// The proposed mapping of `from` onto `to` and the charts it would change.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Preview {
    pub from: String,
    pub to: String,
    pub pairs: Vec<Pair>,
    /// New indicators no old one maps to.
    pub unmatched_new: Vec<String>,
    /// Charts that draw an old indicator.
    pub charts: Vec<String>,
    /// Every indicator of `to`, for choosing another match.
    pub new_indicators: Vec<IndicatorRef>,
}

/// `POST /branches/{b}/upgrades`: the mapping to apply (`null`: leave that indicator alone).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct UpgradeRequest {
    #[cfg_attr(feature = "ssr", schema(min_length = 1, pattern = r"\S"))]
    pub from: String,
    #[cfg_attr(feature = "ssr", schema(min_length = 1, pattern = r"\S"))]
    pub to: String,
    pub mapping: BTreeMap<String, Option<String>>,
    #[serde(default)]
    pub dry_run: bool,
}

/// What an upgrade (or its undo) did to one chart: `updated`, `unchanged` or `skipped`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ChartOutcome {
    pub chart_id: String,
    pub outcome: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// The answer of `POST /branches/{b}/upgrades`; `id` is null for a dry run (nothing recorded).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct UpgradeResult {
    pub id: Option<i64>,
    pub dry_run: bool,
    pub charts: Vec<ChartOutcome>,
}

/// An upgrade of a branch; `charts` is empty in lists.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Upgrade {
    pub id: i64,
    pub branch: String,
    pub from: String,
    pub to: String,
    pub mapping: BTreeMap<String, Option<String>>,
    pub actor: String,
    pub created_at: String,
    pub undone_at: Option<String>,
    pub undone_by: Option<String>,
    pub updated: i64,
    pub unchanged: i64,
    pub skipped: i64,
    #[serde(default)]
    pub charts: Vec<ChartOutcome>,
}

/// The answer of `POST /branches/{b}/upgrades/{id}/undo`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct UndoResult {
    pub charts: Vec<ChartOutcome>,
}

/// The upgrader's services the pages need (the server implements them; see `service.rs` for why
/// this is a trait), provided as context beside the main service.
#[cfg(feature = "ssr")]
#[async_trait::async_trait]
pub trait UpgradeService: Send + Sync + 'static {
    async fn datasets(
        &self,
        user: &crate::types::CurrentUser,
        branch: &str,
    ) -> Result<Datasets, crate::error::AppError>;
    async fn preview(
        &self,
        user: &crate::types::CurrentUser,
        branch: &str,
        from: &str,
        to: &str,
    ) -> Result<Preview, crate::error::AppError>;
    async fn upgrade(
        &self,
        user: &crate::types::CurrentUser,
        branch: &str,
        id: i64,
    ) -> Result<Upgrade, crate::error::AppError>;
}

#[cfg(feature = "ssr")]
pub type SharedUpgradeService = std::sync::Arc<dyn UpgradeService>;

pub mod api {
    //! The upgrader's server functions.

    use leptos::prelude::*;
    use leptos::server_fn::codec::Json;

    use super::{Datasets, Preview, Upgrade};
    use crate::error::AppError;
    #[cfg(feature = "ssr")]
    use crate::types::Role;

    #[cfg(feature = "ssr")]
    fn service() -> Result<super::SharedUpgradeService, AppError> {
        use_context::<super::SharedUpgradeService>().ok_or(AppError::Internal)
    }

    #[server(input = Json)]
    pub async fn upgrade_datasets(branch: String) -> Result<Datasets, AppError> {
        let user = crate::api::signed_in_as(Role::Viewer)?;
        service()?.datasets(&user, &branch).await
    }

    #[server(input = Json)]
    pub async fn upgrade_preview(branch: String, from: String, to: String) -> Result<Preview, AppError> {
        let user = crate::api::signed_in_as(Role::Reviewer)?;
        service()?.preview(&user, &branch, &from, &to).await
    }

    #[server(input = Json)]
    pub async fn get_upgrade(branch: String, id: i64) -> Result<Upgrade, AppError> {
        let user = crate::api::signed_in_as(Role::Viewer)?;
        service()?.upgrade(&user, &branch, id).await
    }
}
