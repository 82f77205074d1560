//! The HTTP server: the REST API, the Leptos pages (server-rendered, hydrated when the browser
//! bundle is present), static files, background rescans, and graceful shutdown.

use std::sync::Arc;

use app::service::SharedService;
use axum::response::IntoResponse;
use axum::Router;
use leptos::prelude::provide_context;
use leptos_axum::{generate_route_list, LeptosRoutes};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::trace::TraceLayer;

use crate::error::{Error, Result};
use crate::service::Services;
use crate::state::AppState;
use crate::{api, branches, forms, session};

pub fn router(state: AppState) -> Router {
    let service: SharedService = Arc::new(Services::new(state.clone()));
    let routes = generate_route_list(app::App);
    let options = state.leptos_options.clone();
    Router::new()
        .merge(api::router())
        .merge(session::router())
        .merge(forms::router())
        .leptos_routes_with_context(
            &state,
            routes,
            move || provide_context(service.clone()),
            move || app::shell(options.clone()),
        )
        .fallback(leptos_axum::file_and_error_handler::<AppState, _>(app::shell))
        // A limit the extractors enforce, so an oversized body is a JSON 413 like every API error.
        .layer(axum::extract::DefaultBodyLimit::max(state.config.body_limit))
        .layer(CatchPanicLayer::custom(|_| Error::internal("a request handler panicked").into_response()))
        .layer(axum::middleware::from_fn_with_state(state.clone(), session::middleware))
        .layer(axum::middleware::from_fn(server_timing))
        .layer(TraceLayer::new_for_http())
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

/// Serves until Ctrl-C or SIGTERM. Prints `chartgate listening on http://ADDR` once bound, which
/// scripts and tests wait for (the port may be 0: the line says which one was taken).
pub async fn serve(state: AppState) -> Result<()> {
    let listener = tokio::net::TcpListener::bind(&state.config.listen)
        .await
        .map_err(|e| Error::Unavailable(format!("cannot listen on {}: {e}", state.config.listen)))?;
    let addr = listener.local_addr().map_err(Error::internal)?;
    let scanner = tokio::spawn(background_scans(state.clone()));
    let sync_tasks = crate::sync::spawn_background(state.clone());
    println!("chartgate listening on http://{addr}");
    axum::serve(listener, router(state)).with_graceful_shutdown(shutdown_signal()).await.map_err(Error::internal)?;
    scanner.abort();
    sync_tasks.abort();
    Ok(())
}

/// Keeps open branches fresh: an incremental rescan every `scan_interval`, a full one every
/// `full_scan_interval`. A failing store is recorded on its branch by `rescan` and retried.
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
    loop {
        ticker.tick().await;
        let full = !full_every.is_zero() && last_full.elapsed() >= full_every;
        if full {
            last_full = tokio::time::Instant::now();
        }
        let names = match branches::open_names(&state).await {
            Ok(n) => n,
            Err(e) => {
                tracing::warn!(error = %e, "background scan could not list branches");
                continue;
            }
        };
        for name in names {
            match branches::rescan(&state, &name, full).await {
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
