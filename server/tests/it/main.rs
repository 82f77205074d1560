//! One integration-test binary (one link, not one per file): the engine against real SQLite
//! files and a real PostgreSQL server, and the API against the real `chartgate` process.

mod api;
mod engine;
mod reviews;
mod support;
mod sync;
