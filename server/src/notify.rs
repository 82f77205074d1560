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
//! Every value put into a message is escaped for the markup of where it goes: chart ids, slugs,
//! branch names and reasons are typed by whoever wrote the store or opened the branch, and taken
//! as markup they would ping a whole channel (`<!channel>`), dress a link as something else
//! (`<https://evil.example|the review>`), or mention and link on GitHub. Slack-style text gets
//! `&`, `<`, `>` as entities ([`chat_text`]); a GitHub comment shows each value as a code span
//! ([`code`]); a commit status's description is plain text GitHub shows as it is, and holds only
//! counts.
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

/// A pull request of `branch` (the environment name of the registered branch it belongs to) was
/// opened, reopened or got new commits: remember its head, and set the commit status from the
/// branch's gate.
pub async fn pull_request_updated(
    state: &AppState,
    branch: &str,
    repository: &str,
    number: i64,
    head_sha: &str,
) -> Result<()> {
    pull_requests::upsert(&state.db, branch, repository, number, head_sha).await?;
    gate_may_have_changed(state, branch);
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
        // What the gate still waits for, in the policy's words (design §14).
        let waiting = crate::verdicts::waiting_for(state, branch).await?;
        let counts = format!("{} of {} changes wait", c.pending + c.rejected, c.total);
        ("pending", status_description(&counts, &waiting))
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

/// GitHub keeps 140 characters of a commit status's description.
const STATUS_DESCRIPTION_MAX: usize = 140;

/// "3 of 10 changes wait: 2 items: needs 1 more approval; 1 item: rejected by …", cut to what
/// GitHub keeps.
pub fn status_description(counts: &str, waiting: &[String]) -> String {
    let full = match waiting.is_empty() {
        true => counts.to_string(),
        false => format!("{counts}: {}", waiting.join("; ")),
    };
    if full.chars().count() <= STATUS_DESCRIPTION_MAX {
        return full;
    }
    let cut: String = full.chars().take(STATUS_DESCRIPTION_MAX - 1).collect();
    format!("{cut}…")
}

/// People were asked to review `branch` (or some of its charts): tells `notify_url`, naming them.
/// Returns at once.
pub fn review_requested(
    state: &AppState,
    branch: &str,
    asker: &str,
    reviewers: &[String],
    chart_ids: Option<&[String]>,
) {
    let Some(url) = state.config.notify_url.clone().filter(|u| !u.is_empty()) else { return };
    let what = match chart_ids {
        None => "its changes".to_string(),
        Some([one]) => format!("chart {}", chat_text(one)),
        Some(ids) => format!("{} charts", ids.len()),
    };
    let text = format!(
        "Review requested: {} asks {} to review {what} on branch {} <{}/branches/{}|open the review>",
        chat_text(asker),
        reviewers.iter().map(|r| chat_text(r)).collect::<Vec<_>>().join(", "),
        chat_text(branch),
        public_url(state),
        chat_text(branch),
    );
    let body = json!({ "text": text, "reviewers": reviewers, "branch": branch });
    spawn("review request", async move {
        deliver(Delivery { kind: "webhook", url, body, bearer: None }).await;
        Ok(())
    });
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

/// A value as Slack-style `mrkdwn` shows it literally (Slack's "escaping text"): `&`, `<` and
/// `>` as entities, the only characters that make a mention, a link or a special command.
pub fn chat_text(value: &str) -> String {
    value.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// A value as a Markdown code span, shown as typed: never a link, a mention, an image or HTML.
/// The fence is longer than any run of backticks inside (CommonMark), and line breaks become
/// spaces so the value cannot end the paragraph and start a block of its own.
pub fn code(value: &str) -> String {
    let value: String = value.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    let longest = value.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat(longest + 1);
    let pad = if value.is_empty() || value.starts_with('`') || value.ends_with('`') { " " } else { "" };
    format!("{fence}{pad}{value}{pad}{fence}")
}

/// The items that were skipped or failed (or never reached), one line each, every value passed
/// through `escape`.
fn not_done(job: &SyncJob, escape: fn(&str) -> String) -> Vec<String> {
    job.items
        .iter()
        .filter(|i| matches!(i.outcome, Some(SyncOutcome::Skipped | SyncOutcome::Failed) | None))
        .map(|i| {
            let outcome = i.outcome.map_or("not reached", |o| o.as_str());
            format!(
                "• {} ({}): {} — {}",
                escape(&i.slug),
                escape(&i.chart_id),
                outcome,
                escape(i.reason.as_deref().unwrap_or("no reason given"))
            )
        })
        .collect()
}

/// The webhook text: what ended how, and each item that was skipped or failed with its reason.
pub fn chat_message(job: &SyncJob, base: &str) -> String {
    let mut lines = vec![format!(
        "Chartgate sync job {} of {} → {} ended *{}*{}: {} of {} items done.",
        job.id,
        chat_text(&job.branch),
        chat_text(&job.target),
        job.status.as_str(),
        if job.dry_run { " (dry run)" } else { "" },
        job.done,
        job.total
    )];
    if let Some(e) = &job.error {
        lines.push(format!("Error: {}", chat_text(e)));
    }
    let skipped = not_done(job, chat_text);
    if !skipped.is_empty() {
        lines.push("Skipped or failed:".into());
        lines.extend(skipped.into_iter().take(50));
    }
    lines.push(format!("{}/jobs/{}", chat_text(base), job.id));
    lines.join("\n")
}

/// The pull request comment: the outcome per kind, and what was not synced.
pub fn comment(job: &SyncJob, base: &str) -> String {
    let count = |o| job.count(o);
    let mut text = format!(
        "**Chartgate sync {}** of {} to {}{}: {} created, {} updated, {} deleted, {} unchanged, {} skipped, {} failed.\n",
        job.status.as_str(),
        code(&job.branch),
        code(&job.target),
        if job.dry_run { " (dry run)" } else { "" },
        count(SyncOutcome::Created),
        count(SyncOutcome::Updated),
        count(SyncOutcome::Deleted),
        count(SyncOutcome::Unchanged),
        count(SyncOutcome::Skipped),
        count(SyncOutcome::Failed),
    );
    if let Some(e) = &job.error {
        text.push_str(&format!("\nError: {}\n", code(e)));
    }
    let skipped = not_done(job, code);
    if !skipped.is_empty() {
        text.push_str("\nNot synced:\n");
        for line in skipped.into_iter().take(50) {
            text.push_str(&format!("- {}\n", line.trim_start_matches("• ")));
        }
    }
    text.push_str(&format!("\n[Job {}]({base}/jobs/{})\n", job.id, job.id));
    text
}

#[cfg(test)]
mod tests {
    use super::{chat_text, code, status_description};

    #[test]
    fn a_commit_status_names_what_the_gate_waits_for_within_githubs_length() {
        let waiting = ["2 items: needs 1 more approval, from an owner: ana@example.org".to_string()];
        assert_eq!(
            status_description("3 of 10 changes wait", &waiting),
            "3 of 10 changes wait: 2 items: needs 1 more approval, from an owner: ana@example.org"
        );
        assert_eq!(status_description("1 of 1 changes wait", &[]), "1 of 1 changes wait");
        let long = vec!["x".repeat(200)];
        let cut = status_description("3 of 10 changes wait", &long);
        assert_eq!(cut.chars().count(), 140);
        assert!(cut.ends_with('…'));
    }

    #[test]
    fn chat_values_cannot_mention_or_link() {
        assert_eq!(
            chat_text("<!channel> & <https://evil.example|the review>"),
            "&lt;!channel&gt; &amp; &lt;https://evil.example|the review&gt;"
        );
    }

    #[test]
    fn code_spans_hold_any_value() {
        assert_eq!(code("feature-1"), "`feature-1`");
        assert_eq!(code("a`b"), "``a`b``");
        assert_eq!(code("`x``"), "``` `x`` ```");
        assert_eq!(code(""), "`  `", "spaces only: a code span of two spaces");
        assert_eq!(code("a\n\n[x](https://evil.example)"), "`a  [x](https://evil.example)`");
    }
}
