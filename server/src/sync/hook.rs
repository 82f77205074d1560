//! The GitHub merge hook: signature check and the part of a `pull_request` event Chartgate reads.
//!
//! GitHub signs every delivery with `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the raw
//! body>` under the webhook's secret. The signature is checked over the bytes as they arrived,
//! before any parsing, in constant time (`hmac`'s `verify_slice`). Two secrets may be configured
//! (`hook_secret`, `hook_secret_previous`) so the secret can be rotated without losing deliveries.

use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

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
}

#[derive(Debug, Deserialize)]
pub struct PullRequest {
    #[serde(default)]
    pub merged: bool,
    pub head: Head,
    pub number: Option<i64>,
}

#[derive(Debug, Deserialize)]
pub struct Head {
    #[serde(rename = "ref")]
    pub branch: String,
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

    /// Who the audit trail names for the job: `github:<login>`.
    pub fn actor(&self) -> String {
        match &self.sender {
            Some(s) if !s.login.is_empty() => format!("github:{}", s.login),
            _ => "github".into(),
        }
    }
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
        assert_eq!(event("closed", true).actor(), "github:octocat");
    }
}
