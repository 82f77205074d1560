//! The REST API and the pages, through the real `chartgate` binary: demo data written by
//! `chartgate demo`, users and tokens made with the CLI, `chartgate serve` on a random port.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};

pub struct TestServer {
    pub base: String,
    pub dir: tempfile::TempDir,
    child: Child,
    pub lead: String,
    pub viewer: String,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn chartgate(dir: &std::path::Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_chartgate"));
    cmd.current_dir(dir)
        .env_remove("CHARTGATE_CONFIG")
        .env_remove("CHARTGATE_ENV")
        .env("CHARTGATE_DATABASE_URL", format!("sqlite://{}/chartgate.db", dir.display()))
        .env("CHARTGATE_PRODUCTION_URL", format!("sqlite://{}/production.db", dir.display()))
        .env("CHARTGATE_STAGING_URL_TEMPLATE", format!("sqlite://{}/staging/{{branch}}.db", dir.display()))
        .env("CHARTGATE_SCAN_INTERVAL", "0s")
        .env("CHARTGATE_BODY_LIMIT", "65536")
        .env("RUST_LOG", if std::env::var_os("TEST_LOG").is_some() { "info" } else { "error" });
    cmd
}

/// Runs a CLI command to completion and returns its stdout (panics with stderr on failure).
pub fn run(dir: &std::path::Path, args: &[&str]) -> String {
    let out = chartgate(dir).args(args).output().expect("run chartgate");
    assert!(out.status.success(), "chartgate {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

pub fn token_for(dir: &std::path::Path, email: &str, role: &str) -> String {
    run(dir, &["users", "add", email, "--role", role]);
    run(dir, &["tokens", "create", email]).lines().last().unwrap().trim().to_string()
}

pub fn spawn_server() -> TestServer {
    spawn_server_with(&[])
}

/// Starts `chartgate serve` on a random port in `dir` and waits (with a deadline) for the
/// line that announces its address.
pub fn serve_in(dir: &std::path::Path, env: &[(&str, &str)]) -> (Child, String) {
    let mut child = chartgate(dir)
        .arg("serve")
        .env("CHARTGATE_LISTEN", "127.0.0.1:0")
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(url) = line.strip_prefix("chartgate listening on ") {
                let _ = tx.send(url.to_string());
            }
        }
    });
    let base = rx.recv_timeout(Duration::from_secs(60)).expect("the server announces its address");
    (child, base)
}

/// A server with extra environment (configuration variables).
pub fn spawn_server_with(env: &[(&str, &str)]) -> TestServer {
    let dir = tempfile::tempdir().unwrap();
    run(dir.path(), &["demo", "--charts", "60"]);
    let lead = token_for(dir.path(), "lead@example.org", "lead");
    let viewer = token_for(dir.path(), "viewer@example.org", "viewer");
    let (child, base) = serve_in(dir.path(), env);
    TestServer { base, dir, child, lead, viewer }
}

impl TestServer {
    /// A server started with [`serve_in`], and the tokens of its lead and viewer.
    pub fn from_parts(base: String, dir: tempfile::TempDir, child: Child, lead: String, viewer: String) -> TestServer {
        TestServer { base, dir, child, lead, viewer }
    }

