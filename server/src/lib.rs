//! Chartgate's server: everything that touches a database — chart stores, versions and the diff
//! engine, branches and their scans, users and tokens, the audit trail — plus the REST API, the
//! Leptos integration and the command line. It implements `app`'s service trait, so the
//! dependency between the two crates points one way.
//!
//! The modules form layers; each calls only the layers below it (`docs/development.md` has the map):
//!
//! 1. **Edges** — [`http`] (REST API, sessions, forms, pages) and [`cli`]: parse, check the
//!    caller's role, call features.
//! 2. **Features** — [`branches`], [`scans`], [`diffs`], [`reviews`], [`groups`], [`merges`], [`audit`], [`accounts`],
//!    [`sync`], [`upgrades`], [`rules`], [`demo`], [`notify`]: what Chartgate does, each checking its actor's role itself. They share
//!    [`state::AppState`].
//! 3. **Repositories** — [`repo`]: the SQL of Chartgate's own database, taking the database, not
//!    the application state.
//! 4. **Engine** — [`charts`] (stores, canonical versions) and [`diff`] (classification, diffs):
//!    no knowledge of Chartgate's database.
//! 5. **Leaves** — [`access`], [`config`], [`db`], [`error`], [`naming`], [`progress`],
//!    [`telemetry`].

pub mod access;
pub mod accounts;
pub mod audit;
pub mod branches;
pub mod charts;
pub mod cli;
pub mod config;
pub mod conversations;
pub mod db;
pub mod demo;
pub mod diff;
pub mod diffs;
pub mod error;
pub mod groups;
pub mod http;
pub mod inbox;
pub mod merges;
pub mod naming;
pub mod notify;
pub mod policy;
pub mod progress;
pub mod repo;
pub mod reviews;
pub mod rules;
pub mod scans;
pub mod state;
pub mod sync;
pub mod targets;
pub mod telemetry;
pub mod upgrades;
pub mod verdicts;
