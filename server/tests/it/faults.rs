//! Cut off: Chartgate's own database goes away while the server is serving and a sync is half
//! done, then comes back; a production row is held locked by another writer while a sync wants
//! it. Nothing is lost, nothing is written twice or half-written, and the server says what is
//! wrong while it is wrong.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use app::sync::{JobStatus, SyncOutcome, SyncTrigger};
use app::types::{ReviewRequest, ReviewStatus, Role};
use chartgate::access::Actor;
use chartgate::charts::canonicalize;
use chartgate::sync::{self, NewJob, Worker, WorkerOptions};
use chartgate::{accounts, diffs, reviews};
use serde_json::{json, Value};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

use crate::engine::scenario;
use crate::on_both;
use crate::support::{Kind, TestEnv};

const DEADLINE: Duration = Duration::from_secs(120);

/// A TCP proxy a test can cut and restore, so Chartgate's database "goes away" without stopping
/// the PostgreSQL server other tests share. Cut: every open connection is dropped and new ones
/// are closed at once (as a stopped server's port would).
struct Proxy {
    addr: SocketAddr,
    open: Arc<AtomicBool>,
    links: Arc<Mutex<Vec<JoinHandle<()>>>>,
    accept: JoinHandle<()>,
}

impl Proxy {
    async fn start(upstream: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let open = Arc::new(AtomicBool::new(true));
        let links: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let accept = {
            let (open, links) = (open.clone(), links.clone());
            tokio::spawn(async move {
                loop {
                    let Ok((mut client, _)) = listener.accept().await else { return };
                    if !open.load(Ordering::SeqCst) {
                        drop(client);
                        continue;
                    }
                    let link = tokio::spawn(async move {
                        if let Ok(mut server) = TcpStream::connect(upstream).await {
                            let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                        }
                    });
                    links.lock().unwrap().push(link);
                }
            })
        };
        Proxy { addr, open, links, accept }
    }

    fn cut(&self) {
        self.open.store(false, Ordering::SeqCst);
        for link in self.links.lock().unwrap().drain(..) {
            link.abort();
        }
    }

    fn restore(&self) {
        self.open.store(true, Ordering::SeqCst);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.cut();
        self.accept.abort();
    }
}

async fn get(base: &str, path: &str, token: &str) -> (reqwest::StatusCode, Value) {
    let resp = reqwest::Client::new().get(format!("{base}{path}")).bearer_auth(token).send().await.unwrap();
    let status = resp.status();
    (status, resp.json().await.unwrap_or(Value::Null))
}

async fn post(base: &str, path: &str, token: &str, body: Value) -> (reqwest::StatusCode, Value) {
    let resp =
        reqwest::Client::new().post(format!("{base}{path}")).bearer_auth(token).json(&body).send().await.unwrap();
    let status = resp.status();
    (status, resp.json().await.unwrap_or(Value::Null))
}

/// Stops the server however the test ends.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `chartgate serve` with its log kept (stderr, errors only) for the test to read.
fn serve_logging(dir: &std::path::Path, env: &[(&str, &str)]) -> (std::process::Child, String, Arc<Mutex<String>>) {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;
    let mut child = crate::api::chartgate(dir)
        .arg("serve")
        .env("CHARTGATE_LISTEN", "127.0.0.1:0")
        .env("RUST_LOG", "error")
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let log: Arc<Mutex<String>> = Arc::default();
    let stderr = child.stderr.take().unwrap();
    let sink = log.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let mut log = sink.lock().unwrap();
            log.push_str(&line);
            log.push('\n');
        }
    });
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
    (child, base, log)
}

