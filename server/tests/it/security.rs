//! What an attacker tried (issue "Attacked, overloaded, cut off"), each as a test that failed
//! before its fix: an open redirect after sign-in, a replayed signed hook body, sync writing
//! anything but the approved bytes, a session id kept across sign-ins, and token revocation.

use std::time::Duration;

use app::sync::{SyncOutcome, SyncTrigger};
use app::types::{ReviewRequest, ReviewStatus, Role};
use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use chartgate::access::Actor;
use chartgate::config::Config;
use chartgate::http::WebState;
use chartgate::state::AppState;
use chartgate::sync::{self, NewJob, Worker, WorkerOptions};
use chartgate::{accounts, diffs, reviews};
use serde_json::json;
use sqlx::Row;
use tower::ServiceExt;

use crate::engine::scenario;
use crate::on_both;
use crate::support::{Kind, TestEnv};

async fn send(state: &AppState, req: Request<Body>) -> (StatusCode, axum::http::HeaderMap, String) {
    let router = chartgate::http::router(WebState::new(state.clone()));
    let (parts, body) =
        answered_within(ANSWER_DEADLINE, router, req).await.unwrap_or_else(|r| panic!("no answer to {r}"));
    (parts.status, parts.headers, body)
}

fn sign_in(email: &str, password: &str, next: &str, cookie: Option<&str>) -> Request<Body> {
    let body = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("email", email)
        .append_pair("password", password)
        .append_pair("next", next)
        .finish();
    let mut req = Request::post("/auth/login")
        .header(header::HOST, "chartgate.test")
        .header(header::ORIGIN, "http://chartgate.test")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
    if let Some(c) = cookie {
        req = req.header(header::COOKIE, c);
    }
    req.body(Body::from(body)).unwrap()
}

