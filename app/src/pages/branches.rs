//! The landing page: every staging environment with its counts.

use leptos::prelude::*;

use super::common::ErrorBox;
use crate::api::list_branches;
use crate::types::BranchSummary;

#[component]
pub fn BranchesPage() -> impl IntoView {
    let branches = Resource::new(|| (), |_| list_branches());
    view! {
        <h1>"Branches"</h1>
        <Suspense fallback=|| view! { <p class="loading">"Loading branches…"</p> }>
            {move || Suspend::new(async move {
                match branches.await {
                    Err(e) => view! { <ErrorBox message=e.to_string() /> }.into_any(),
                    Ok(list) if list.is_empty() => {
                        view! {
                            <section class="empty">
                                <p>"No staging environment is registered yet."</p>
                                <p>
                                    "Register one with " <code>"chartgate branch add BRANCH --store URL"</code>
                                    " or " <code>"POST /api/v1/branches"</code> "."
                                </p>
                            </section>
                        }
                            .into_any()
                    }
                    Ok(list) => view! { <BranchTable list /> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn BranchTable(list: Vec<BranchSummary>) -> impl IntoView {
    view! {
        <table class="branches">
            <thead>
                <tr>
                    <th>"Branch"</th>
                    <th>"State"</th>
                    <th class="num">"New"</th>
                    <th class="num">"Modified"</th>
                    <th class="num">"Deleted"</th>
                    <th class="num">"Conflicts"</th>
                    <th class="num">"Pending"</th>
                    <th class="num">"Approved"</th>
                    <th class="num">"Rejected"</th>
                    <th>"Last scan"</th>
                </tr>
            </thead>
            <tbody>
                {list
                    .into_iter()
                    .map(|b| {
                        let href = format!("/branches/{}", b.name);
                        let c = b.counts.clone();
                        view! {
                            <tr data-testid="branch-row">
                                <td>
                                    <a href=href>{b.name.clone()}</a>
                                    {(b.raw_name != b.name)
                                        .then(|| view! { <div class="muted">{b.raw_name.clone()}</div> })}
                                    {b
                                        .preview_url
                                        .clone()
                                        .map(|u| {
                                            view! {
                                                <div>
                                                    <a class="muted" href=u rel="noopener" target="_blank">
                                                        "preview"
                                                    </a>
                                                </div>
                                            }
                                        })}
                                </td>
                                <td>
                                    <span class=format!("badge state-{}", b.state)>{b.state.clone()}</span>
                                </td>
                                <td class="num">{c.new}</td>
                                <td class="num">{c.modified}</td>
                                <td class="num">{c.deleted}</td>
                                <td class="num">{c.conflicts}</td>
                                <td class="num">{c.pending}</td>
                                <td class="num">{c.approved}</td>
                                <td class="num">{c.rejected}</td>
                                <td>
                                    {b.last_scan_at.clone().unwrap_or_else(|| "never".into())}
                                    {b
                                        .scan_error
                                        .clone()
                                        .map(|e| view! { <div class="error-text">{e}</div> })}
                                </td>
                            </tr>
                        }
                    })
                    .collect_view()}
            </tbody>
        </table>
    }
}
