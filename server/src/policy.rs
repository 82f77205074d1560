//! The team's review policy (design §14): what every reviewer's verdict on an item adds up to.
//!
//! Verdicts are kept per (branch, chart, reviewer), each bound to the hashes its reviewer saw;
//! only those on the item's current content count. [`Policy::judge`] turns them into the item's
//! answer, and that answer is written to `reviews` in the same transaction as the verdict, so the
//! list, the gate and the sync keep reading one row per item (`item_decisions`).
//!
//! Without a `[review]` section the policy is the one Chartgate always had: the latest decision
//! by a person is the answer (a rule's approval only where no person decided). With one, an item
//! is approved when enough distinct people approve (rules count as one, never as an owner), an
//! owner among them where an owner rule matches its slug, and, with `rejection_blocks`, no
//! current rejection stands; rejected when a current, undismissed rejection stands.
//!
//! Layer: pure logic over rows; the repositories read and write them.

use app::types::{Dismissal, ReviewState, ReviewStatus, Verdict, RULE_PREFIX};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// `[review]`: the team's review policy.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReviewPolicyConfig {
    /// Distinct people whose current approval an item needs (rules count as one).
    pub required_approvals: i64,
    /// A current rejection by anyone holds the item back until that reviewer changes it or a lead
    /// dismisses it.
    pub rejection_blocks: bool,
    /// `[[review.owners]]`: first match wins; one of its reviewers must be among the approvals.
    pub owners: Vec<OwnerRule>,
}

impl Default for ReviewPolicyConfig {
    fn default() -> Self {
        ReviewPolicyConfig { required_approvals: 1, rejection_blocks: true, owners: Vec::new() }
    }
}

/// One `[[review.owners]]` table.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OwnerRule {
    /// Globs on the chart's slug: `*` (any run of characters) and `?` (one character).
    pub slugs: Vec<String>,
    /// Email addresses of users; one of them must approve a matching chart.
    pub reviewers: Vec<String>,
}

/// The policy of a configuration.
#[derive(Clone, Debug, Default)]
pub struct Policy {
    team: Option<TeamPolicy>,
}

#[derive(Clone, Debug)]
struct TeamPolicy {
    required: usize,
    rejection_blocks: bool,
    owners: Vec<Owners>,
}

#[derive(Clone, Debug)]
struct Owners {
    slugs: Vec<glob::Pattern>,
    /// The same globs as SQL `like` patterns (see [`like_pattern`]).
    likes: Vec<String>,
    reviewers: Vec<String>,
}

/// A `[review]` section that can be used: a count of at least 1, owner globs of `*` and `?`
/// only, owners named by email. Whether owners are users is checked once the database is open
/// ([`Policy::unknown_owners`]).
pub fn check_config(c: &ReviewPolicyConfig) -> Result<()> {
    if c.required_approvals < 1 {
        return Err(Error::BadRequest(format!(
            "review.required_approvals = {}: it must be at least 1",
            c.required_approvals
        )));
    }
    for (n, owners) in c.owners.iter().enumerate() {
        let bad = |why: String| Error::BadRequest(format!("[[review.owners]] #{}: {why}", n + 1));
        if owners.slugs.is_empty() {
            return Err(bad("slugs must name at least one glob".into()));
        }
        if owners.reviewers.is_empty() {
            return Err(bad("reviewers must name at least one user".into()));
        }
        if let Some(s) = owners.slugs.iter().find(|s| s.is_empty() || s.contains(['[', ']', '\\'])) {
            return Err(bad(format!("slugs {s:?}: use `*` and `?` only (no classes or escapes)")));
        }
        if let Some(r) = owners.reviewers.iter().find(|r| !r.contains('@')) {
            return Err(bad(format!("reviewers {r:?} is not an email address")));
        }
    }
    Ok(())
}

