//! Chartgate's server: everything that touches a database — chart stores, versions and the diff
//! engine, branches and their scans, users and tokens, the audit trail — plus the REST API, the
//! Leptos integration and the command line. It implements `app`'s service trait, so the
//! dependency between the two crates points one way.

pub mod api;
pub mod audit;
pub mod auth;
pub mod branches;
pub mod charts;
pub mod cli;
pub mod config;
pub mod db;
pub mod demo;
pub mod diff;
pub mod diffs;
pub mod error;
pub mod forms;
pub mod reviews;
pub mod scan;
pub mod service;
pub mod session;
pub mod state;
pub mod sync;
pub mod web;
