//! The GitHub hook (`POST /hooks/github`): signature check, the parts of `pull_request` and
//! `release` events Chartgate reads, and the handler that starts what they trigger (see
//! [`crate::sync::triggers`]): a merged pull request syncs its branch and promotes targets that
//! promote on merges into its base branch; a published release promotes targets that promote on
//! releases.
//!
//! GitHub signs every delivery with `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the raw
//! body>` under the webhook's secret. The signature is checked over the bytes as they arrived,
//! before any parsing, in constant time (`hmac`'s `verify_slice`). Two secrets may be configured
//! (`hook_secret`, `hook_secret_previous`) so the secret can be rotated without losing deliveries.
//!
//! The signature covers the body only: `X-GitHub-Delivery` and `X-GitHub-Event` are whatever the
//! sender put there. Every signed body is noted with the delivery id and event kind it first came
//! with, and a body that comes again under another id or as another kind is a replay (see
//! [`triggers::replayed`]); each kind's payload must also have that kind's shape (a `release`
//! event its `release`), so a signed body of an event Chartgate ignores cannot be relabelled as
//! one it acts on. A pull request acts on a branch only when it is the branch's own: its head
//! ref exactly the branch's raw name, from the branch's repository, not from a fork (see
//! [`triggers::branch_of`]).

use app::sync::{HookIgnored, JobAccepted};
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::sync::{accepted, header, MAX_KEY};
use crate::access::Actor;
use crate::error::{Error, Result};
use crate::http::WebState;
use crate::state::AppState;
use crate::sync::triggers::{self, PullRequestBranch, PullRequestOrigin, Replay};
use crate::sync::Enqueued;

type HmacSha256 = Hmac<Sha256>;

pub fn router() -> utoipa_axum::router::OpenApiRouter<WebState> {
    utoipa_axum::router::OpenApiRouter::default().routes(utoipa_axum::routes!(github_hook))
}

/// The `sha256=…` header value for `body` under `secret` (what GitHub sends; tests sign with it).
pub fn signature(secret: &str, body: &[u8]) -> String {
    let mut mac = HmacSha256::new_from_slice(secret.as_bytes()).expect("HMAC takes a key of any length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// True when `header` is a valid `X-Hub-Signature-256` of `body` under one of `secrets`.
/// Every secret is tried (no early exit on the first), each comparison in constant time.
pub fn verify<'a>(secrets: impl IntoIterator<Item = &'a str>, body: &[u8], header: Option<&str>) -> bool {
    let Some(hex_sig) = header.and_then(|h| h.trim().strip_prefix("sha256=")) else {
        return false;
    };
    let Ok(sig) = hex::decode(hex_sig) else {
        return false;
    };
    let mut valid = false;
    for secret in secrets {
        let mut mac = HmacSha256::new_from_slice(secret.as_bytes()).expect("HMAC takes a key of any length");
        mac.update(body);
        valid |= mac.verify_slice(&sig).is_ok();
    }
    valid
}

/// The fields of a `pull_request` event the hook acts on.
#[derive(Debug, Deserialize)]
pub struct PullRequestEvent {
    pub action: String,
    pub pull_request: PullRequest,
    pub sender: Option<Sender>,
    /// Where the pull request lives (for commit statuses and comments).
    pub repository: Option<Repository>,
}

#[derive(Debug, Deserialize)]
pub struct Repository {
    /// `owner/name`.
    pub full_name: String,
}

#[derive(Debug, Deserialize)]
pub struct PullRequest {
    #[serde(default)]
    pub merged: bool,
    pub head: GitRef,
    /// The branch merged into (absent in some test payloads: then no promotion is considered).
    pub base: Option<GitRef>,
    pub number: Option<i64>,
}

#[derive(Debug, Deserialize)]
pub struct GitRef {
    #[serde(rename = "ref")]
    pub branch: String,
    /// The commit (the head's carries the `chartgate/review` status).
    pub sha: Option<String>,
    /// The repository the ref is in: a fork's, for the head of a fork's pull request; null when
    /// that fork was deleted.
    #[serde(default)]
    pub repo: Option<Repository>,
}

/// The fields of a `release` event the hook acts on.
#[derive(Debug, Deserialize)]
pub struct ReleaseEvent {
    pub action: String,
    /// Required: only a `release` event has it, so another event's signed body that happens to
    /// say `published` cannot pass for a release.
    pub release: Release,
    pub sender: Option<Sender>,
}

#[derive(Debug, Deserialize)]
pub struct Release {
    pub tag_name: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct Sender {
    pub login: String,
}

impl PullRequestEvent {
    /// The merged branch, when this event is a merge.
    pub fn merged_branch(&self) -> Option<&str> {
        (self.action == "closed" && self.pull_request.merged).then_some(self.pull_request.head.branch.as_str())
    }

    /// Where the pull request comes from, to match it to a branch.
    pub fn origin(&self) -> PullRequestOrigin<'_> {
        PullRequestOrigin {
            head_ref: &self.pull_request.head.branch,
            head_repository: self.pull_request.head.repo.as_ref().map(|r| r.full_name.as_str()),
            repository: self.repository.as_ref().map(|r| r.full_name.as_str()),
        }
    }
}

/// Remembers the pull request's head commit and repository for `branch` (the branch it belongs
/// to), for the commit status that follows the gate and the comment after a sync (opened,
/// synchronize, reopened, and the merge itself).
async fn remember_pull_request(state: &AppState, event: &PullRequestEvent, branch: Option<&str>) -> Result<bool> {
    let relevant =
        matches!(event.action.as_str(), "opened" | "synchronize" | "reopened") || event.merged_branch().is_some();
    let pr = &event.pull_request;
    let (Some(branch), Some(repo), Some(sha), Some(number)) = (branch, &event.repository, &pr.head.sha, pr.number)
    else {
        return Ok(false);
    };
    if !relevant {
        return Ok(false);
    }
    crate::notify::pull_request_updated(state, branch, &repo.full_name, number, sha).await?;
    Ok(true)
}

fn ignored(why: impl Into<String>) -> Response {
    (StatusCode::OK, Json(HookIgnored { ignored: why.into() })).into_response()
}

/// `POST /hooks/github`. The signature is checked over the raw bytes before anything is parsed;
/// an unsigned or badly signed delivery changes nothing and is logged.
#[utoipa::path(post, path = "/api/v1/hooks/github", tag = "hooks", operation_id = "github_hook",
    extensions(("x-role" = json!("github"))),
    params(("X-Hub-Signature-256" = String, Header, description = "sha256=<hex HMAC-SHA256 of the raw body>"),
        ("X-GitHub-Event" = String, Header, max_length = 200),
        ("X-GitHub-Delivery" = String, Header, min_length = 1, max_length = 200, description = "deduplicates redeliveries")),
    request_body(content = serde_json::Value, description = "the GitHub event payload", content_type = "application/json"),
    responses((status = 202, body = JobAccepted), (status = 200, body = HookIgnored),
        (status = 400, description = "`X-GitHub-Delivery` missing or too long, or the body could not be read"),
        (status = 401, description = "the delivery is not signed with the hook's secret"),
        (status = 404, description = "the merged branch is not registered"),
        (status = 409, description = "the branch cannot be synced now"),
        (status = 413, description = "the body is over the server's `body_limit`"),
        (status = 422, description = "a signed body that is not the payload of its event"),
        (status = 503, description = "the hook is not configured: `hook_secret` is not set")))]
