//! Reading a branch's diff: the filtered, paginated list and one item in detail. Whether a
//! decision counts comes from the `item_decisions` view (see [`crate::repo::items`]).

use app::types::{
    AuditEvent, ChartVersion, DiffDetail, DiffItem, DiffPage, DiffQuery, ItemKind, MergePlan, Role, SinceApproval,
    PARTS,
};

use crate::branches;
use crate::charts::store::mapping::RenderKeys;
use crate::db::{like_pattern, Filter};
use crate::diff::detail::{data_diff, json_diff};
use crate::error::{Error, Result};
use crate::naming::{preview, preview_origin};
use crate::repo::items::{self, Order};
use crate::repo::{audit, comments, versions};
use crate::state::AppState;

pub use crate::repo::items::MAX_PER_PAGE;
const DEFAULT_PER_PAGE: u32 = 50;

/// A version as its store's render keys read it for drawing (design §13); unchanged when the
/// store has none, so the page reads the config's own `type` and `title`.
fn drawn(keys: &RenderKeys, version: Option<ChartVersion>) -> Option<ChartVersion> {
    version.map(|mut v| {
        if !keys.is_default() {
            v.draw_as = keys.chart_type_of(&v.config);
            v.draw_title = keys.title_of(&v.config);
        }
        v
    })
}

/// The list's filters as a `where` clause on `item_decisions` (`$1` is the branch); `reader` is
/// who `waiting_on=me` means.
fn filter(state: &AppState, name: &str, q: &DiffQuery, reader: &str) -> Result<Filter> {
    let mut f = Filter::after(vec![name.to_string()]);
    match q.waiting_on.as_deref().filter(|w| !w.is_empty()) {
        None => {}
        Some("me") => crate::verdicts::waiting_on(&state.policy, reader, &mut f),
        Some(w) => return Err(Error::BadRequest(format!("unknown waiting_on {w:?}: use me"))),
    }
    if let Some(kind) = q.kind.as_deref().filter(|k| !k.is_empty()) {
        let kind: ItemKind = kind
            .parse()
            .map_err(|_| Error::BadRequest(format!("unknown kind {kind:?}: use new, modified or deleted")))?;
        f.and("kind = ?", kind.as_str().into());
    }
    match q.status.as_deref().filter(|s| !s.is_empty()) {
        None => {}
        Some("pending") => f.and_raw("in_force in ('pending', 'stale')"),
        Some(s @ ("approved" | "rejected" | "stale")) => f.and("in_force = ?", s.into()),
        // Approvals in force made by an `[[auto_approve]]` rule (design §11), to look at apart.
        Some("rule") => f.and_raw("in_force = 'approved' and reviewer like 'rule:%'"),
        Some(s) => {
            return Err(Error::BadRequest(format!(
                "unknown status {s:?}: use pending, approved, rejected, stale or rule"
            )))
        }
    }
    if let Some(part) = q.part.as_deref().filter(|p| !p.is_empty()) {
        if !PARTS.contains(&part) {
            return Err(Error::BadRequest(format!("unknown part {part:?}: use config, data or metadata")));
        }
        f.and("(',' || parts || ',') like ?", format!("%,{part},%"));
    }
    if q.conflict == Some(true) {
        f.and_raw("conflict = 1");
    }
    if let Some(id) = q.upgrade {
        f.and(crate::repo::upgrades::ITEM_FILTER, id.to_string());
    }
    if let Some(text) = q.q.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
        f.and("search like ? escape '\\'", like_pattern(text, true, true));
    }
    Ok(f)
}

/// A page of the branch's items, for a reader of `role` (`waiting_on=me` means nobody: see
/// [`list_for`]).
pub async fn list(state: &AppState, branch: &str, q: &DiffQuery, role: Role) -> Result<DiffPage> {
    list_for(state, branch, q, role, "").await
}

