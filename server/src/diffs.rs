//! Reading a branch's diff: the filtered, paginated list and one item in detail.
//!
//! A review counts only for the exact content it was made on: `effective` below is the single
//! place that turns a stored decision into pending, approved, rejected or stale.

use app::types::{
    ChartVersion, DiffDetail, DiffItem, DiffPage, DiffQuery, ItemCounts, ItemKind, ReviewState, ReviewStatus,
};
use sqlx::Row;

use crate::branches;
use crate::charts::version::parse_canonical;
use crate::db::Db;
use crate::diff::detail::{data_diff, json_diff};
use crate::error::{Error, Result};
use crate::state::AppState;

pub const MAX_PER_PAGE: u32 = 500;
const DEFAULT_PER_PAGE: u32 = 50;

/// Items joined with their review, with the status that counts (`eff`): a decision whose hashes
/// no longer match the item's is `stale`.
const ITEMS: &str = "select i.chart_id, i.slug, i.title, i.kind, i.conflict, i.parts, i.staging_hash,
        i.production_hash, i.baseline_hash, i.error, i.changed_at, i.search,
        r.status as r_status, r.reviewer, r.at as r_at, r.comment,
        case when r.status is null or r.status = 'pending' then 'pending'
             when coalesce(r.staging_hash, '') <> coalesce(i.staging_hash, '')
               or coalesce(r.production_hash, '') <> coalesce(i.production_hash, '') then 'stale'
             else r.status end as eff
    from branch_items i left join reviews r on r.branch = i.branch and r.chart_id = i.chart_id
    where i.branch = $1";

pub async fn counts(db: &Db, branch: &str) -> Result<ItemCounts> {
    let r = sqlx::query(&format!(
        "select count(*),
            coalesce(sum(case when kind = 'new' then 1 else 0 end), 0),
            coalesce(sum(case when kind = 'modified' then 1 else 0 end), 0),
            coalesce(sum(case when kind = 'deleted' then 1 else 0 end), 0),
            coalesce(sum(conflict), 0),
            coalesce(sum(case when eff in ('pending', 'stale') then 1 else 0 end), 0),
            coalesce(sum(case when eff = 'approved' then 1 else 0 end), 0),
            coalesce(sum(case when eff = 'rejected' then 1 else 0 end), 0),
            coalesce(sum(case when eff = 'stale' then 1 else 0 end), 0),
            coalesce(sum(case when error is not null then 1 else 0 end), 0)
         from ({ITEMS}) t"
    ))
    .bind(branch)
    .fetch_one(&db.pool)
    .await?;
    Ok(ItemCounts {
        total: r.try_get(0)?,
        new: r.try_get(1)?,
        modified: r.try_get(2)?,
        deleted: r.try_get(3)?,
        conflicts: r.try_get(4)?,
        pending: r.try_get(5)?,
        approved: r.try_get(6)?,
        rejected: r.try_get(7)?,
        stale: r.try_get(8)?,
        errors: r.try_get(9)?,
    })
}

