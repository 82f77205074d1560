//! Sign-in and who may speak for a user (issue "Attacked again", findings 1, 2, 4, 7 and 10),
//! each through the real `chartgate` binary or the real router, as an attacker would try it:
//! a burst of sign-ins for invented emails, a stranger guessing a lead's password, a cross-site
//! form riding a cookie beside a proxy's `Authorization`, the proxy's header from anyone or
//! twice, control characters in a form's path, a password change, and a disabled user.

use std::io::Write;
use std::net::SocketAddr;
use std::process::{Child, Stdio};

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{header, Request};
use leptos::server_fn::ServerFn;
use reqwest::StatusCode;
use serde_json::{json, Value};
use tower::ServiceExt;

use crate::api::{chartgate, serve_in, spawn_server, user_with_password, TestServer};
use crate::on_both;
use crate::support::TestEnv;

/// `chartgate serve` on a fresh database without demo data (`database_url` from `env` when
/// given there), stopped when dropped.
struct Bare {
    base: String,
    dir: tempfile::TempDir,
    env: Vec<(String, String)>,
    child: Child,
}

impl Drop for Bare {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Bare {
    fn start(env: &[(&str, &str)]) -> Bare {
        let dir = tempfile::tempdir().unwrap();
        let (child, base) = serve_in(dir.path(), env);
        let env = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Bare { base, dir, env, child }
    }

