//! Replicas: two `chartgate serve` processes on one PostgreSQL share the sync queue. A burst of
//! signed merge hooks and manual syncs for four branches, spread over both, runs one job per
//! target at a time and writes every approved chart exactly once; `kill -9` of the replica that
//! runs a job hands that job to the other, which finishes it.

use std::collections::HashMap;
use std::process::Child;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::api::{chartgate, serve_in};
use crate::support::{Kind, TestEnv};

const DEADLINE: Duration = Duration::from_secs(180);
const SECRET: &str = "s3cret";

struct Replica {
    base: String,
    child: Child,
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn cli(dir: &std::path::Path, database: &str, args: &[&str]) -> String {
    let out = chartgate(dir).env("CHARTGATE_DATABASE_URL", database).args(args).output().unwrap();
    assert!(out.status.success(), "chartgate {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

async fn get(base: &str, path: &str, token: &str) -> Value {
    let resp = reqwest::Client::new().get(format!("{base}{path}")).bearer_auth(token).send().await.unwrap();
    assert!(resp.status().is_success(), "{path}: {}", resp.status());
    resp.json().await.unwrap()
}

async fn post(base: &str, path: &str, token: &str, body: Value) -> (reqwest::StatusCode, Value) {
    let resp =
        reqwest::Client::new().post(format!("{base}{path}")).bearer_auth(token).json(&body).send().await.unwrap();
    let status = resp.status();
    (status, resp.json().await.unwrap_or(Value::Null))
}

async fn hook(base: &str, delivery: &str, body: &Value) -> reqwest::StatusCode {
    let body = body.to_string();
    reqwest::Client::new()
        .post(format!("{base}/api/v1/hooks/github"))
        .header("content-type", "application/json")
        .header("x-github-event", "pull_request")
        .header("x-github-delivery", delivery)
        .header("x-hub-signature-256", chartgate::http::api::github::signature(SECRET, body.as_bytes()))
        .body(body)
        .send()
        .await
        .unwrap()
        .status()
}

fn is_write(item: &Value) -> bool {
    matches!(item["outcome"].as_str(), Some("created" | "updated" | "deleted"))
}

fn finished(job: &Value) -> bool {
    matches!(job["status"].as_str(), Some("succeeded" | "partial" | "failed"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL: run with -- --include-ignored (scripts/test.sh does when one answers)"]
async fn two_replicas_share_the_queue_and_finish_each_others_jobs() {
    let env = TestEnv::new(Kind::Postgres).await;
    let database = env.database("chartgate").await;
    let dir = env.dir.path();
    cli(dir, &database, &["demo", "--charts", "240"]);
    cli(dir, &database, &["users", "add", "lead@example.org", "--role", "lead"]);
    let lead =
        cli(dir, &database, &["tokens", "create", "lead@example.org"]).lines().last().unwrap().trim().to_string();
    // Two more branches: copies of the demo's, so the four overlap and a chart approved on two of
    // them must still reach production once.
    let mut branches = vec!["feature/energy-update".to_string(), "fix/population-labels".to_string()];
    for (from, copy) in [("feature-energy-update", "copy/energy"), ("fix-population-labels", "copy/labels")] {
        let file = dir.join(format!("staging/{}.db", copy.replace('/', "-")));
        std::fs::copy(dir.join(format!("staging/{from}.db")), &file).unwrap();
        cli(dir, &database, &["branch", "add", copy, "--store", &format!("sqlite://{}", file.display())]);
        branches.push(copy.to_string());
    }

    let env_vars = [
        ("CHARTGATE_DATABASE_URL", database.as_str()),
        ("CHARTGATE_HOOK_SECRET", SECRET),
        ("CHARTGATE_SYNC_STALE_AFTER", "3s"),
        (chartgate::sync::ITEM_DELAY_VAR, "25"),
    ];
    let spawn = || {
        let (child, base) = serve_in(dir, &env_vars);
        Replica { base, child }
    };
    let mut replicas = vec![spawn(), spawn()];

    // Approve everything the bulk endpoint accepts, on each branch.
    let mut approved: HashMap<String, usize> = HashMap::new();
    for branch in &branches {
        let name = branch.replace('/', "-");
        let page = get(&replicas[0].base, &format!("/api/v1/branches/{name}/diffs?per_page=500"), &lead).await;
        let ids: Vec<Value> = page["items"].as_array().unwrap().iter().map(|i| i["chart_id"].clone()).collect();
        let (status, bulk) = post(
            &replicas[1].base,
            &format!("/api/v1/branches/{name}/reviews/bulk"),
            &lead,
            json!({"status": "approved", "chart_ids": ids}),
        )
        .await;
        assert_eq!(status, reqwest::StatusCode::OK, "{bulk}");
        for d in bulk["decided"].as_array().unwrap() {
            *approved.entry(d["chart_id"].as_str().unwrap().to_string()).or_default() += 1;
        }
    }
    assert!(approved.len() >= 40, "enough work: {}", approved.len());

    // The burst: 20 merge hooks (5 per branch, each its own delivery and body) and a manual sync
    // per branch, alternating between the replicas.
    let mut sends = Vec::new();
    for round in 0..5 {
        for (i, branch) in branches.iter().enumerate() {
            let base = replicas[(round + i) % 2].base.clone();
            let body = json!({
                "action": "closed",
                "pull_request": {"merged": true, "number": 100 + i, "base": {"ref": "main"},
                                 "head": {"ref": branch, "repo": {"full_name": "acme/charts"}}},
                "repository": {"full_name": "acme/charts"},
                "sender": {"login": format!("merger-{round}")}
            });
            let delivery = format!("burst-{round}-{i}");
            sends.push(tokio::spawn(async move { hook(&base, &delivery, &body).await }));
        }
    }
    for (i, branch) in branches.iter().enumerate() {
        let (base, lead, branch) = (replicas[i % 2].base.clone(), lead.clone(), branch.clone());
        sends.push(tokio::spawn(async move { post(&base, "/api/v1/sync", &lead, json!({"branch": branch})).await.0 }));
    }
    for send in sends {
        let status = send.await.unwrap();
        assert!(status.is_success(), "every hook and sync is accepted: {status}");
    }

    // Watch: never two running jobs for one target; once a job runs and has written a little,
    // kill -9 the replica that runs it (its pid is in the job's worker id).
    let started = Instant::now();
    let mut killed: Option<(i64, u32)> = None;
    let mut most_running = 0;
    loop {
        let alive = replicas.last().unwrap().base.clone();
        let jobs = get(&alive, "/api/v1/sync/jobs", &lead).await;
        let jobs = jobs.as_array().cloned().unwrap_or_else(|| jobs["jobs"].as_array().cloned().unwrap_or_default());
        let running: Vec<&Value> = jobs.iter().filter(|j| j["status"] == "running").collect();
        most_running = most_running.max(running.len());
        let mut per_target: HashMap<&str, usize> = HashMap::new();
        for j in &running {
            *per_target.entry(j["target"].as_str().unwrap()).or_default() += 1;
        }
        assert!(per_target.values().all(|&n| n == 1), "two jobs ran at once on one target: {running:?}");

        if killed.is_none() {
            for j in &running {
                let full = get(&alive, &format!("/api/v1/sync/jobs/{}", j["id"]), &lead).await;
                let written = full["items"].as_array().map(|i| i.iter().filter(|x| is_write(x)).count()).unwrap_or(0);
                let Some(pid) =
                    full["worker"].as_str().and_then(|w| w.split(':').nth(1)).and_then(|p| p.parse::<u32>().ok())
                else {
                    continue;
                };
                if written >= 3 {
                    let at =
                        replicas.iter().position(|r| r.child.id() == pid).expect("the worker is one of the replicas");
                    let mut victim = replicas.remove(at);
                    victim.child.kill().unwrap(); // SIGKILL
                    victim.child.wait().unwrap();
                    killed = Some((full["id"].as_i64().unwrap(), pid));
                    break;
                }
            }
        }
        if killed.is_some() && !jobs.is_empty() && jobs.iter().all(finished) {
            break;
        }
        assert!(started.elapsed() < DEADLINE, "the queue did not drain: {jobs:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (killed_job, killed_pid) = killed.expect("a replica was killed mid-job");
    assert_eq!(replicas.len(), 1);
    let survivor = &replicas[0];

    // The killed replica's job was taken over and finished by the survivor.
    let job = get(&survivor.base, &format!("/api/v1/sync/jobs/{killed_job}"), &lead).await;
    assert!(finished(&job) && job["status"] != "failed", "{job}");
    assert!(job["attempts"].as_i64().unwrap() >= 2, "resumed: {job}");
    let worker = job["worker"].as_str().unwrap_or_default();
    assert!(!worker.contains(&format!(":{killed_pid}:")), "finished by the other replica: {worker}");

    // Every approved chart written exactly once across all jobs and both replicas.
    let jobs = get(&survivor.base, "/api/v1/sync/jobs", &lead).await;
    let jobs = jobs.as_array().cloned().unwrap_or_else(|| jobs["jobs"].as_array().cloned().unwrap_or_default());
    let mut writes: HashMap<String, usize> = HashMap::new();
    for j in &jobs {
        assert_ne!(j["status"], "failed", "{j}");
        let full = get(&survivor.base, &format!("/api/v1/sync/jobs/{}", j["id"]), &lead).await;
        for item in full["items"].as_array().unwrap().iter().filter(|i| is_write(i)) {
            *writes.entry(item["chart_id"].as_str().unwrap().to_string()).or_default() += 1;
        }
    }
    let twice: Vec<_> = writes.iter().filter(|(_, &n)| n > 1).collect();
    assert!(twice.is_empty(), "charts written more than once: {twice:?}");
    let missing: Vec<_> = approved.keys().filter(|c| !writes.contains_key(*c)).collect();
    assert!(missing.is_empty(), "approved charts never written: {missing:?}");
    println!(
        "replicas: {} jobs, {} charts written once each, at most {most_running} running at a time, job {killed_job} survived kill -9",
        jobs.len(),
        writes.len()
    );
    drop(replicas);
    env.cleanup().await;
}
