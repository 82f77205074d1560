//! Malformed input, fuzz-style: thousands of generated bodies, headers and query strings sent to
//! every route of a real server. Whatever arrives, the server answers without a 5xx, stays up, and
//! writes nothing (the audit trail, the jobs and the branches are the same afterwards).
//!
//! The generator is seeded (`CHARTGATE_FUZZ_SEED` to replay a run; the seed is printed) and
//! builds inputs that are *almost* right — the right keys with wrong types, hashes of the wrong
//! length, unknown enum values, broken percent-encoding, invalid UTF-8 — because that is where
//! parsers give way, not in pure noise.

use std::time::Duration;

use futures::StreamExt;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::api::spawn_server_with;

/// Every route a client can reach, `{b}` a branch, `{c}` a chart, `{j}` a job, `{t}` a token id.
const ROUTES: &[(&str, &str)] = &[
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/api/v1/branches"),
    ("POST", "/api/v1/branches"),
    ("GET", "/api/v1/branches/{b}"),
    ("POST", "/api/v1/branches/{b}/rescan"),
    ("GET", "/api/v1/targets"),
    ("GET", "/api/v1/branches/{b}/diffs"),
    ("GET", "/api/v1/branches/{b}/diffs/{c}"),
    ("POST", "/api/v1/branches/{b}/diffs/{c}/review"),
    ("POST", "/api/v1/branches/{b}/reviews/bulk"),
    ("GET", "/api/v1/branches/{b}/gate"),
    ("GET", "/api/v1/charts/{c}/history"),
    ("GET", "/api/v1/audit"),
    ("POST", "/api/v1/hooks/github"),
    ("POST", "/api/v1/sync"),
    ("GET", "/api/v1/sync/jobs"),
    ("GET", "/api/v1/sync/jobs/{j}"),
    ("GET", "/api/v1/tokens"),
    ("DELETE", "/api/v1/tokens/{t}"),
    ("POST", "/auth/login"),
    ("POST", "/auth/logout"),
    ("POST", "/branches/{b}/charts/{c}/review"),
    ("POST", "/jobs/{j}/rerun"),
    ("GET", "/"),
    ("GET", "/login"),
    ("GET", "/audit"),
    ("GET", "/jobs"),
    ("GET", "/jobs/{j}"),
    ("GET", "/versions/{c}"),
    ("GET", "/branches/{b}"),
    ("GET", "/branches/{b}/charts/{c}"),
];

const REQUESTS: usize = 10_000;

/// Strings that break naive code: separators, traversal, encodings, overlong and control text.
const NASTY: &[&str] = &[
    "",
    " ",
    "..",
    "../../etc/passwd",
    "%",
    "%zz",
    "%00",
    "%C0%AE",
    "\u{0}",
    "\u{202e}gnp.exe",
    "'; drop table branches; --",
    "\" or 1=1 --",
    "%_\\",
    "<script>alert(1)</script>",
    "null",
    "NaN",
    "-1",
    "18446744073709551616",
    "1e309",
    "approve",
    "Pending ",
    "leader",
    "0000000000000000000000000000000000000000000000000000000000000000",
    "😀",
    "a\r\nX-Injected: 1",
];

struct Gen {
    rng: StdRng,
    branch: String,
}

impl Gen {
    /// A nasty string a client can put in a header (HTTP forbids control characters there).
    fn header(&mut self) -> String {
        self.nasty().chars().filter(|c| c.is_ascii() && !c.is_ascii_control()).collect()
    }

    fn nasty(&mut self) -> String {
        let pick = NASTY[self.rng.gen_range(0..NASTY.len())];
        match self.rng.gen_range(0..4) {
            0 => pick.repeat(self.rng.gen_range(1..200)),
            1 => format!("{}{pick}", self.branch), // almost a real name
            _ => pick.to_string(),
        }
    }

    fn scalar(&mut self) -> Value {
        match self.rng.gen_range(0..7) {
            0 => Value::Null,
            1 => json!(self.rng.gen::<bool>()),
            2 => json!(self.rng.gen::<i64>()),
            3 => json!(self.rng.gen::<f64>() * 1e300),
            4 => json!([self.nasty()]),
            5 => json!({ self.nasty(): self.nasty() }),
            _ => json!(self.nasty()),
        }
    }