/// Polls `check` until it returns `Some`, failing after the deadline with `what`.
async fn until<T, F: std::future::Future<Output = Option<T>>>(what: &str, mut check: impl FnMut() -> F) -> T {
    let started = Instant::now();
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(started.elapsed() < DEADLINE, "gave up waiting: {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn writes(job: &Value) -> Vec<String> {
    job["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| matches!(i["outcome"].as_str(), Some("created" | "updated" | "deleted")))
        .map(|i| i["chart_id"].as_str().unwrap().to_string())
        .collect()
}

/// A pooled PostgreSQL connection that died while idle (its server restarted, an operator ended
/// it) is replaced before anyone is handed it: a connection idle for longer than the pool's ping
/// window is pinged first. (Busy connections are not pinged; the idle wait below is the
/// condition under test, not a synchronisation.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL: run with -- --include-ignored (scripts/test.sh does when one answers)"]
async fn idle_connections_that_died_are_replaced_unseen() {
    let env = TestEnv::new(Kind::Postgres).await;
    let url = env.database("pooled").await;
    let pool = chartgate::db::connect(&url, false, true, 4).await.unwrap();
    let mut open = Vec::new();
    for _ in 0..4 {
        open.push(pool.acquire().await.unwrap());
    }
    drop(open);
    let admin = chartgate::db::connect(&url, false, false, 1).await.unwrap();
    let ended: Vec<bool> = sqlx::query_scalar(
        "select pg_terminate_backend(pid) from pg_stat_activity where datname = current_database()
         and pid <> pg_backend_pid()",
    )
    .fetch_all(&admin)
    .await
    .unwrap();
    assert_eq!(ended, [true; 4], "the pool's four connections were ended");
    tokio::time::sleep(Duration::from_millis(600)).await;
    for i in 0..4 {
        let one: i32 =
            sqlx::query_scalar("select 1").fetch_one(&pool).await.unwrap_or_else(|e| panic!("query {i}: {e}"));
        assert_eq!(one, 1);
    }
    pool.close().await;
    admin.close().await;
    env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL: run with -- --include-ignored (scripts/test.sh does when one answers)"]
async fn chartgates_database_cut_off_mid_sync_loses_nothing() {
    let env = TestEnv::new(Kind::Postgres).await;
    let direct = env.database("cutoff").await;
    let upstream = url::Url::parse(&direct).unwrap();
    let upstream_addr: SocketAddr =
        format!("{}:{}", upstream.host_str().unwrap(), upstream.port().unwrap_or(5432)).parse().unwrap();
    let proxy = Proxy::start(upstream_addr).await;
    let mut proxied = upstream.clone();
    proxied.set_port(Some(proxy.addr.port())).unwrap();
    let proxied = proxied.to_string();

    let dir = tempfile::tempdir().unwrap();
    let with_db = |args: &[&str]| {
        let out = crate::api::chartgate(dir.path())
            .env("CHARTGATE_DATABASE_URL", &proxied)
            .args(args)
            .output()
            .expect("run chartgate");
        assert!(out.status.success(), "chartgate {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    };
    with_db(&["demo", "--charts", "120"]);
    with_db(&["users", "add", "lead@example.org", "--role", "lead"]);
    let lead = with_db(&["tokens", "create", "lead@example.org"]).lines().last().unwrap().trim().to_string();
    let env_vars = [
        ("CHARTGATE_DATABASE_URL", proxied.as_str()),
        ("CHARTGATE_SYNC_STALE_AFTER", "2s"),
        (chartgate::sync::ITEM_DELAY_VAR, "150"),
    ];
    let (child, base, log) = serve_logging(dir.path(), &env_vars);
    let _server = KillOnDrop(child);

    let branch = "feature-energy-update";
    let (_, page) = get(&base, &format!("/api/v1/branches/{branch}/diffs?per_page=500"), &lead).await;
    let ids: Vec<Value> = page["items"].as_array().unwrap().iter().map(|i| i["chart_id"].clone()).collect();
    let (status, bulk) = post(
        &base,
        &format!("/api/v1/branches/{branch}/reviews/bulk"),
        &lead,
        json!({"status": "approved", "chart_ids": ids}),
    )
    .await;
    assert_eq!(status, reqwest::StatusCode::OK, "{bulk}");
    let approved: Vec<String> =
        bulk["decided"].as_array().unwrap().iter().map(|d| d["chart_id"].as_str().unwrap().to_string()).collect();
    assert!(approved.len() >= 8, "enough work to cut in the middle of: {approved:?}");
    let (status, accepted) = post(&base, "/api/v1/sync", &lead, json!({"branch": branch})).await;
    assert_eq!(status, reqwest::StatusCode::ACCEPTED, "{accepted}");
    let job_path = format!("/api/v1/sync/jobs/{}", accepted["job_id"]);

    // Cut Chartgate's database once a few charts are written.
    until("the sync writes its first charts", || async {
        let (_, job) = get(&base, &job_path, &lead).await;
        (job.is_object() && writes(&job).len() >= 2).then_some(())
    })
    .await;
    proxy.cut();
    // The worker meets the outage when it records an item's outcome (production, a SQLite file
    // here, is still writable): it leaves the job to be resumed.
    until("the sync worker meets the outage", || async {
        log.lock().unwrap().contains("sync job interrupted").then_some(())
    })
    .await;

    // While it is away: readiness says so, and the API answers 503 in words, not a 500.
    until("/readyz reports the database unreachable", || async {
        let (status, body) = get(&base, "/readyz", &lead).await;
        (status == reqwest::StatusCode::SERVICE_UNAVAILABLE && body["database"] == "unreachable").then_some(())
    })
    .await;
    let (status, body) = get(&base, "/api/v1/branches", &lead).await;
    assert_eq!(status, reqwest::StatusCode::SERVICE_UNAVAILABLE, "{body}");
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("database cannot be reached"), "{body}");

    // Back: the interrupted job is resumed and finishes; every approved chart is written once.
    proxy.restore();
    let job = until("the sync job finishes after the database is back", || async {
        let (status, job) = get(&base, &job_path, &lead).await;
        (status == reqwest::StatusCode::OK && matches!(job["status"].as_str(), Some("succeeded" | "partial")))
            .then_some(job)
    })
    .await;
    let written = writes(&job);
    let mut unique = written.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), written.len(), "no chart written twice: {written:?}");
    let outcome =
        |id: &str| job["items"].as_array().unwrap().iter().find(|i| i["chart_id"] == id).map(|i| i["outcome"].clone());
    for id in &approved {
        assert!(
            written.contains(id) || outcome(id) == Some(json!("unchanged")),
            "approved chart {id} was applied: {:?}",
            outcome(id)
        );
    }
    assert!(job["attempts"].as_i64().unwrap() >= 2, "the job was resumed: {job}");

    // Every written chart holds exactly its approved version: nothing half-written.
    let production =
        chartgate::charts::ChartStore::open(&format!("sqlite://{}/production.db", dir.path().display()), false)
            .await
            .unwrap();
    for item in
        job["items"].as_array().unwrap().iter().filter(|i| i["outcome"] == "updated" || i["outcome"] == "created")
    {
        let row = production.get(item["chart_id"].as_str().unwrap()).await.unwrap().unwrap();
        assert_eq!(Some(canonicalize(&row).unwrap().hash.as_str()), item["version"].as_str(), "{item}");
    }
    let (status, _) = get(&base, "/readyz", &lead).await;
    assert_eq!(status, reqwest::StatusCode::OK);
    env.cleanup().await;
}

/// A production row locked by another writer: the sync's compare-and-swap waits its turn and
/// then writes; nothing is lost or written twice.
async fn a_locked_production_row_waits_its_turn(env: &TestEnv) {
    let (state, production, _) = scenario(env).await;
    let lead =
        accounts::add_user(&state.db, &Actor::operator("t"), "lead@example.org", Role::Lead, None).await.unwrap();
    let item = diffs::item(&state, "feature-x", "cfg").await.unwrap();
    let req = ReviewRequest {
        status: ReviewStatus::Approved,
        staging_hash: item.staging_hash.clone(),
        production_hash: item.production_hash.clone(),
        comment: None,
    };
    reviews::decide(&state, "feature-x", "cfg", &lead, &req).await.unwrap();

    // Another writer holds production (SQLite: the database's write lock; PostgreSQL: the row).
    let locker = chartgate::db::connect(&production.url, false, false, 1).await.unwrap();
    let mut held = match env.kind {
        Kind::Sqlite => locker.begin_with("begin immediate").await.unwrap(),
        _ => locker.begin().await.unwrap(),
    };
    sqlx::query("update charts set updated_at = updated_at where id = 'cfg'").execute(&mut *held).await.unwrap();

    let new = NewJob {
        branch: "feature-x",
        dry_run: false,
        trigger: SyncTrigger::Cli,
        delivery_id: None,
        idempotency_key: None,
    };
    let id = sync::enqueue(&state, &Actor::from(&lead), new).await.unwrap().job_id;
    let worker = Worker::new(state.clone(), WorkerOptions::default());
    let running = tokio::spawn(async move { while worker.run_next().await.unwrap().is_some() {} });
    // The job waits on the lock; release it after a moment (well inside SQLite's busy time-out).
    until("the job reaches the locked row", || async {
        let job = sync::get_job(&state.db, id).await.unwrap();
        (job.status == JobStatus::Running && job.total > 0).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await; // the lock is held on purpose, not to wait for anything
    held.commit().await.unwrap();
    running.await.unwrap();

    let job = sync::get_job(&state.db, id).await.unwrap();
    let cfg = job.items.iter().find(|i| i.chart_id == "cfg").unwrap();
    assert_eq!(cfg.outcome, Some(SyncOutcome::Updated), "{job:?}");
    let row = production.get("cfg").await.unwrap().unwrap();
    assert_eq!(Some(canonicalize(&row).unwrap().hash), cfg.version);
    locker.close().await;
}
on_both!(a_locked_production_row_waits_its_turn);
