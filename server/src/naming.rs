//! Names derived from other names: a branch's environment name (design §1) and preview links.
//! A leaf: everything may use it, it uses nothing of Chartgate's.

/// The environment name of a branch: every character that is not an ASCII letter or digit
/// becomes `-`, cut to `max` characters. An environment name maps to itself, so every API that
/// takes a branch accepts either.
pub fn env_name(branch: &str, max: usize) -> String {
    branch.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '-' }).take(max).collect()
}

/// A preview link from a template with `{branch}` and `{slug}`.
pub fn preview(template: Option<&str>, branch: &str, slug: &str) -> Option<String> {
    template.map(|t| t.replace("{branch}", branch).replace("{slug}", slug))
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
}
