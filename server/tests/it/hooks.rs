//! The GitHub hook against confusion (issue 22, finding 6), through the real router: a pull
//! request acts on a branch only when it is the branch's own — its head ref the exact raw name
//! the branch was registered with, from the branch's repository, not from a fork — and a signed
//! body counts once, as the kind of event it first came as (`X-GitHub-Event` is not signed).

use std::collections::BTreeMap;

use app::types::Role;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use chartgate::access::Actor;
use chartgate::config::Config;
use chartgate::http::WebState;
use chartgate::state::AppState;
use chartgate::{accounts, branches};
use serde_json::{json, Value};
use sqlx::Row;
use tower::ServiceExt;

use crate::api::run;
use crate::engine::scenario;
use crate::on_both;
use crate::support::{chart, TestEnv};

const SECRET: &str = "a-hook-secret-for-the-confusion-tests";

fn with_secret(state: &AppState) -> AppState {
    let config = Config { hook_secret: Some(SECRET.into()), ..(*state.config).clone() };
    AppState { config: std::sync::Arc::new(config), ..state.clone() }
}

/// Sends one request through the whole router; the answer's status and JSON.
async fn send(state: &AppState, req: Request<Body>) -> (StatusCode, Value) {
    let resp = chartgate::http::router(WebState::new(state.clone())).oneshot(req).await.unwrap();
    let status = resp.status();
    let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20).await.unwrap();
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

/// A delivery signed as GitHub signs it, with the event kind and delivery id given.
async fn hook(state: &AppState, event: &str, delivery: &str, body: &Value) -> (StatusCode, Value) {
    let body = body.to_string();
    let req = Request::post("/api/v1/hooks/github")
        .header("content-type", "application/json")
        .header("x-github-event", event)
        .header("x-github-delivery", delivery)
        .header("x-hub-signature-256", chartgate::http::api::github::signature(SECRET, body.as_bytes()))
        .body(Body::from(body))
        .unwrap();
    send(state, req).await
}

/// A `pull_request` event: `head_repo` is where the head ref lives (a fork's, for a fork's pull
/// request; `None` for a deleted fork), `repository` where the pull request is open.
fn pull_request(action: &str, head_ref: &str, head_repo: Option<&str>, repository: &str, merged: bool) -> Value {
    json!({
        "action": action,
        "number": 9,
        "pull_request": {
            "number": 9,
            "merged": merged,
            "head": {"ref": head_ref, "sha": "0123abc", "repo": head_repo.map(|r| json!({"full_name": r}))},
            "base": {"ref": "main", "sha": "base", "repo": {"full_name": repository}}
        },
        "repository": {"full_name": repository},
        "sender": {"login": "octocat"}
    })
}

async fn count(state: &AppState, sql: &str) -> i64 {
    sqlx::query(sql).fetch_one(&state.db.pool).await.unwrap().get("n")
}

async fn lead_token(state: &AppState) -> String {
    let operator = Actor::operator("test");
    accounts::add_user(&state.db, &operator, "lead@example.org", Role::Lead, None).await.unwrap();
    accounts::create_token(&state.db, &operator, "lead@example.org").await.unwrap()
}