/// A page of the branch's items for `reader` (`role`, and who `waiting_on=me` means).
pub async fn list_for(state: &AppState, branch: &str, q: &DiffQuery, role: Role, reader: &str) -> Result<DiffPage> {
    let (summary, revision) = branches::get_at(state, branch, role).await?;
    let f = filter(state, &summary.name, q, reader)?;
    // The list's total: the branch's when unfiltered, else the filter's, counted once per
    // revision of the branch.
    let filter_key = (summary.name.clone(), format!("{}\u{0}{}", f.sql(), f.binds().join("\u{0}")));
    let total = match f.sql().is_empty() {
        true => Some(summary.counts.total),
        false => state.lists.totals.get(&filter_key, revision),
    };
    let views = match state.targets.get(&summary.target) {
        Ok(target) => state.target_store(target).await.ok(),
        Err(_) => None,
    };
    let views = match views {
        Some(store) => store.chart_views().await,
        None => None,
    };
    let order = match q.sort.as_deref() {
        None | Some("") | Some("changed") => Order::Changed,
        Some("slug") => Order::Slug,
        Some("views") if views.is_some() => Order::Views,
        Some("views") => {
            return Err(Error::Conflict(format!(
                "sort=views needs a chart_views table in the store of target {}",
                summary.target
            )))
        }
        Some(s) => return Err(Error::BadRequest(format!("unknown sort {s:?}: use changed, slug or views"))),
    };
    let per_page = q.per_page.unwrap_or(DEFAULT_PER_PAGE);
    if per_page == 0 || per_page > MAX_PER_PAGE {
        return Err(Error::BadRequest(format!("per_page must be between 1 and {MAX_PER_PAGE}")));
    }
    let page = q.page.unwrap_or(1).max(1);
    let (mut items, total) = match (&views, order) {
        // Views live in another database: every matching item is read (ids and decisions, no
        // content) and sorted here, most-read first, then paged.
        (Some(v), Order::Views) => {
            let (mut all, total) = items::page(&state.db, &f, order, u32::MAX, 1, total).await?;
            all.sort_by_key(|i| std::cmp::Reverse(v.get(&i.chart_id).copied().unwrap_or(0)));
            let start = ((page - 1) as usize).saturating_mul(per_page as usize).min(all.len());
            let end = start.saturating_add(per_page as usize).min(all.len());
            (all.drain(start..end).collect(), total)
        }
        _ => items::page(&state.db, &f, order, per_page, page, total).await?,
    };
    if !f.sql().is_empty() {
        state.lists.totals.keep(filter_key, revision, total);
    }
    if let Some(v) = &views {
        for item in &mut items {
            item.views_30d = Some(v.get(&item.chart_id).copied().unwrap_or(0));
        }
    }
    crate::verdicts::attach(state, &summary.name, &mut items).await?;
    Ok(DiffPage {
        views_available: views.is_some(),
        items,
        total,
        page,
        per_page,
        counts: summary.counts,
        last_scan_at: summary.last_scan_at,
        scan_error: summary.scan_error,
        scan_error_detail: summary.scan_error_detail,
        target: summary.target,
    })
}

/// One item of a branch (raw or environment name). 404 when the chart is not an item.
pub async fn item(state: &AppState, branch: &str, chart_id: &str) -> Result<DiffItem> {
    let name = state.env_name(branch);
    match items::one(&state.db, &name, chart_id).await? {
        Some(item) => {
            let mut one = [item];
            crate::verdicts::attach(state, &name, &mut one).await?;
            let [item] = one;
            Ok(item)
        }
        None => {
            branches::row(state, &name).await?;
            Err(Error::NotFound(format!("chart {chart_id} is not changed on branch {name}")))
        }
    }
}

/// One item with its diffs: from what production has now (or the baseline, where production
/// lost the chart) to staging; for conflicts also production's own change since the fork.
pub async fn detail(state: &AppState, branch: &str, chart_id: &str) -> Result<DiffDetail> {
    detail_against(state, branch, chart_id, None).await
}

/// The last approval of the chart on the branch, from its history (newest first), when the
/// content is no longer what it approved; with the diff from the approved staging content to now.
async fn since_approval(
    state: &AppState,
    name: &str,
    item: &DiffItem,
    history: &[AuditEvent],
    staging: Option<&ChartVersion>,
) -> Result<Option<SinceApproval>> {
    let Some(approval) = history.iter().find(|e| e.branch.as_deref() == Some(name) && e.action == "review.approve")
    else {
        return Ok(None);
    };
    let staging_moved = approval.staging_hash != item.staging_hash;
    let production_moved = approval.production_hash != item.production_hash;
    if !staging_moved && !production_moved {
        return Ok(None);
    }
    let approved = versions::get_opt(&state.db, approval.staging_hash.as_deref()).await?;
    let (old, new) = (approved.as_ref(), staging);
    Ok(Some(SinceApproval {
        reviewer: approval.actor.clone(),
        at: approval.at.clone(),
        approved_staging_hash: approval.staging_hash.clone(),
        approved_production_hash: approval.production_hash.clone(),
        staging_moved,
        production_moved,
        config_diff: json_diff(old.map(|v| &v.config), new.map(|v| &v.config)),
        data_diff: data_diff(old.map(|v| &v.data), new.map(|v| &v.data)),
        metadata_diff: json_diff(old.map(|v| &v.metadata), new.map(|v| &v.metadata)),
    }))
}

