//! Team review (design §14) on real databases (SQLite and PostgreSQL): a lead's policy, owners,
//! every reviewer's verdict, dismissals, conversations, review requests and "waiting on me", the
//! gate and the sync under the policy, and the audit trail of a whole policy review; then the
//! same over HTTP through the real binary, with bad input and the request's notification.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use app::types::{
    AskForReview, CommentRequest, DiffItem, DiffQuery, DismissRequest, ReviewRequest, ReviewStatus, Role,
};
use chartgate::access::{Actor, User};
use chartgate::accounts;
use chartgate::config::{Config, OwnerRule, ReviewPolicyConfig};
use chartgate::error::Error;
use chartgate::state::AppState;
use chartgate::{conversations, diffs, inbox, reviews, scans};
use reqwest::StatusCode;
use serde_json::{json, Value};
use sqlx::Row;

use crate::api::{assert_error, run, serve_in, token_for, TestServer};
use crate::engine::scenario;
use crate::on_both;
use crate::support::{edited, TestEnv};

const B: &str = "feature-x";

async fn user(state: &AppState, email: &str, role: Role) -> User {
    accounts::add_user(&state.db, &Actor::operator("test"), email, role, None).await.unwrap()
}

/// Two approvals, a rejection holds, `slug-c*` (cfg, conflict) owned by ana.
fn policy() -> ReviewPolicyConfig {
    ReviewPolicyConfig {
        required_approvals: 2,
        rejection_blocks: true,
        owners: vec![OwnerRule { slugs: vec!["slug-c*".into()], reviewers: vec!["ana@example.org".into()] }],
    }
}

struct Team {
    state: AppState,
    ana: User,
    ben: User,
    cy: User,
    lee: User,
    vic: User,
}

/// The scenario's branch under [`policy`], with its people.
async fn team(env: &TestEnv) -> (Team, chartgate::charts::ChartStore) {
    let (plain, _, staging) = scenario(env).await;
    let ana = user(&plain, "ana@example.org", Role::Reviewer).await;
    let ben = user(&plain, "ben@example.org", Role::Reviewer).await;
    let cy = user(&plain, "cy@example.org", Role::Reviewer).await;
    let lee = user(&plain, "lee@example.org", Role::Lead).await;
    let vic = user(&plain, "vic@example.org", Role::Viewer).await;
    let config = Config { review: Some(policy()), ..(*plain.config).clone() };
    let state = AppState::new(config).await.unwrap();
    state.settle_review_policy().await.unwrap();
    (Team { state, ana, ben, cy, lee, vic }, staging)
}

async fn item(state: &AppState, id: &str) -> DiffItem {
    diffs::item(state, B, id).await.unwrap()
}

async fn verdict(state: &AppState, who: &User, id: &str, status: ReviewStatus) -> Result<DiffItem, Error> {
    let now = item(state, id).await;
    let req = ReviewRequest {
        status,
        staging_hash: now.staging_hash.clone(),
        production_hash: now.production_hash.clone(),
        comment: Some(format!("{} says {}", who.email, status.as_str())),
    };
    reviews::decide(state, B, id, who, &req).await
}

/// Staging gives chart `id` a new title, with a newer timestamp than any before.
async fn retitle(staging: &chartgate::charts::ChartStore, id: &str, title: &str) {
    let current = staging.get(id).await.unwrap().unwrap();
    let mut next = edited(&current, "config", |v| v["title"] = json!(title));
    next.updated_at = "2026-06-06T00:00:00Z".into();
    staging.put_many(&[next]).await.unwrap();
}

async fn audit_of(state: &AppState, chart: &str) -> Vec<(String, String)> {
    sqlx::query("select actor, action from audit_events where chart_id = $1 order by id")
        .bind(chart)
        .fetch_all(&state.db.pool)
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get("actor"), r.get("action")))
        .collect()
}

