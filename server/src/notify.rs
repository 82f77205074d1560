//! Notifications (design §12): messages to a Slack-compatible incoming webhook (`notify_url`)
//! when a sync job ends partial or failed, and, with `github_token`, a commit status
//! `chartgate/review` on the pull request's head commit that follows the gate, and a comment on
//! the pull request with each sync job's outcome.
//!
//! Everything here runs in the background: the entry points spawn a task and return at once, so
//! a request or a job never waits for Slack or GitHub. A delivery is retried with exponential
//! backoff (0.5 s, 1 s, 2 s, 4 s, then it gives up and logs) when the receiver cannot be reached,
//! answers 5xx or 429; any other answer is final. Deliveries are made by the process that did the
//! work: the server, or `chartgate sync --wait` until it exits.
//!
//! Layer: a feature. It reads Chartgate's database through the repositories only.

use std::sync::OnceLock;
use std::time::Duration;

use app::sync::{JobStatus, SyncJob, SyncOutcome};
use serde_json::{json, Value};

use crate::error::Result;
use crate::repo::{items, jobs, pull_requests};
use crate::state::AppState;

/// The commit status context Chartgate owns on pull requests.
pub const CONTEXT: &str = "chartgate/review";

/// Attempts per delivery, and the first pause between two.
const ATTEMPTS: u32 = 5;
const FIRST_BACKOFF: Duration = Duration::from_millis(500);

fn client() -> &'static reqwest::Client {
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    CLIENT.get_or_init(|| {
        reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .user_agent(concat!("chartgate/", env!("CARGO_PKG_VERSION")))
            .build()
            .expect("an HTTP client with the default TLS roots")
    })
}

/// One message to send.
struct Delivery {
    kind: &'static str,
    url: String,
    body: Value,
    bearer: Option<String>,
}

/// Sends with retries; true when the receiver took it.
async fn deliver(d: Delivery) -> bool {
    let mut pause = FIRST_BACKOFF;
    for attempt in 1..=ATTEMPTS {
        let mut req = client().post(&d.url).json(&d.body);
        if let Some(token) = &d.bearer {
            req = req
                .bearer_auth(token)
                .header("accept", "application/vnd.github+json")
                .header("x-github-api-version", "2022-11-28");
        }
        let retry = match req.send().await {
            Ok(resp) if resp.status().is_success() => {
                tracing::info!(kind = d.kind, attempt, "notification delivered");
                crate::telemetry::notification(d.kind, "delivered");
                return true;
            }
            Ok(resp) => {
                let status = resp.status();
                tracing::warn!(kind = d.kind, attempt, %status, "notification refused");
                status.is_server_error() || status == reqwest::StatusCode::TOO_MANY_REQUESTS
            }
            Err(e) => {
                tracing::warn!(kind = d.kind, attempt, error = %e, "notification could not be sent");
                true
            }
        };
        if !retry || attempt == ATTEMPTS {
            break;
        }
        crate::telemetry::notification(d.kind, "retried");
        tokio::time::sleep(pause).await;
        pause *= 2;
    }
    tracing::error!(kind = d.kind, "notification given up");
    crate::telemetry::notification(d.kind, "gave_up");
    false
}

/// Runs `work` in the background when there is a runtime (there always is in the server and the
/// CLI); its errors are logged.
fn spawn(what: &'static str, work: impl std::future::Future<Output = Result<()>> + Send + 'static) {
    let Ok(runtime) = tokio::runtime::Handle::try_current() else { return };
    runtime.spawn(async move {
        if let Err(e) = work.await {
            tracing::warn!(what, error = %e, "notification skipped");
        }
    });
}

fn public_url(state: &AppState) -> String {
    state
        .config
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{}", state.config.listen))
        .trim_end_matches('/')
        .to_string()
}

fn github(state: &AppState) -> Option<(String, String)> {
    let token = state.config.github_token.clone().filter(|t| !t.is_empty())?;
    Some((state.config.github_api_url.trim_end_matches('/').to_string(), token))
}

/// A pull request was opened, reopened or got new commits: remember its head, and set the
/// commit status from the branch's gate (if the branch is registered).
pub async fn pull_request_updated(
    state: &AppState,
    head_branch: &str,
    repository: &str,
    number: i64,
    head_sha: &str,
) -> Result<()> {
    let branch = state.env_name(head_branch);
    pull_requests::upsert(&state.db, &branch, repository, number, head_sha).await?;
    gate_may_have_changed(state, &branch);
    Ok(())
}

/// The gate of `branch` may have moved (a decision, a rescan): sends the commit status when it
/// differs from the last one sent. Returns at once.
pub fn gate_may_have_changed(state: &AppState, branch: &str) {
    if github(state).is_none() {
        return;
    }
    let (state, branch) = (state.clone(), branch.to_string());
    spawn("commit status", async move { send_status(&state, &branch).await });
}

