//! The page shell, the router and the pages, one module per page.

mod branches;
pub mod chart_svg;
mod common;
mod diff_detail;
mod diff_list;

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, MetaTags, Stylesheet, Title};
use leptos_router::{
    components::{Route, Router, Routes},
    path, SsrMode,
};

use branches::BranchesPage;
use diff_detail::DiffDetailPage;
use diff_list::DiffListPage;

/// The HTML document the server renders around [`App`].
pub fn shell(options: LeptosOptions) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8" />
                <meta name="viewport" content="width=device-width, initial-scale=1" />
                <HydrationScripts options />
                <MetaTags />
            </head>
            <body>
                <App />
            </body>
        </html>
    }
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    // Effects run only in the browser, after hydration: tests and scripts wait for this marker
    // before they click.
    Effect::new(move |_| {
        if let Some(body) = document().body() {
            let _ = body.set_attribute("data-hydrated", "true");
        }
    });

    view! {
        <Stylesheet id="leptos" href="/pkg/chartgate.css" />
        <Title text="Chartgate" />
        <Router>
            <header class="topbar">
                <a class="brand" href="/">
                    "Chartgate"
                </a>
                <span class="tagline">"staging → production, one approved chart at a time"</span>
            </header>
            <main>
                // Async: pages arrive complete, so they read well before (or without) WebAssembly.
                <Routes fallback=|| view! { <common::NotFound /> }>
                    <Route path=path!("") view=BranchesPage ssr=SsrMode::Async />
                    <Route path=path!("/branches/:branch") view=DiffListPage ssr=SsrMode::Async />
                    <Route
                        path=path!("/branches/:branch/charts/:chart_id")
                        view=DiffDetailPage
                        ssr=SsrMode::Async
                    />
                </Routes>
            </main>
        </Router>
    }
}