    /// A JSON body with the keys Chartgate's routes read, each with a value of any type.
    fn json_body(&mut self) -> Value {
        const KEYS: &[&str] = &[
            "branch",
            "store_url",
            "preview_url",
            "target",
            "status",
            "staging_hash",
            "production_hash",
            "comment",
            "chart_ids",
            "dry_run",
            "action",
            "pull_request",
            "ref",
            "release",
        ];
        let mut body = serde_json::Map::new();
        for _ in 0..self.rng.gen_range(0..6) {
            let key = KEYS[self.rng.gen_range(0..KEYS.len())];
            let value = self.scalar();
            body.insert(key.to_string(), value);
        }
        match self.rng.gen_range(0..10) {
            0 => json!([body]),
            1 => {
                let mut deep = Value::Object(body);
                for _ in 0..self.rng.gen_range(1..200) {
                    deep = json!({ "x": deep });
                }
                deep
            }
            _ => Value::Object(body),
        }
    }

    fn body(&mut self) -> (Option<&'static str>, Vec<u8>) {
        match self.rng.gen_range(0..8) {
            0 => (None, Vec::new()),
            1 => (Some("application/json"), b"{\"branch\": ".to_vec()),
            2 => (Some("application/json"), vec![0xff, 0xfe, b'{', 0x80]),
            3 => {
                let form = url::form_urlencoded::Serializer::new(String::new())
                    .append_pair("email", &self.nasty())
                    .append_pair("password", &self.nasty())
                    .append_pair("next", &self.nasty())
                    .append_pair("status", &self.nasty())
                    .append_pair("staging_hash", &self.nasty())
                    .append_pair("csrf", &self.nasty())
                    .finish();
                (Some("application/x-www-form-urlencoded"), form.into_bytes())
            }
            4 => (Some("application/x-www-form-urlencoded"), b"a=%zz&&=&b=%".to_vec()),
            5 => (
                Some(["text/plain", "application/xml", "multipart/form-data"][self.rng.gen_range(0..3)]),
                self.nasty().into_bytes(),
            ),
            _ => (Some("application/json"), serde_json::to_vec(&self.json_body()).unwrap()),
        }
    }

    fn query(&mut self) -> String {
        const KEYS: &[&str] = &[
            "status", "kind", "q", "page", "per_page", "sort", "conflict", "branch", "actor", "since", "until",
            "chart_id", "next", "upgrade", "target",
        ];
        let mut parts = Vec::new();
        for _ in 0..self.rng.gen_range(0..5) {
            let key = KEYS[self.rng.gen_range(0..KEYS.len())];
            let value = self.nasty();
            if self.rng.gen_bool(0.2) {
                parts.push(format!("{key}={value}")); // raw, possibly broken encoding
            } else {
                parts.push(format!(
                    "{key}={}",
                    url::form_urlencoded::byte_serialize(value.as_bytes()).collect::<String>()
                ));
            }
        }
        if parts.is_empty() {
            String::new()
        } else {
            format!("?{}", parts.join("&"))
        }
    }