async fn send_status(state: &AppState, branch: &str) -> Result<()> {
    let Some((api, token)) = github(state) else { return Ok(()) };
    let Some(pr) = pull_requests::get(&state.db, branch).await? else { return Ok(()) };
    if crate::repo::branches::get(&state.db, branch).await?.is_none() {
        return Ok(());
    }
    let c = items::counts(&state.db, branch).await?;
    let pass = c.pending == 0 && c.stale == 0 && c.errors == 0;
    let (status, description) = if pass {
        ("success", format!("{} changes reviewed ({} approved, {} rejected)", c.total, c.approved, c.rejected))
    } else {
        ("pending", format!("{} pending, {} stale, {} unreadable of {} changes", c.pending, c.stale, c.errors, c.total))
    };
    let noted = format!("{status}: {description}");
    if !pull_requests::note_status(&state.db, branch, &pr.head_sha, &noted).await? {
        return Ok(());
    }
    let body = json!({
        "state": status,
        "context": CONTEXT,
        "description": description,
        "target_url": format!("{}/branches/{branch}", public_url(state)),
    });
    let url = format!("{api}/repos/{}/statuses/{}", pr.repository, pr.head_sha);
    deliver(Delivery { kind: "github_status", url, body, bearer: Some(token) }).await;
    Ok(())
}

/// A sync job ended: tells `notify_url` when it was partial or failed, and comments on the
/// branch's pull request. Returns at once.
pub fn sync_finished(state: &AppState, job_id: i64) {
    let wants_github = github(state).is_some();
    let wants_chat = state.config.notify_url.as_deref().is_some_and(|u| !u.is_empty());
    if !wants_github && !wants_chat {
        return;
    }
    let state = state.clone();
    spawn("sync notification", async move {
        let Some(job) = jobs::get(&state.db, job_id).await? else { return Ok(()) };
        let mut sends = Vec::new();
        if let Some(url) = state.config.notify_url.clone().filter(|u| !u.is_empty()) {
            if matches!(job.status, JobStatus::Partial | JobStatus::Failed) {
                let body = json!({ "text": chat_message(&job, &public_url(&state)) });
                sends.push(Delivery { kind: "webhook", url, body, bearer: None });
            }
        }
        if let Some((api, token)) = github(&state) {
            if let Some(pr) = pull_requests::get(&state.db, &job.branch).await? {
                let url = format!("{api}/repos/{}/issues/{}/comments", pr.repository, pr.number);
                let body = json!({ "body": comment(&job, &public_url(&state)) });
                sends.push(Delivery { kind: "github_comment", url, body, bearer: Some(token) });
            }
        }
        futures::future::join_all(sends.into_iter().map(deliver)).await;
        Ok(())
    });
}

fn not_done(job: &SyncJob) -> Vec<String> {
    job.items
        .iter()
        .filter(|i| matches!(i.outcome, Some(SyncOutcome::Skipped | SyncOutcome::Failed) | None))
        .map(|i| {
            let outcome = i.outcome.map_or("not reached", |o| o.as_str());
            format!("• {} ({}): {} — {}", i.slug, i.chart_id, outcome, i.reason.as_deref().unwrap_or("no reason given"))
        })
        .collect()
}

/// The webhook text: what ended how, and each item that was skipped or failed with its reason.
pub fn chat_message(job: &SyncJob, base: &str) -> String {
    let mut lines = vec![format!(
        "Chartgate sync job {} of {} → {} ended *{}*{}: {} of {} items done.",
        job.id,
        job.branch,
        job.target,
        job.status.as_str(),
        if job.dry_run { " (dry run)" } else { "" },
        job.done,
        job.total
    )];
    if let Some(e) = &job.error {
        lines.push(format!("Error: {e}"));
    }
    let skipped = not_done(job);
    if !skipped.is_empty() {
        lines.push("Skipped or failed:".into());
        lines.extend(skipped.into_iter().take(50));
    }
    lines.push(format!("{base}/jobs/{}", job.id));
    lines.join("\n")
}

/// The pull request comment: the outcome per kind, and what was not synced.
pub fn comment(job: &SyncJob, base: &str) -> String {
    let count = |o| job.count(o);
    let mut text = format!(
        "**Chartgate sync {}** of `{}` to `{}`{}: {} created, {} updated, {} deleted, {} unchanged, {} skipped, {} failed.\n",
        job.status.as_str(),
        job.branch,
        job.target,
        if job.dry_run { " (dry run)" } else { "" },
        count(SyncOutcome::Created),
        count(SyncOutcome::Updated),
        count(SyncOutcome::Deleted),
        count(SyncOutcome::Unchanged),
        count(SyncOutcome::Skipped),
        count(SyncOutcome::Failed),
    );
    if let Some(e) = &job.error {
        text.push_str(&format!("\nError: {e}\n"));
    }
    let skipped = not_done(job);
    if !skipped.is_empty() {
        text.push_str("\nNot synced:\n");
        for line in skipped.into_iter().take(50) {
            text.push_str(&format!("- {}\n", line.trim_start_matches("• ")));
        }
    }
    text.push_str(&format!("\n[Job {}]({base}/jobs/{})\n", job.id, job.id));
    text
}