async fn a_policy_review_from_first_verdict_to_sync(env: &TestEnv) {
    let (t, staging) = team(env).await;
    let s = &t.state;

    // One approval of two, and no owner among them.
    let one = verdict(s, &t.ben, "cfg", ReviewStatus::Approved).await.unwrap();
    assert_eq!(one.review.effective(), ReviewStatus::Pending);
    assert_eq!((one.review.approvals.len(), one.review.required), (1, 2));
    assert_eq!(one.review.owners, ["ana@example.org"]);
    assert_eq!(one.review.missing.as_deref(), Some("needs 1 more approval, from an owner: ana@example.org"));
    assert_eq!(one.review.progress(), "1 of 2 + owner");
    let two = verdict(s, &t.cy, "cfg", ReviewStatus::Approved).await.unwrap();
    assert_eq!(two.review.effective(), ReviewStatus::Pending, "two approvals but no owner");
    assert_eq!(two.review.missing.as_deref(), Some("needs 1 more approval, from an owner: ana@example.org"));
    let gate = reviews::gate(s, B).await.unwrap();
    assert!(!gate.pass);
    assert!(
        gate.waiting_for.iter().any(|w| w == "1 item: needs 1 more approval, from an owner: ana@example.org"),
        "{:?}",
        gate.waiting_for
    );

    // The owner's approval settles it.
    let three = verdict(s, &t.ana, "cfg", ReviewStatus::Approved).await.unwrap();
    assert_eq!(three.review.effective(), ReviewStatus::Approved);
    assert_eq!(three.review.missing, None);
    assert_eq!(three.review.approvals.len(), 3);

    // A "no" holds until it is answered; a viewer has no verdict; a reviewer cannot dismiss.
    let no = verdict(s, &t.ben, "cfg", ReviewStatus::Rejected).await.unwrap();
    assert_eq!(no.review.effective(), ReviewStatus::Rejected);
    assert_eq!(
        no.review.missing.as_deref(),
        Some("rejected by ben@example.org: needs their change of mind or a lead's dismissal")
    );
    assert!(matches!(verdict(s, &t.vic, "cfg", ReviewStatus::Approved).await, Err(Error::Forbidden(_))));
    let dismissal = DismissRequest { reviewer: "ben@example.org".into(), reason: "answered in the thread".into() };
    assert!(matches!(reviews::dismiss(s, B, "cfg", &t.cy, &dismissal).await, Err(Error::Forbidden(_))));
    let blank = DismissRequest { reason: "  ".into(), ..dismissal.clone() };
    assert!(matches!(reviews::dismiss(s, B, "cfg", &t.lee, &blank).await, Err(Error::BadRequest(_))));
    let nobody = DismissRequest { reviewer: "cy@example.org".into(), ..dismissal.clone() };
    assert!(matches!(reviews::dismiss(s, B, "cfg", &t.lee, &nobody).await, Err(Error::NotFound(_))));
    assert_eq!(item(s, "cfg").await.review.effective(), ReviewStatus::Rejected, "refusals change nothing");

    // A lead dismisses it: ana and cy still approve, with the owner among them.
    let dismissed = reviews::dismiss(s, B, "cfg", &t.lee, &dismissal).await.unwrap();
    assert_eq!(dismissed.review.effective(), ReviewStatus::Approved);
    let shown = &dismissed.review.rejections[0];
    let d = shown.dismissed.as_ref().expect("the dismissal is shown on the item");
    assert_eq!((d.by.as_str(), d.reason.as_str()), ("lee@example.org", "answered in the thread"));
    assert_eq!(dismissed.review.approvals.len(), 2);

    // Two other items: one approved by two people, one only by one.
    verdict(s, &t.ben, "data", ReviewStatus::Approved).await.unwrap();
    verdict(s, &t.cy, "data", ReviewStatus::Approved).await.unwrap();
    verdict(s, &t.ben, "meta", ReviewStatus::Approved).await.unwrap();
    let listed = diffs::list(s, B, &DiffQuery { status: Some("approved".into()), ..Default::default() }, Role::Lead)
        .await
        .unwrap();
    let ids: Vec<&str> = listed.items.iter().map(|i| i.chart_id.as_str()).collect();
    assert_eq!(ids.len(), 2, "{ids:?}");
    assert!(ids.contains(&"cfg") && ids.contains(&"data"));
    let meta = listed.items.iter().find(|i| i.chart_id == "meta");
    assert!(meta.is_none(), "one approval of two is not approved");

    // The sync writes only what the policy approved, and names what the rest still need.
    let job = crate::sync::enqueue(s, B, true).await;
    let job = crate::sync::run(s, job).await;
    let outcomes = crate::sync::outcomes(&job);
    assert_eq!(outcomes["cfg"].0, app::sync::SyncOutcome::Updated, "{outcomes:?}");
    assert_eq!(outcomes["data"].0, app::sync::SyncOutcome::Updated);
    assert_eq!(outcomes["meta"], (app::sync::SyncOutcome::Skipped, Some("pending: needs 1 more approval".into())));

    // New content: every verdict goes stale, shown but not counted.
    retitle(&staging, "cfg", "Chart cfg, once more").await;
    scans::rescan(s, &Actor::system(), B, false).await.unwrap();
    let moved = item(s, "cfg").await;
    assert_eq!(moved.review.effective(), ReviewStatus::Pending);
    assert!(moved.review.approvals.is_empty());
    assert_eq!(moved.review.stale_verdicts.len(), 3, "{:?}", moved.review.stale_verdicts);
    assert_eq!(moved.review.missing.as_deref(), Some("needs 2 approvals, one from an owner: ana@example.org"));

    // The audit trail of the whole review, in order.
    let trail = audit_of(s, "cfg").await;
    let expected = [
        ("ben@example.org", "review.approve"),
        ("cy@example.org", "review.approve"),
        ("ana@example.org", "review.approve"),
        ("ben@example.org", "review.reject"),
        ("lee@example.org", "review.dismiss"),
    ];
    let decided: Vec<(&str, &str)> =
        trail.iter().filter(|(_, a)| a.starts_with("review.")).map(|(w, a)| (w.as_str(), a.as_str())).collect();
    assert_eq!(decided, expected);
    assert!(trail.iter().any(|(_, a)| a == "sync.item"), "{trail:?}");
}
on_both!(a_policy_review_from_first_verdict_to_sync);

