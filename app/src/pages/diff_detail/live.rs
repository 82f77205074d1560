//! The live renderings (design §13): the real sites' own drawings of the chart, production beside
//! staging, in frames. For configs Chartgate cannot draw (a CMS's own chart types) they are the
//! only faithful picture.
//!
//! Loaded only when asked for: `?live=1` is a page of its own, reached by a plain link with
//! `rel="external"` so the router does not intercept it. The page must be loaded whole because
//! its Content-Security-Policy is what lets the frames in — `frame-src` names exactly the two
//! links' origins ([`crate::pages::allow_frames`]), and a policy cannot change after the document
//! loaded. Every other page (and this one without `?live=1`) allows no foreign frame at all.

use leptos::prelude::*;

/// `?live=1` on a chart's page.
pub const QUERY: &str = "live";

/// The links under the hashes: each live page in a tab of its own, and the side-by-side frames.
#[component]
pub fn LiveLinks(
    production: Option<String>,
    staging: Option<String>,
    /// The chart page's own URL (without a query).
    chart_url: String,
    showing: bool,
) -> impl IntoView {
    let any = production.is_some() || staging.is_some();
    let toggle = match showing {
        false => view! {
            <a href=format!("{chart_url}?{QUERY}=1#live") rel="external" data-testid="show-live">
                "show the live renderings side by side"
            </a>
        }
        .into_any(),
        true => {
            view! { <a href=chart_url rel="external" data-testid="hide-live">"hide the live renderings"</a> }.into_any()
        }
    };
    view! {
        <p class="links">
            {production.map(|u| view! { <a href=u target="_blank" rel="noopener noreferrer">"live production page ↗"</a> })}
            " "
            {staging.map(|u| view! { <a href=u target="_blank" rel="noopener noreferrer">"live staging page ↗"</a> })}
            " "
            {any.then_some(toggle)}
        </p>
    }
}

/// The two live renderings side by side. A side without a preview link says so instead of a
/// frame. The frames are sandboxed (their scripts run, in their own origin; no top navigation)
/// and send no referrer: the reviewer's Chartgate URL is nobody else's business.
#[component]
pub fn LiveFrames(
    production: Option<String>,
    staging: Option<String>,
    target_label: String,
    slug: String,
) -> impl IntoView {
    let frame = move |side: String, link: Option<String>| match link {
        Some(src) => view! {
            <figure class="live-frame">
                <figcaption>
                    {format!("{side}, live ")}
                    <a href=src.clone() target="_blank" rel="noopener noreferrer">"open ↗"</a>
                </figcaption>
                <iframe
                    referrerpolicy="no-referrer"
                    sandbox="allow-scripts allow-same-origin allow-popups"
                    src=src
                    title=format!("{side}: the live rendering of {slug}")
                ></iframe>
            </figure>
        }
        .into_any(),
        None => view! {
            <figure class="live-frame missing">
                <figcaption>{format!("{side}, live")}</figcaption>
                <p class="muted">"No preview URL is configured for this side."</p>
            </figure>
        }
        .into_any(),
    };
    view! {
        <section id="live" class="live" aria-label="Live renderings" data-testid="live-previews">
            <h2>"Live renderings"</h2>
            <div class="live-frames">
                {frame(target_label, production)}
                {frame("Staging".to_string(), staging)}
            </div>
        </section>
    }
}