    fn segment(&mut self, valid: &str) -> String {
        if self.rng.gen_bool(0.5) {
            valid.to_string()
        } else {
            url::form_urlencoded::byte_serialize(self.nasty().as_bytes()).collect::<String>().replace('+', "%20")
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_malformed_requests_no_5xx_nothing_written() {
    let s = spawn_server_with(&[("CHARTGATE_HOOK_SECRET", "s3cret")]);
    let seed =
        std::env::var("CHARTGATE_FUZZ_SEED").ok().and_then(|v| v.parse().ok()).unwrap_or_else(rand::random::<u64>);
    println!("malformed-input seed: {seed} (CHARTGATE_FUZZ_SEED={seed} replays this run)");

    let branch = "feature-energy-update".to_string();
    let (_, diffs) = s.get(&format!("/api/v1/branches/{branch}/diffs"), Some(&s.lead)).await;
    let chart = diffs["items"][0]["chart_id"].as_str().expect("a demo item").to_string();

    let written = |s: &crate::api::TestServer| {
        let (lead, base) = (s.lead.clone(), s.base.clone());
        async move {
            let client = reqwest::Client::new();
            let mut seen = Vec::new();
            for path in ["/api/v1/audit?per_page=1", "/api/v1/sync/jobs", "/api/v1/branches", "/api/v1/tokens"] {
                let body: Value =
                    client.get(format!("{base}{path}")).bearer_auth(&lead).send().await.unwrap().json().await.unwrap();
                // Counts and states only (scan times move with every rescan, which is no write).
                seen.push(match path {
                    "/api/v1/audit?per_page=1" => body["total"].clone(),
                    "/api/v1/branches" => json!(body
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|b| (b["name"].clone(), b["state"].clone(), b["counts"].clone()))
                        .collect::<Vec<_>>()),
                    _ => json!(body.as_array().map(Vec::len).or_else(|| body["jobs"].as_array().map(Vec::len))),
                });
            }
            seen
        }
    };
    let before = written(&s).await;

    let mut gen = Gen { rng: StdRng::seed_from_u64(seed), branch: branch.clone() };
    // A fresh connection per request: many of these requests are answered before their body is
    // read, and the server then closes the connection; a pooled client could send the next
    // request down it in that instant and report "no answer" for a request never served.
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .pool_max_idle_per_host(0)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let mut requests = Vec::with_capacity(REQUESTS);
    for _ in 0..REQUESTS {
        let (method, template) = ROUTES[gen.rng.gen_range(0..ROUTES.len())];
        let method = if gen.rng.gen_bool(0.1) {
            [Method::PUT, Method::PATCH, Method::DELETE, Method::GET, Method::POST][gen.rng.gen_range(0..5)].clone()
        } else {
            method.parse().unwrap()
        };
        let b = gen.segment(&branch);
        let c = gen.segment(&chart);
        let j = gen.segment("1");
        let t = gen.segment("00000000-0000-0000-0000-000000000000");
        let path = template.replace("{b}", &b).replace("{c}", &c).replace("{j}", &j).replace("{t}", &t);
        let url = format!("{}{path}{}", s.base, gen.query());
        let mut req = client.request(method.clone(), &url);
        req = match gen.rng.gen_range(0..6) {
            0 => req,
            1 => req.header("authorization", format!("Bearer {}", gen.header())),
            2 => req.header("authorization", gen.header()),
            3 => req.bearer_auth(&s.viewer),
            _ => req.bearer_auth(&s.lead),
        };
        if gen.rng.gen_bool(0.2) {
            req = req.header("cookie", format!("chartgate_session={}", gen.header()));
        }
        if gen.rng.gen_bool(0.2) {
            req = req.header("origin", gen.header());
        }
        if template.contains("hooks") {
            req = req
                .header("x-github-event", ["pull_request", "release", "ping", ""][gen.rng.gen_range(0..4)])
                .header("x-github-delivery", gen.header())
                .header("x-hub-signature-256", format!("sha256={}", gen.header()));
        }
        if gen.rng.gen_bool(0.05) {
            req = req.header("idempotency-key", gen.header());
        }
        let (content_type, body) = gen.body();
        if let Some(ct) = content_type {
            req = req.header("content-type", ct);
        }
        requests.push((method, path, req.body(body)));
    }

    let results: Vec<(Method, String, Result<StatusCode, String>)> = futures::stream::iter(requests)
        .map(|(method, path, req)| async move {
            let status = req.send().await.map(|r| r.status()).map_err(|e| error_chain(&e));
            (method, path, status)
        })
        .buffer_unordered(8)
        .collect()
        .await;

    let mut by_class = std::collections::BTreeMap::<u16, usize>::new();
    let mut failures = Vec::new();
    for (method, path, status) in &results {
        match status {
            Ok(st) => {
                *by_class.entry(st.as_u16() / 100 * 100).or_default() += 1;
                if st.is_server_error() {
                    failures.push(format!("{method} {path} -> {st}"));
                }
            }
            Err(e) => failures.push(format!("{method} {path} -> no answer: {e}")),
        }
    }
    println!("malformed input: {} requests, answers by class {by_class:?}", results.len());
    assert_eq!(results.len(), REQUESTS);
    failures.truncate(20);
    assert!(failures.is_empty(), "seed {seed}: 5xx or no answer:\n{}", failures.join("\n"));

    let (status, _) = s.get("/healthz", None).await;
    assert_eq!(status, StatusCode::OK, "the server is alive");
    assert_eq!(written(&s).await, before, "seed {seed}: malformed input wrote something");
}

/// An error with its causes: reqwest's own text says only "error sending request".
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        text.push_str(&format!(": {c}"));
        cause = c.source();
    }
    text
}
