//! One integration-test binary (one link, not one per file): the engine against real SQLite
//! files and a real PostgreSQL server, and the API against the real `chartgate` process.

mod access;
mod api;
mod config_file;
mod engine;
mod faults;
mod file_watch;
mod hooks;
mod injection;
mod malformed;
mod merges;
mod openapi;
mod ops;
mod previews;
mod replicas;
mod review_scale;
mod reviews;
mod routes;
mod rules;
mod security;
mod signin;
mod snapshots;
mod stores;
mod support;
mod sync;
mod targets;
mod team;
mod upgrades;
