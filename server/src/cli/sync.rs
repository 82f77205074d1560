//! `chartgate sync BRANCH [--dry-run] [--wait]`.
//!
//! Without `--wait` the job is only queued: a running `chartgate serve` (any replica) picks it
//! up. With `--wait` this process also runs a worker — one more replica, so it works with or
//! without a server — and shows the job's progress until it ends. The exit status is non-zero
//! when the job failed.

use std::time::Duration;

use app::sync::{SyncJob, SyncOutcome, SyncTrigger};

use crate::access::Actor;
use crate::error::{Error, Result};
use crate::state::AppState;
use crate::sync::{enqueue, get_job, NewJob, Worker, WorkerOptions};

pub async fn run(state: AppState, actor: &Actor, branch: &str, dry_run: bool, wait: bool) -> Result<()> {
    let new = NewJob { branch, dry_run, trigger: SyncTrigger::Cli, delivery_id: None, idempotency_key: None };
    let id = enqueue(&state, actor, new).await?.job_id;
    let name = state.env_name(branch);
    println!("sync job {id} queued for branch {name}{}", if dry_run { " (dry run)" } else { "" });
    if !wait {
        eprintln!("a running `chartgate serve` runs it; follow it at /api/v1/sync/jobs/{id}, or use --wait");
        return Ok(());
    }

    let target = state.targets.get(&crate::sync::get_job(&state.db, id).await?.target)?.clone();
    let worker = Worker::for_targets(state.clone(), [target], WorkerOptions::from_config(&state.config));
    let runner_state = state.clone();
    // Run jobs of this store until ours has ended (jobs run oldest first, so earlier ones are
    // done by then); a server running beside us may take ours instead, which is fine.
    let runner = tokio::spawn(async move {
        loop {
            match get_job(&runner_state.db, id).await {
                Ok(job) if job.status.is_finished() => return,
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "cannot read the sync job"),
            }
            if let Err(e) = worker.recover().await {
                tracing::warn!(error = %e, "cannot recover sync jobs");
            }
            match worker.run_next().await {
                Ok(Some(_)) => {}
                Ok(None) => tokio::time::sleep(Duration::from_millis(250)).await,
                Err(e) => {
                    tracing::warn!(error = %e, "sync worker could not claim a job");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    });

    let bar = crate::progress::bar(0, "syncing");
    let job = loop {
        let job = get_job(&state.db, id).await?;
        bar.set_length(job.total.max(0) as u64);
        bar.set_position(job.done.max(0) as u64);
        if job.status.is_finished() {
            break job;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    bar.finish_and_clear();
    let _ = runner.await;
    report(&job);
    match job.error {
        Some(e) if job.status == app::sync::JobStatus::Failed => {
            Err(Error::Unavailable(format!("sync job {id} failed: {e}; run `chartgate sync {name}` again to retry")))
        }
        _ => Ok(()),
    }
}

fn report(job: &SyncJob) {
    let n = |o| job.count(o);
    println!(
        "sync job {} {}{}: {} created, {} updated, {} deleted, {} unchanged, {} skipped, {} failed",
        job.id,
        job.status.as_str(),
        if job.dry_run { " (dry run: nothing written)" } else { "" },
        n(SyncOutcome::Created),
        n(SyncOutcome::Updated),
        n(SyncOutcome::Deleted),
        n(SyncOutcome::Unchanged),
        n(SyncOutcome::Skipped),
        n(SyncOutcome::Failed),
    );
    for item in &job.items {
        if let Some(o @ (SyncOutcome::Skipped | SyncOutcome::Failed)) = item.outcome {
            println!(
                "  {:<8} {:<24} {:<40} {}",
                o.as_str(),
                item.chart_id,
                item.slug,
                item.reason.as_deref().unwrap_or("")
            );
        }
    }
}