/// Escapes `%`, `_` and `\` for a `like … escape '\'` pattern.
fn like_pattern(q: &str) -> String {
    let mut out = String::from("%");
    for c in q.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

pub async fn list(state: &AppState, branch: &str, q: &DiffQuery) -> Result<DiffPage> {
    let summary = branches::get(state, branch).await?;
    let name = summary.name.clone();
    let mut sql = format!("select * from ({ITEMS}) t where 1 = 1");
    let mut binds: Vec<String> = vec![name.clone()];
    let mut bind = |sql: &mut String, clause: &str, value: String| {
        binds.push(value);
        sql.push_str(&clause.replace('?', &format!("${}", binds.len())));
    };
    if let Some(kind) = q.kind.as_deref().filter(|k| !k.is_empty()) {
        let kind = ItemKind::parse(kind)
            .ok_or_else(|| Error::BadRequest(format!("unknown kind {kind:?}: use new, modified or deleted")))?;
        bind(&mut sql, " and kind = ?", kind.as_str().into());
    }
    match q.status.as_deref().filter(|s| !s.is_empty()) {
        None => {}
        Some("pending") => sql.push_str(" and eff in ('pending', 'stale')"),
        Some(s @ ("approved" | "rejected" | "stale")) => bind(&mut sql, " and eff = ?", s.into()),
        Some(s) => {
            return Err(Error::BadRequest(format!("unknown status {s:?}: use pending, approved, rejected or stale")))
        }
    }
    if let Some(part) = q.part.as_deref().filter(|p| !p.is_empty()) {
        if !app::types::PARTS.contains(&part) {
            return Err(Error::BadRequest(format!("unknown part {part:?}: use config, data or metadata")));
        }
        bind(&mut sql, " and (',' || parts || ',') like ?", format!("%,{part},%"));
    }
    if q.conflict == Some(true) {
        sql.push_str(" and conflict = 1");
    }
    if let Some(text) = q.q.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
        bind(&mut sql, " and search like ? escape '\\'", like_pattern(text));
    }
    let total: i64 = {
        let count_sql = format!("select count(*) from ({sql}) c");
        let query = crate::db::bind_all(sqlx::query(&count_sql), &binds);
        query.fetch_one(&state.db.pool).await?.try_get(0)?
    };
    sql.push_str(match q.sort.as_deref() {
        None | Some("") | Some("changed") => " order by changed_at desc, slug",
        Some("slug") => " order by slug",
        Some(s) => return Err(Error::BadRequest(format!("unknown sort {s:?}: use changed or slug"))),
    });
    let per_page = q.per_page.unwrap_or(DEFAULT_PER_PAGE);
    if per_page == 0 || per_page > MAX_PER_PAGE {
        return Err(Error::BadRequest(format!("per_page must be between 1 and {MAX_PER_PAGE}")));
    }
    let page = q.page.unwrap_or(1).max(1);
    sql.push_str(&format!(" limit {per_page} offset {}", (page as u64 - 1) * per_page as u64));
    let query = crate::db::bind_all(sqlx::query(&sql), &binds);
    let rows = query.fetch_all(&state.db.pool).await?;
    let items = rows.iter().map(item_from_row).collect::<Result<Vec<_>>>()?;
    Ok(DiffPage {
        items,
        total,
        page,
        per_page,
        counts: summary.counts,
        last_scan_at: summary.last_scan_at,
        scan_error: summary.scan_error,
    })
}

fn item_from_row(r: &sqlx::any::AnyRow) -> Result<DiffItem> {
    let kind: String = r.try_get("kind")?;
    let parts: String = r.try_get("parts")?;
    let eff: String = r.try_get("eff")?;
    let stored: Option<String> = r.try_get("r_status")?;
    let review = match stored {
        None => ReviewState::pending(),
        Some(status) => ReviewState {
            status: ReviewStatus::parse(&status).unwrap_or(ReviewStatus::Pending),
            reviewer: r.try_get("reviewer")?,
            at: r.try_get("r_at")?,
            comment: r.try_get("comment")?,
            stale: eff == "stale",
        },
    };
    Ok(DiffItem {
        chart_id: r.try_get("chart_id")?,
        slug: r.try_get("slug")?,
        title: r.try_get("title")?,
        kind: ItemKind::parse(&kind).ok_or_else(|| Error::internal(format!("unknown kind {kind}")))?,
        parts: parts.split(',').filter(|p| !p.is_empty()).map(str::to_string).collect(),
        conflict: r.try_get::<i64, _>("conflict")? != 0,
        review,
        staging_hash: r.try_get("staging_hash")?,
        production_hash: r.try_get("production_hash")?,
        baseline_hash: r.try_get("baseline_hash")?,
        error: r.try_get("error")?,
        changed_at: r.try_get("changed_at")?,
    })
}

pub async fn item(state: &AppState, branch: &str, chart_id: &str) -> Result<DiffItem> {
    let name = branches::resolve(state, branch);
    let row = sqlx::query(&format!("{ITEMS} and i.chart_id = $2"))
        .bind(&name)
        .bind(chart_id)
        .fetch_optional(&state.db.pool)
        .await?;
    match row {
        Some(r) => item_from_row(&r),
        None => {
            branches::get(state, &name).await?;
            Err(Error::NotFound(format!("chart {chart_id} is not changed on branch {name}")))
        }
    }
}