async fn two_people_decide_one_item_at_once(env: &TestEnv) {
    let (t, _) = team(env).await;
    let s = &t.state;
    for id in ["data", "meta", "new"] {
        let (a, b) =
            tokio::join!(verdict(s, &t.ben, id, ReviewStatus::Approved), verdict(s, &t.cy, id, ReviewStatus::Approved));
        a.unwrap();
        b.unwrap();
        let both = item(s, id).await;
        assert_eq!(both.review.approvals.len(), 2, "neither verdict is lost: {:?}", both.review);
        assert_eq!(both.review.effective(), ReviewStatus::Approved);
    }
    // An approval and a rejection at once: the rejection holds, whichever landed last.
    let (a, b) = tokio::join!(
        verdict(s, &t.ben, "cfg", ReviewStatus::Approved),
        verdict(s, &t.cy, "cfg", ReviewStatus::Rejected)
    );
    a.unwrap();
    b.unwrap();
    let cfg = item(s, "cfg").await;
    assert_eq!(cfg.review.effective(), ReviewStatus::Rejected);
    assert_eq!((cfg.review.approvals.len(), cfg.review.rejections.len()), (1, 1));
}
on_both!(two_people_decide_one_item_at_once);

async fn count(state: &AppState, table: &str) -> i64 {
    sqlx::query_scalar(&format!("select count(*) from {table}")).fetch_one(&state.db.pool).await.unwrap()
}

