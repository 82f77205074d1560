//! Chartgate's pages and components, the types that cross the wire, and the server functions.
//!
//! Compiled twice: with `ssr` into the server (pages rendered to HTML, server functions run) and
//! with `hydrate` into the browser bundle (the same components hydrated).

pub mod api;
pub mod error;
pub mod pages;
pub mod rows;
#[cfg(feature = "ssr")]
pub mod service;
pub mod sync;
pub mod types;
pub mod upgrades;

pub use pages::{shell, App};
