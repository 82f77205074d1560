//! The app's own URLs, built and read in one place with well-kept crates: path segments through
//! `percent-encoding` (a chart id may hold `/`, spaces or any script), query strings through
//! `serde_urlencoded` from the same query structs the API reads, so a link says exactly what the
//! page and the API will parse.

use leptos_router::params::ParamsMap;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde::{de::DeserializeOwned, Serialize};

/// Bytes a path segment keeps as they are: RFC 3986's unreserved characters.
const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');

/// One path segment, percent-encoded (`/` included, so it stays one segment).
pub fn segment(s: &str) -> String {
    utf8_percent_encode(s, UNRESERVED).to_string()
}

/// The diff list of a branch.
pub fn branch_url(branch: &str) -> String {
    format!("/branches/{}", segment(branch))
}

/// One chart of a branch.
pub fn chart_url(branch: &str, chart_id: &str) -> String {
    format!("{}/charts/{}", branch_url(branch), segment(chart_id))
}

/// One stored chart version, by content hash.
pub fn version_url(hash: &str) -> String {
    format!("/versions/{}", segment(hash))
}

/// `path` with `query` (a struct whose `None` fields are left out) as its query string; just
/// `path` when nothing is set. Form encoding writes a space as `+` and a `+` as `%2B`, so every
/// `+` is a space: it is written `%20`, which reads the same in a path or a query.
pub fn with_query<T: Serialize>(path: &str, query: &T) -> String {
    match serde_urlencoded::to_string(query) {
        Ok(qs) if !qs.is_empty() => format!("{path}?{}", qs.replace('+', "%20")),
        _ => path.to_owned(),
    }
}

/// The page's query as `T`, decoded as the API decodes it. Blank fields (a GET form's empty
/// inputs) are absent, and a field `T` cannot read (`page=abc`) is dropped alone, not with the
/// others.
pub fn query_from<T: DeserializeOwned + Default>(map: &ParamsMap) -> T {
    let readable: Vec<(&str, &str)> = map
        .latest_values()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| (k.as_ref(), v))
        .filter(|pair| decode::<T>(&[*pair]).is_some())
        .collect();
    decode(&readable).unwrap_or_default()
}

fn decode<T: DeserializeOwned>(pairs: &[(&str, &str)]) -> Option<T> {
    let qs = serde_urlencoded::to_string(pairs).ok()?;
    serde_urlencoded::from_str(&qs).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{AuditQuery, DiffQuery};

    #[test]
    fn segments_keep_ids_in_one_piece() {
        assert_eq!(segment("a/b c~ü"), "a%2Fb%20c~%C3%BC");
        assert_eq!(chart_url("main", "gdp/per capita"), "/branches/main/charts/gdp%2Fper%20capita");
        assert_eq!(branch_url("fix-labels"), "/branches/fix-labels");
    }

    #[test]
    fn queries_leave_out_unset_fields() {
        assert_eq!(with_query("/audit", &AuditQuery::default()), "/audit");
        let q = AuditQuery { actor: Some("a+b@x.org".into()), page: Some(2), ..Default::default() };
        assert_eq!(with_query("/audit", &q), "/audit?actor=a%2Bb%40x.org&page=2");
        let q = DiffQuery { q: Some("gdp growth".into()), conflict: Some(true), ..Default::default() };
        assert_eq!(with_query("/b", &q), "/b?conflict=true&q=gdp%20growth");
    }

    #[test]
    fn queries_read_back_what_links_write() {
        let q = DiffQuery {
            status: Some("pending".into()),
            q: Some("a b+c/ü".into()),
            conflict: Some(true),
            page: Some(3),
            ..Default::default()
        };
        let url = with_query("/b", &q);
        let map: ParamsMap = serde_urlencoded::from_str::<Vec<(String, String)>>(url.split_once('?').unwrap().1)
            .unwrap()
            .into_iter()
            .collect();
        assert_eq!(query_from::<DiffQuery>(&map), q);
    }

    #[test]
    fn blank_and_unreadable_fields_are_absent() {
        let map: ParamsMap =
            [("branch", ""), ("actor", "me@x.org"), ("page", "abc"), ("layout", "side")].into_iter().collect();
        let q: AuditQuery = query_from(&map);
        assert_eq!(q, AuditQuery { actor: Some("me@x.org".into()), ..Default::default() });
        let map: ParamsMap = [("conflict", "true"), ("per_page", "20")].into_iter().collect();
        let q: DiffQuery = query_from(&map);
        assert_eq!((q.conflict, q.per_page), (Some(true), Some(20)));
    }
}