    /// Runs a CLI command on the server's database; its stdout, or panics with its stderr.
    fn cli(&self, args: &[&str], stdin: Option<&str>) -> String {
        let mut child = chartgate(self.dir.path())
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut input = child.stdin.take().unwrap();
        input.write_all(stdin.unwrap_or_default().as_bytes()).unwrap();
        drop(input);
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "chartgate {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    }

    fn user(&self, email: &str, role: &str, password: &str) {
        self.cli(&["users", "add", email, "--role", role, "--password-stdin"], Some(&format!("{password}\n")));
    }
}

fn browser() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

/// Posts the sign-in form (this server's Origin, as a browser would) with extra headers.
async fn sign_in(base: &str, email: &str, password: &str, headers: &[(&str, &str)]) -> reqwest::Response {
    let mut req = browser().post(format!("{base}/auth/login")).header("origin", base).form(&[
        ("email", email),
        ("password", password),
        ("next", "/jobs"),
    ]);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    req.send().await.unwrap()
}

/// The session cookie (`name=value`) a sign-in set, if it let the user in.
fn cookie_of(r: &reqwest::Response) -> Option<String> {
    let location = r.headers().get("location")?.to_str().ok()?;
    if r.status() != StatusCode::SEE_OTHER || location.starts_with("/login") {
        return None;
    }
    Some(r.headers().get("set-cookie")?.to_str().ok()?.split(';').next()?.to_string())
}

fn retry_after(r: &reqwest::Response) -> Option<u64> {
    r.headers().get("retry-after")?.to_str().ok()?.parse().ok()
}

/// The most guesses a test makes before it expects to be throttled: the allowance refills with
/// time (one more a second at first), so how many pass depends on how long each check takes
/// (argon2 in a debug build: about half a second); a wait of about 4 s is reached by the eighth
/// guess in a row, even at 2 s per check.
const GUESSES: usize = 20;

/// Wrong guesses at `email`'s password (with `headers(i)` on the i-th) until one is answered 429;
/// that answer and how many were checked (303) before it. Panics if none is throttled.
async fn guess_until_throttled(
    base: &str,
    email: &str,
    headers: impl Fn(usize) -> Vec<(&'static str, String)>,
) -> (usize, reqwest::Response) {
    for i in 0..GUESSES {
        let extra = headers(i);
        let extra: Vec<(&str, &str)> = extra.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let r = sign_in(base, email, "a wrong guess", &extra).await;
        match r.status() {
            StatusCode::TOO_MANY_REQUESTS => return (i, r),
            StatusCode::SEE_OTHER => {}
            other => panic!("guess {i} answered {other}"),
        }
    }
    panic!("{GUESSES} wrong guesses in a row at {email} and none was throttled");
}

/// Who a page says is signed in: `Some(email)` when `/jobs` renders for a user, `None` when it
/// sends the caller to sign in.
async fn signed_in_as(base: &str, headers: &[(&str, &str)]) -> (StatusCode, Option<String>) {
    let mut req = browser().get(format!("{base}/jobs"));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let r = req.send().await.unwrap();
    let status = r.status();
    let page = r.text().await.unwrap();
    // The header's `<span … data-testid="current-user">EMAIL · ROLE</span>`.
    let who = page
        .split("data-testid=\"current-user\"")
        .nth(1)
        .and_then(|rest| rest.split('>').nth(1))
        .and_then(|text| text.split(" · ").next());
    (status, who.filter(|_| status == StatusCode::OK).map(str::to_string))
}

/// Finding 1: argon2 (~19 MiB each) ran once per sign-in, all at once; 96 sign-ins for invented
/// emails grew the server by ~1 GB. Now at most one hash per core runs; a sign-in that finds
/// every slot busy (here it may not wait at all) is answered 429 with `Retry-After` instead of
/// hashing beside the others. Red before: every one of the burst was hashed and answered 303.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_sign_ins_is_hashed_a_few_at_a_time_and_the_rest_told_to_retry() {
    let s = Bare::start(&[("CHARTGATE_SIGN_IN_WAIT", "0s")]);
    s.user("owner@example.org", "lead", "the owner's password");

    let burst = (0..24).map(|i| {
        let base = s.base.clone();
        async move { sign_in(&base, &format!("invented{i}@example.org"), "a guess", &[]).await }
    });
    let answers = futures::future::join_all(burst).await;
    let (mut hashed, mut refused) = (0, 0);
    for r in &answers {
        match r.status() {
            StatusCode::SEE_OTHER => {
                assert!(r.headers()["location"].to_str().unwrap().starts_with("/login?error=invalid"));
                hashed += 1;
            }
            StatusCode::TOO_MANY_REQUESTS => {
                assert!(retry_after(r).is_some_and(|s| s >= 1), "429 says when to come back: {:?}", r.headers());
                refused += 1;
            }
            other => panic!("a sign-in of the burst answered {other}"),
        }
    }
    assert!(refused > 0, "no sign-in of 24 at once was told to wait: {hashed} were hashed side by side");
    assert!(hashed > 0, "some of the burst were checked");
    // The slots are free again: the owner signs in at once.
    let r = sign_in(&s.base, "owner@example.org", "the owner's password", &[]).await;
    assert!(cookie_of(&r).is_some(), "the owner signs in after the burst: {:?}", r.headers());
}

/// Finding 2: five wrong passwords locked an email for 15 minutes, whoever sent them, so a
/// stranger could keep a lead out for good. Now attempts are throttled per (client address,
/// account): the stranger is told to wait (429, `Retry-After`), the owner from their own address
/// signs in. Red before: the stranger got the lock (303 `error=locked`) and so did the owner.
async fn a_strangers_guesses_never_lock_the_owner_out(env: &TestEnv) {
    let (state, _) = env.state().await;
    let op = chartgate::access::Actor::operator("test");
    chartgate::accounts::add_user(&state.db, &op, "lead@example.org", app::types::Role::Lead, Some("the right one"))
        .await
        .unwrap();
    let router = chartgate::http::router(chartgate::http::WebState::new(state.clone()));
    let attempt = |from: [u8; 4], password: &str| {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("email", "lead@example.org")
            .append_pair("password", password)
            .append_pair("next", "/jobs")
            .finish();
        let mut req = Request::post("/auth/login")
            .header(header::HOST, "chartgate.test")
            .header(header::ORIGIN, "http://chartgate.test")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(body))
            .unwrap();
        // What `serve` gives every request: the peer's address.
        req.extensions_mut().insert(ConnectInfo(SocketAddr::from((from, 40_000))));
        router.clone().oneshot(req)
    };
    let stranger = [203, 0, 113, 9];
    let mut answers = Vec::new();
    for _ in 0..GUESSES {
        let r = attempt(stranger, "a wrong guess").await.unwrap();
        answers.push((r.status().as_u16(), r.headers().get(header::LOCATION).cloned()));
        if r.status().as_u16() == 429 {
            let retry = r.headers().get(header::RETRY_AFTER).expect("Retry-After").to_str().unwrap();
            assert!(retry.parse::<u64>().unwrap() >= 1, "{retry}");
            break;
        }
    }
    assert_eq!(answers.last().unwrap().0, 429, "the stranger is throttled: {answers:?}");
    assert!(answers.len() > 5, "five guesses at once are checked: {answers:?}");
    assert!(
        answers[..answers.len() - 1]
            .iter()
            .all(|(s, l)| *s == 303 && l.as_ref().unwrap() == "/login?error=invalid&next=%2Fjobs"),
        "each checked guess is told it was wrong, none that it is locked: {answers:?}"
    );
    let owner = attempt([198, 51, 100, 7], "the right one").await.unwrap();
    assert_eq!(owner.status().as_u16(), 303);
    assert_eq!(owner.headers()[header::LOCATION], "/jobs", "the owner, from their own address, is let in");
    assert!(owner.headers().get(header::SET_COOKIE).is_some());
}

on_both!(a_strangers_guesses_never_lock_the_owner_out);

/// Finding 7: the trusted-proxy header signed in whoever it named, from any peer; sent twice,
/// the first value won. Now only a peer in `trusted_proxies` may use it, twice is a 400, and
/// only a trusted proxy's `X-Forwarded-For` says which client sign-in throttling counts. Red
/// before: a peer outside the list was signed in as the lead (and a doubled header too).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_proxy_header_counts_only_from_trusted_proxies_and_only_once() {
    let header = ("CHARTGATE_TRUSTED_PROXY_HEADER", "X-Forwarded-Email");
    // The proxy is elsewhere: this test's requests (from 127.0.0.1) are not the proxy's.
    let elsewhere = Bare::start(&[header, ("CHARTGATE_TRUSTED_PROXIES", "192.0.2.10, 198.51.100.0/24")]);
    elsewhere.user("lead@example.org", "lead", "the lead's password");
    let (status, who) = signed_in_as(&elsewhere.base, &[("X-Forwarded-Email", "lead@example.org")]).await;
    assert_eq!((status, who), (StatusCode::SEE_OTHER, None), "a stranger's header signs nobody in");
    // Nor does a stranger's X-Forwarded-For make each guess look like a new client: guesses
    // each "from" another address are throttled as one.
    let (checked, throttled) = guess_until_throttled(&elsewhere.base, "lead@example.org", |i| {
        vec![("x-forwarded-for", format!("203.0.113.{i}"))]
    })
    .await;
    assert!(checked >= 5 && retry_after(&throttled).is_some());

