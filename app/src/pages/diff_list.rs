//! The diff list of one branch. Filters, search, sort and page live in the URL, so every view
//! is a link that can be shared, and every control is a plain link or GET form that works
//! before the WebAssembly arrives.

use leptos::prelude::*;
use leptos_router::hooks::{use_params_map, use_query_map};

use super::common::links::{branch_url, chart_url, query_from, with_query};
use super::common::{short_time, ErrorBox, ItemBadges};
use super::review::{focus_search, submit_review, ui, ReviewControls};
use crate::api::list_diffs;
use crate::types::{DiffItem, DiffPage, DiffQuery, ReviewStatus, Role};

/// The URL of a branch's list showing `q`. `conflict=false` filters nothing, so it is left out.
fn list_url(branch: &str, q: &DiffQuery) -> String {
    with_query(&branch_url(branch), &DiffQuery { conflict: q.conflict.filter(|c| *c), ..q.clone() })
}

/// The URL of this list with the filter `key` set to `value` (or removed), back on page 1.
fn link_with(branch: &str, q: &DiffQuery, key: &str, value: Option<&str>) -> String {
    let mut q = DiffQuery { page: None, ..q.clone() };
    let value = value.map(str::to_owned);
    match key {
        "status" => q.status = value,
        "kind" => q.kind = value,
        "part" => q.part = value,
        "conflict" => q.conflict = value.map(|v| v == "true"),
        "q" => q.q = value,
        "sort" => q.sort = value,
        "waiting_on" => q.waiting_on = value,
        _ => {}
    }
    list_url(branch, &q)
}