fn session_of(headers: &axum::http::HeaderMap) -> String {
    let set = headers.get(header::SET_COOKIE).expect("a session cookie").to_str().unwrap();
    set.split(';').next().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_never_redirects_off_site_and_always_starts_a_new_session() {
    let env = TestEnv::new(Kind::Sqlite).await;
    let (state, _) = env.state().await;
    let op = Actor::operator("test");
    accounts::add_user(&state.db, &op, "ana@example.org", Role::Reviewer, Some("a long password")).await.unwrap();

    // Tabs and newlines are dropped by browsers when they read a Location: `/\t/evil.example`
    // would be `//evil.example`, another site.
    for next in ["/\t/evil.example", "/\n/evil.example", "//evil.example", "/\\evil.example", "https://evil.example/"] {
        let (status, headers, _) = send(&state, sign_in("ana@example.org", "a long password", next, None)).await;
        assert_eq!(status, StatusCode::SEE_OTHER);
        assert_eq!(headers[header::LOCATION], "/", "next = {next:?}");
    }
    let (_, headers, _) =
        send(&state, sign_in("ana@example.org", "a long password", "/branches/x?kind=new", None)).await;
    assert_eq!(headers[header::LOCATION], "/branches/x?kind=new", "a local path is followed");

    // A session the browser already carries ends at sign-in; the new one is another id.
    let planted = session_of(&headers);
    let (_, again, _) = send(&state, sign_in("ana@example.org", "a long password", "/", Some(&planted))).await;
    let fresh = session_of(&again);
    assert_ne!(fresh, planted);
    let token = |c: &str| c.trim_start_matches("chartgate_session=").to_string();
    assert!(accounts::session_user(&state.db, &token(&planted)).await.unwrap().is_none(), "the old session ended");
    assert!(accounts::session_user(&state.db, &token(&fresh)).await.unwrap().is_some());
    env.cleanup().await;
}

fn hook(delivery: Option<&str>, body: &str) -> Request<Body> {
    let mut req = Request::post("/api/v1/hooks/github")
        .header(header::CONTENT_TYPE, "application/json")
        .header("x-github-event", "pull_request")
        .header("x-hub-signature-256", chartgate::http::api::github::signature("s3cret", body.as_bytes()));
    if let Some(d) = delivery {
        req = req.header("x-github-delivery", d);
    }
    req.body(Body::from(body.to_string())).unwrap()
}

async fn a_replayed_hook_body_starts_nothing(env: &TestEnv) {
    let (state, _, _) = scenario(env).await;
    let state = AppState {
        config: std::sync::Arc::new(Config { hook_secret: Some("s3cret".into()), ..(*state.config).clone() }),
        ..state
    };
    let body = json!({
        "action": "closed",
        "pull_request": {"merged": true, "number": 1, "base": {"ref": "main"},
                         "head": {"ref": "feature/x", "repo": {"full_name": "acme/charts"}}},
        "repository": {"full_name": "acme/charts"},
        "sender": {"login": "octocat"}
    })
    .to_string();
    let (status, _, first) = send(&state, hook(Some("d-1"), &body)).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{first}");
    // The same signed body under a new delivery id, as a captured request replayed: the first job.
    let (status, _, replay) = send(&state, hook(Some("d-2"), &body)).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{replay}");
    let id = |text: &str| serde_json::from_str::<serde_json::Value>(text).unwrap()["job_id"].as_i64().unwrap();
    assert_eq!(id(&replay), id(&first));
    // Without a delivery id at all: refused.
    let (status, _, missing) = send(&state, hook(None, &body)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{missing}");
    let jobs: i64 =
        sqlx::query("select count(*) as n from sync_jobs").fetch_one(&state.db.pool).await.unwrap().get("n");
    assert_eq!(jobs, 1, "one merge, one job");
}
on_both!(a_replayed_hook_body_starts_nothing);

async fn approve(state: &AppState, id: &str) {
    let user = accounts::add_user(&state.db, &Actor::operator("t"), &format!("{id}@example.org"), Role::Lead, None)
        .await
        .unwrap();
    let item = diffs::item(state, "feature-x", id).await.unwrap();
    let req = ReviewRequest {
        status: ReviewStatus::Approved,
        staging_hash: item.staging_hash,
        production_hash: item.production_hash,
        comment: None,
    };
    reviews::decide(state, "feature-x", id, &user, &req).await.unwrap();
}

async fn sync_writes_the_approved_bytes_or_nothing(env: &TestEnv) {
    let (state, production, staging) = scenario(env).await;
    approve(&state, "cfg").await;
    approve(&state, "data").await;
    // Someone damages the content store behind Chartgate's back: `data`'s approved version no
    // longer matches its hash (it holds another version's text).
    let data_hash = diffs::item(&state, "feature-x", "data").await.unwrap().staging_hash.unwrap();
    let cfg_hash = diffs::item(&state, "feature-x", "cfg").await.unwrap().staging_hash.unwrap();
    sqlx::query("update version_texts set packed = (select packed from version_texts where hash = $1) where hash = $2")
        .bind(&cfg_hash)
        .bind(&data_hash)
        .execute(&state.db.pool)
        .await
        .unwrap();
    let before = production.get("data").await.unwrap().unwrap();

    let new = NewJob {
        branch: "feature-x",
        dry_run: false,
        trigger: SyncTrigger::Cli,
        delivery_id: None,
        idempotency_key: None,
    };
    let id = sync::enqueue(&state, &Actor::operator("cli"), new).await.unwrap().job_id;
    let worker =
        Worker::new(state.clone(), WorkerOptions { heartbeat: Duration::from_millis(200), ..Default::default() });
    while worker.run_next().await.unwrap().is_some() {}
    let job = sync::get_job(&state.db, id).await.unwrap();
    let item = |c: &str| job.items.iter().find(|i| i.chart_id == c).unwrap().clone();

    // `cfg` is written as staging's own text, byte for byte (design §13: never a
    // re-serialisation), after it was checked against the approved hash.
    assert_eq!(item("cfg").outcome, Some(SyncOutcome::Updated));
    let approved = staging.get("cfg").await.unwrap().unwrap();
    let written = production.get("cfg").await.unwrap().unwrap();
    assert_eq!(written.config, approved.config);
    assert_eq!(written.data, approved.data);
    assert_eq!(written.metadata, approved.metadata);

    // `data` fails loudly, and production keeps what it had.
    assert_eq!(item("data").outcome, Some(SyncOutcome::Failed));
    assert!(item("data").reason.unwrap().contains("does not match its hash"), "{:?}", item("data"));
    assert_eq!(production.get("data").await.unwrap().unwrap(), before);
}
on_both!(sync_writes_the_approved_bytes_or_nothing);

/// Tokens can be listed and revoked by leads, through the CLI and the API; a revoked token is
/// refused on its next request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_are_listed_and_revoked() {
    let s = crate::api::spawn_server();
    let dir = s.dir.path();
    let listed = crate::api::run(dir, &["tokens", "list", "--json"]);
    let tokens: Vec<serde_json::Value> = serde_json::from_str(&listed).unwrap();
    let viewer_id = tokens
        .iter()
        .find(|t| t["role"] == "viewer")
        .and_then(|t| t["id"].as_str())
        .expect("the viewer's token is listed")
        .to_string();
    assert!(!listed.contains(&s.viewer), "the list never shows a secret");

    let client = reqwest::Client::new();
    let get = |token: String| {
        let url = format!("{}/api/v1/tokens", s.base);
        let client = client.clone();
        async move { client.get(url).bearer_auth(token).send().await.unwrap().status() }
    };
    assert_eq!(get(s.lead.clone()).await, reqwest::StatusCode::OK);
    assert_eq!(get(s.viewer.clone()).await, reqwest::StatusCode::FORBIDDEN, "leads only");

    // A lead revokes the viewer's token over the API: the next request with it is refused.
    let revoke = |id: &str| client.delete(format!("{}/api/v1/tokens/{id}", s.base)).bearer_auth(&s.lead).send();
    assert_eq!(revoke(&viewer_id).await.unwrap().status(), reqwest::StatusCode::NO_CONTENT);
    let (status, _) = s.get("/api/v1/branches", Some(&s.viewer)).await;
    assert_eq!(status, reqwest::StatusCode::UNAUTHORIZED, "revoked at once");
    assert_eq!(revoke(&viewer_id).await.unwrap().status(), reqwest::StatusCode::NOT_FOUND);
    assert_eq!(revoke("not-an-id").await.unwrap().status(), reqwest::StatusCode::BAD_REQUEST);

    // The CLI revokes too (here a token made for the purpose), and both are audited.
    let extra = crate::api::run(dir, &["tokens", "create", "lead@example.org"]);
    let extra = extra.lines().last().unwrap().trim().to_string();
    let ids: Vec<serde_json::Value> =
        serde_json::from_str(&crate::api::run(dir, &["tokens", "list", "--json", "--email", "lead@example.org"]))
            .unwrap();
    assert_eq!(ids.len(), 2, "the lead's two tokens");
    let (status, _) = s.get("/api/v1/branches", Some(&extra)).await;
    assert_eq!(status, reqwest::StatusCode::OK);
    for t in &ids {
        crate::api::run(dir, &["tokens", "revoke", t["id"].as_str().unwrap()]);
    }
    let (status, _) = s.get("/api/v1/branches", Some(&extra)).await;
    assert_eq!(status, reqwest::StatusCode::UNAUTHORIZED);
}

/// A store on a PostgreSQL that refuses connections is reported as refused at once, not after a
/// connect time-out spent retrying.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_postgresql_is_refused_at_once() {
    let env = TestEnv::new(Kind::Sqlite).await;
    let (state, _) = env.state().await;
    let closed_port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let url = format!("postgres://postgres@127.0.0.1:{closed_port}/nowhere");
    let new = chartgate::branches::NewBranch {
        branch: "feature/far",
        store_url: Some(&url),
        fork: false,
        preview_url: None,
        target: None,
        repository: None,
    };
    let err = chartgate::branches::register(&state, &Actor::operator("t"), new).await.unwrap_err();
    // The lead reads Chartgate's words (issue 22: a store URL is no probe); the log reads why.
    assert!(err.to_string().contains("cannot be opened or reached"), "{err}");
    let Err(err) = state.stores.open(&url, false).await else { panic!("no server is there") };
    let detail = err.detail();
    assert!(detail.to_lowercase().contains("refused"), "refused, not timed out: {detail}");
    env.cleanup().await;
}