    // The proxy is this test's own address.
    let proxied = Bare::start(&[header, ("CHARTGATE_TRUSTED_PROXIES", "127.0.0.1")]);
    proxied.user("lead@example.org", "lead", "the lead's password");
    proxied.user("vera@example.org", "viewer", "the viewer's password");
    let (status, who) = signed_in_as(&proxied.base, &[("X-Forwarded-Email", "lead@example.org")]).await;
    assert_eq!((status, who.as_deref()), (StatusCode::OK, Some("lead@example.org")), "the proxy's word is taken");
    let doubled = browser()
        .get(format!("{}/jobs", proxied.base))
        .header("X-Forwarded-Email", "vera@example.org")
        .header("X-Forwarded-Email", "lead@example.org")
        .send()
        .await
        .unwrap();
    assert_eq!(doubled.status(), StatusCode::BAD_REQUEST, "two values are refused, not picked from");
    // Behind the proxy, the client is the address it forwards: a stranger's guesses from one
    // address do not slow the owner down at another.
    guess_until_throttled(&proxied.base, "vera@example.org", |_| vec![("x-forwarded-for", "203.0.113.7".into())]).await;
    let owner =
        sign_in(&proxied.base, "vera@example.org", "the viewer's password", &[("X-Forwarded-For", "198.51.100.4")])
            .await;
    assert!(cookie_of(&owner).is_some(), "the owner signs in from their own address");
}

/// The URL of a server function.
fn server_fn<F: ServerFn>() -> &'static str {
    F::PATH
}