#[component]
pub fn DiffListPage() -> impl IntoView {
    let params = use_params_map();
    let query = use_query_map();
    let branch = move || params.read().get("branch").unwrap_or_default();
    let diff_query = move || query_from::<DiffQuery>(&query.read());
    let page = Resource::new(move || (branch(), diff_query()), |(b, q)| list_diffs(b, q));
    let reload = Callback::new(move |_| page.refetch());
    // Survives reloads, so deciding with the keyboard keeps your place.
    let selected = RwSignal::new(0usize);
    let me = super::user_resource();

    view! {
        <h1>"Branch " <span class="branch-name">{branch}</span></h1>
        <Transition fallback=|| view! { <p class="loading">"Loading the diff…"</p> }>
            {move || Suspend::new(async move {
                let b = branch();
                let q = diff_query();
                let can_review = me.can(Role::Reviewer).await;
                match page.await {
                    Err(e) => view! { <ErrorBox message=e.to_string() /> }.into_any(),
                    Ok(p) => view! { <DiffListBody branch=b query=q page=p reload selected can_review /> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn DiffListBody(
    branch: String,
    query: DiffQuery,
    page: DiffPage,
    reload: Callback<()>,
    selected: RwSignal<usize>,
    can_review: bool,
) -> impl IntoView {
    let c = page.counts.clone();
    let rows: Vec<RwSignal<DiffItem>> = page.items.iter().cloned().map(RwSignal::new).collect();
    if selected.get_untracked() >= rows.len() {
        selected.set(rows.len().saturating_sub(1));
    }
    {
        let rows = rows.clone();
        let branch = branch.clone();
        let help = ui().help;
        super::review::use_shortcuts(move |key| {
            let n = rows.len();
            match key {
                "j" if n > 0 => selected.update(|s| *s = (*s + 1).min(n - 1)),
                "k" => selected.update(|s| *s = s.saturating_sub(1)),
                "/" => focus_search(),
                "?" => help.update(|h| *h = !*h),
                "Escape" => help.set(false),
                "a" | "r" | "u" if can_review => {
                    if let Some(row) = rows.get(selected.get_untracked()) {
                        let status = match key {
                            "a" => ReviewStatus::Approved,
                            "r" => ReviewStatus::Rejected,
                            _ => ReviewStatus::Pending,
                        };
                        submit_review(branch.clone(), *row, status, None, reload);
                    }
                }
                _ => {}
            }
        });
    }
    let filter = |label: &'static str, key: &'static str, value: Option<&'static str>, count: Option<i64>| {
        let current = match key {
            "kind" => query.kind.as_deref(),
            "status" => query.status.as_deref(),
            "part" => query.part.as_deref(),
            "conflict" => query.conflict.filter(|c| *c).map(|_| "true"),
            "waiting_on" => query.waiting_on.as_deref(),
            _ => None,
        };
        let active = current == value;
        let href = link_with(&branch, &query, key, value);
        let testid = format!("filter-{key}-{}", value.unwrap_or("all"));
        view! {
            <a class=if active { "chip active" } else { "chip" } href=href data-testid=testid>
                {label}
                {count.map(|n| view! { <span class="count" data-testid="count">{n}</span> })}
            </a>
        }
    };
    let pages = ((page.total + page.per_page as i64 - 1) / page.per_page.max(1) as i64).max(1);
    let page_link = |n: u32| list_url(&branch, &DiffQuery { page: Some(n), ..query.clone() });
    view! {
        <p class="muted">
            <span class="hop" data-testid="hop">{format!("{branch} → {}", page.target)}</span>
            " · last scanned " {page.last_scan_at.as_deref().map(short_time).unwrap_or_else(|| "never".into())}
            " · press " <kbd>"?"</kbd> " for keyboard shortcuts · "
            {super::upgrade::upgrader_link(&branch)}
            " · "
            <a href=format!("{}/groups", branch_url(&branch)) data-testid="show-groups">"show by group"</a>
        </p>
        {page.scan_error.clone().map(|e| view! { <ErrorBox message=e /> })}
        {can_review.then(|| view! { <super::diff_detail::AskForReview branch=branch.clone() /> })}
        {query.upgrade.map(|id| view! { <super::upgrade::UpgradeBanner branch=branch.clone() id can_review /> })}
        <nav class="filters" aria-label="Filters">
            <div>
                <span class="filter-label">"Kind"</span>
                {filter("all", "kind", None, Some(c.total))}
                {filter("new", "kind", Some("new"), Some(c.new))}
                {filter("modified", "kind", Some("modified"), Some(c.modified))}
                {filter("deleted", "kind", Some("deleted"), Some(c.deleted))}
            </div>
            <div>
                <span class="filter-label">"Review"</span>
                {filter("any", "status", None, None)}
                {filter("pending", "status", Some("pending"), Some(c.pending))}
                {filter("approved", "status", Some("approved"), Some(c.approved))}
                {filter("rejected", "status", Some("rejected"), Some(c.rejected))}
                {filter("stale", "status", Some("stale"), Some(c.stale))}
                {filter("waiting on me", "waiting_on", Some("me"), None)}
            </div>
            <div>
                <span class="filter-label">"Part"</span>
                {filter("any", "part", None, None)}
                {filter("config", "part", Some("config"), None)}
                {filter("data", "part", Some("data"), None)}
                {filter("metadata", "part", Some("metadata"), None)}
                {filter("conflicts only", "conflict", Some("true"), Some(c.conflicts))}
            </div>
            <form method="get" class="search" action=branch_url(&branch)>
                {query.kind.clone().map(|v| view! { <input type="hidden" name="kind" value=v /> })}
                {query.status.clone().map(|v| view! { <input type="hidden" name="status" value=v /> })}
                {query.part.clone().map(|v| view! { <input type="hidden" name="part" value=v /> })}
                {query.upgrade.map(|v| view! { <input type="hidden" name="upgrade" value=v.to_string() /> })}
                {query.waiting_on.clone().map(|v| view! { <input type="hidden" name="waiting_on" value=v /> })}
                <input
                    type="search"
                    name="q"
                    placeholder="Search slug or title"
                    value=query.q.clone().unwrap_or_default()
                    data-testid="search"
                    id="search"
                />
                <label for="sort" class="visually-hidden">"Sort by"</label>
                <select name="sort" id="sort">
                    <option value="changed" selected=!matches!(query.sort.as_deref(), Some("slug" | "views"))>
                        "Last change"
                    </option>
                    <option value="slug" selected=query.sort.as_deref() == Some("slug")>
                        "Slug"
                    </option>
                    {page
                        .views_available
                        .then(|| {
                            view! {
                                <option value="views" selected=query.sort.as_deref() == Some("views")>
                                    "Most viewed"
                                </option>
                            }
                        })}
                </select>
                <button type="submit">"Apply"</button>
            </form>
        </nav>
        {if page.items.is_empty() {
            view! {
                <section class="empty" data-testid="empty">
                    <p>"No chart matches these filters."</p>
                    <a href=branch_url(&branch)>"Clear the filters"</a>
                </section>
            }
                .into_any()
        } else {
            view! {
                <table class="diffs">
                    <thead>
                        <tr>
                            <th>"Chart"</th>
                            <th>"Changes"</th>
                            <th>"Parts"</th>
                            <th>"Changed"</th>
                            <th>"Decide"</th>
                        </tr>
                    </thead>
                    <tbody>
                        {rows
                            .iter()
                            .enumerate()
                            .map(|(index, row)| {
                                let row = *row;
                                let item = row.get_untracked();
                                let href = chart_url(&branch, &item.chart_id);
                                let is_selected = move || selected.get() == index;
                                view! {
                                    <tr
                                        data-testid="diff-row"
                                        data-chart-id=item.chart_id.clone()
                                        class=move || if is_selected() { "selected" } else { "" }
                                        aria-selected=move || is_selected().to_string()
                                    >
                                        <td>
                                            <a href=href class="title">{item.title.clone()}</a>
                                            <div class="muted slug">{item.slug.clone()}</div>
                                            {item.error.clone().map(|e| view! { <div class="error-text">{e}</div> })}
                                        </td>
                                        <td>{move || view! { <ItemBadges item=row.get() /> }}</td>
                                        <td>{item.parts.join(", ")}</td>
                                        <td class="muted">
                                            {short_time(&item.changed_at)}
                                            {item
                                                .views_30d
                                                .map(|v| {
                                                    view! {
                                                        <div class="views" data-testid="views">
                                                            {format!("{v} views in 30 days")}
                                                        </div>
                                                    }
                                                })}
                                        </td>
                                        <td>
                                            {can_review
                                                .then(|| {
                                                    view! { <ReviewControls branch=branch.clone() item=row reload /> }
                                                })}
                                        </td>
                                    </tr>
                                }
                            })
                            .collect_view()}
                    </tbody>
                </table>
            }
                .into_any()
        }}
        <nav class="pager" aria-label="Pages">
            <span>{format!("{} items · page {} of {}", page.total, page.page, pages)}</span>
            {(page.page > 1).then(|| view! { <a href=page_link(page.page - 1) rel="prev">"← previous"</a> })}
            {((page.page as i64) < pages).then(|| view! { <a href=page_link(page.page + 1) rel="next">"next →"</a> })}
        </nav>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_keep_other_filters_and_reset_the_page() {
        let q =
            DiffQuery { kind: Some("new".into()), q: Some("gdp growth".into()), page: Some(3), ..Default::default() };
        assert_eq!(link_with("b", &q, "status", Some("pending")), "/branches/b?status=pending&kind=new&q=gdp%20growth");
        assert_eq!(link_with("b", &q, "kind", None), "/branches/b?q=gdp%20growth");
    }

    #[test]
    fn page_links_keep_the_filters_but_not_an_idle_conflict_filter() {
        let q = DiffQuery { conflict: Some(false), sort: Some("slug".into()), ..Default::default() };
        assert_eq!(list_url("b", &DiffQuery { page: Some(2), ..q.clone() }), "/branches/b?sort=slug&page=2");
        assert_eq!(link_with("b", &q, "conflict", Some("true")), "/branches/b?conflict=true&sort=slug");
    }
}
