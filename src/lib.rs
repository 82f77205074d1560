//! The browser entry of Chartgate.
//!
//! This is the workspace's root package on purpose (the design card fixes `src/` as the browser
//! entry): `scripts/build.sh` (or, in development, cargo-leptos) builds it for
//! `wasm32-unknown-unknown` with the `hydrate` feature and it hydrates the server-rendered [`app::App`]. On the host it compiles to an empty library, so
//! `cargo test --workspace` never mixes the `ssr` and `hydrate` halves of `app`.

#[cfg(feature = "hydrate")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_body(app::App);
}
