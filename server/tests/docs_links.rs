//! The documentation's links: every relative link and `#anchor` in `README.md`, `docs/**/*.md`
//! and `bench/README.md` resolves to a file or heading inside the repository, and nothing links
//! outside it except `http(s)` URLs (which are not fetched: no test reaches beyond 127.0.0.1).
//!
//! Anchors follow GitHub's rules: the heading's text, lower-cased, punctuation dropped (letters,
//! digits, `-` and `_` stay), spaces turned into `-`, and `-1`, `-2`, … after repeats.

use std::collections::{BTreeSet, HashMap};
use std::fs;
use std::path::{Component, Path, PathBuf};

fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").canonicalize().expect("the repository's root")
}

/// The pages checked: the README, every Markdown file under `docs/`, and the bench's README.
fn pages(root: &Path) -> Vec<PathBuf> {
    let mut pages = vec![root.join("README.md"), root.join("bench/README.md")];
    let mut dirs = vec![root.join("docs")];
    while let Some(dir) = dirs.pop() {
        for entry in fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())).flatten() {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|x| x == "md") {
                pages.push(path);
            }
        }
    }
    pages.sort();
    pages
}

/// The page's lines, `None` inside fenced code blocks (and for their fences).
fn outside_fences(text: &str) -> Vec<Option<&str>> {
    let mut lines = Vec::new();
    let mut fence: Option<String> = None;
    for line in text.lines() {
        let trimmed = line.trim_start();
        let marker: String = trimmed.chars().take_while(|c| *c == '`' || *c == '~').collect();
        if let Some(open) = &fence {
            if marker.len() >= open.len() && marker.starts_with(&open[..1]) && trimmed[marker.len()..].trim().is_empty()
            {
                fence = None;
            }
            lines.push(None);
        } else if marker.len() >= 3 && (marker.chars().all(|c| c == '`') || marker.chars().all(|c| c == '~')) {
            fence = Some(marker);
            lines.push(None);
        } else {
            lines.push(Some(line));
        }
    }
    lines
}

/// The page's lines outside fenced code blocks (empty inside them), inline code blanked out.
fn prose(text: &str) -> Vec<String> {
    outside_fences(text).into_iter().map(|line| line.map(blank_code_spans).unwrap_or_default()).collect()
}

/// Replaces each inline code span (a run of backticks up to the next run of the same length)
/// by spaces, so that code that looks like a link is not read as one.
fn blank_code_spans(line: &str) -> String {
    let chars: Vec<char> = line.chars().collect();
    let mut out = String::with_capacity(line.len());
    let mut i = 0;
    while i < chars.len() {
        if chars[i] != '`' {
            out.push(chars[i]);
            i += 1;
            continue;
        }
        let run = chars[i..].iter().take_while(|c| **c == '`').count();
        let mut j = i + run;
        let mut close = None;
        while j < chars.len() {
            if chars[j] == '`' {
                let n = chars[j..].iter().take_while(|c| **c == '`').count();
                if n == run {
                    close = Some(j);
                    break;
                }
                j += n;
            } else {
                j += 1;
            }
        }
        match close {
            Some(j) => {
                out.extend(std::iter::repeat_n(' ', j + run - i));
                i = j + run;
            }
            None => {
                out.extend(std::iter::repeat_n('`', run));
                i += run;
            }
        }
    }
    out
}

/// GitHub's anchor for a heading's text.
fn slug(heading: &str) -> String {
    // What is rendered: a link's text, not its target; no emphasis or code markers.
    let mut text = String::new();
    let mut rest = heading;
    while let Some(start) = rest.find("](") {
        let Some(end) = rest[start..].find(')') else { break };
        text.push_str(&rest[..start]);
        rest = &rest[start + end + 1..];
    }
    text.push_str(rest);
    text.trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || *c == ' ' || *c == '-' || *c == '_')
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

/// The anchors a page defines: its headings' slugs (repeats numbered) and HTML `id`/`name`s.
fn anchors(text: &str) -> BTreeSet<String> {
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut anchors = BTreeSet::new();
    let mut previous = "";
    for line in outside_fences(text) {
        let Some(line) = line else {
            previous = "";
            continue;
        };
        let underline = line.trim();
        let heading = if let Some(text) = atx_heading(line) {
            Some(text.to_string())
        } else if !previous.trim().is_empty()
            && !underline.is_empty()
            && (underline.chars().all(|c| c == '=') || underline.chars().all(|c| c == '-'))
            && !previous.trim_start().starts_with(['-', '*', '|', '>', '#'])
        {
            Some(previous.trim().to_string()) // a Setext heading
        } else {
            None
        };
        if let Some(heading) = heading {
            let base = slug(&heading);
            let n = seen.entry(base.clone()).or_insert(0);
            anchors.insert(if *n == 0 { base.clone() } else { format!("{base}-{n}") });
            *n += 1;
        }
        let code_free = blank_code_spans(line);
        for attribute in ["id=\"", "name=\""] {
            let mut rest = code_free.as_str();
            while let Some(at) = rest.find(attribute) {
                rest = &rest[at + attribute.len()..];
                if let Some(end) = rest.find('"') {
                    anchors.insert(rest[..end].to_string());
                }
            }
        }
        previous = line;
    }
    anchors
}

