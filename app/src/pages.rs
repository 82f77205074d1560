//! The page shell, the router and the pages, one module per page.

mod audit;
mod branches;
pub mod chart_svg;
mod common;
mod diff_detail;
mod diff_list;
mod group;
mod jobs;
mod login;
mod me;
mod merge;
pub mod review;
mod upgrade;
mod version;

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, MetaTags, Stylesheet, Title};
use leptos_router::{
    components::{Route, Router, Routes},
    path, SsrMode,
};

use audit::AuditPageView;
use branches::BranchesPage;
use diff_detail::DiffDetailPage;
use diff_list::DiffListPage;
use group::{GroupPage, GroupsPage};
use jobs::{JobPage, JobsPage};
use login::LoginPage;
use upgrade::{UpgradeDetailPage, UpgradePage};
use version::VersionPage;

/// The HTML document the server renders around [`App`].
pub fn shell(options: LeptosOptions) -> impl IntoView {
    #[cfg(feature = "ssr")]
    content_security_policy();
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8" />
                <meta name="viewport" content="width=device-width, initial-scale=1" />
                <link rel="icon" type="image/svg+xml" href="/favicon.svg" />
                <HydrationScripts options />
                <MetaTags />
            </head>
            <body>
                <App />
            </body>
        </html>
    }
}

/// The page's Content-Security-Policy, bound to a fresh nonce: only the app's own scripts run, the
/// inline hydration script by its nonce (leptos puts [`leptos::nonce::use_nonce`] on it), the
/// WebAssembly by `'wasm-unsafe-eval'`. Inline `style=""` attributes (progress bars, legend swatches)
/// need `'unsafe-inline'` for styles only. The server adds the headers every answer shares.
#[cfg(feature = "ssr")]
fn content_security_policy() {
    use leptos::nonce::{provide_nonce, use_nonce};
    if use_nonce().is_none() {
        provide_nonce();
    }
    set_content_security_policy(&[]);
}

/// Lets this page frame exactly `origins` (`https://host[:port]`; the live previews of design
/// §13): the page's policy is set again with `frame-src` naming them. Server-side only; a page
/// rendered in the browser keeps the policy its document was loaded with, which is why the
/// framed view is a page load of its own. Anything that is not a plain origin is left out.
pub fn allow_frames(origins: &[String]) {
    #[cfg(feature = "ssr")]
    set_content_security_policy(origins);
    #[cfg(not(feature = "ssr"))]
    let _ = origins;
}

#[cfg(feature = "ssr")]
fn set_content_security_policy(frame_origins: &[String]) {
    let (Some(nonce), Some(response)) = (leptos::nonce::use_nonce(), use_context::<leptos_axum::ResponseOptions>())
    else {
        return;
    };
    let plain_origin = |o: &&String| {
        (o.starts_with("http://") || o.starts_with("https://"))
            && o.bytes().all(|b| b.is_ascii_alphanumeric() || b".-:/[]".contains(&b))
    };
    let frames: Vec<&str> = frame_origins.iter().filter(plain_origin).map(String::as_str).collect();
    let frame_src = if frames.is_empty() { String::new() } else { format!("frame-src {}; ", frames.join(" ")) };
    let policy = format!(
        "default-src 'self'; script-src 'self' 'nonce-{nonce}' 'wasm-unsafe-eval'; \
         style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; {frame_src}object-src 'none'; \
         base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    );
    if let Ok(value) = http::HeaderValue::from_str(&policy) {
        response.insert_header(http::header::CONTENT_SECURITY_POLICY, value);
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

    let user = Resource::new(|| (), |_| crate::api::whoami());
    provide_context(UserResource(user));
    // Made here, once, like `user`: a resource made inside the header's `Suspend` would be made
    // again on every pass of the server's render, and the browser would hydrate against other ids.
    let waiting = Resource::new(|| (), |_| crate::api::waiting_count());
    provide_context(review::Ui { flash: RwSignal::new(None), help: RwSignal::new(false) });
    view! {
        <Stylesheet id="leptos" href="/pkg/chartgate.css" />
        <Title text="Chartgate" />
        <Router>
            <header class="topbar">
                <a class="brand" href="/">
                    "Chartgate"
                </a>
                <span class="tagline">"staging → production, one approved chart at a time"</span>
                <Suspense>
                    {move || Suspend::new(async move {
                        let user = user.await.ok().flatten();
                        let waiting = waiting.await.unwrap_or(0);
                        user.map(|u| view! { <UserMenu user=u waiting /> })
                    })}
                </Suspense>
            </header>
            <main>
                <review::FlashMessage />
                <review::ShortcutHelp />
                // Async: pages arrive complete, so they read well before (or without) WebAssembly.
                <Routes fallback=|| view! { <common::NotFound /> }>
                    <Route path=path!("") view=BranchesPage ssr=SsrMode::Async />
                    <Route path=path!("/login") view=LoginPage ssr=SsrMode::Async />
                    <Route path=path!("/audit") view=AuditPageView ssr=SsrMode::Async />
                    <Route path=path!("/me") view=me::MyReviewsPage ssr=SsrMode::Async />
                    <Route path=path!("/jobs") view=JobsPage ssr=SsrMode::Async />
                    <Route path=path!("/jobs/:id") view=JobPage ssr=SsrMode::Async />
                    <Route path=path!("/versions/:hash") view=VersionPage ssr=SsrMode::Async />
                    <Route path=path!("/branches/:branch") view=DiffListPage ssr=SsrMode::Async />
                    <Route path=path!("/branches/:branch/upgrade") view=UpgradePage ssr=SsrMode::Async />
                    <Route
                        path=path!("/branches/:branch/upgrades/:id")
                        view=UpgradeDetailPage
                        ssr=SsrMode::Async
                    />
                    <Route path=path!("/branches/:branch/groups") view=GroupsPage ssr=SsrMode::Async />
                    <Route path=path!("/branches/:branch/groups/:id") view=GroupPage ssr=SsrMode::Async />
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

/// The signed-in user and the sign-out button (a plain form: works without WebAssembly).
#[component]
fn UserMenu(user: crate::types::CurrentUser, waiting: i64) -> impl IntoView {
    view! {
        <nav class="user-menu" aria-label="Account">
            <a href="/me" data-testid="my-reviews-link">
                "My reviews"
                {(waiting > 0).then(|| view! { <span class="count" data-testid="my-reviews-count">{waiting}</span> })}
            </a>
            <a href="/jobs">"Sync jobs"</a>
            <a href="/audit">"Audit"</a>
            <span class="muted" data-testid="current-user">{format!("{} · {}", user.email, user.role.as_str())}</span>
            <form method="post" action="/auth/logout">
                <button type="submit" class="link">"Sign out"</button>
            </form>
        </nav>
    }
}

/// The signed-in user, loaded once per page view; pages await it to decide which controls show.
#[derive(Clone, Copy)]
pub struct UserResource(pub Resource<Result<Option<crate::types::CurrentUser>, crate::error::AppError>>);

impl UserResource {
    pub async fn can(self, role: crate::types::Role) -> bool {
        self.0.await.ok().flatten().is_some_and(|u| u.can(role))
    }
}

pub fn user_resource() -> UserResource {
    use_context::<UserResource>().expect("the app provides the user")
}