/// Every answer carries the security headers; a page's policy allows its own scripts only, the
/// inline hydration script by a nonce that changes with every answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_answer_carries_security_headers_and_pages_a_fresh_script_nonce() {
    let env = TestEnv::new(Kind::Sqlite).await;
    let (state, _) = env.state().await;
    let get = |path: &str| Request::get(path).header(header::HOST, "chartgate.test").body(Body::empty()).unwrap();

    let mut nonces = Vec::new();
    for _ in 0..2 {
        let (status, headers, html) = send(&state, get("/login")).await;
        assert_eq!(status, StatusCode::OK);
        let csp = headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap().to_string();
        for directive in ["default-src 'self'", "frame-ancestors 'none'", "object-src 'none'", "'wasm-unsafe-eval'"] {
            assert!(csp.contains(directive), "{directive} missing from {csp}");
        }
        assert!(!csp.contains("script-src 'self' 'unsafe-inline'"), "{csp}");
        let nonce = csp.split("'nonce-").nth(1).and_then(|s| s.split('\'').next()).expect("a nonce").to_string();
        assert!(nonce.len() >= 16, "{nonce}");
        // Every inline script of the page carries it; none runs without it.
        let tags: Vec<&str> = html.split("<script").skip(1).map(|rest| rest.split('>').next().unwrap_or("")).collect();
        assert!(!tags.is_empty(), "the page has its hydration script");
        for tag in tags {
            assert!(tag.contains(&format!("nonce=\"{nonce}\"")), "a script without the nonce: <script{tag}>");
        }
        nonces.push(nonce);
    }
    assert_ne!(nonces[0], nonces[1], "a nonce is never reused");

    for path in ["/api/v1/branches", "/api/v1/no-such-thing", "/auth/logout"] {
        let (_, headers, _) = send(&state, get(path)).await;
        assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff", "{path}");
        assert_eq!(headers[header::REFERRER_POLICY], "same-origin", "{path}");
        let csp = headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
        assert!(csp.contains("frame-ancestors 'none'") && !csp.contains("unsafe-inline"), "{path}: {csp}");
    }
    env.cleanup().await;
}

