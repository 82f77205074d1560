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
            "{paths} path{} between staging and production. The common base of this conflict was not kept (both stores changed the chart between two scans), so each difference is a choice.",
            if paths == 1 { " differs" } else { "s differ" },
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

/// A JSON pointer that wraps only after a `/`, never inside a key (`/config/subt|itle`).
fn breakable(path: &str) -> AnyView {
    // Type-erased: the merge table's view type is deep enough already for the browser build.
    path.split_inclusive('/').map(|segment| view! { {segment.to_string()}<wbr /> }).collect_view().into_any()
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
                <code class="merge-path">{breakable(&entry.path)}</code>
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

#[cfg(all(test, feature = "ssr"))]
mod render_tests {
    use leptos::prelude::*;
    use serde_json::json;

    use super::MergeView;
    use crate::types::{MergeEntry, MergePlan, MergeSide};

    fn entry(path: &str, from: Option<MergeSide>) -> MergeEntry {
        MergeEntry {
            path: path.into(),
            part: "config".into(),
            conflicting: from.is_none(),
            from,
            baseline: Some(json!("b")),
            staging: Some(json!("s")),
            production: Some(json!("p")),
        }
    }

    fn render(entries: Vec<MergeEntry>, without_base: bool) -> String {
        let plan = MergePlan {
            chart_id: "c".into(),
            staging_hash: Some("s".into()),
            production_hash: Some("p".into()),
            entries,
            without_base,
        };
        Owner::new().with(|| view! { <MergeView plan branch="b".to_string() can_review=true /> }.to_html())
    }

    #[test]
    fn the_summary_names_only_what_there_is_and_says_when_the_base_is_gone() {
        let html =
            render(vec![entry("/config/title", None), entry("/config/subtitle", Some(MergeSide::Production))], false);
        assert!(
            html.contains(
                "2 paths changed since the fork: 1 on both sides (choose one), 1 on production only (brought in)."
            ),
            "{html}"
        );
        assert!(!html.contains("staging only"), "no staging-only path, none mentioned: {html}");
        let html = render(vec![entry("/config/title", None)], true);
        assert!(
            html.contains(
                "1 path differs between staging and production. The common base of this conflict was not kept"
            ),
            "{html}"
        );
    }

    #[test]
    fn paths_wrap_only_after_a_slash() {
        let html = render(vec![entry("/config/subtitle", None)], false);
        assert!(html.contains("/<wbr>config/<wbr>subtitle<wbr>"), "{html}");
    }
}