fn atx_heading(line: &str) -> Option<&str> {
    let hashes = line.chars().take_while(|c| *c == '#').count();
    if !(1..=6).contains(&hashes) || !line[hashes..].starts_with(' ') {
        return None;
    }
    let text = line[hashes..].trim();
    Some(text.trim_end_matches('#').trim_end())
}

/// Every link target on a page, with its line: inline links and images `[…](target)`,
/// reference definitions `[ref]: target`, autolinks `<scheme:…>`, and HTML `href`/`src`.
fn links(text: &str) -> Vec<(usize, String)> {
    let lines = prose(text);
    let mut found = Vec::new();
    for (n, line) in lines.iter().enumerate() {
        let number = n + 1;
        let mut rest = line.as_str();
        while let Some(at) = rest.find("](") {
            let after = &rest[at + 2..];
            let mut depth = 0;
            let mut end = after.len();
            for (i, c) in after.char_indices() {
                match c {
                    '(' => depth += 1,
                    ')' if depth == 0 => {
                        end = i;
                        break;
                    }
                    ')' => depth -= 1,
                    _ => {}
                }
            }
            let inside = after[..end].trim();
            let target = if let Some(stripped) = inside.strip_prefix('<') {
                stripped.split('>').next().unwrap_or("")
            } else {
                inside.split_whitespace().next().unwrap_or("")
            };
            found.push((number, target.to_string()));
            rest = &after[end.min(after.len())..];
        }
        let trimmed = line.trim_start();
        if trimmed.starts_with('[') && !trimmed.starts_with("[!") {
            if let Some(close) = trimmed.find("]:") {
                let target = trimmed[close + 2..].split_whitespace().next().unwrap_or("");
                found.push((number, target.trim_matches(['<', '>']).to_string()));
            }
        }
        let mut rest = line.as_str();
        while let Some(at) = rest.find('<') {
            rest = &rest[at + 1..];
            let Some(end) = rest.find('>') else { break };
            let inner = &rest[..end];
            let scheme: String =
                inner.chars().take_while(|c| c.is_ascii_alphanumeric() || "+-.".contains(*c)).collect();
            if !scheme.is_empty() && inner[scheme.len()..].starts_with(':') && !inner.contains(' ') {
                found.push((number, inner.to_string()));
            }
            for attribute in ["href=\"", "src=\""] {
                if let Some(at) = inner.find(attribute) {
                    let value = &inner[at + attribute.len()..];
                    found.push((number, value.split('"').next().unwrap_or("").to_string()));
                }
            }
        }
    }
    found
}

/// What is wrong with one link of `page` (`None`: it resolves).
fn check(
    root: &Path,
    page: &Path,
    target: &str,
    anchors_of: &mut impl FnMut(&Path) -> BTreeSet<String>,
) -> Option<String> {
    if target.is_empty() {
        return Some("an empty link".into());
    }
    if target.starts_with("http://") || target.starts_with("https://") {
        return None; // a public site: allowed, never fetched
    }
    let scheme: String = target.chars().take_while(|c| c.is_ascii_alphanumeric() || "+-.".contains(*c)).collect();
    if !scheme.is_empty() && target[scheme.len()..].starts_with(':') {
        return Some(format!("`{scheme}:` links outside the repository; only http(s) URLs may"));
    }
    if target.starts_with('/') || target.starts_with('\\') {
        return Some("an absolute path; link relative to the page".into());
    }
    let (path, anchor) = match target.split_once('#') {
        Some((path, anchor)) => (path, Some(anchor)),
        None => (target, None),
    };
    let path = path.split('?').next().unwrap_or("");
    let resolved = if path.is_empty() { page.to_path_buf() } else { page.parent().unwrap().join(path) };
    let mut normal = PathBuf::new();
    for part in resolved.components() {
        match part {
            Component::ParentDir => {
                normal.pop();
            }
            Component::CurDir => {}
            other => normal.push(other),
        }
    }
    if !normal.starts_with(root) {
        return Some(format!("{} is outside the repository", normal.display()));
    }
    if !normal.exists() {
        return Some(format!("{} does not exist", normal.strip_prefix(root).unwrap().display()));
    }
    if let Some(anchor) = anchor {
        if normal.extension().is_some_and(|x| x == "md") {
            let known = anchors_of(&normal);
            if !known.contains(anchor) {
                return Some(format!("no heading `#{anchor}` in {}", normal.strip_prefix(root).unwrap().display()));
            }
        } else if !anchor.is_empty() && !anchor.starts_with('L') {
            return Some(format!("`#{anchor}` into a file that has no headings"));
        }
    }
    None
}