/// A page's Content-Security-Policy names the nonce its own scripts carry while files are
/// answered beside it, and no file takes a page's policy. leptos_axum's file handler once moved
/// the headers of a page being rendered on the same worker thread onto a file's answer: the page
/// came without its policy, so its hydration script was blocked (two of three pages here).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_keep_their_policy_while_files_are_served_beside_them() {
    let env = TestEnv::new(Kind::Sqlite).await;
    let site = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(site.path().join("pkg")).unwrap();
    std::fs::write(site.path().join("pkg/chartgate.css"), "body {}").unwrap();
    let mut config = env.config().await;
    config.site_root = site.path().display().to_string();
    let router = chartgate::http::router(WebState::new(AppState::new(config).await.unwrap()));
    let get = |path: &str| Request::get(path).header(header::HOST, "chartgate.test").body(Body::empty()).unwrap();

    let mut answers = tokio::task::JoinSet::new();
    for i in 0..240 {
        let (router, req) = (router.clone(), get(if i % 3 == 0 { "/login" } else { "/pkg/chartgate.css" }));
        answers.spawn(async move {
            let page = req.uri().path() == "/login";
            let (parts, body) = answered_within(ANSWER_DEADLINE, router, req).await?;
            let csp = parts.headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap().to_string();
            Ok::<_, String>((page, parts.status, csp, body))
        });
    }
    let (mut pages, mut files) = (0, 0);
    let mut unanswered = Vec::new();
    while let Some(answer) = answers.join_next().await {
        let (page, status, csp, body) = match answer.unwrap() {
            Ok(answer) => answer,
            Err(request) => {
                unanswered.push(request);
                continue;
            }
        };
        assert_eq!(status, StatusCode::OK);
        if page {
            let nonce = body.split("nonce=\"").nth(1).and_then(|s| s.split('"').next()).expect("a script nonce");
            assert!(
                csp.contains(&format!("'nonce-{nonce}'")),
                "the page's scripts carry {nonce}, its policy says {csp}"
            );
            pages += 1;
        } else {
            assert_eq!(body, "body {}");
            assert!(!csp.contains("nonce-"), "a file answered with a page's policy: {csp}");
            files += 1;
        }
    }
    assert!(unanswered.is_empty(), "{} requests got no answer: {unanswered:?}", unanswered.len());
    assert_eq!((pages, files), (80, 160));

    // A path no file can have (a name too long for the file system) is not found, not a 500.
    let long = format!("/pkg/{}", "0".repeat(5000));
    assert_eq!(router.clone().oneshot(get(&long)).await.unwrap().status(), StatusCode::NOT_FOUND);

    // A path that is neither a route nor a file is the app's own 404 page, with its policy.
    let (parts, body) = answered_within(ANSWER_DEADLINE, router, get("/pkg/missing.js")).await.unwrap();
    assert_eq!(parts.status, StatusCode::NOT_FOUND);
    assert!(body.contains("<html"), "{body}");
    assert!(parts.headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap().contains("'nonce-"));
    env.cleanup().await;
}

/// How long one request through the router may take before a test names it as unanswered: far
/// beyond any answer's time, so only a request that would never be answered reaches it.
const ANSWER_DEADLINE: Duration = Duration::from_secs(60);

/// `req`'s answer through `router`, its body read whole; the request (method and path) if no
/// answer came within `deadline`.
async fn answered_within(
    deadline: Duration,
    router: axum::Router,
    req: Request<Body>,
) -> Result<(axum::http::response::Parts, String), String> {
    let what = format!("{} {}", req.method(), req.uri());
    let answer = async {
        let (parts, body) = router.oneshot(req).await.unwrap().into_parts();
        let body = axum::body::to_bytes(body, 1 << 24).await.unwrap();
        (parts, String::from_utf8_lossy(&body).into_owned())
    };
    tokio::time::timeout(deadline, answer).await.map_err(|_| what)
}