/// [`detail`], with `against = Some("approved")` for the diffs from the last approved content to
/// staging now (design §11); 404 when the chart has no approval that differs from now.
pub async fn detail_against(
    state: &AppState,
    branch: &str,
    chart_id: &str,
    against: Option<&str>,
) -> Result<DiffDetail> {
    let against_approved = match against.filter(|a| !a.is_empty()) {
        None | Some("production") => false,
        Some("approved") => true,
        Some(a) => return Err(Error::BadRequest(format!("unknown against {a:?}: use approved or production"))),
    };
    let item = item(state, branch, chart_id).await?;
    let summary = branches::row(state, branch).await?;
    let name = summary.name.as_str();
    let db = &state.db;
    let [baseline, staging, production] = versions::get_many(
        db,
        [item.baseline_hash.as_deref(), item.staging_hash.as_deref(), item.production_hash.as_deref()],
    )
    .await?;
    let target = state.targets.get(&summary.target)?;
    let (staging_keys, target_keys) = {
        let settings = &state.stores.settings;
        (settings.render_keys_for(&summary.store_url), settings.render_keys_for(&target.store_url))
    };
    let (baseline, staging, production) =
        (drawn(&target_keys, baseline), drawn(&staging_keys, staging), drawn(&target_keys, production));
    let old = production.as_ref().or(baseline.as_ref());
    let new = staging.as_ref();
    // Production's own change needs the base; without it (not kept) it is not shown.
    let production_config_diff = match (&baseline, item.conflict) {
        (Some(b), true) => Some(json_diff(Some(&b.config), production.as_ref().map(|v| &v.config))),
        _ => None,
    };
    let staging_template = summary.preview_url.as_deref().or(state.config.staging_preview_url.as_deref());
    // An unreadable side has no version: a diff against "absent" would list every row as
    // removed, which is not what happened. Show the error and no diff.
    let readable = item.error.is_none();
    let (config_diff, data_diff, metadata_diff) = if readable {
        (
            json_diff(old.map(|v| &v.config), new.map(|v| &v.config)),
            data_diff(old.map(|v| &v.data), new.map(|v| &v.data)),
            json_diff(old.map(|v| &v.metadata), new.map(|v| &v.metadata)),
        )
    } else {
        Default::default()
    };
    let history = audit::chart_history(db, &item.chart_id).await?;
    let since_approval =
        if readable { since_approval(state, name, &item, &history, staging.as_ref()).await? } else { None };
    let (config_diff, data_diff, metadata_diff, against) = match (&since_approval, against_approved) {
        (_, false) => (config_diff, data_diff, metadata_diff, String::new()),
        (Some(s), true) => {
            (s.config_diff.clone(), s.data_diff.clone(), s.metadata_diff.clone(), "approved".to_string())
        }
        (None, true) => {
            return Err(Error::NotFound(format!(
                "chart {} has no approval on branch {name} whose content differs from now",
                item.chart_id
            )))
        }
    };
    // A readable conflict can be merged path by path (design §11), three-way where its base is
    // known. Once
    // merged on this branch, the production content the merge took in is the base: what the
    // reviewer already chose is not asked again, and only production's later changes come in.
    let merged_base = match history.iter().find(|e| e.branch.as_deref() == Some(name) && e.action == "merge.apply") {
        Some(merge) => versions::get_opt(db, merge.production_hash.as_deref()).await?,
        None => None,
    };
    // Without the base (its text was not kept; see `scans::keep`), every difference is a choice.
    let merge = match (item.conflict && readable, merged_base.as_ref().or(baseline.as_ref()), &staging, &production) {
        (true, b, Some(s), Some(p)) => Some(MergePlan {
            without_base: b.is_none(),
            chart_id: item.chart_id.clone(),
            staging_hash: item.staging_hash.clone(),
            production_hash: item.production_hash.clone(),
            entries: crate::diff::merge::plan(b, s, p),
        }),
        _ => None,
    };
    let (prev_chart_id, next_chart_id) = items::neighbours(db, name, &item.changed_at, &item.slug).await?;
    let comments =
        comments::thread(db, name, &item.chart_id, item.staging_hash.as_deref(), item.production_hash.as_deref())
            .await?;
    let requested = crate::verdicts::requested_of(db, name, &item.chart_id).await?;
    let staging_preview_url = preview(staging_template, name, &item.slug);
    let production_preview_url = preview(target.preview_url.as_deref(), name, &item.slug);
    Ok(DiffDetail {
        merge,
        since_approval,
        against,
        config_diff,
        data_diff,
        metadata_diff,
        production_config_diff: production_config_diff.filter(|_| readable),
        preview_origins: {
            // Two links at most: one origin when both name the same site.
            let mut origins: Vec<String> = [&staging_preview_url, &production_preview_url]
                .into_iter()
                .flatten()
                .filter_map(|l| preview_origin(l))
                .collect();
            origins.dedup();
            origins
        },
        staging_preview_url,
        production_preview_url,
        history,
        prev_chart_id,
        next_chart_id,
        comments,
        requested,
        target: summary.target.clone(),
        baseline,
        staging,
        production,
        item,
    })
}