async fn conversations_requests_and_my_reviews(env: &TestEnv) {
    let (t, staging) = team(env).await;
    let s = &t.state;

    // Bad comments are refused and write nothing.
    let say = |body: &str| CommentRequest { body: body.into() };
    for bad in ["", "   ", &"x".repeat(20_000)] {
        assert!(matches!(conversations::post(s, B, "cfg", &t.ben, &say(bad)).await, Err(Error::BadRequest(_))));
    }
    assert!(matches!(conversations::post(s, B, "cfg", &t.vic, &say("hi")).await, Err(Error::Forbidden(_))));
    assert!(matches!(conversations::post(s, B, "nope", &t.ben, &say("hi")).await, Err(Error::NotFound(_))));
    assert_eq!(count(s, "item_comments").await, 0);

    // A thread kept across rescans; Markdown kept as typed.
    let first = conversations::post(s, B, "cfg", &t.ben, &say("Is **this** <b>right</b>?")).await.unwrap();
    assert_eq!(first.body, "Is **this** <b>right</b>?");
    assert!(!first.on_older_content);
    verdict(s, &t.cy, "cfg", ReviewStatus::Rejected).await.unwrap();
    retitle(&staging, "cfg", "Chart cfg, answered").await;
    scans::rescan(s, &Actor::system(), B, false).await.unwrap();
    conversations::post(s, B, "cfg", &t.cy, &say("Fixed, thanks.")).await.unwrap();
    let thread = conversations::thread(s, B, "cfg").await.unwrap();
    let seen: Vec<(&str, bool, Option<ReviewStatus>)> =
        thread.iter().map(|c| (c.author.as_str(), c.on_older_content, c.verdict)).collect();
    assert_eq!(
        seen,
        [
            ("ben@example.org", true, None),
            ("cy@example.org", true, Some(ReviewStatus::Rejected)),
            ("cy@example.org", false, None)
        ],
        "the verdict's comment is in the thread; older content is marked"
    );

    // Review requests: bad ones are refused and write nothing.
    let ask = |reviewers: &[&str], ids: Option<&[&str]>| AskForReview {
        reviewers: reviewers.iter().map(|r| r.to_string()).collect(),
        chart_ids: ids.map(|i| i.iter().map(|c| c.to_string()).collect()),
    };
    for (bad, why) in [
        (ask(&["nobody@example.org"], None), "not a user"),
        (ask(&["vic@example.org"], None), "viewer"),
        (ask(&["ana@example.org"], Some(&["no-such-chart"])), "not items"),
    ] {
        match inbox::ask(s, B, &t.ben, &bad).await {
            Err(Error::Unprocessable(m)) => assert!(m.contains(why), "{m}"),
            other => panic!("expected 422 ({why}), got {other:?}"),
        }
    }
    assert!(matches!(inbox::ask(s, B, &t.ben, &ask(&[], None)).await, Err(Error::BadRequest(_))));
    assert!(matches!(inbox::ask(s, B, &t.vic, &ask(&["ana@example.org"], None)).await, Err(Error::Forbidden(_))));
    assert_eq!(count(s, "review_requests").await, 0);

    // Ben asks cy to look at "data"; cy's inbox: the request, and cfg with her stale rejection.
    inbox::ask(s, B, &t.ben, &ask(&["cy@example.org"], Some(&["data"]))).await.unwrap();
    let mine = inbox::my_reviews(s, &t.cy, None, None).await.unwrap();
    let why = |id: &str| mine.items.iter().find(|w| w.item.chart_id == id).map(|w| w.reasons.clone());
    assert_eq!(why("data"), Some(vec!["requested by ben@example.org".to_string()]));
    assert_eq!(why("cfg"), Some(vec!["your rejection is stale: the content changed".to_string()]));
    assert_eq!(mine.total, 2, "{:?}", mine.items.iter().map(|w| &w.item.chart_id).collect::<Vec<_>>());
    assert_eq!(inbox::count(s, "cy@example.org").await.unwrap(), 2);
    let detail = diffs::detail(s, B, "data").await.unwrap();
    assert_eq!(detail.requested, ["cy@example.org"]);
    // The same set through the list's filter.
    let q = DiffQuery { waiting_on: Some("me".into()), ..Default::default() };
    let listed = diffs::list_for(s, B, &q, Role::Reviewer, "cy@example.org").await.unwrap();
    let mut ids: Vec<&str> = listed.items.iter().map(|i| i.chart_id.as_str()).collect();
    ids.sort();
    assert_eq!(ids, ["cfg", "data"]);

    // Ana owns slug-c*: what is not approved waits on her.
    let anas = inbox::my_reviews(s, &t.ana, None, None).await.unwrap();
    let mut owned: Vec<&str> = anas.items.iter().map(|w| w.item.chart_id.as_str()).collect();
    owned.sort();
    assert_eq!(owned, ["cfg", "conflict"]);
    assert!(anas.items.iter().all(|w| w.reasons == ["you own it"]));

    // Answering takes it off the inbox; the badge follows.
    verdict(s, &t.cy, "data", ReviewStatus::Approved).await.unwrap();
    verdict(s, &t.cy, "cfg", ReviewStatus::Approved).await.unwrap();
    assert_eq!(inbox::my_reviews(s, &t.cy, None, None).await.unwrap().total, 0);
    assert_eq!(inbox::count(s, "cy@example.org").await.unwrap(), 0);
    assert!(diffs::detail(s, B, "data").await.unwrap().requested.is_empty());

    // All of it audited.
    let actions: Vec<String> = sqlx::query_scalar(
        "select action from audit_events where action in ('comment.add', 'review.request') order by id",
    )
    .fetch_all(&s.db.pool)
    .await
    .unwrap();
    assert_eq!(actions, ["comment.add", "comment.add", "review.request"]);
}
on_both!(conversations_requests_and_my_reviews);