fn problems(root: &Path, pages: &[PathBuf]) -> Vec<String> {
    let mut cache: HashMap<PathBuf, BTreeSet<String>> = HashMap::new();
    let mut anchors_of = |path: &Path| {
        cache
            .entry(path.to_path_buf())
            .or_insert_with(|| anchors(&fs::read_to_string(path).unwrap_or_default()))
            .clone()
    };
    let mut problems = Vec::new();
    for page in pages {
        let text = fs::read_to_string(page).unwrap_or_else(|e| panic!("{}: {e}", page.display()));
        let name = page.strip_prefix(root).unwrap_or(page).display().to_string();
        for (line, target) in links(&text) {
            if let Some(problem) = check(root, page, &target, &mut anchors_of) {
                problems.push(format!("{name}:{line}: ({target}) {problem}"));
            }
        }
        for (n, line) in text.lines().enumerate() {
            if line.contains("../shared/") {
                problems.push(format!("{name}:{}: mentions a file outside the repository (../shared/)", n + 1));
            }
        }
    }
    problems
}

#[test]
fn every_link_in_the_docs_resolves_inside_the_repository() {
    let root = repository();
    let pages = pages(&root);
    assert!(pages.len() >= 4, "README.md, bench/README.md and docs/ expected: {pages:?}");
    let problems = problems(&root, &pages);
    assert!(problems.is_empty(), "dead or outside links:\n{}", problems.join("\n"));
}

#[test]
fn the_checker_finds_what_is_wrong() {
    let root = std::env::temp_dir().join(format!("chartgate-links-{}", std::process::id()));
    let docs = root.join("docs");
    fs::create_dir_all(&docs).unwrap();
    fs::write(
        docs.join("a.md"),
        "# Page A\n\n## Sync on merge\n\n## The `charts` table\n\n## Repeat\n\n## Repeat\n\n\
         [ok](b.md#targets-environments-in-a-chain) [ok](#sync-on-merge) [ok](#the-charts-table)\n\
         [ok](#repeat-1) [ok](https://example.org/x) <https://example.org> [ok](../README.md)\n\
         `[not a link](nowhere.md)`\n\n```md\n[not a link](nowhere.md)\n```\n\n\
         [dead](missing.md) [dead](#nowhere) [dead](b.md#nope)\n\
         [outside](../../etc/passwd) [scheme](ftp://example.org/x) [absolute](/README.md)\n\
         See ../shared/design.md.\n",
    )
    .unwrap();
    fs::write(docs.join("b.md"), "# B\n\n### Targets: environments in a chain\n").unwrap();
    fs::write(root.join("README.md"), "# R\n").unwrap();
    let root = root.canonicalize().unwrap();
    let problems = problems(&root, &[root.join("docs/a.md")]);
    let _ = fs::remove_dir_all(&root);
    let joined = problems.join("\n");
    for expected in
        ["(missing.md)", "(#nowhere)", "(b.md#nope)", "(../../etc/passwd)", "(ftp://", "(/README.md)", "../shared/"]
    {
        assert!(joined.contains(expected), "{expected} not reported in:\n{joined}");
    }
    assert_eq!(problems.len(), 7, "only the seven wrong ones:\n{joined}");
}

#[test]
fn anchors_follow_githubs_rules() {
    assert_eq!(slug("Targets: environments in a chain"), "targets-environments-in-a-chain");
    assert_eq!(
        slug("HTTP API (`/api/v1`, `Authorization: Bearer <token>`)"),
        "http-api-apiv1-authorization-bearer-token"
    );
    assert_eq!(slug("The test suite: `scripts/test.sh`"), "the-test-suite-scriptstestsh");
    assert_eq!(slug("Logs and request ids"), "logs-and-request-ids");
    assert_eq!(slug("Results (2026-12-07, 2 cores, shared)"), "results-2026-12-07-2-cores-shared");
    assert_eq!(slug("`--pg`"), "--pg");
    assert_eq!(slug("See [the docs](docs/README.md)"), "see-the-docs");
}
