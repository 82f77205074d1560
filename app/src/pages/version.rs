//! One stored version, by hash: the exact content an approval or a sync pointed at, rendered.

use leptos::prelude::*;
use leptos_router::hooks::use_params_map;

use super::chart_svg::ChartSvg;
use super::common::ErrorBox;
use crate::api::get_version;

#[component]
pub fn VersionPage() -> impl IntoView {
    let params = use_params_map();
    let hash = move || params.read().get("hash").unwrap_or_default();
    let version = Resource::new(hash, get_version);
    view! {
        <Suspense fallback=|| view! { <p class="loading">"Loading the version…"</p> }>
            {move || Suspend::new(async move {
                match version.await {
                    Err(e) => view! { <ErrorBox message=e.to_string() /> }.into_any(),
                    Ok(v) => {
                        let pretty = |v: &serde_json::Value| serde_json::to_string_pretty(v).unwrap_or_default();
                        let rows = v.data.get("rows").and_then(|r| r.as_array()).map(|r| r.len()).unwrap_or(0);
                        view! {
                            <h1>"Version " <code data-testid="version-hash">{v.hash.chars().take(12).collect::<String>()}</code></h1>
                            <p class="muted">{format!("{} · full hash {}", v.slug, v.hash)}</p>
                            <ChartSvg version=Some(v.clone()) other=None label="Version" />
                            <h2>"Config"</h2>
                            <pre class="hunks">{pretty(&v.config)}</pre>
                            <h2>"Metadata"</h2>
                            <pre class="hunks">{pretty(&v.metadata)}</pre>
                            <h2>"Data"</h2>
                            <p class="muted">{format!("{rows} rows")}</p>
                        }
                        .into_any()
                    }
                }
            })}
        </Suspense>
    }
}