async fn github_hook(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: std::result::Result<Bytes, BytesRejection>,
) -> Result<Response> {
    let secrets: Vec<&str> = [state.config.hook_secret.as_deref(), state.config.hook_secret_previous.as_deref()]
        .into_iter()
        .flatten()
        .filter(|s| !s.is_empty())
        .collect();
    if secrets.is_empty() {
        return Err(Error::Unavailable(
            "the GitHub hook is not configured: set hook_secret (CHARTGATE_HOOK_SECRET)".into(),
        ));
    }
    let body = body.map_err(|r| {
        if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
            Error::TooLarge
        } else {
            Error::BadRequest(r.body_text())
        }
    })?;
    let delivery = header(&headers, "x-github-delivery");
    let event = header(&headers, "x-github-event").unwrap_or("");
    let signature = header(&headers, "x-hub-signature-256");
    if !verify(secrets, &body, signature) {
        tracing::warn!(
            delivery = delivery.unwrap_or("-"),
            event,
            signed = signature.is_some(),
            "rejected a GitHub hook delivery: missing or wrong X-Hub-Signature-256"
        );
        return Err(Error::Unauthorized);
    }
    if delivery.is_some_and(|d| d.len() > MAX_KEY) {
        return Err(Error::BadRequest("X-GitHub-Delivery is too long".into()));
    }
    if event.len() > MAX_KEY {
        return Err(Error::BadRequest("X-GitHub-Event is too long".into()));
    }
    let delivery = delivery.ok_or_else(|| Error::BadRequest("X-GitHub-Delivery is required".into()))?;
    let body_sha256 = hex::encode(Sha256::digest(&body));
    match triggers::replayed(&state, &body_sha256, delivery, event).await? {
        None => {}
        Some(Replay::OtherEvent { first, event: was }) => {
            tracing::warn!(
                delivery,
                event,
                first = %first,
                first_event = %was,
                "a signed hook body came again as another kind of event; ignored"
            );
            return Ok(ignored(format!("a replay of delivery {first}, which was a {was:?} event")));
        }
        Some(Replay::OtherDelivery { first, jobs }) => {
            tracing::warn!(delivery, event, first = %first, ?jobs, "a signed hook body was replayed under another delivery");
            if jobs.is_empty() {
                return Ok(ignored(format!("a replay of delivery {first}")));
            }
            let started: Vec<Enqueued> = jobs.into_iter().map(|job_id| Enqueued { job_id, created: false }).collect();
            return Ok(accepted(&started));
        }
    }
    let login = |sender: &Option<Sender>| sender.as_ref().map(|s| s.login.clone());
    let started = match event {
        "pull_request" => {
            let payload: PullRequestEvent = serde_json::from_slice(&body)
                .map_err(|e| Error::Unprocessable(format!("not a pull_request event payload: {e}")))?;
            let branch = triggers::branch_of(&state, payload.origin()).await?;
            if let PullRequestBranch::Refused(why) = &branch {
                tracing::warn!(
                    delivery,
                    action = %payload.action,
                    head = %payload.pull_request.head.branch,
                    %why,
                    "a pull request is not its branch's own; ignored"
                );
            }
            let noted = remember_pull_request(&state, &payload, branch.branch()).await?;
            if payload.merged_branch().is_none() {
                if noted {
                    return Ok(ignored(format!(
                        "pull_request {}: head noted for the {} commit status",
                        payload.action,
                        crate::notify::CONTEXT
                    )));
                }
                if let PullRequestBranch::Refused(why) = &branch {
                    return Ok(ignored(format!("pull_request {}: {why}", payload.action)));
                }
                return Ok(ignored(format!("pull_request {} without a merge", payload.action)));
            }
            let base = payload.pull_request.base.as_ref().map_or("", |b| b.branch.as_str());
            let actor = Actor::github(login(&payload.sender).as_deref());
            triggers::on_merge(&state, &actor, delivery, &branch, base).await?
        }
        "release" => {
            let payload: ReleaseEvent = serde_json::from_slice(&body)
                .map_err(|e| Error::Unprocessable(format!("not a release event payload: {e}")))?;
            if payload.action != "published" {
                return Ok(ignored(format!("release {} is not a publication", payload.action)));
            }
            let actor = Actor::github(login(&payload.sender).as_deref());
            triggers::on_release(&state, &actor, delivery).await?
        }
        other => return Ok(ignored(format!("event {other:?} is not a pull_request or a release"))),
    };
    tracing::info!(event, delivery, jobs = ?started.jobs, ignored = ?started.ignored, "GitHub hook");
    if started.jobs.is_empty() {
        return Ok(ignored(started.ignored.join("; ")));
    }
    Ok(accepted(&started.jobs))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// GitHub's published example (docs: "Validating webhook deliveries").
    const GITHUB_SECRET: &str = "It's a Secret to Everybody";
    const GITHUB_PAYLOAD: &[u8] = b"Hello, World!";
    const GITHUB_SIGNATURE: &str = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";

    #[test]
    fn githubs_test_vector() {
        assert_eq!(signature(GITHUB_SECRET, GITHUB_PAYLOAD), GITHUB_SIGNATURE);
        assert!(verify([GITHUB_SECRET], GITHUB_PAYLOAD, Some(GITHUB_SIGNATURE)));
    }

    #[test]
    fn wrong_missing_and_malformed_signatures_fail() {
        assert!(!verify([GITHUB_SECRET], b"Hello, World?", Some(GITHUB_SIGNATURE)), "another body");
        assert!(!verify(["another secret"], GITHUB_PAYLOAD, Some(GITHUB_SIGNATURE)), "another secret");
        assert!(!verify([GITHUB_SECRET], GITHUB_PAYLOAD, None));
        assert!(!verify([GITHUB_SECRET], GITHUB_PAYLOAD, Some("")));
        assert!(!verify([GITHUB_SECRET], GITHUB_PAYLOAD, Some(&GITHUB_SIGNATURE[7..])), "no sha256= prefix");
        assert!(!verify([GITHUB_SECRET], GITHUB_PAYLOAD, Some("sha256=zz")));
        assert!(!verify([GITHUB_SECRET], GITHUB_PAYLOAD, Some(&GITHUB_SIGNATURE[..40])), "truncated");
        assert!(!verify([], GITHUB_PAYLOAD, Some(GITHUB_SIGNATURE)), "no secret verifies nothing");
    }

    #[test]
    fn either_secret_verifies_during_rotation() {
        let sig = signature("old", b"{}");
        assert!(verify(["new", "old"], b"{}", Some(&sig)));
        assert!(verify(["old", "new"], b"{}", Some(&sig)));
        assert!(!verify(["new"], b"{}", Some(&sig)));
    }

    #[test]
    fn only_merged_closes_are_merges() {
        let event = |action: &str, merged: bool| -> PullRequestEvent {
            serde_json::from_value(serde_json::json!({
                "action": action,
                "number": 7,
                "pull_request": {"merged": merged, "number": 7, "head": {"ref": "feature/123", "sha": "abc"}},
                "sender": {"login": "octocat"}
            }))
            .unwrap()
        };
        assert_eq!(event("closed", true).merged_branch(), Some("feature/123"));
        assert_eq!(event("closed", false).merged_branch(), None);
        assert_eq!(event("opened", false).merged_branch(), None);
    }
}