/// A slug glob (`*`, `?`) as a SQL `like` pattern with `\` as its escape.
pub fn like_pattern(glob: &str) -> String {
    let mut out = String::with_capacity(glob.len() + 4);
    for c in glob.chars() {
        match c {
            '*' => out.push('%'),
            '?' => out.push('_'),
            '%' | '_' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out
}

/// One verdict as stored (`verdicts`).
#[derive(Clone, Debug, PartialEq, sqlx::FromRow, serde::Deserialize)]
pub struct VerdictRow {
    pub chart_id: String,
    pub reviewer: String,
    pub status: String,
    pub comment: Option<String>,
    pub at: String,
    pub staging_hash: Option<String>,
    pub production_hash: Option<String>,
    pub dismissed_by: Option<String>,
    pub dismissed_at: Option<String>,
    pub dismiss_reason: Option<String>,
}

impl VerdictRow {
    fn status(&self) -> ReviewStatus {
        self.status.parse().unwrap_or(ReviewStatus::Pending)
    }

    /// Made on the content the item holds now.
    pub fn is_current(&self, staging: Option<&str>, production: Option<&str>) -> bool {
        self.staging_hash.as_deref() == staging && self.production_hash.as_deref() == production
    }

    pub fn by_rule(&self) -> bool {
        self.reviewer.starts_with(RULE_PREFIX)
    }

    fn dismissed(&self) -> bool {
        self.dismissed_by.is_some()
    }

    pub fn to_verdict(&self) -> Verdict {
        Verdict {
            reviewer: self.reviewer.clone(),
            status: self.status(),
            at: self.at.clone(),
            comment: self.comment.clone(),
            dismissed: self.dismissed_by.as_ref().map(|by| Dismissal {
                by: by.clone(),
                at: self.dismissed_at.clone().unwrap_or_default(),
                reason: self.dismiss_reason.clone().unwrap_or_default(),
            }),
        }
    }
}

/// What the verdicts on an item add up to.
#[derive(Clone, Debug, PartialEq)]
pub struct Judgement {
    pub status: ReviewStatus,
    /// The verdict that settled it, or the latest one (its reviewer, time and comment go to the
    /// item's decision row).
    pub deciding: Option<VerdictRow>,
    pub approvals: Vec<Verdict>,
    pub rejections: Vec<Verdict>,
    pub stale: Vec<Verdict>,
    pub required: usize,
    pub owners: Vec<String>,
    pub missing: Option<String>,
}

impl Judgement {
    /// The policy's part of an item's [`ReviewState`]; the status fields stay the decision row's.
    pub fn fill(self, review: &mut ReviewState) {
        review.approvals = self.approvals;
        review.rejections = self.rejections;
        review.stale_verdicts = self.stale;
        review.required = self.required as u32;
        review.owners = self.owners;
        review.missing = self.missing;
    }
}

fn plural(n: usize, one: &str, many: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {many}")
    }
}

impl Policy {
    pub fn new(config: Option<&ReviewPolicyConfig>) -> Policy {
        let team = config.map(|c| TeamPolicy {
            required: c.required_approvals.max(1) as usize,
            rejection_blocks: c.rejection_blocks,
            owners: c
                .owners
                .iter()
                .map(|o| Owners {
                    slugs: o.slugs.iter().filter_map(|s| glob::Pattern::new(s).ok()).collect(),
                    likes: o.slugs.iter().map(|s| like_pattern(s)).collect(),
                    reviewers: o.reviewers.iter().map(|r| r.trim().to_lowercase()).collect(),
                })
                .collect(),
        });
        Policy { team }
    }

    /// A `[review]` section is in force (else the latest decision is the answer).
    pub fn is_team(&self) -> bool {
        self.team.is_some()
    }

    /// Every owner the configuration names, for the start-up check that each is a user.
    pub fn all_owners(&self) -> Vec<&str> {
        let mut all: Vec<&str> =
            self.team.iter().flat_map(|t| &t.owners).flat_map(|o| o.reviewers.iter().map(String::as_str)).collect();
        all.sort_unstable();
        all.dedup();
        all
    }

    /// The owners of a chart: those of the first owner rule its slug matches.
    pub fn owners_of(&self, slug: &str) -> &[String] {
        self.team
            .iter()
            .flat_map(|t| &t.owners)
            .find(|o| o.slugs.iter().any(|p| p.matches(slug)))
            .map(|o| o.reviewers.as_slice())
            .unwrap_or(&[])
    }

    /// For each owner rule naming `email`: its `like` patterns and those of every rule before it
    /// (first match wins, so a slug an earlier rule takes is not this rule's).
    pub fn owned_patterns(&self, email: &str) -> Vec<(Vec<String>, Vec<String>)> {
        let Some(team) = &self.team else { return Vec::new() };
        let email = email.to_lowercase();
        let mut out = Vec::new();
        for (n, o) in team.owners.iter().enumerate() {
            if o.reviewers.contains(&email) {
                let earlier = team.owners[..n].iter().flat_map(|e| e.likes.iter().cloned()).collect();
                out.push((o.likes.clone(), earlier));
            }
        }
        out
    }

    /// What `verdicts` (all of one item's, any order) add up to for the item `slug` holding
    /// (`staging`, `production`) now.
    pub fn judge(
        &self,
        slug: &str,
        staging: Option<&str>,
        production: Option<&str>,
        verdicts: &[VerdictRow],
    ) -> Judgement {
        let mut sorted: Vec<&VerdictRow> = verdicts.iter().collect();
        sorted.sort_by(|a, b| a.at.cmp(&b.at).then_with(|| a.reviewer.cmp(&b.reviewer)));
        let (current, old): (Vec<&VerdictRow>, Vec<&VerdictRow>) =
            sorted.into_iter().partition(|v| v.is_current(staging, production));
        let stale: Vec<Verdict> =
            old.iter().filter(|v| v.status() != ReviewStatus::Pending).map(|v| v.to_verdict()).collect();
        let approving: Vec<&VerdictRow> =
            current.iter().copied().filter(|v| v.status() == ReviewStatus::Approved).collect();
        let rejecting: Vec<&VerdictRow> =
            current.iter().copied().filter(|v| v.status() == ReviewStatus::Rejected).collect();
        let approvals = approving.iter().map(|v| v.to_verdict()).collect();
        let rejections = rejecting.iter().map(|v| v.to_verdict()).collect();
        let standing: Vec<&VerdictRow> = rejecting.iter().copied().filter(|v| !v.dismissed()).collect();
        let latest = current.last().map(|v| (*v).clone());

        let Some(team) = &self.team else {
            // Today's answer: the latest person's decision (a dismissed rejection aside), else
            // the latest rule's.
            let counts = |v: &&&VerdictRow| !(v.status() == ReviewStatus::Rejected && v.dismissed());
            let person = current.iter().rev().filter(|v| !v.by_rule()).find(counts);
            let rule = current.iter().rev().filter(|v| v.by_rule()).find(counts);
            let deciding = person.or(rule).map(|v| (*v).clone());
            let status = deciding.as_ref().map_or(ReviewStatus::Pending, VerdictRow::status);
            let missing = match status {
                ReviewStatus::Approved => None,
                ReviewStatus::Rejected => {
                    Some(format!("rejected by {}", deciding.as_ref().map_or("", |d| d.reviewer.as_str())))
                }
                ReviewStatus::Pending => Some("needs 1 approval".into()),
            };
            return Judgement {
                status,
                deciding: deciding.or(latest),
                approvals,
                rejections,
                stale,
                required: 1,
                owners: Vec::new(),
                missing,
            };
        };

        let people: Vec<&str> = {
            let mut p: Vec<&str> = approving.iter().filter(|v| !v.by_rule()).map(|v| v.reviewer.as_str()).collect();
            p.dedup();
            p
        };
        let by_rule = approving.iter().any(|v| v.by_rule());
        let count = people.len() + usize::from(by_rule);
        let owners = self.owners_of(slug).to_vec();
        let owner_ok = owners.is_empty() || people.iter().any(|p| owners.iter().any(|o| o.eq_ignore_ascii_case(p)));
        let met = count >= team.required && owner_ok;
        let blocked = team.rejection_blocks && !standing.is_empty();
        let status = if met && !blocked {
            ReviewStatus::Approved
        } else if !standing.is_empty() {
            ReviewStatus::Rejected
        } else {
            ReviewStatus::Pending
        };

        let mut needs = Vec::new();
        if !standing.is_empty() && status != ReviewStatus::Approved {
            let who: Vec<&str> = standing.iter().map(|v| v.reviewer.as_str()).collect();
            needs.push(format!(
                "rejected by {}: needs {} or a lead's dismissal",
                who.join(", "),
                if who.len() == 1 { "their change of mind" } else { "their changes of mind" }
            ));
        }
        if !met {
            let more = team.required.saturating_sub(count).max(usize::from(!owner_ok));
            let what = if count == 0 {
                format!("needs {}", plural(more, "approval", "approvals"))
            } else {
                format!("needs {}", plural(more, "more approval", "more approvals"))
            };
            needs.push(match (owner_ok, more) {
                (true, _) => what,
                (false, 1) => format!("{what}, from an owner: {}", owners.join(", ")),
                (false, _) => format!("{what}, one from an owner: {}", owners.join(", ")),
            });
        }
        let deciding = match status {
            ReviewStatus::Approved => approving.last().map(|v| (*v).clone()),
            ReviewStatus::Rejected => standing.last().map(|v| (*v).clone()),
            ReviewStatus::Pending => None,
        };
        Judgement {
            status,
            deciding: deciding.or(latest),
            approvals,
            rejections,
            stale,
            required: team.required,
            owners,
            missing: (!needs.is_empty()).then(|| needs.join("; ")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Option<&str> = Some("s1");
    const P: Option<&str> = Some("p1");

    fn v(reviewer: &str, status: &str, at: &str) -> VerdictRow {
        VerdictRow {
            chart_id: "c".into(),
            reviewer: reviewer.into(),
            status: status.into(),
            comment: None,
            at: at.into(),
            staging_hash: S.map(str::to_string),
            production_hash: P.map(str::to_string),
            dismissed_by: None,
            dismissed_at: None,
            dismiss_reason: None,
        }
    }

    fn on_older(mut row: VerdictRow) -> VerdictRow {
        row.staging_hash = Some("s0".into());
        row
    }

    fn dismissed(mut row: VerdictRow) -> VerdictRow {
        row.dismissed_by = Some("lead@example.org".into());
        row.dismissed_at = Some("t9".into());
        row.dismiss_reason = Some("answered in the thread".into());
        row
    }

    fn team(required: i64, rejection_blocks: bool, owners: &[(&[&str], &[&str])]) -> Policy {
        Policy::new(Some(&ReviewPolicyConfig {
            required_approvals: required,
            rejection_blocks,
            owners: owners
                .iter()
                .map(|(slugs, reviewers)| OwnerRule {
                    slugs: slugs.iter().map(|s| s.to_string()).collect(),
                    reviewers: reviewers.iter().map(|s| s.to_string()).collect(),
                })
                .collect(),
        }))
    }

    #[test]
    fn without_a_policy_the_latest_persons_decision_is_the_answer() {
        let p = Policy::default();
        let j = p.judge("x", S, P, &[v("a@x", "approved", "t1"), v("b@x", "rejected", "t2")]);
        assert_eq!(j.status, ReviewStatus::Rejected);
        let j = p.judge("x", S, P, &[v("b@x", "rejected", "t1"), v("a@x", "approved", "t2")]);
        assert_eq!(j.status, ReviewStatus::Approved);
        assert_eq!(j.missing, None);
        // A person's decision wins over a rule's, even an earlier one.
        let j = p.judge("x", S, P, &[v("a@x", "pending", "t1"), v("rule:small", "approved", "t2")]);
        assert_eq!(j.status, ReviewStatus::Pending);
        let j = p.judge("x", S, P, &[v("rule:small", "approved", "t2")]);
        assert_eq!(j.status, ReviewStatus::Approved);
        // A decision on older content counts for nothing and is shown as stale.
        let j = p.judge("x", S, P, &[on_older(v("a@x", "approved", "t1"))]);
        assert_eq!(
            (j.status, j.stale.len(), j.missing.as_deref()),
            (ReviewStatus::Pending, 1, Some("needs 1 approval"))
        );
    }

    #[test]
    fn approvals_are_counted_by_distinct_people_and_rules_count_once() {
        let p = team(2, true, &[]);
        let j = p.judge("x", S, P, &[v("a@x", "approved", "t1")]);
        assert_eq!(j.status, ReviewStatus::Pending);
        assert_eq!(j.missing.as_deref(), Some("needs 1 more approval"));
        let j = p.judge("x", S, P, &[v("rule:one", "approved", "t1"), v("rule:two", "approved", "t2")]);
        assert_eq!(j.status, ReviewStatus::Pending, "rules together are one approval");
        let j = p.judge("x", S, P, &[v("rule:one", "approved", "t1"), v("a@x", "approved", "t2")]);
        assert_eq!(j.status, ReviewStatus::Approved);
        assert_eq!(j.approvals.len(), 2);
        let j = p.judge("x", S, P, &[]);
        assert_eq!(j.missing.as_deref(), Some("needs 2 approvals"));
    }

    #[test]
    fn stale_verdicts_are_shown_but_not_counted() {
        let p = team(2, true, &[]);
        let j = p.judge("x", S, P, &[on_older(v("a@x", "approved", "t1")), v("b@x", "approved", "t2")]);
        assert_eq!(j.status, ReviewStatus::Pending);
        assert_eq!(j.approvals.len(), 1);
        assert_eq!(j.stale.len(), 1);
        assert_eq!(j.stale[0].reviewer, "a@x");
    }

    #[test]
    fn an_owner_must_be_among_the_approvals_and_a_rule_is_never_one() {
        let p = team(2, true, &[(&["energy-*"], &["ana@example.org", "ben@example.org"]), (&["*"], &["zed@x"])]);
        assert_eq!(p.owners_of("energy-mix"), ["ana@example.org", "ben@example.org"]);
        assert_eq!(p.owners_of("co2"), ["zed@x"], "first match wins, the catch-all comes second");
        let j = p.judge("energy-mix", S, P, &[v("a@x", "approved", "t1")]);
        assert_eq!(
            j.missing.as_deref(),
            Some("needs 1 more approval, from an owner: ana@example.org, ben@example.org")
        );
        let j = p.judge("energy-mix", S, P, &[v("a@x", "approved", "t1"), v("c@x", "approved", "t2")]);
        assert_eq!(j.status, ReviewStatus::Pending, "two approvals, no owner");
        assert_eq!(
            j.missing.as_deref(),
            Some("needs 1 more approval, from an owner: ana@example.org, ben@example.org")
        );
        let j = p.judge("energy-mix", S, P, &[v("rule:r", "approved", "t1"), v("ben@example.org", "approved", "t2")]);
        assert_eq!(j.status, ReviewStatus::Approved);
        let j = p.judge("energy-mix", S, P, &[]);
        assert_eq!(
            j.missing.as_deref(),
            Some("needs 2 approvals, one from an owner: ana@example.org, ben@example.org")
        );
    }

    #[test]
    fn a_rejection_holds_until_changed_or_dismissed() {
        let p = team(1, true, &[]);
        let j = p.judge("x", S, P, &[v("a@x", "approved", "t1"), v("b@x", "rejected", "t2")]);
        assert_eq!(j.status, ReviewStatus::Rejected);
        assert_eq!(j.missing.as_deref(), Some("rejected by b@x: needs their change of mind or a lead's dismissal"));
        assert_eq!(j.deciding.unwrap().reviewer, "b@x");
        // Still rejected when the approval comes later: a "no" holds until it is answered.
        let j = p.judge("x", S, P, &[v("b@x", "rejected", "t1"), v("a@x", "approved", "t2")]);
        assert_eq!(j.status, ReviewStatus::Rejected);
        let j = p.judge("x", S, P, &[dismissed(v("b@x", "rejected", "t1")), v("a@x", "approved", "t2")]);
        assert_eq!(j.status, ReviewStatus::Approved);
        assert_eq!(j.rejections.len(), 1, "a dismissed rejection is still shown");
        assert!(j.rejections[0].dismissed.is_some());
        // A rejection on older content is stale: it holds nothing.
        let j = p.judge("x", S, P, &[on_older(v("b@x", "rejected", "t1")), v("a@x", "approved", "t2")]);
        assert_eq!(j.status, ReviewStatus::Approved);
    }

    #[test]
    fn without_rejection_blocks_enough_approvals_win() {
        let p = team(1, false, &[]);
        let j = p.judge("x", S, P, &[v("b@x", "rejected", "t1"), v("a@x", "approved", "t2")]);
        assert_eq!(j.status, ReviewStatus::Approved);
        let j = p.judge("x", S, P, &[v("b@x", "rejected", "t1")]);
        assert_eq!(j.status, ReviewStatus::Rejected);
    }

    #[test]
    fn owner_globs_become_like_patterns_for_the_inbox() {
        assert_eq!(like_pattern("energy-*"), "energy-%");
        assert_eq!(like_pattern("a_b?%"), "a\\_b_\\%");
        let p = team(1, true, &[(&["energy-*"], &["zed@x"]), (&["energy-*", "co2-?"], &["ANA@x"])]);
        assert_eq!(
            p.owned_patterns("ana@x"),
            vec![(vec!["energy-%".to_string(), "co2-_".to_string()], vec!["energy-%".to_string()])]
        );
    }

    #[test]
    fn the_configuration_is_checked() {
        let mut c = ReviewPolicyConfig { required_approvals: 0, ..Default::default() };
        assert!(check_config(&c).unwrap_err().to_string().contains("review.required_approvals"));
        c.required_approvals = 1;
        c.owners = vec![OwnerRule { slugs: vec!["[ab]*".into()], reviewers: vec!["a@x".into()] }];
        assert!(check_config(&c).unwrap_err().to_string().contains("[[review.owners]] #1"));
        c.owners = vec![OwnerRule { slugs: vec!["a*".into()], reviewers: vec!["nobody".into()] }];
        assert!(check_config(&c).unwrap_err().to_string().contains("not an email address"));
        c.owners = vec![OwnerRule { slugs: vec!["a*".into()], reviewers: vec!["a@x".into()] }];
        assert!(check_config(&c).is_ok());
    }
}
