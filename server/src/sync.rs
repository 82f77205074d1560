//! Sync on merge: a signed GitHub hook, `POST /api/v1/sync` or `chartgate sync` enqueues a job;
//! a worker in every server process claims jobs one production store at a time and writes only
//! approved content to production.
//!
//! - [`enqueue`](mod@enqueue) records a job (deduplicated by `X-GitHub-Delivery` or
//!   `Idempotency-Key`: a repeat answers with the first job) and wakes the local worker.
//! - [`worker`] claims jobs (row locks on PostgreSQL so replicas never run two jobs on one
//!   store), keeps their heartbeat, and puts back the jobs of dead processes.
//! - [`plan`] fixes a job's items once, from the decisions in force.
//! - [`apply`] writes one item to production by compare-and-swap and records its outcome.
//! - [`archive`] archives merged branches after `archive_after`.
//! - [`triggers`] decides what a merge or a release starts (design §10).
//!
//! After a real (not dry) run starts, its branch is marked merged. Reviews and the audit trail
//! stay forever.

pub mod apply;
pub mod archive;
pub mod enqueue;
pub mod plan;
pub mod triggers;
pub mod worker;

pub use archive::archive_merged;
pub use enqueue::{enqueue, get_job, list_jobs, Enqueued, NewJob};
pub use worker::{spawn_background, Background, Worker, WorkerOptions, ITEM_DELAY_VAR};
