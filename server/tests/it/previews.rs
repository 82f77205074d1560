//! Live previews (design §13) through the real binary: preview templates are web links only
//! (issue 22, finding 8: a `javascript:` template was stored and rendered as a link), and a
//! chart's page frames the two live renderings only when asked, its Content-Security-Policy
//! naming exactly their origins.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::api::{chartgate, sign_in, spawn_server_with, user_with_password};

const PRODUCTION: &str = "http://127.0.0.1:9/prod/{slug}";
const STAGING: &str = "https://staging-{branch}.example.org/g/{slug}";

/// The `frame-src` sources of a policy, `None` when it has no such directive.
fn frame_sources(policy: &str) -> Option<Vec<String>> {
    let directive = policy.split(';').map(str::trim).find(|d| d.starts_with("frame-src "))?;
    Some(directive.split_whitespace().skip(1).map(str::to_string).collect())
}

#[tokio::test]
async fn a_chart_page_frames_the_live_renderings_from_exactly_their_origins() {
    let s = spawn_server_with(&[
        ("CHARTGATE_PRODUCTION_PREVIEW_URL", PRODUCTION),
        ("CHARTGATE_STAGING_PREVIEW_URL", STAGING),
    ]);
    user_with_password(s.dir.path(), "ana@example.org", "viewer", "a long password");
    let cookie = sign_in(&s, "ana@example.org", "a long password").await.expect("signed in");
    let (st, page) =
        s.get("/api/v1/branches/feature-energy-update/diffs?kind=modified&per_page=1", Some(&s.viewer)).await;
    assert_eq!(st, StatusCode::OK, "{page}");
    let item: &Value = &page["items"][0];
    let (id, slug) = (item["chart_id"].as_str().unwrap(), item["slug"].as_str().unwrap());
    let (st, detail) = s.get(&format!("/api/v1/branches/feature-energy-update/diffs/{id}"), Some(&s.viewer)).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(detail["production_preview_url"], json!(format!("http://127.0.0.1:9/prod/{slug}")));
    assert_eq!(
        detail["staging_preview_url"],
        json!(format!("https://staging-feature-energy-update.example.org/g/{slug}"))
    );
    assert_eq!(
        detail["preview_origins"],
        json!(["https://staging-feature-energy-update.example.org", "http://127.0.0.1:9"])
    );

    let client = reqwest::Client::new();
    let get = |path: String| {
        let (client, cookie, base) = (client.clone(), cookie.clone(), s.base.clone());
        async move {
            let r = client.get(format!("{base}{path}")).header("Cookie", cookie).send().await.unwrap();
            let policy = r.headers()["content-security-policy"].to_str().unwrap().to_string();
            (r.status(), policy, r.text().await.unwrap())
        }
    };
    let chart_page = format!("/branches/feature-energy-update/charts/{id}");
    let (st, policy, html) = get(chart_page.clone()).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(frame_sources(&policy), None, "no frame is allowed until asked for: {policy}");
    assert!(!html.contains("<iframe"), "no frame until asked for");
    assert!(html.contains(&format!("href=\"{chart_page}?live=1#live\"")), "a plain link asks for them");

    let (st, policy, html) = get(format!("{chart_page}?live=1")).await;
    assert_eq!(st, StatusCode::OK);
    let mut sources = frame_sources(&policy).expect("a frame-src");
    sources.sort();
    assert_eq!(sources, ["http://127.0.0.1:9", "https://staging-feature-energy-update.example.org"], "{policy}");
    assert_eq!(html.matches("<iframe").count(), 2, "production and staging side by side");
    assert!(html.contains(&format!("src=\"http://127.0.0.1:9/prod/{slug}\"")));
    assert!(policy.contains("frame-ancestors 'none'") && policy.contains("script-src 'self' 'nonce-"), "{policy}");
}

#[tokio::test]
async fn preview_templates_must_be_web_links() {
    let s = spawn_server_with(&[]);
    for bad in [
        "javascript:alert(document.cookie)//{slug}",
        "data:text/html,<script>x</script>",
        "https://{slug}.example.org/",
    ] {
        let (st, body) = s
            .post("/api/v1/branches", Some(&s.lead), json!({"branch": "feature/p", "fork": true, "preview_url": bad}))
            .await;
        assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {body}");
        assert!(body["error"]["message"].as_str().unwrap().contains("preview URL"), "{body}");
    }
    let (st, body) = s
        .post(
            "/api/v1/branches",
            Some(&s.lead),
            json!({"branch": "feature/p", "fork": true, "preview_url": "https://staging.example.org/g/{slug}"}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{body}");

    // In the configuration: the server does not start, and says which setting.
    for (key, value) in [
        ("CHARTGATE_STAGING_PREVIEW_URL", "javascript:alert(1)"),
        ("CHARTGATE_PRODUCTION_PREVIEW_URL", "ftp://site/{slug}"),
    ] {
        let out = chartgate(s.dir.path()).args(["branch", "list"]).env(key, value).output().unwrap();
        let said = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && said.contains("preview URL") && said.contains("http"), "{key}: {said}");
    }
}