async fn without_a_policy_the_last_decision_wins_as_before(env: &TestEnv) {
    let (plain, _, _) = scenario(env).await;
    let ana = user(&plain, "ana@example.org", Role::Reviewer).await;
    let ben = user(&plain, "ben@example.org", Role::Reviewer).await;
    verdict(&plain, &ana, "cfg", ReviewStatus::Rejected).await.unwrap();
    let now = verdict(&plain, &ben, "cfg", ReviewStatus::Approved).await.unwrap();
    assert_eq!(now.review.effective(), ReviewStatus::Approved, "one reviewer's click, as before");
    assert_eq!(now.review.reviewer.as_deref(), Some("ben@example.org"));
    assert_eq!((now.review.required, now.review.approvals.len(), now.review.rejections.len()), (1, 1, 1));
    assert!(reviews::gate(&plain, B).await.unwrap().waiting_for.iter().all(|w| !w.contains("cfg")));
}
on_both!(without_a_policy_the_last_decision_wins_as_before);

async fn a_changed_policy_reanswers_items_at_start(env: &TestEnv) {
    let (plain, _, _) = scenario(env).await;
    let ana = user(&plain, "ana@example.org", Role::Reviewer).await;
    user(&plain, "ben@example.org", Role::Reviewer).await;
    verdict(&plain, &ana, "data", ReviewStatus::Approved).await.unwrap();
    assert_eq!(item(&plain, "data").await.review.effective(), ReviewStatus::Approved);
    // The lead now asks for two approvals: the one approval no longer suffices.
    let team = AppState::new(Config { review: Some(policy()), ..(*plain.config).clone() }).await.unwrap();
    team.settle_review_policy().await.unwrap();
    assert_eq!(item(&team, "data").await.review.effective(), ReviewStatus::Pending);
    assert!(!reviews::gate(&team, B).await.unwrap().pass);
}
on_both!(a_changed_policy_reanswers_items_at_start);

async fn a_rule_is_one_approval_and_never_an_owner(env: &TestEnv) {
    let (plain, _, _) = scenario(env).await;
    let ana = user(&plain, "ana@example.org", Role::Reviewer).await;
    let ben = user(&plain, "ben@example.org", Role::Reviewer).await;
    let review = ReviewPolicyConfig {
        owners: vec![OwnerRule { slugs: vec!["slug-d*".into()], reviewers: vec!["ana@example.org".into()] }],
        ..policy()
    };
    let rule = chartgate::config::AutoApproveRule {
        name: "small".into(),
        parts: vec!["data".into()],
        max_changed_points: Some(5),
        max_relative_change: None,
        slug: None,
    };
    let config = Config { review: Some(review), auto_approve: vec![rule], ..(*plain.config).clone() };
    let s = AppState::new(config).await.unwrap();
    s.settle_review_policy().await.unwrap();
    scans::rescan(&s, &Actor::system(), B, true).await.unwrap();
    let ruled = item(&s, "data").await;
    assert_eq!(ruled.review.approvals.len(), 1, "{:?}", ruled.review);
    assert!(ruled.review.approvals[0].by_rule());
    assert_eq!(ruled.review.effective(), ReviewStatus::Pending);
    assert_eq!(ruled.review.missing.as_deref(), Some("needs 1 more approval, from an owner: ana@example.org"));
    let two = verdict(&s, &ben, "data", ReviewStatus::Approved).await.unwrap();
    assert_eq!(two.review.effective(), ReviewStatus::Pending, "a rule is never the owner");
    let three = verdict(&s, &ana, "data", ReviewStatus::Approved).await.unwrap();
    assert_eq!(three.review.effective(), ReviewStatus::Approved);
    // Scanning again adds no second rule approval.
    scans::rescan(&s, &Actor::system(), B, true).await.unwrap();
    assert_eq!(item(&s, "data").await.review.approvals.len(), 3);
}
on_both!(a_rule_is_one_approval_and_never_an_owner);

/// Every message a local webhook receiver took.
#[derive(Clone, Default)]
struct Heard(Arc<Mutex<Vec<Value>>>);