/// Finding 4: a server function skipped the Origin check whenever any `Authorization` header came
/// along, yet still took the session cookie — behind a proxy that adds Basic credentials, a
/// cross-site form could record a decision; and server functions took `text/plain` and form
/// bodies, which a cross-site form sends without asking. Now a cookie always needs this
/// server's Origin, and server functions take JSON only (415 otherwise). Red before: the forged
/// decision was recorded (200), and both the `text/plain` and the form body were taken.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cookie_needs_the_origin_whatever_else_comes_and_server_functions_take_json_only() {
    let s: TestServer = spawn_server();
    user_with_password(s.dir.path(), "rita@example.org", "reviewer", "the reviewer's password");
    let cookie = cookie_of(&sign_in(&s.base, "rita@example.org", "the reviewer's password", &[]).await).unwrap();
    let branch = "feature-energy-update";
    let (_, list) = s.get(&format!("/api/v1/branches/{branch}/diffs?per_page=500"), Some(&s.lead)).await;
    let item = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["conflict"] == false && i["error"].is_null() && i["review"]["status"] == "pending")
        .expect("a pending item")
        .clone();
    let chart_id = item["chart_id"].as_str().unwrap().to_string();
    let decision = json!({
        "branch": branch,
        "chart_id": chart_id,
        "review": {"status": "approved", "staging_hash": item["staging_hash"], "production_hash": item["production_hash"]},
    })
    .to_string();
    let review = format!("{}{}", s.base, server_fn::<app::api::ReviewItem>());
    let status_now = || async {
        let (_, detail) = s.get(&format!("/api/v1/branches/{branch}/diffs/{chart_id}"), Some(&s.lead)).await;
        detail["review"]["status"].as_str().unwrap_or_default().to_string()
    };

    // A cross-site form through a proxy that adds Basic credentials: refused, nothing recorded.
    let forged = browser()
        .post(&review)
        .header("cookie", &cookie)
        .header("authorization", "Basic cHJveHk6c2VjcmV0")
        .header("origin", "http://evil.example")
        .header("content-type", "application/json")
        .body(decision.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    // The same JSON as text/plain (what a cross-site form can send), even from this origin: 415.
    let plain = browser()
        .post(&review)
        .header("cookie", &cookie)
        .header("origin", &s.base)
        .header("content-type", "text/plain")
        .body(decision.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(plain.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(status_now().await, "pending", "neither call recorded a decision");
    // A form body to any server function: 415 too.
    let form = browser()
        .post(format!("{}{}", s.base, server_fn::<app::api::ListBranches>()))
        .header("cookie", &cookie)
        .header("origin", &s.base)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("")
        .send()
        .await
        .unwrap();
    assert_eq!(form.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);

    // The page's own call — JSON, this origin, the cookie — still decides.
    let own = browser()
        .post(&review)
        .header("cookie", &cookie)
        .header("origin", &s.base)
        .header("content-type", "application/json")
        .body(decision)
        .send()
        .await
        .unwrap();
    assert_eq!(own.status(), StatusCode::OK, "{}", own.text().await.unwrap());
    assert_eq!(status_now().await, "approved");
    // A script with only its bearer token needs no Origin.
    let script = browser()
        .post(format!("{}/api/v1/branches/{branch}/rescan", s.base))
        .bearer_auth(&s.lead)
        .header("origin", "http://elsewhere.example")
        .send()
        .await
        .unwrap();
    assert_eq!(script.status(), StatusCode::OK);
    // A script's token with a browser's cookie beside it (an HTTP client that keeps cookies) acts
    // as the token's user; the cookie's user is dropped, so a server function — which acts for
    // the browser's user — gets nobody, even if something put a valid token on a forged request.
    let with_cookie = browser()
        .post(format!("{}/api/v1/branches/{branch}/rescan", s.base))
        .bearer_auth(&s.lead)
        .header("cookie", &cookie)
        .header("origin", "http://elsewhere.example")
        .send()
        .await
        .unwrap();
    assert_eq!(with_cookie.status(), StatusCode::OK);
    let reset = json!({
        "branch": branch,
        "chart_id": chart_id,
        "review": {"status": "pending", "staging_hash": item["staging_hash"], "production_hash": item["production_hash"]},
    });
    let riding = browser()
        .post(&review)
        .bearer_auth(&s.lead)
        .header("cookie", &cookie)
        .header("origin", "http://evil.example")
        .header("content-type", "application/json")
        .body(reset.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(riding.status(), StatusCode::UNAUTHORIZED, "{}", riding.text().await.unwrap());
    assert_eq!(status_now().await, "approved", "nothing recorded for the cookie's user");
}

/// Finding 10, first part: a control character in a form's path (`%0a`, `%00`) ended in a 500 —
/// the redirect back to the page was not a valid header. Now a 400 with the API's error body.
/// Red before: 500.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_characters_in_a_form_path_are_refused_with_a_4xx() {
    let s = Bare::start(&[]);
    s.user("rita@example.org", "reviewer", "the reviewer's password");
    let cookie = cookie_of(&sign_in(&s.base, "rita@example.org", "the reviewer's password", &[]).await).unwrap();
    for path in [
        "/branches/a%0ab/charts/x/review",
        "/branches/a/charts/x%00y/review",
        "/branches/a%0d%0aSet-Cookie:%20x=1/charts/x/merge",
        "/branches/a/groups/g%0a/review",
        "/branches/a%0a/upgrade/apply",
        "/branches/a%00/upgrades/1/undo",
    ] {
        let r = browser()
            .post(format!("{}{path}", s.base))
            .header("cookie", &cookie)
            .header("origin", &s.base)
            .form(&[("status", "approved"), ("seen", "[]")])
            .send()
            .await
            .unwrap();
        let status = r.status();
        let body: Value = r.json().await.unwrap_or(Value::Null);
        assert!(status.is_client_error(), "{path}: {status} {body}");
        assert_eq!(body["error"]["code"], "bad_request", "{path}: {body}");
    }
}

/// Finding 10, second part: a new password left every session of the user alive (a demo re-run
/// printed new passwords, yet whoever had signed in with the old one stayed in). Now setting a
/// password — `chartgate users set-password`, or the demo's reset — ends the user's sessions.
/// Red before: the demo's old session still opened pages (and `users set-password` did not
/// exist).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_password_ends_the_users_sessions() {
    let s = spawn_server();
    // The demo's second run (spawn_server made the first) prints the passwords in force.
    let passwords = |out: &str| -> Vec<(String, String)> {
        out.lines()
            .filter_map(|l| {
                let mut words = l.split_whitespace();
                let (_, email) = (words.next()?, words.next()?);
                let password = l.split("password: ").nth(1)?;
                Some((email.to_string(), password.trim().to_string()))
            })
            .collect()
    };
    let demo = passwords(&crate::api::run(s.dir.path(), &["demo", "--charts", "60"]));
    let (email, password) = demo.first().expect("the demo prints its accounts").clone();
    let session = cookie_of(&sign_in(&s.base, &email, &password, &[]).await).expect("the demo's password works");
    assert!(signed_in_as(&s.base, &[("cookie", &session)]).await.1.is_some());
    crate::api::run(s.dir.path(), &["demo", "--charts", "60"]);
    assert_eq!(signed_in_as(&s.base, &[("cookie", &session)]).await.1, None, "the demo's reset ended the session");

    user_with_password(s.dir.path(), "ana@example.org", "reviewer", "the first password");
    let one = cookie_of(&sign_in(&s.base, "ana@example.org", "the first password", &[]).await).unwrap();
    let two = cookie_of(&sign_in(&s.base, "ana@example.org", "the first password", &[]).await).unwrap();
    let mut set = chartgate(s.dir.path())
        .args(["users", "set-password", "ana@example.org"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    set.stdin.take().unwrap().write_all(b"the second password\n").unwrap();
    assert!(set.wait().unwrap().success(), "chartgate users set-password");
    for session in [&one, &two] {
        assert_eq!(signed_in_as(&s.base, &[("cookie", session)]).await.1, None, "every session ended");
    }
    let old = sign_in(&s.base, "ana@example.org", "the first password", &[]).await;
    assert!(cookie_of(&old).is_none(), "the old password is refused");
    let new = sign_in(&s.base, "ana@example.org", "the second password", &[]).await;
    assert!(cookie_of(&new).is_some(), "the new one works");
}

/// Finding 10, third part: a user could be neither disabled nor removed. Now `chartgate users
/// disable EMAIL` stops their sessions and API tokens at the next request and refuses their
/// sign-in; `enable` lets them back. Red before: there was no such command.
async fn a_disabled_users_sessions_and_tokens_stop_at_once(env: &TestEnv) {
    let database = env.database("chartgate").await;
    let s = Bare::start(&[("CHARTGATE_DATABASE_URL", &database)]);
    s.user("dan@example.org", "reviewer", "dan's password");
    let token = s.cli(&["tokens", "create", "dan@example.org"], None).lines().last().unwrap().trim().to_string();
    let cookie = cookie_of(&sign_in(&s.base, "dan@example.org", "dan's password", &[]).await).unwrap();
    let api = |token: String| {
        let url = format!("{}/api/v1/branches", s.base);
        async move { browser().get(url).bearer_auth(token).send().await.unwrap().status() }
    };
    assert_eq!(api(token.clone()).await, StatusCode::OK);
    assert_eq!(signed_in_as(&s.base, &[("cookie", &cookie)]).await.1.as_deref(), Some("dan@example.org"));

    // Disabled while the server runs: the very next requests are refused.
    s.cli(&["users", "disable", "dan@example.org"], None);
    assert_eq!(api(token.clone()).await, StatusCode::UNAUTHORIZED, "the token stops");
    assert_eq!(signed_in_as(&s.base, &[("cookie", &cookie)]).await.1, None, "the session stops");
    let refused = sign_in(&s.base, "dan@example.org", "dan's password", &[]).await;
    assert!(cookie_of(&refused).is_none(), "a disabled user cannot sign in");

    s.cli(&["users", "enable", "dan@example.org"], None);
    assert_eq!(api(token).await, StatusCode::OK, "enabled: the token works again");
    let back = sign_in(&s.base, "dan@example.org", "dan's password", &[]).await;
    assert!(cookie_of(&back).is_some(), "and the user signs in");
}

on_both!(a_disabled_users_sessions_and_tokens_stop_at_once);