/// Pages rendered while another router is being built are answered. Building a router lists the
/// app's routes by running the app once, and leptos_server marks that run in a process-wide flag
/// that parks, forever, any resource first polled while it is set — in every render of the
/// process (leptos-rs/leptos#4773). Every page loads the signed-in user through a resource, so a
/// page rendered during another test's router build never finished, and the whole suite hung.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_rendered_while_routers_are_built_are_answered() {
    let env = TestEnv::new(Kind::Sqlite).await;
    let (state, _) = env.state().await;
    let router = chartgate::http::router(WebState::new(state.clone()));
    let builders: Vec<_> = (0..2)
        .map(|_| {
            let state = state.clone();
            tokio::spawn(async move {
                for _ in 0..40 {
                    drop(chartgate::http::router(WebState::new(state.clone())));
                    tokio::task::yield_now().await;
                }
            })
        })
        .collect();
    let mut answers = tokio::task::JoinSet::new();
    for _ in 0..120 {
        let req = Request::get("/login").header(header::HOST, "chartgate.test").body(Body::empty()).unwrap();
        let router = router.clone();
        answers.spawn(async move { answered_within(Duration::from_secs(20), router, req).await });
    }
    let (mut pages, mut unanswered) = (0, 0);
    while let Some(answer) = answers.join_next().await {
        match answer.unwrap() {
            Ok((parts, body)) => {
                assert_eq!(parts.status, StatusCode::OK);
                assert!(body.contains("</html>"), "a whole page: {body}");
                pages += 1;
            }
            Err(_) => unanswered += 1,
        }
    }
    for builder in builders {
        builder.await.unwrap();
    }
    assert_eq!(unanswered, 0, "{unanswered} of 120 pages rendered beside router builds got no answer");
    assert_eq!(pages, 120);
    env.cleanup().await;
}

/// A store that fails is reported to viewers in their words — no URL, no server path — while
/// leads (and the log) get the detail.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_failures_show_viewers_what_and_leads_where() {
    let s = crate::api::spawn_server();
    // Where a store is (a host, a server path) is for leads: viewers list branches and targets
    // without it.
    for path in ["/api/v1/branches", "/api/v1/targets"] {
        let (_, seen) = s.get(path, Some(&s.viewer)).await;
        assert!(seen.as_array().unwrap().iter().all(|b| b.get("store_url").is_none()), "{path}: {seen}");
        let (_, lead) = s.get(path, Some(&s.lead)).await;
        assert!(lead.as_array().unwrap().iter().all(|b| b["store_url"].is_string()), "{path}: {lead}");
    }
    let (_, branches) = s.get("/api/v1/branches", Some(&s.lead)).await;
    let branch = branches
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["kind"] == "branch" && b["store_url"].as_str().is_some_and(|u| u.starts_with("sqlite")))
        .expect("a demo branch on a SQLite store")
        .clone();
    let name = branch["name"].as_str().unwrap();
    let url = branch["store_url"].as_str().unwrap();
    let file = url.trim_start_matches("sqlite://").trim_start_matches("sqlite:").split('?').next().unwrap();
    assert!(std::path::Path::new(file).exists(), "{file}");
    std::fs::remove_file(file).unwrap();
    let private = std::path::Path::new(file).file_name().unwrap().to_str().unwrap();

    let (status, body) = s.post(&format!("/api/v1/branches/{name}/rescan"), Some(&s.lead), json!({})).await;
    assert_eq!(status, reqwest::StatusCode::BAD_GATEWAY, "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("does not exist"), "{message}");
    assert!(!message.contains(private) && !message.contains("sqlite"), "no path in an answer: {message}");

    let (_, seen) = s.get(&format!("/api/v1/branches/{name}"), Some(&s.viewer)).await;
    let error = seen["scan_error"].as_str().expect("the failed scan is shown");
    assert!(error.contains("does not exist") && !error.contains(private), "{error}");
    assert!(seen.get("scan_error_detail").is_none(), "viewers get no detail: {seen}");
    let (_, diffs) = s.get(&format!("/api/v1/branches/{name}/diffs"), Some(&s.viewer)).await;
    assert!(diffs.get("scan_error_detail").is_none(), "{diffs}");
    assert!(
        !diffs.to_string().contains(private) && !diffs.to_string().contains("/tmp"),
        "no path in the list: {diffs}"
    );

    let (_, lead) = s.get(&format!("/api/v1/branches/{name}"), Some(&s.lead)).await;
    let detail = lead["scan_error_detail"].as_str().expect("leads get the detail");
    assert!(detail.contains(private), "{detail}");
}