pub async fn version(db: &Db, hash: &str) -> Result<Option<ChartVersion>> {
    let row = sqlx::query("select hash, slug, config, data, metadata from versions where hash = $1")
        .bind(hash)
        .fetch_optional(&db.pool)
        .await?;
    row.map(|r| {
        Ok(ChartVersion {
            hash: r.try_get(0)?,
            slug: r.try_get(1)?,
            config: parse_canonical(&r.try_get::<String, _>(2)?),
            data: parse_canonical(&r.try_get::<String, _>(3)?),
            metadata: parse_canonical(&r.try_get::<String, _>(4)?),
        })
    })
    .transpose()
}

async fn maybe_version(db: &Db, hash: &Option<String>) -> Result<Option<ChartVersion>> {
    match hash {
        Some(h) => version(db, h).await,
        None => Ok(None),
    }
}

/// The item before or after `item` in the list's default order (last change first, then slug).
async fn neighbour(state: &AppState, branch: &str, item: &DiffItem, before: bool) -> Result<Option<String>> {
    let sql = if before {
        "select chart_id from branch_items where branch = $1 and (changed_at > $2 or (changed_at = $2 and slug < $3))
         order by changed_at asc, slug desc limit 1"
    } else {
        "select chart_id from branch_items where branch = $1 and (changed_at < $2 or (changed_at = $2 and slug > $3))
         order by changed_at desc, slug asc limit 1"
    };
    let row =
        sqlx::query(sql).bind(branch).bind(&item.changed_at).bind(&item.slug).fetch_optional(&state.db.pool).await?;
    Ok(row.map(|r| r.get(0)))
}

fn preview(template: Option<&str>, branch: &str, slug: &str) -> Option<String> {
    template.map(|t| t.replace("{branch}", branch).replace("{slug}", slug))
}

/// One item with its diffs: from what production has now (or the baseline, where production
/// lost the chart) to staging; for conflicts also production's own change since the fork.
pub async fn detail(state: &AppState, branch: &str, chart_id: &str) -> Result<DiffDetail> {
    let item = item(state, branch, chart_id).await?;
    let name = branches::resolve(state, branch);
    let summary = branches::get(state, &name).await?;
    let baseline = maybe_version(&state.db, &item.baseline_hash).await?;
    let staging = maybe_version(&state.db, &item.staging_hash).await?;
    let production = maybe_version(&state.db, &item.production_hash).await?;
    let old = production.as_ref().or(baseline.as_ref());
    let new = staging.as_ref();
    let production_config_diff =
        item.conflict.then(|| json_diff(baseline.as_ref().map(|v| &v.config), production.as_ref().map(|v| &v.config)));
    let staging_template = summary.preview_url.as_deref().or(state.config.staging_preview_url.as_deref());
    Ok(DiffDetail {
        config_diff: json_diff(old.map(|v| &v.config), new.map(|v| &v.config)),
        data_diff: data_diff(old.map(|v| &v.data), new.map(|v| &v.data)),
        metadata_diff: json_diff(old.map(|v| &v.metadata), new.map(|v| &v.metadata)),
        production_config_diff,
        staging_preview_url: preview(staging_template, &name, &item.slug),
        production_preview_url: preview(state.config.production_preview_url.as_deref(), &name, &item.slug),
        history: crate::audit::query::chart_history(&state.db, &item.chart_id).await?,
        prev_chart_id: neighbour(state, &name, &item, true).await?,
        next_chart_id: neighbour(state, &name, &item, false).await?,
        baseline,
        staging,
        production,
        item,
    })
}

#[cfg(test)]
mod tests {
    use super::like_pattern;

    #[test]
    fn like_patterns_escape_wildcards_and_lower_case() {
        assert_eq!(like_pattern("GDP_100%"), "%gdp\\_100\\%%");
        assert_eq!(like_pattern("Énergie"), "%énergie%");
    }
}
