//! The HTTP edge: the REST API (one router per feature), sessions and sign-in, the no-JS form
//! endpoints, the Leptos pages and static files, and serving with graceful shutdown.
//!
//! Layer: the top of the server beside the CLI. It calls features; no feature calls it.

pub mod api;
pub mod client;
pub mod extract;
pub mod forms;
pub mod limiter;
pub mod metrics;
pub mod observe;
pub mod openapi;
pub mod pages;
pub mod session;
pub mod upgrades;

use std::sync::{Arc, OnceLock};

use app::service::SharedService;
use axum::extract::{FromRef, State};
use axum::http::{header, HeaderValue};
use axum::response::IntoResponse;
use axum::Router;
use leptos::config::LeptosOptions;
use leptos::prelude::provide_context;
use leptos_axum::{generate_route_list, AxumRouteListing, LeptosRoutes};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::services::ServeDir;
use tower_http::set_header::SetResponseHeaderLayer;

use crate::access::Actor;
use crate::error::{Error, Result};
use crate::repo::branches as branch_rows;
use crate::state::AppState;
use limiter::SignInThrottle;

/// What the web handlers share: the application state, plus what only the web needs.
#[derive(Clone, FromRef)]
pub struct WebState {
    pub app: AppState,
    pub limiter: SignInThrottle,
    pub leptos_options: LeptosOptions,
}

impl WebState {
    pub fn new(app: AppState) -> WebState {
        let site_addr: std::net::SocketAddr =
            app.config.listen.parse().unwrap_or_else(|_| ([127, 0, 0, 1], 3000).into());
        let leptos_options = LeptosOptions::builder()
            .output_name("chartgate")
            .site_root(app.config.site_root.as_str())
            .site_pkg_dir("pkg")
            .site_addr(site_addr)
            .build();
        WebState { app, limiter: SignInThrottle::default(), leptos_options }
    }
}

/// The Content-Security-Policy of every answer that is not a page.
const DEFAULT_CSP: &str = "default-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'";

/// The app's page routes, listed once per process.
///
/// Listing runs the app with leptos_server's process-wide `SuppressResourceLoad` flag set, and a
/// resource first polled while it is set — in any page being rendered anywhere in the process —
/// waits forever (leptos-rs/leptos#4773). Every page loads the signed-in user through a resource,
/// so a router built while another served pages (tests build many; a server could rebuild one)
/// left a page unanswered. Listed once, before the first router exists, no page is rendering.
fn app_routes() -> Vec<AxumRouteListing> {
    static ROUTES: OnceLock<Vec<AxumRouteListing>> = OnceLock::new();
    ROUTES.get_or_init(|| generate_route_list(app::App)).clone()
}

