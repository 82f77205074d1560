//! Names derived from other names: a branch's environment name (design §1) and preview links.
//! A leaf: everything may use it, it uses nothing of Chartgate's.

/// The environment name of a branch: every character that is not an ASCII letter or digit
/// becomes `-`, cut to `max` characters. An environment name maps to itself, so every API that
/// takes a branch accepts either.
pub fn env_name(branch: &str, max: usize) -> String {
    branch.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '-' }).take(max).collect()
}

/// Characters a slug keeps in a preview link; everything else is percent-encoded, so a slug
/// cannot end the path (`?`, `#`) or climb it (`/`).
const SLUG_KEEPS: &percent_encoding::AsciiSet =
    &percent_encoding::NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');

/// Checks a preview template (design §13): an absolute `http` or `https` URL without user
/// credentials, `{slug}` only after the host (a chart's slug is staging's data: it must not pick
/// the site a frame loads). `{branch}` may name the host: environment names are letters, digits
/// and dashes. A `javascript:` or `data:` template would be a script in the reviewer's page.
pub fn check_preview_template(template: &str) -> Result<(), String> {
    let filled = template.replace("{branch}", "branch").replace("{slug}", "slug");
    let url = url::Url::parse(&filled).map_err(|e| format!("preview URL {template:?} is not a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("preview URL {template:?} must start with http:// or https://"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(format!("preview URL {template:?} names no host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(format!("preview URL {template:?} must not carry a user name or password"));
    }
    let authority_end = template
        .find("://")
        .map(|i| i + 3)
        .and_then(|start| template[start..].find(['/', '?', '#']).map(|end| start + end).or(Some(template.len())));
    if authority_end.is_some_and(|end| template[..end].contains("{slug}")) {
        return Err(format!("preview URL {template:?}: {{slug}} may appear only after the host"));
    }
    Ok(())
}

/// A preview link from a template with `{branch}` and `{slug}`; `None` without a template or when
/// the link would not be an http(s) URL (a template stored before templates were checked).
pub fn preview(template: Option<&str>, branch: &str, slug: &str) -> Option<String> {
    let template = template?;
    check_preview_template(template).ok()?;
    let slug = percent_encoding::utf8_percent_encode(slug, SLUG_KEEPS).to_string();
    let branch = percent_encoding::utf8_percent_encode(branch, SLUG_KEEPS).to_string();
    Some(template.replace("{branch}", &branch).replace("{slug}", &slug))
}

/// The origin of a preview link as a Content-Security-Policy source (`https://host[:port]`).
pub fn preview_origin(link: &str) -> Option<String> {
    let url = url::Url::parse(link).ok()?;
    matches!(url.scheme(), "http" | "https").then(|| url.origin().ascii_serialization())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_names_follow_the_design() {
        assert_eq!(env_name("feature/123", 50), "feature-123");
        assert_eq!(env_name("fix/ünïcode branch!", 50), "fix--n-code-branch-");
        assert_eq!(env_name(&"a".repeat(80), 50).len(), 50);
        assert_eq!(env_name("feature/abc", 7), "feature");
        assert_eq!(env_name("feature-123", 50), "feature-123", "an environment name maps to itself");
    }

    #[test]
    fn previews_fill_both_slots() {
        assert_eq!(
            preview(Some("http://staging-site-{branch}/grapher/{slug}"), "feature-1", "gdp").as_deref(),
            Some("http://staging-site-feature-1/grapher/gdp")
        );
        assert_eq!(preview(None, "b", "s"), None);
    }

    #[test]
    fn preview_templates_must_be_web_links_whose_host_a_slug_cannot_pick() {
        for good in
            ["https://site/grapher/{slug}", "http://staging-{branch}.site:8080/g/{slug}?x=1", "http://127.0.0.1:5/"]
        {
            assert_eq!(check_preview_template(good), Ok(()), "{good}");
        }
        for (bad, says) in [
            ("javascript:alert(1)//{slug}", "http"),
            ("data:text/html,<script>", "http"),
            ("ftp://site/{slug}", "http"),
            ("/grapher/{slug}", "not a URL"),
            ("https://user:pw@site/{slug}", "user name"),
            ("https://{slug}.site/", "after the host"),
        ] {
            let err = check_preview_template(bad).unwrap_err();
            assert!(err.contains(says), "{bad}: {err}");
        }
        assert_eq!(preview(Some("javascript:alert(1)//{slug}"), "b", "s"), None, "a stored bad template links nowhere");
    }

    #[test]
    fn a_slug_stays_in_its_path_segment() {
        assert_eq!(
            preview(Some("https://site/g/{slug}"), "b", "a/../b?c#d").as_deref(),
            Some("https://site/g/a%2F..%2Fb%3Fc%23d")
        );
        assert_eq!(preview_origin("https://site:443/g/x").as_deref(), Some("https://site"));
        assert_eq!(preview_origin("http://127.0.0.1:8123/g/x").as_deref(), Some("http://127.0.0.1:8123"));
        assert_eq!(preview_origin("javascript:alert(1)"), None);
    }
}
