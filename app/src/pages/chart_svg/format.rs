//! How numbers, times and cells become text in a chart: compact value labels, year labels, SVG
//! coordinates, table cells and counted nouns.
//!
//! Kept apart because every layout and the view write these strings, and the server's HTML and
//! the browser's hydration must produce them byte for byte alike: fixed precision, no locale, and
//! `-0` always written as `0`.

use serde_json::Value;

use crate::rows::Time;

/// `3 rows`, `1 row`.
pub fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

fn trim_zeros(s: String) -> String {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        s
    }
}

/// A whole number (a year) in full, any other number as Rust prints it.
fn number_text(f: f64) -> String {
    if f.fract() == 0.0 && f.abs() < 1e15 {
        format!("{}", f as i64)
    } else {
        format!("{f}")
    }
}

/// A compact value label: `1.5`, `12.3k`, `4.56M`, `0.00123`.
pub fn fmt_value(v: f64) -> String {
    if !v.is_finite() {
        return "–".into();
    }
    if v == 0.0 {
        return "0".into();
    }
    let a = v.abs();
    let (scaled, suffix) = if a >= 1e12 {
        (v / 1e12, "T")
    } else if a >= 1e9 {
        (v / 1e9, "B")
    } else if a >= 1e6 {
        (v / 1e6, "M")
    } else if a >= 1e4 {
        (v / 1e3, "k")
    } else {
        (v, "")
    };
    let sa = scaled.abs();
    let decimals = if sa >= 100.0 {
        0
    } else if sa >= 10.0 {
        1
    } else if sa >= 1.0 {
        2
    } else {
        ((-sa.log10().floor()) as usize + 2).min(12)
    };
    let s = trim_zeros(format!("{scaled:.decimals$}"));
    let s = if s == "-0" { "0".to_owned() } else { s };
    format!("{s}{suffix}")
}

/// A time label: whole numbers (years) in full, others like values.
pub fn fmt_time(v: f64) -> String {
    if v.is_finite() && v.fract() == 0.0 && v.abs() < 1e15 {
        number_text(v)
    } else {
        fmt_value(v)
    }
}

/// A row's time key as text: a numeric time written one way however the data wrote it (`2000`
/// for `2000.0` and `"2000"`), text as it is, a missing time as nothing. Labels ordinal time
/// axes, bars (`data-time`) and scatter points.
pub fn time_text(t: &Time<'_>) -> String {
    match t {
        Time::Missing => String::new(),
        Time::Number(n) => number_text(*n),
        Time::Text(s) => s.to_string(),
    }
}

/// A coordinate as written into SVG attributes.
pub fn coord(v: f64) -> String {
    let s = trim_zeros(format!("{v:.1}"));
    if s == "-0" {
        "0".into()
    } else {
        s
    }
}

/// A JSON value as a table cell shows it.
pub fn display(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        v => v.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_numbers_compactly() {
        assert_eq!(fmt_value(1.5), "1.5");
        assert_eq!(fmt_value(12_345.0), "12.3k");
        assert_eq!(fmt_value(-4_560_000.0), "-4.56M");
        assert_eq!(fmt_value(0.001234), "0.00123");
        assert_eq!(fmt_value(0.0), "0");
        assert_eq!(fmt_time(2000.0), "2000");
        assert_eq!(coord(-0.04), "0");
        assert_eq!(coord(12.25), "12.2");
    }

    #[test]
    fn a_time_key_is_written_one_way() {
        assert_eq!(time_text(&Time::Number(2000.0)), "2000");
        assert_eq!(time_text(&Time::Number(2000.5)), "2000.5");
        assert_eq!(time_text(&Time::Text("2020-Q1".into())), "2020-Q1");
        assert_eq!(time_text(&Time::Missing), "");
    }
}
