//! The merge section of a conflict's detail page (design §11): every path that changed since the
//! fork, what each side holds, and which side the merge takes — chosen by the reviewer where both
//! sides changed it differently. A plain form posting to the server's merge endpoint, so it works
//! the same with or without WebAssembly; the server writes the merge to staging and the page
//! comes back showing the merged chart for review.

use leptos::prelude::*;

use super::common::links::chart_url;
use crate::types::{MergeEntry, MergePlan, MergeSide};

/// At most this many characters of a value in the table (the diffs above show it whole).
const SHOWN: usize = 120;

fn shown(v: &Option<serde_json::Value>) -> String {
    let text = match v {
        None => "—".to_string(),
        Some(v) => serde_json::to_string(v).unwrap_or_default(),
    };
    if text.chars().count() > SHOWN {
        format!("{}…", text.chars().take(SHOWN).collect::<String>())
    } else {
        text
    }
}

#[component]
pub fn MergeView(plan: MergePlan, branch: String, can_review: bool) -> impl IntoView {
    let action = format!("{}/merge", chart_url(&branch, &plan.chart_id));
    let conflicting = plan.entries.iter().filter(|e| e.conflicting).count();
    let from_production = plan.entries.iter().filter(|e| e.from == Some(MergeSide::Production)).count();
    let from_staging = plan.entries.len() - conflicting - from_production;
    let paths = plan.entries.len();
    let summary = if plan.without_base {
        format!(
            "{paths} path{} differ between staging and production. The common base of this conflict was not kept (both stores changed the chart between two scans), so each difference is a choice.",
            if paths == 1 { "" } else { "s" },
        )
    } else {
        let mut parts = vec![format!("{conflicting} on both sides (choose one)")];
        if from_production > 0 {
            parts.push(format!("{from_production} on production only (brought in)"));
        }
        if from_staging > 0 {
            parts.push(format!("{from_staging} on staging only (kept)"));
        }
        format!("{paths} path{} changed since the fork: {}.", if paths == 1 { "" } else { "s" }, parts.join(", "))
    };
    let rows = plan.entries.into_iter().map(|e| view! { <MergeRow entry=e can_review /> }).collect_view();
    view! {
        <section class="merge" data-testid="merge" aria-label="Merge">
            <h2>"Merge production's changes into staging"</h2>
            <p class="muted" data-testid="merge-summary">{summary}</p>
            <form method="post" action=action>
                <input type="hidden" name="staging_hash" value=plan.staging_hash.unwrap_or_default() />
                <input type="hidden" name="production_hash" value=plan.production_hash.unwrap_or_default() />
                <table class="merge-table">
                    <thead>
                        <tr>
                            <th scope="col">"path"</th>
                            <th scope="col">"baseline"</th>
                            <th scope="col">"staging"</th>
                            <th scope="col">"production"</th>
                            <th scope="col">"the merge takes"</th>
                        </tr>
                    </thead>
                    <tbody>{rows}</tbody>
                </table>
                {can_review
                    .then(|| {
                        view! {
                            <p>
                                <button type="submit" data-testid="merge-submit">
                                    "Write the merge to staging"
                                </button>
                                <span class="muted">
                                    " — only if staging and production still hold what this page shows; the merged chart is then reviewed like any change."
                                </span>
                            </p>
                        }
                    })}
            </form>
        </section>
    }
}

#[component]
fn MergeRow(entry: MergeEntry, can_review: bool) -> impl IntoView {
    let name = format!("choice:{}", entry.path);
    let takes = match entry.from {
        Some(side) => view! { <span data-testid="merge-takes">{side.as_str()}</span> }.into_any(),
        None if can_review => {
            let choice = |side: MergeSide| {
                view! {
                    <label>
                        <input type="radio" name=name.clone() value=side.as_str() required=true />
                        {format!(" {}", side.as_str())}
                    </label>
                }
            };
            view! {
                <fieldset class="merge-choice" data-testid="merge-choice">
                    <legend class="visually-hidden">{format!("Side for {}", entry.path)}</legend>
                    {choice(MergeSide::Staging)}
                    " "
                    {choice(MergeSide::Production)}
                </fieldset>
            }
            .into_any()
        }
        None => view! { <span>"a reviewer chooses"</span> }.into_any(),
    };
    view! {
        <tr
            data-testid="merge-row"
            data-path=entry.path.clone()
            class=if entry.conflicting { "conflicting" } else { "merged" }
        >
            <td>
                <code>{entry.path.clone()}</code>
            </td>
            <td>
                <code>{shown(&entry.baseline)}</code>
            </td>
            <td>
                <code>{shown(&entry.staging)}</code>
            </td>
            <td>
                <code>{shown(&entry.production)}</code>
            </td>
            <td>{takes}</td>
        </tr>
    }
}