async fn webhook() -> (String, Heard) {
    let heard = Heard::default();
    let keep = heard.clone();
    let app = axum::Router::new().fallback(move |body: axum::body::Bytes| {
        let keep = keep.clone();
        async move {
            keep.0.lock().unwrap().push(serde_json::from_slice(&body).unwrap_or(Value::Null));
            StatusCode::OK
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}/hook"), heard)
}

#[tokio::test]
async fn team_review_over_http() {
    let dir = tempfile::tempdir().unwrap();
    run(dir.path(), &["demo", "--charts", "60"]);
    let lead = token_for(dir.path(), "lead@example.org", "lead");
    let viewer = token_for(dir.path(), "viewer@example.org", "viewer");
    let ana = token_for(dir.path(), "ana@example.org", "reviewer");
    let ben = token_for(dir.path(), "ben@example.org", "reviewer");
    std::fs::write(
        dir.path().join("chartgate.toml"),
        "[review]\nrequired_approvals = 2\n[[review.owners]]\nslugs = [\"*\"]\nreviewers = [\"ana@example.org\"]\n",
    )
    .unwrap();

    // An owner who is not a user stops the start, naming them.
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[review]\n[[review.owners]]\nslugs = [\"*\"]\nreviewers = [\"zed@example.org\"]\n").unwrap();
    let out = crate::api::chartgate(dir.path())
        .args(["serve"])
        .env("CHARTGATE_CONFIG", &bad)
        .env("CHARTGATE_LISTEN", "127.0.0.1:0")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("zed@example.org is not a user"), "{out:?}");
    // An unknown key in [review] is named.
    std::fs::write(&bad, "[review]\nrequired_aprovals = 2\n").unwrap();
    let out = crate::api::chartgate(dir.path()).args(["doctor"]).env("CHARTGATE_CONFIG", &bad).output().unwrap();
    assert!(!out.status.success());
    let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(said.contains("required_aprovals") && said.contains("required_approvals"), "{said}");

    let (hook, heard) = webhook().await;
    let (child, base) = serve_in(dir.path(), &[("CHARTGATE_NOTIFY_URL", &hook)]);
    let s = TestServer::from_parts(base, dir, child, lead.clone(), viewer.clone());
    let b = "/api/v1/branches/feature-energy-update";
    let (_, page) = s.get(&format!("{b}/diffs?per_page=500&conflict=false"), Some(&viewer)).await;
    let first = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["conflict"] == false && i["error"].is_null())
        .unwrap()
        .clone();
    let id = first["chart_id"].as_str().unwrap();
    assert_eq!(first["review"]["required"], 2);
    assert_eq!(first["review"]["owners"], json!(["ana@example.org"]));
    let decide = |status: &str| json!({"status": status, "staging_hash": first["staging_hash"], "production_hash": first["production_hash"]});

    // Bad input: a viewer's verdict, a reviewer's dismissal, an unknown person, empty and huge comments.
    let (st, body) = s.post(&format!("{b}/diffs/{id}/review"), Some(&viewer), decide("approved")).await;
    assert_error(st, &body, StatusCode::FORBIDDEN, "forbidden");
    let (st, body) = s
        .post(
            &format!("{b}/diffs/{id}/review/dismiss"),
            Some(&ben),
            json!({"reviewer": "ana@example.org", "reason": "x"}),
        )
        .await;
    assert_error(st, &body, StatusCode::FORBIDDEN, "forbidden");
    let (st, body) = s.post(&format!("{b}/requests"), Some(&ben), json!({"reviewers": ["nobody@example.org"]})).await;
    assert_error(st, &body, StatusCode::UNPROCESSABLE_ENTITY, "unprocessable");
    let (st, body) = s.post(&format!("{b}/diffs/{id}/comments"), Some(&ben), json!({"body": ""})).await;
    assert_error(st, &body, StatusCode::BAD_REQUEST, "bad_request");
    let (st, body) = s.post(&format!("{b}/diffs/{id}/comments"), Some(&ben), json!({"body": "x".repeat(20_000)})).await;
    assert_error(st, &body, StatusCode::BAD_REQUEST, "bad_request");
    let (_, thread) = s.get(&format!("{b}/diffs/{id}/comments"), Some(&viewer)).await;
    assert_eq!(thread, json!([]), "nothing written");

    // Ben approves and comments; ana is asked; the webhook names her.
    let (st, after) = s.post(&format!("{b}/diffs/{id}/review"), Some(&ben), decide("approved")).await;
    assert_eq!(st, StatusCode::OK, "{after}");
    assert_eq!(after["review"]["status"], "pending");
    assert_eq!(after["review"]["missing"], "needs 1 more approval, from an owner: ana@example.org");
    let (st, c) = s.post(&format!("{b}/diffs/{id}/comments"), Some(&ben), json!({"body": "Ana, the axis?"})).await;
    assert_eq!((st, c["author"].as_str()), (StatusCode::CREATED, Some("ben@example.org")), "{c}");
    let (st, asked) = s
        .post(&format!("{b}/requests"), Some(&ben), json!({"reviewers": ["ana@example.org"], "chart_ids": [id]}))
        .await;
    assert_eq!(st, StatusCode::CREATED, "{asked}");
    let deadline = Instant::now() + Duration::from_secs(30);
    let message = loop {
        if let Some(m) = heard.0.lock().unwrap().iter().find(|m| m["reviewers"] == json!(["ana@example.org"])).cloned()
        {
            break m;
        }
        assert!(Instant::now() < deadline, "the request's notification never arrived");
        tokio::time::sleep(Duration::from_millis(50)).await; // polling interval
    };
    assert!(message["text"].as_str().unwrap().contains("ana@example.org"), "{message}");

    // Ana's inbox has it, with why; her approval settles the item and empties the inbox of it.
    let (st, mine) = s.get("/api/v1/me/reviews", Some(&ana)).await;
    assert_eq!(st, StatusCode::OK, "{mine}");
    let row = mine["items"].as_array().unwrap().iter().find(|w| w["item"]["chart_id"] == id).expect("asked of ana");
    assert!(row["reasons"].as_array().unwrap().iter().any(|r| r == "requested by ben@example.org"), "{row}");
    let (st, gate) = s.get(&format!("{b}/gate"), Some(&viewer)).await;
    assert_eq!(st, StatusCode::OK);
    assert!(
        gate["waiting_for"].as_array().unwrap().iter().any(|w| w.as_str().unwrap().contains("from an owner")),
        "{gate}"
    );
    let (_, done) = s.post(&format!("{b}/diffs/{id}/review"), Some(&ana), decide("approved")).await;
    assert_eq!(done["review"]["status"], "approved", "{done}");
    let (_, mine) = s.get("/api/v1/me/reviews", Some(&ana)).await;
    assert!(mine["items"].as_array().unwrap().iter().all(|w| w["item"]["chart_id"] != id));

    // The rejection of another item is dismissed by the lead, with a reason.
    let other = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["chart_id"] != id && i["error"].is_null() && i["conflict"] == false)
        .unwrap();
    let oid = other["chart_id"].as_str().unwrap();
    let hashes = json!({"status": "rejected", "staging_hash": other["staging_hash"], "production_hash": other["production_hash"]});
    let (_, rejected) = s.post(&format!("{b}/diffs/{oid}/review"), Some(&ben), hashes).await;
    assert_eq!(rejected["review"]["status"], "rejected", "{rejected}");
    let (st, body) = s
        .post(
            &format!("{b}/diffs/{oid}/review/dismiss"),
            Some(&lead),
            json!({"reviewer": "ben@example.org", "reason": ""}),
        )
        .await;
    assert_error(st, &body, StatusCode::BAD_REQUEST, "bad_request");
    let (st, dismissed) = s
        .post(
            &format!("{b}/diffs/{oid}/review/dismiss"),
            Some(&lead),
            json!({"reviewer": "ben@example.org", "reason": "asked and answered"}),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{dismissed}");
    assert_eq!(dismissed["review"]["status"], "pending");
    assert_eq!(dismissed["review"]["rejections"][0]["dismissed"]["reason"], "asked and answered");
    let (_, events) = s.get("/api/v1/audit?branch=feature-energy-update", Some(&lead)).await;
    let actions: Vec<&str> = events["events"]
        .as_array()
        .or(events.as_array())
        .unwrap()
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect();
    for a in ["review.dismiss", "review.request", "comment.add", "review.approve", "review.reject"] {
        assert!(actions.contains(&a), "{a} missing from {actions:?}");
    }
}