    fn client() -> reqwest::Client {
        reqwest::Client::builder().timeout(Duration::from_secs(30)).build().unwrap()
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> (StatusCode, Value) {
        let mut req = Self::client().get(format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> (StatusCode, Value) {
        let mut req = Self::client().post(format!("{}{path}", self.base)).json(&body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status();
        (status, resp.json().await.unwrap_or(Value::Null))
    }
}

pub fn assert_error(status: StatusCode, body: &Value, expected: StatusCode, code: &str) {
    assert_eq!(status, expected, "{body}");
    assert_eq!(body["error"]["code"], code, "{body}");
    assert!(body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "{body}");
}

#[tokio::test]
async fn the_api_end_to_end() {
    let s = spawn_server();

    // Health.
    let (st, body) = s.get("/healthz", None).await;
    assert_eq!((st, body["status"].as_str()), (StatusCode::OK, Some("ok")));
    let (st, body) = s.get("/readyz", None).await;
    assert_eq!((st, &body["ready"]), (StatusCode::OK, &json!(true)));

    // Authentication and roles.
    let (st, body) = s.get("/api/v1/branches", None).await;
    assert_error(st, &body, StatusCode::UNAUTHORIZED, "unauthorized");
    let (st, body) = s.get("/api/v1/branches", Some("cgt_not-a-token")).await;
    assert_error(st, &body, StatusCode::UNAUTHORIZED, "unauthorized");
    let (st, body) =
        s.post("/api/v1/branches", Some(&s.viewer), json!({"branch": "x", "store_url": "sqlite://x.db"})).await;
    assert_error(st, &body, StatusCode::FORBIDDEN, "forbidden");

    // Branches.
    let (st, body) = s.get("/api/v1/branches", Some(&s.viewer)).await;
    assert_eq!(st, StatusCode::OK);
    let list = body.as_array().unwrap();
    let energy = list.iter().find(|b| b["name"] == "feature-energy-update").expect("demo branch");
    assert_eq!(energy["raw_name"], "feature/energy-update");
    assert!(energy["counts"]["total"].as_i64().unwrap() > 0);
    assert!(energy["counts"]["conflicts"].as_i64().unwrap() > 0, "{energy}");
    assert!(energy["last_scan_at"].is_string());

    // The diff list, by environment name and by raw name, with the contract's shape.
    let (st, page) = s.get("/api/v1/branches/feature-energy-update/diffs?per_page=5", Some(&s.viewer)).await;
    assert_eq!(st, StatusCode::OK, "{page}");
    let (_, same) = s.get("/api/v1/branches/feature%2Fenergy-update/diffs?per_page=5", Some(&s.viewer)).await;
    assert_eq!(page["items"], same["items"]);
    assert_eq!((page["page"].as_i64(), page["per_page"].as_i64()), (Some(1), Some(5)));
    assert_eq!(page["items"].as_array().unwrap().len(), 5);
    let item = &page["items"][0];
    for key in ["chart_id", "slug", "title", "kind", "parts", "conflict", "review", "staging_hash", "production_hash"] {
        assert!(item.get(key).is_some(), "item lacks {key}: {item}");
    }
    for key in ["status", "reviewer", "at", "comment", "stale"] {
        assert!(item["review"].get(key).is_some(), "review lacks {key}: {item}");
    }
    let total = page["total"].as_i64().unwrap();
    let (_, new_only) =
        s.get("/api/v1/branches/feature-energy-update/diffs?kind=new&per_page=500", Some(&s.viewer)).await;
    let news = new_only["items"].as_array().unwrap();
    assert!(!news.is_empty() && news.iter().all(|i| i["kind"] == "new" && i["production_hash"].is_null()));
    assert!((news.len() as i64) < total);
    let (_, conflicts) = s.get("/api/v1/branches/feature-energy-update/diffs?conflict=true", Some(&s.viewer)).await;
    assert!(conflicts["items"].as_array().unwrap().iter().all(|i| i["conflict"] == true));

    // Bad input is a 400 with a JSON error, an unknown branch or chart a 404.
    let (st, body) = s.get("/api/v1/branches/feature-energy-update/diffs?kind=renamed", Some(&s.viewer)).await;
    assert_error(st, &body, StatusCode::BAD_REQUEST, "bad_request");
    let (st, body) = s.get("/api/v1/branches/feature-energy-update/diffs?per_page=501", Some(&s.viewer)).await;
    assert_error(st, &body, StatusCode::BAD_REQUEST, "bad_request");
    let (st, body) = s.get("/api/v1/branches/feature-energy-update/diffs?page=first", Some(&s.viewer)).await;
    assert_error(st, &body, StatusCode::BAD_REQUEST, "bad_request");
    let (st, body) = s.get("/api/v1/branches/nope/diffs", Some(&s.viewer)).await;
    assert_error(st, &body, StatusCode::NOT_FOUND, "not_found");
    let (st, body) = s.get("/api/v1/nothing-here", Some(&s.viewer)).await;
    assert_error(st, &body, StatusCode::NOT_FOUND, "not_found");

    // One item in detail.
    let id = item["chart_id"].as_str().unwrap();
    let (st, detail) = s.get(&format!("/api/v1/branches/feature-energy-update/diffs/{id}"), Some(&s.viewer)).await;
    assert_eq!(st, StatusCode::OK, "{detail}");
    assert_eq!(detail["chart_id"], id);
    for key in ["config_diff", "data_diff", "metadata_diff"] {
        assert!(detail.get(key).is_some(), "{key}");
    }
    let (st, body) = s.get("/api/v1/branches/feature-energy-update/diffs/chart-99999", Some(&s.viewer)).await;
    assert_error(st, &body, StatusCode::NOT_FOUND, "not_found");

    // Rescan answers when done, with the scan time.
    let (st, report) = s.post("/api/v1/branches/feature-energy-update/rescan", Some(&s.viewer), json!({})).await;
    assert_eq!(st, StatusCode::OK, "{report}");
    assert_eq!(report["staging"]["read"], 0, "nothing moved since the demo's scan");
    assert_eq!(report["items"].as_i64(), Some(total));
    assert!(report["scanned_at"].is_string() && report["duration_ms"].is_u64());

    // Registration: 201, 409 when it exists, 422 for a store that is not there, 400/422 for bad bodies.
    let store = format!("sqlite://{}/staging/feature-energy-update.db", s.dir.path().display());
    let (st, body) =
        s.post("/api/v1/branches", Some(&s.lead), json!({"branch": "feature/energy-update", "store_url": store})).await;
    assert_error(st, &body, StatusCode::CONFLICT, "conflict");
    let copy = s.dir.path().join("copy.db");
    std::fs::copy(s.dir.path().join("production.db"), &copy).unwrap();
    let (st, body) = s
        .post(
            "/api/v1/branches",
            Some(&s.lead),
            json!({"branch": "Release/2025 Q1", "store_url": format!("sqlite://{}", copy.display())}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{body}");
    assert_eq!(body["name"], "Release-2025-Q1");
    assert_eq!(body["counts"]["total"], 0);
    let (st, body) = s
        .post(
            "/api/v1/branches",
            Some(&s.lead),
            json!({"branch": "feature/ghost", "store_url": "sqlite:///nowhere/ghost.db"}),
        )
        .await;
    assert_error(st, &body, StatusCode::UNPROCESSABLE_ENTITY, "unprocessable");
    assert!(body["error"]["message"].as_str().unwrap().contains("ghost.db"), "{body}");
    let (st, body) = s.post("/api/v1/branches", Some(&s.lead), json!({"store_url": "sqlite://x.db"})).await;
    assert_error(st, &body, StatusCode::BAD_REQUEST, "bad_request");
    assert!(body["error"]["message"].as_str().unwrap().contains("`branch`"), "names the missing field: {body}");
    let big = "x".repeat(100_000);
    let (st, body) =
        s.post("/api/v1/branches", Some(&s.lead), json!({"branch": big, "store_url": "sqlite://x.db"})).await;
    assert_error(st, &body, StatusCode::PAYLOAD_TOO_LARGE, "too_large");

    // The CLI sees what the API registered.
    let listed = run(s.dir.path(), &["branch", "list"]);
    assert!(listed.contains("Release-2025-Q1") && listed.contains("feature-energy-update"), "{listed}");
}

/// Creates a user with a password through the CLI (`--password-stdin`).
pub fn user_with_password(dir: &std::path::Path, email: &str, role: &str, password: &str) {
    use std::io::Write;
    let mut child = chartgate(dir)
        .args(["users", "add", email, "--role", role, "--password-stdin"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(format!("{password}\n").as_bytes()).unwrap();
    assert!(child.wait().unwrap().success());
}

/// A browser-like client: no redirects followed, so tests see every answer.
fn browser() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

/// Signs in through the form endpoint and returns the session cookie (`name=value`).
pub async fn sign_in(s: &TestServer, email: &str, password: &str) -> Option<String> {
    let resp = browser()
        .post(format!("{}/auth/login", s.base))
        .header("Origin", &s.base)
        .form(&[("email", email), ("password", password), ("next", "/branches")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let cookie = resp.headers().get("set-cookie")?.to_str().unwrap().to_string();
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"), "{cookie}");
    Some(cookie.split(';').next().unwrap().to_string())
}

async fn page(s: &TestServer, cookie: &str, path: &str) -> (StatusCode, String) {
    let r = browser().get(format!("{}{path}", s.base)).header("Cookie", cookie).send().await.unwrap();
    (r.status(), r.text().await.unwrap())
}

#[tokio::test]
async fn pages_render_on_the_server_and_escape_chart_content() {
    let s = spawn_server();
    user_with_password(s.dir.path(), "lena@example.org", "lead", "correct horse battery");
    let cookie = sign_in(&s, "lena@example.org", "correct horse battery").await.expect("signed in");

    let (st, home) = page(&s, &cookie, "/").await;
    assert_eq!(st, StatusCode::OK);
    assert!(home.contains("data-testid=\"branch-row\"") && home.contains("feature-energy-update"));
    assert!(home.contains("lena@example.org"), "the header names the user");

    let (st, list) = page(&s, &cookie, "/branches/feature-energy-update?kind=new").await;
    assert_eq!(st, StatusCode::OK);
    assert!(list.contains(">NEW<") && !list.contains(">MODIFIED<"), "only new items are listed");
    assert!(list.contains("data-testid=\"decide-approved\""), "a lead sees the review controls");

    // Chart 5's title is markup; it must arrive as text, never as a tag.
    let (st, found) = page(&s, &cookie, "/branches/feature-energy-update?q=claims").await;
    assert_eq!(st, StatusCode::OK);
    assert!(found.contains("&lt;script&gt;alert("), "the title shows as text: {found}");
    assert!(!found.contains("<script>alert("), "chart content was rendered as HTML");
    let (st, detail) = page(&s, &cookie, "/branches/feature-energy-update/charts/chart-00005").await;
    assert_eq!(st, StatusCode::OK);
    assert!(detail.contains("&lt;script&gt;alert(") && !detail.contains("<script>alert("));
    assert!(!detail.contains("<em>emphasis</em>"), "subtitle markup stays text");
    assert!(detail.contains("data-testid=\"chart-svg\""), "charts are drawn on the server");
}

#[tokio::test]
async fn sign_in_sessions_and_csrf() {
    let s = spawn_server();
    user_with_password(s.dir.path(), "vera@example.org", "viewer", "viewer password");
    user_with_password(s.dir.path(), "rex@example.org", "reviewer", "reviewer password");

    // Anonymous page views go to the sign-in page; anonymous server functions get a 401.
    let r = browser().get(format!("{}/branches/feature-energy-update", s.base)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()["location"], "/login?next=%2Fbranches%2Ffeature-energy-update");
    let (st, login) = page(&s, "", "/login?error=invalid").await;
    assert_eq!(st, StatusCode::OK);
    assert!(login.contains("Wrong email or password"));

    // A wrong password: back to the form with an error, no cookie.
    let resp = browser()
        .post(format!("{}/auth/login", s.base))
        .header("Origin", &s.base)
        .form(&[("email", "vera@example.org"), ("password", "not it")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert!(resp.headers()["location"].to_str().unwrap().starts_with("/login?error=invalid"));
    assert!(resp.headers().get("set-cookie").is_none());

    // A sign-in form posted from another site is refused.
    let resp = browser()
        .post(format!("{}/auth/login", s.base))
        .header("Origin", "http://evil.example")
        .form(&[("email", "vera@example.org"), ("password", "viewer password")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);

    // A viewer's session reads pages and the API, but cannot decide.
    let viewer = sign_in(&s, "vera@example.org", "viewer password").await.unwrap();
    let (st, list) = page(&s, &viewer, "/branches/feature-energy-update").await;
    assert_eq!(st, StatusCode::OK);
    assert!(!list.contains("data-testid=\"decide-approved\""), "no controls for a viewer");
    let api = browser().get(format!("{}/api/v1/branches", s.base)).header("Cookie", &viewer).send().await.unwrap();
    assert_eq!(api.status(), StatusCode::OK, "the browser session works on the API");
    let (_, items) =
        s.get("/api/v1/branches/feature-energy-update/diffs?conflict=false&per_page=1", Some(&s.viewer)).await;
    let item = &items["items"][0];
    let id = item["chart_id"].as_str().unwrap().to_string();
    let decide = |cookie: String, origin: Option<String>| {
        let url = format!("{}/api/v1/branches/feature-energy-update/diffs/{id}/review", s.base);
        let body = json!({"status": "approved", "staging_hash": item["staging_hash"], "production_hash": item["production_hash"]});
        async move {
            let mut req = browser().post(url).header("Cookie", cookie).json(&body);
            if let Some(o) = origin {
                req = req.header("Origin", o);
            }
            req.send().await.unwrap().status()
        }
    };
    assert_eq!(decide(viewer.clone(), Some(s.base.clone())).await, StatusCode::FORBIDDEN, "viewer cannot approve");

    // A reviewer's cookie without an Origin (a cross-site form or script) is refused; with it, it works.
    let reviewer = sign_in(&s, "rex@example.org", "reviewer password").await.unwrap();
    assert_eq!(decide(reviewer.clone(), None).await, StatusCode::FORBIDDEN, "CSRF-less POST refused");
    assert_eq!(decide(reviewer.clone(), Some("http://evil.example".into())).await, StatusCode::FORBIDDEN);
    assert_eq!(decide(reviewer.clone(), Some(s.base.clone())).await, StatusCode::OK);

    // The plain-form fallback: decides and redirects back with a notice.
    let form = browser()
        .post(format!("{}/branches/feature-energy-update/charts/{id}/review", s.base))
        .header("Cookie", &reviewer)
        .header("Origin", &s.base)
        .form(&[
            ("status", "rejected"),
            ("staging_hash", item["staging_hash"].as_str().unwrap_or("")),
            ("production_hash", item["production_hash"].as_str().unwrap_or("")),
            ("comment", "labels are wrong"),
            ("next", "/branches/feature-energy-update"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(form.status(), StatusCode::SEE_OTHER);
    assert_eq!(form.headers()["location"], "/branches/feature-energy-update?notice=rejected");
    let (_, after) = s.get(&format!("/api/v1/branches/feature-energy-update/diffs/{id}"), Some(&s.viewer)).await;
    assert_eq!(after["review"]["status"], "rejected");
    assert_eq!(after["review"]["comment"], "labels are wrong");

    // Signing out ends the session; an expired session is no session.
    let out = browser()
        .post(format!("{}/auth/logout", s.base))
        .header("Cookie", &reviewer)
        .header("Origin", &s.base)
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), StatusCode::SEE_OTHER);
    assert!(out.headers()["set-cookie"].to_str().unwrap().contains("Max-Age=0"));
    let (st, _) = page(&s, &reviewer, "/branches/feature-energy-update").await;
    assert_eq!(st, StatusCode::SEE_OTHER, "a signed-out cookie is no longer a session");
    let db = chartgate::db::connect(&format!("sqlite://{}/chartgate.db", s.dir.path().display()), false, false, 1)
        .await
        .unwrap();
    sqlx::query("update sessions set expires_at = '2000-01-01T00:00:00Z'").execute(&db).await.unwrap();
    let (st, _) = page(&s, &viewer, "/branches/feature-energy-update").await;
    assert_eq!(st, StatusCode::SEE_OTHER, "an expired session is refused");

    // Wrong passwords in a row from one address are throttled: 429 with Retry-After (the wait
    // grows with each; signin.rs has the rest, the owner elsewhere included).
    let throttled = async {
        for _ in 0..20 {
            let r = browser()
                .post(format!("{}/auth/login", s.base))
                .header("Origin", &s.base)
                .form(&[("email", "rex@example.org"), ("password", "wrong")])
                .send()
                .await
                .unwrap();
            if r.status() == StatusCode::TOO_MANY_REQUESTS {
                return r.headers().get("retry-after").cloned();
            }
            assert_eq!(r.status(), StatusCode::SEE_OTHER);
        }
        panic!("20 wrong passwords in a row and none throttled");
    };
    assert!(throttled.await.is_some(), "rate-limited, with Retry-After");
}

#[tokio::test]
async fn reviews_gate_and_audit_over_http() {
    let s = spawn_server();
    let reviewer = token_for(s.dir.path(), "rita@example.org", "reviewer");
    let (_, page) =
        s.get("/api/v1/branches/feature-energy-update/diffs?per_page=500&conflict=false", Some(&s.viewer)).await;
    let items: Vec<Value> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["conflict"] == false && i["error"].is_null())
        .cloned()
        .collect();
    let first = &items[0];
    let id = first["chart_id"].as_str().unwrap();
    let body = json!({"status": "approved", "staging_hash": first["staging_hash"], "production_hash": first["production_hash"], "comment": "ok"});
    let path = format!("/api/v1/branches/feature-energy-update/diffs/{id}/review");

    let (st, err) = s.post(&path, None, body.clone()).await;
    assert_error(st, &err, StatusCode::UNAUTHORIZED, "unauthorized");
    let (st, err) = s.post(&path, Some(&s.viewer), body.clone()).await;
    assert_error(st, &err, StatusCode::FORBIDDEN, "forbidden");
    let (st, err) = s.post(&path, Some(&reviewer), json!({"status": "maybe"})).await;
    assert_error(st, &err, StatusCode::UNPROCESSABLE_ENTITY, "unprocessable");
    let (st, done) = s.post(&path, Some(&reviewer), body.clone()).await;
    assert_eq!(st, StatusCode::OK, "{done}");
    assert_eq!(done["review"]["status"], "approved");
    assert_eq!(done["review"]["reviewer"], "rita@example.org");

    let old =
        json!({"status": "rejected", "staging_hash": "0".repeat(64), "production_hash": first["production_hash"]});
    let (st, err) = s.post(&path, Some(&reviewer), old).await;
    assert_error(st, &err, StatusCode::CONFLICT, "conflict");
    assert_eq!(err["error"]["detail"]["staging_hash"], first["staging_hash"], "the 409 names the current hashes");

    // Bulk: the rest, with the conflicts refused by reason.
    let (_, all) = s.get("/api/v1/branches/feature-energy-update/diffs?per_page=500", Some(&s.viewer)).await;
    let ids: Vec<Value> = all["items"].as_array().unwrap().iter().map(|i| i["chart_id"].clone()).collect();
    let (st, bulk) = s
        .post(
            "/api/v1/branches/feature-energy-update/reviews/bulk",
            Some(&reviewer),
            json!({"status": "approved", "chart_ids": ids}),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{bulk}");
    let refused = bulk["refused"].as_array().unwrap();
    assert!(
        !refused.is_empty() && refused.iter().all(|r| r["reason"].as_str().unwrap().contains("conflict")),
        "{bulk}"
    );

    let (st, gate) = s.get("/api/v1/branches/feature-energy-update/gate", Some(&s.viewer)).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(gate["pass"], false);
    assert_eq!(gate["pending"].as_i64(), Some(refused.len() as i64), "{gate}");
    for key in ["pass", "pending", "rejected", "stale", "conflicts"] {
        assert!(gate.get(key).is_some(), "gate lacks {key}");
    }

    // The audit trail: leads only, filters, CSV.
    let (st, err) = s.get("/api/v1/audit", Some(&reviewer)).await;
    assert_error(st, &err, StatusCode::FORBIDDEN, "forbidden");
    let (st, events) = s.get(&format!("/api/v1/audit?chart_id={id}&actor=rita@example.org"), Some(&s.lead)).await;
    assert_eq!(st, StatusCode::OK, "{events}");
    let actions: Vec<&str> =
        events["events"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["review.approve", "review.approve"], "the single decision, then the bulk's; {events}");
    let (st, err) = s.get("/api/v1/audit?since=yesterday", Some(&s.lead)).await;
    assert_error(st, &err, StatusCode::BAD_REQUEST, "bad_request");
    let (_, registrations) = s.get("/api/v1/audit?action=branch&since=2000-01-01", Some(&s.lead)).await;
    assert!(registrations["total"].as_i64().unwrap() >= 2);

    let csv = reqwest::Client::new()
        .get(format!("{}/api/v1/audit?branch=feature/energy-update&action=review", s.base))
        .bearer_auth(&s.lead)
        .header("Accept", "text/csv")
        .send()
        .await
        .unwrap();
    assert_eq!(csv.status(), StatusCode::OK);
    assert!(csv.headers()["content-type"].to_str().unwrap().starts_with("text/csv"));
    let text = csv.text().await.unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("id,at,actor,action,branch,chart_id,staging_hash,production_hash,detail"));
    let rows: Vec<&str> = lines.collect();
    let decided = bulk["decided"].as_array().unwrap().len();
    assert_eq!(rows.len(), 1 + decided + 1, "one approve, one per bulk decision, and the bulk action");
    assert!(rows.iter().any(|r| r.contains(id) && r.contains("review.approve") && r.contains("rita@example.org")));
}

#[tokio::test]
async fn trusted_proxy_and_the_jobs_pages() {
    let s = spawn_server_with(&[
        ("CHARTGATE_TRUSTED_PROXY_HEADER", "X-Forwarded-Email"),
        ("CHARTGATE_TRUSTED_PROXIES", "127.0.0.1"),
    ]);
    let as_proxy = |path: String, email: &'static str| {
        let url = format!("{}{path}", s.base);
        async move {
            let r = browser().get(url).header("X-Forwarded-Email", email).send().await.unwrap();
            (r.status(), r.text().await.unwrap())
        }
    };
    // The proxy's header signs a known user in; an unknown one is nobody.
    let (st, home) = as_proxy("/".into(), "lead@example.org").await;
    assert_eq!(st, StatusCode::OK);
    assert!(home.contains("lead@example.org · lead"), "the header names the proxied user");
    let (st, _) = as_proxy("/".into(), "stranger@example.org").await;
    assert_eq!(st, StatusCode::SEE_OTHER);

    // A sync of everything approvable, then its pages.
    let (_, all) = s.get("/api/v1/branches/feature-energy-update/diffs?per_page=500", Some(&s.lead)).await;
    let ids: Vec<Value> = all["items"].as_array().unwrap().iter().map(|i| i["chart_id"].clone()).collect();
    let (st, _) = s
        .post(
            "/api/v1/branches/feature-energy-update/reviews/bulk",
            Some(&s.lead),
            json!({"status": "approved", "chart_ids": ids}),
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    let (st, accepted) = s.post("/api/v1/sync", Some(&s.lead), json!({"branch": "feature/energy-update"})).await;
    assert_eq!(st, StatusCode::ACCEPTED, "{accepted}");
    let id = accepted["job_id"].as_i64().unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let job = loop {
        let (_, job) = s.get(&format!("/api/v1/sync/jobs/{id}"), Some(&s.viewer)).await;
        if matches!(job["status"].as_str(), Some("succeeded" | "partial" | "failed")) {
            break job;
        }
        assert!(std::time::Instant::now() < deadline, "the job did not finish: {job}");
        tokio::time::sleep(Duration::from_millis(100)).await; // polling interval, not synchronisation
    };
    assert_eq!(job["status"], "partial", "conflicts were not approved in bulk: {job}");

    let (st, list) = as_proxy("/jobs".into(), "viewer@example.org").await;
    assert_eq!(st, StatusCode::OK);
    assert!(list.contains("data-testid=\"job-row\"") && list.contains(&format!("#{id}")));
    let (st, page) = as_proxy(format!("/jobs/{id}"), "lead@example.org").await;
    assert_eq!(st, StatusCode::OK);
    assert!(page.contains("data-testid=\"job-status\"") && page.contains(">partial<"), "{page}");
    let total = job["total"].as_i64().unwrap();
    assert!(page.contains(&format!("{total} of {total} items")), "progress is shown");
    assert!(page.contains("skipped: ") && page.contains("data-testid=\"rerun\""), "counts and the re-run button");
    let (_, viewer_page) = as_proxy(format!("/jobs/{id}"), "viewer@example.org").await;
    assert!(!viewer_page.contains("data-testid=\"rerun\""), "only leads may re-run");

    // Through the proxy too, a cross-site POST is refused.
    let forged = browser()
        .post(format!("{}/jobs/{id}/rerun", s.base))
        .header("X-Forwarded-Email", "lead@example.org")
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);

    // Re-run: a new job, and the browser lands on it.
    let rerun = browser()
        .post(format!("{}/jobs/{id}/rerun", s.base))
        .header("X-Forwarded-Email", "lead@example.org")
        .header("Origin", &s.base)
        .send()
        .await
        .unwrap();
    assert_eq!(rerun.status(), StatusCode::SEE_OTHER);
    let location = rerun.headers()["location"].to_str().unwrap().to_string();
    let new_id: i64 = location.trim_start_matches("/jobs/").parse().unwrap();
    assert!(new_id > id, "{location}");
}