/// Every route of the server: API, sign-in, forms, pages and static files.
pub fn router(state: WebState) -> Router {
    let app = state.app.clone();
    let service: SharedService = Arc::new(pages::Services::new(app.clone()));
    let upgrade_service: app::upgrades::SharedUpgradeService =
        Arc::new(upgrades::UpgradeServices { state: app.clone() });
    let routes = app_routes();
    let options = state.leptos_options.clone();
    Router::new()
        .merge(api::router())
        .merge(openapi::router())
        .merge(metrics::router())
        .merge(session::router())
        .merge(forms::router())
        .merge(upgrades::router())
        .leptos_routes_with_context(
            &state,
            routes,
            move || {
                provide_context(service.clone());
                provide_context(upgrade_service.clone());
            },
            move || app::shell(options.clone()),
        )
        // Files of the site (the bundle, the stylesheet, public/) straight from disk, and the
        // app's 404 page for anything else. Not leptos_axum's `file_and_error_handler`: it answers
        // a file inside an `Owner::new()` that inherits whatever reactive owner the worker thread
        // last left current, and moves that owner's response headers onto the file. A page being
        // rendered at the same time then lost its Content-Security-Policy to a `.wasm` answer,
        // and its nonce-bound hydration script was blocked (seen in end-to-end runs).
        .fallback(site_file)
        // A limit the extractors enforce, so an oversized body is a JSON 413 like every API error.
        .layer(axum::extract::DefaultBodyLimit::max(app.config.body_limit))
        .layer(CatchPanicLayer::custom(|_| Error::internal("a request handler panicked").into_response()))
        .layer(axum::middleware::from_fn_with_state(app.clone(), session::middleware))
        .layer(axum::middleware::from_fn(server_timing))
        // Headers every answer carries. Pages set their own Content-Security-Policy (bound to the
        // nonce of their hydration script, see `app::shell`); every other answer — JSON, files,
        // redirects — gets one that allows nothing inline and no framing. `same-origin`, not
        // `no-referrer`: the latter makes browsers send `Origin: null` on form posts, which the
        // CSRF check rightly refuses.
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(DEFAULT_CSP),
        ))
        .layer(SetResponseHeaderLayer::overriding(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")))
        .layer(SetResponseHeaderLayer::overriding(header::REFERRER_POLICY, HeaderValue::from_static("same-origin")))
        .layer(axum::middleware::from_fn(observe::middleware))
        .with_state(state)
}

/// Adds `Server-Timing: app;dur=<ms>` so clients (and the benchmark) see the server's own time.
async fn server_timing(req: axum::extract::Request, next: axum::middleware::Next) -> axum::response::Response {
    let started = std::time::Instant::now();
    let mut response = next.run(req).await;
    let value = format!("app;dur={:.3}", started.elapsed().as_secs_f64() * 1000.0);
    if let Ok(v) = axum::http::HeaderValue::from_str(&value) {
        response.headers_mut().insert("server-timing", v);
    }
    response
}

/// A file of the site from disk; anything else — no such file, or a path no file can have (a
/// name too long for the file system, say) — is the app's 404 page, never a 500.
async fn site_file(State(state): State<WebState>, req: axum::extract::Request) -> axum::response::Response {
    let (parts, body) = req.into_parts();
    let probe = axum::extract::Request::from_parts(parts.clone(), axum::body::Body::empty());
    match ServeDir::new(&state.app.config.site_root).try_call(probe).await {
        Ok(file) if file.status() != axum::http::StatusCode::NOT_FOUND => file.map(axum::body::Body::new),
        Ok(_) => not_found_page(state, axum::extract::Request::from_parts(parts, body)).await,
        Err(e) => {
            tracing::debug!(error = %e, path = %parts.uri.path(), "no site file can have this path");
            not_found_page(state, axum::extract::Request::from_parts(parts, body)).await
        }
    }
}

/// The app's "not found" page, rendered like every page (its own Content-Security-Policy and
/// nonce), answered with 404.
async fn not_found_page(state: WebState, req: axum::extract::Request) -> axum::response::Response {
    let options = state.leptos_options.clone();
    let render = leptos_axum::render_app_async_with_context(|| {}, move || app::shell(options.clone()));
    let mut response = render(req).await;
    if response.status() == axum::http::StatusCode::OK {
        *response.status_mut() = axum::http::StatusCode::NOT_FOUND;
    }
    response
}

/// Serves until Ctrl-C or SIGTERM. Prints `chartgate listening on http://ADDR` once bound, which
/// scripts and tests wait for (the port may be 0: the line says which one was taken).
pub async fn serve(state: AppState) -> Result<()> {
    let listener = tokio::net::TcpListener::bind(&state.config.listen)
        .await
        .map_err(|e| Error::Unavailable(format!("cannot listen on {}: {e}", state.config.listen)))?;
    let addr = listener.local_addr().map_err(Error::internal)?;
    // Mapped target stores are checked before anything is read (design §13): a mapping that
    // does not fit its store stops the start, naming the mapping and the statement.
    use crate::charts::store::StoreUrl;
    let mapped = |url: &str| matches!(StoreUrl::parse(url), Ok(StoreUrl::Sql { mapping: Some(_), .. }));
    for target in state.targets.iter().filter(|t| mapped(&t.store_url)) {
        state.stores.get(&target.store_url).await?;
    }
    state.settle_review_policy().await?;
    if let Err(e) = crate::branches::ensure_environments(&state).await {
        tracing::warn!(error = %e, "could not register the environments of the targets yet");
    }
    let scanner = tokio::spawn(background_scans(state.clone()));
    let sync_tasks = crate::sync::spawn_background(state.clone());
    crate::telemetry::install();
    println!("chartgate listening on http://{addr}");
    // With the peer's address: the trusted-proxy mode and sign-in throttling need it.
    let app = router(WebState::new(state)).into_make_service_with_connect_info::<std::net::SocketAddr>();
    axum::serve(listener, app).with_graceful_shutdown(shutdown_signal()).await.map_err(Error::internal)?;
    scanner.abort();
    sync_tasks.abort();
    Ok(())
}

/// Keeps open branches fresh: an incremental rescan every `scan_interval`, a full one every
/// `full_scan_interval`. A failing store is recorded on its branch by the rescan and retried.
async fn background_scans(state: AppState) {
    let every = state.config.scan_interval();
    if every.is_zero() {
        return;
    }
    let full_every = state.config.full_scan_interval();
    let mut last_full = tokio::time::Instant::now();
    let mut ticker = tokio::time::interval(every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticker.tick().await;
    let system = Actor::system();
    loop {
        ticker.tick().await;
        let full = !full_every.is_zero() && last_full.elapsed() >= full_every;
        if full {
            last_full = tokio::time::Instant::now();
        }
        if let Err(e) = crate::branches::ensure_environments(&state).await {
            tracing::warn!(error = %e, "could not register the environments of the targets");
        }
        let names = match branch_rows::open_names(&state.db).await {
            Ok(n) => n,
            Err(e) => {
                tracing::warn!(error = %e, "background scan could not list branches");
                continue;
            }
        };
        for name in names {
            match crate::scans::rescan(&state, &system, &name, full).await {
                Ok(r) => tracing::debug!(branch = %name, ms = r.duration_ms, "rescanned"),
                Err(e) => tracing::warn!(branch = %name, error = %e, "background rescan failed"),
            }
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
    tracing::info!("shutting down");
}