async fn branch(state: &AppState, token: &str, name: &str) -> Value {
    let req = Request::get(format!("/api/v1/branches/{name}"))
        .header("authorization", format!("Bearer {token}"))
        .body(Body::empty())
        .unwrap();
    let (status, body) = send(state, req).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

fn ignored(status: StatusCode, body: &Value) -> String {
    assert_eq!(status, StatusCode::OK, "{body}");
    body["ignored"].as_str().unwrap_or_else(|| panic!("ignored: {body}")).to_string()
}

/// The branch `feature/x` (environment `feature-x`) is registered without a repository: forks
/// and look-alike refs never act on it, the first signed event of its own binds it, and then
/// only that repository's pull requests do.
async fn pull_requests_act_only_on_their_own_branch(env: &TestEnv) {
    let (state, _, _) = scenario(env).await;
    let state = with_secret(&state);
    let token = lead_token(&state).await;

    // A fork's pull request with the branch's exact name, merged into the repository: the head
    // is the fork's, so it is not the branch's. Opened, it takes no commit status; merged, it
    // syncs nothing and does not mark the branch merged.
    let fork = |action, merged| pull_request(action, "feature/x", Some("mallory/charts"), "acme/charts", merged);
    let why = ignored_of(hook(&state, "pull_request", "fork-open", &fork("opened", false)).await);
    assert!(why.contains("mallory/charts"), "{why}");
    let why = ignored_of(hook(&state, "pull_request", "fork-merge", &fork("closed", true)).await);
    assert!(why.contains("mallory/charts"), "{why}");
    // A fork deleted since: no head repository to check, so not the branch's either.
    let gone = pull_request("closed", "feature/x", None, "acme/charts", true);
    ignored_of(hook(&state, "pull_request", "gone-merge", &gone).await);
    // A ref that only normalises to the branch's environment name is another branch.
    let lookalike = pull_request("closed", "feature-x", Some("acme/charts"), "acme/charts", true);
    let why = ignored_of(hook(&state, "pull_request", "lookalike-merge", &lookalike).await);
    assert!(why.contains("feature/x"), "the registered name is said: {why}");
    assert_eq!(count(&state, "select count(*) as n from sync_jobs").await, 0, "nothing was synced");
    assert_eq!(count(&state, "select count(*) as n from pull_requests").await, 0, "no commit status taken over");
    assert_eq!(branch(&state, &token, "feature-x").await["state"], "open");
    assert!(branch(&state, &token, "feature-x").await.get("repository").is_none(), "no repository bound yet");

    // The branch's own pull request, opened in acme/charts from acme/charts, binds it.
    let own = |action, merged| pull_request(action, "feature/x", Some("acme/charts"), "acme/charts", merged);
    let (status, body) = hook(&state, "pull_request", "own-open", &own("opened", false)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(branch(&state, &token, "feature-x").await["repository"], "acme/charts");
    assert_eq!(count(&state, "select count(*) as n from pull_requests").await, 1, "its head gets the status");

    // From then on another repository's pull request for the same name is ignored, even one
    // that is not a fork (an organisation's hook sees every repository's events).
    let elsewhere = pull_request("closed", "feature/x", Some("other/charts"), "other/charts", true);
    let why = ignored_of(hook(&state, "pull_request", "elsewhere-merge", &elsewhere).await);
    assert!(why.contains("acme/charts") && why.contains("other/charts"), "{why}");
    assert_eq!(count(&state, "select count(*) as n from sync_jobs").await, 0);

    // The branch's own merge syncs it.
    let (status, body) = hook(&state, "pull_request", "own-merge", &own("closed", true)).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let job: String = sqlx::query("select branch from sync_jobs where id = $1")
        .bind(body["job_id"].as_i64().unwrap())
        .fetch_one(&state.db.pool)
        .await
        .unwrap()
        .get("branch");
    assert_eq!(job, "feature-x");
}
on_both!(pull_requests_act_only_on_their_own_branch);

fn ignored_of((status, body): (StatusCode, Value)) -> String {
    ignored(status, &body)
}

/// A repository given at registration (`repository` in the API) is the only one whose pull
/// requests act on the branch; a malformed one is refused.
async fn a_repository_given_at_registration_is_the_only_one(env: &TestEnv) {
    let (state, production, _) = scenario(env).await;
    let state = with_secret(&state);
    let token = lead_token(&state).await;
    let staging = env.store("staging_y").await;
    staging.copy_from(&production).await.unwrap();
    let register = |repository: &str| {
        Request::post("/api/v1/branches")
            .header("content-type", "application/json")
            .header("authorization", format!("Bearer {token}"))
            .body(Body::from(
                json!({"branch": "feature/y", "store_url": staging.url, "repository": repository}).to_string(),
            ))
            .unwrap()
    };
    let (status, body) = send(&state, register("acme")).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (status, body) = send(&state, register("acme/charts")).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["repository"], "acme/charts", "{body}");

    // Another repository signs first: it binds nothing and acts on nothing.
    let other = pull_request("closed", "feature/y", Some("other/charts"), "other/charts", true);
    let why = ignored_of(hook(&state, "pull_request", "y-other", &other).await);
    assert!(why.contains("acme/charts"), "{why}");
    assert_eq!(count(&state, "select count(*) as n from sync_jobs").await, 0);
    let own = pull_request("closed", "feature/y", Some("acme/charts"), "acme/charts", true);
    let (status, body) = hook(&state, "pull_request", "y-own", &own).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
}
on_both!(a_repository_given_at_registration_is_the_only_one);

/// A signed body is one event of one kind. A body GitHub signed for an event Chartgate ignores
/// (a package published) and sent again labelled `release`, under its own delivery id or
/// another, promotes nothing; nor does a body of another kind sent as `release` the first time.
async fn a_signed_body_counts_once_as_the_kind_it_came_as(env: &TestEnv) {
    let production = env.store("kind_production").await;
    let staging = env.store("kind_staging").await;
    production.put_many(&[chart("a", "Chart a")]).await.unwrap();
    staging.copy_from(&production).await.unwrap();
    let target = |v: Value| serde_json::from_value(v).unwrap();
    let config = Config {
        targets: BTreeMap::from([
            ("production".to_string(), target(json!({"store_url": production.url}))),
            (
                "staging".to_string(),
                target(json!({"store_url": staging.url, "promotes_to": "production", "promote_on": "release"})),
            ),
        ]),
        default_target: Some("staging".into()),
        hook_secret: Some(SECRET.into()),
        ..env.config().await
    };
    let state = AppState::new(config).await.unwrap();
    branches::ensure_environments(&state).await.unwrap();
    let jobs = || count(&state, "select count(*) as n from sync_jobs");

    let package = json!({
        "action": "published",
        "package": {"name": "charts-cli", "package_type": "npm"},
        "sender": {"login": "octocat"}
    });
    let (status, body) = hook(&state, "package", "p-1", &package).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    for delivery in ["p-1", "p-2"] {
        let (status, body) = hook(&state, "release", delivery, &package).await;
        assert_eq!(status, StatusCode::OK, "relabelled as a release under {delivery}: {body}");
        assert!(body["ignored"].is_string(), "{body}");
    }
    // Never seen before, but not a release's payload.
    let registry =
        json!({"action": "published", "registry_package": {"name": "charts"}, "sender": {"login": "octocat"}});
    let (status, body) = hook(&state, "release", "rp-1", &registry).await;
    assert!(status.is_client_error() || body["ignored"].is_string(), "{status} {body}");
    assert_eq!(jobs().await, 0, "nothing was promoted");

    // A real release promotes once; the same body as another kind is ignored.
    let release = json!({"action": "published", "release": {"tag_name": "v1"}, "sender": {"login": "octocat"}});
    let (status, first) = hook(&state, "release", "r-1", &release).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{first}");
    let (status, again) = hook(&state, "release", "r-1", &release).await;
    assert_eq!((status, &again), (StatusCode::ACCEPTED, &first), "GitHub's redelivery: the same job");
    let (status, body) = hook(&state, "pull_request", "r-1", &release).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body["ignored"].is_string(), "{body}");
    assert_eq!(jobs().await, 1);
}
on_both!(a_signed_body_counts_once_as_the_kind_it_came_as);

/// `chartgate branch add --repository owner/name` registers the branch with its repository;
/// a malformed one is refused with the reason.
#[test]
fn branch_add_takes_a_repository() {
    let dir = tempfile::tempdir().unwrap();
    run(dir.path(), &["demo", "--charts", "40"]);
    run(dir.path(), &["branch", "add", "feature/cli", "--fork", "--repository", "acme/charts"]);
    let list: Vec<Value> = serde_json::from_str(&run(dir.path(), &["branch", "list", "--json"])).unwrap();
    let added = list.iter().find(|b| b["name"] == "feature-cli").expect("the branch is listed");
    assert_eq!(added["repository"], "acme/charts", "{added}");

    let out = crate::api::chartgate(dir.path())
        .args(["branch", "add", "feature/bad", "--fork", "--repository", "acme/charts/extra"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && stderr.contains("owner/name"), "{stderr}");
}
