//! The canonical text of `data` in its common shape, `{"rows": [{flat object}, …]}`, written in
//! one pass over the stored bytes.
//!
//! A chart's data is most of its bytes, and canonicalising it was most of a cold scan: first a
//! `BTreeMap` per row, then a list of parsed `(key, Value)` pairs per row — an allocation for
//! every string, a `String` per row, a parse and a write for every number — ~170 µs for a
//! 350-row chart. Here the text is scanned once; a row is a run of `(key, token)` pairs in one
//! buffer shared by every row; and a token already in canonical form is copied as it is:
//!
//! - a string without an escape (serde_json writes it back byte for byte);
//! - an integer of at most 18 digits without a leading zero (written back as it is read);
//! - a decimal without an exponent, with at most 15 significant digits, a last digit that is not
//!   0, and a value from 0.001 up to 10^15: 15 digits always survive a round trip through a
//!   double, so the shortest text of that double — which serde_json writes, in plain notation in
//!   that range — is the token itself. (serde_json parses such a token exactly: its significand
//!   and the power of ten are both exact doubles.)
//!
//! Anything else in a scalar (an escape, an exponent, `2000.0`, 17 digits) is parsed and written by
//! serde_json itself, as the general path does, so the text is byte for byte the general path's
//! (the tests below hold the two side by side, on fixed cases and on many generated ones). A
//! shape that is not the common one — another top-level key, a nested value, an escaped or
//! repeated key, text that is not JSON — answers `None`, and the general path takes the chart
//! (and reports what is wrong with it).

use std::borrow::Cow;

use app::rows::{number_in_text, Key, Time};
use serde_json::Value;

use super::{normalise_numbers, row_order};

/// The canonical text of `data`, or `None` when it is not in the common shape (or not JSON).
pub fn canonical_data(text: &str) -> Option<String> {
    let mut scan = Scanner { s: text.as_bytes(), text, at: 0 };
    let mut pairs: Vec<(&str, Token<'_>)> = Vec::with_capacity(text.len() / 12);
    let mut rows: Vec<std::ops::Range<usize>> = Vec::with_capacity(text.len() / 40);
    scan.expect(b'{')?;
    if scan.string_raw()? != ("rows", false) {
        return None;
    }
    scan.expect(b':')?;
    scan.expect(b'[')?;
    if !scan.eat(b']') {
        loop {
            let start = pairs.len();
            scan.expect(b'{')?;
            if !scan.eat(b'}') {
                loop {
                    let (key, escaped) = scan.string_raw()?;
                    if escaped {
                        return None; // an escaped key: the general path unescapes it
                    }
                    scan.expect(b':')?;
                    pairs.push((key, scan.scalar()?));
                    if scan.eat(b'}') {
                        break;
                    }
                    scan.expect(b',')?;
                }
            }
            let row = &mut pairs[start..];
            row.sort_unstable_by(|a, b| a.0.cmp(b.0));
            if row.windows(2).any(|w| w[0].0 == w[1].0) {
                return None; // a repeated key: the general path keeps the last, as serde_json does
            }
            rows.push(start..pairs.len());
            if scan.eat(b']') {
                break;
            }
            scan.expect(b',')?;
        }
    }
    scan.expect(b'}')?;
    if !scan.at_end() {
        return None;
    }

    // Every row's text in the order read, one buffer; then the rows' order by key.
    let mut texts = String::with_capacity(text.len());
    let mut spans = Vec::with_capacity(rows.len());
    for row in &rows {
        let start = texts.len();
        texts.push('{');
        for (n, (key, token)) in pairs[row.clone()].iter().enumerate() {
            if n > 0 {
                texts.push(',');
            }
            texts.push('"');
            texts.push_str(key);
            texts.push_str("\":");
            texts.push_str(&token.text);
        }
        texts.push('}');
        spans.push(start..texts.len());
    }
    let keys: Vec<Key<'_>> = rows.iter().map(|r| key_of(&pairs[r.clone()])).collect();
    let order = row_order(&keys, |i| &texts[spans[i].clone()]);
    let mut out = String::with_capacity(texts.len() + rows.len() + 10);
    out.push_str("{\"rows\":[");
    match order {
        None => {
            for (n, span) in spans.iter().enumerate() {
                if n > 0 {
                    out.push(',');
                }
                out.push_str(&texts[span.clone()]);
            }
        }
        Some(order) => {
            for (n, i) in order.into_iter().enumerate() {
                if n > 0 {
                    out.push(',');
                }
                out.push_str(&texts[spans[i].clone()]);
            }
        }
    }
    out.push_str("]}");
    Some(out)
}

/// A scalar: its canonical text (borrowed when the stored token is canonical already), what it
/// is, and for a string its value.
struct Token<'a> {
    text: Cow<'a, str>,
    kind: Kind<'a>,
}

enum Kind<'a> {
    Null,
    Bool,
    /// A number; its canonical text is the shortest that reads back as its double, so a key's
    /// time is read from that text (only the time field's is ever read).
    Number,
    String(Cow<'a, str>),
}

/// The row key of design §3, as [`app::rows::key_from`] builds it from `Value`s: a string is its
/// text, another scalar its canonical JSON text; a number or numeric string is a numeric time.
fn key_of<'r>(row: &'r [(&str, Token<'_>)]) -> Key<'r> {
    let field = |name: &str| row.iter().find(|(k, _)| *k == name).map(|(_, t)| t);
    let text = |t: &'r Token<'_>| -> Cow<'r, str> {
        match &t.kind {
            Kind::String(s) => Cow::Borrowed(s.as_ref()),
            _ => Cow::Borrowed(t.text.as_ref()),
        }
    };
    let present = |t: &&Token<'_>| !matches!(t.kind, Kind::Null);
    let time = match field("time").filter(present) {
        None => Time::Missing,
        Some(t) => {
            let n = match &t.kind {
                Kind::Number => number_in_text(&t.text),
                Kind::String(s) => number_in_text(s),
                _ => None,
            };
            n.map_or_else(|| Time::Text(text(t)), Time::Number)
        }
    };
    Key {
        series: field("series").filter(present).map(text),
        entity: field("entity").filter(present).map(text).unwrap_or(Cow::Borrowed("")),
        time,
    }
}

struct Scanner<'a> {
    s: &'a [u8],
    text: &'a str,
    at: usize,
}

impl<'a> Scanner<'a> {
    fn skip_space(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.s.get(self.at) {
            self.at += 1;
        }
    }

    /// Skips whitespace, then takes `b` if it is next.
    fn eat(&mut self, b: u8) -> bool {
        self.skip_space();
        if self.s.get(self.at) == Some(&b) {
            self.at += 1;
            return true;
        }
        false
    }

    fn expect(&mut self, b: u8) -> Option<()> {
        self.eat(b).then_some(())
    }

    fn at_end(&mut self) -> bool {
        self.skip_space();
        self.at == self.s.len()
    }

    /// A string's text between its quotes, and whether it holds an escape.
    fn string_raw(&mut self) -> Option<(&'a str, bool)> {
        self.expect(b'"')?;
        let start = self.at;
        let mut escaped = false;
        loop {
            match *self.s.get(self.at)? {
                b'"' => break,
                b'\\' => {
                    escaped = true;
                    self.at += 2;
                }
                0..=0x1f => return None, // not JSON: the general path says so
                _ => self.at += 1,
            }
        }
        let raw = self.text.get(start..self.at)?;
        self.at += 1;
        Some((raw, escaped))
    }

    fn scalar(&mut self) -> Option<Token<'a>> {
        self.skip_space();
        let word = |s: &mut Self, w: &'static str, kind: Kind<'a>| {
            s.s[s.at..].starts_with(w.as_bytes()).then(|| {
                s.at += w.len();
                Token { text: Cow::Borrowed(w), kind }
            })
        };
        match *self.s.get(self.at)? {
            b'"' => {
                let start = self.at;
                let (raw, escaped) = self.string_raw()?;
                if !escaped {
                    return Some(Token {
                        text: Cow::Borrowed(&self.text[start..self.at]),
                        kind: Kind::String(raw.into()),
                    });
                }
                let value: String = serde_json::from_str(&self.text[start..self.at]).ok()?;
                let text = serde_json::to_string(&value).ok()?;
                Some(Token { text: Cow::Owned(text), kind: Kind::String(Cow::Owned(value)) })
            }
            b't' => word(self, "true", Kind::Bool),
            b'f' => word(self, "false", Kind::Bool),
            b'n' => word(self, "null", Kind::Null),
            b'-' | b'0'..=b'9' => self.number(),
            _ => None, // a nested value, or not JSON
        }
    }

    /// A number token (JSON's grammar, strictly), copied when canonical already (see the module).
    fn number(&mut self) -> Option<Token<'a>> {
        let s = self.s;
        let start = self.at;
        let mut i = start + usize::from(s[start] == b'-');
        let digits = |i: &mut usize| {
            let from = *i;
            while s.get(*i).is_some_and(u8::is_ascii_digit) {
                *i += 1;
            }
            *i - from
        };
        let int_start = i;
        let int_digits = digits(&mut i);
        if int_digits == 0 || (int_digits > 1 && s[int_start] == b'0') {
            return None;
        }
        let mut frac = None;
        if s.get(i) == Some(&b'.') {
            i += 1;
            let from = i;
            if digits(&mut i) == 0 {
                return None;
            }
            frac = Some(from..i);
        }
        let mut exponent = false;
        if let Some(b'e' | b'E') = s.get(i) {
            i += 1;
            if let Some(b'+' | b'-') = s.get(i) {
                i += 1;
            }
            if digits(&mut i) == 0 {
                return None;
            }
            exponent = true;
        }
        self.at = i;
        let token = &self.text[start..i];
        let int = &s[int_start..int_start + int_digits];
        let canonical = !exponent
            && match &frac {
                None => int_digits <= 18 && (int != b"0" || start == int_start),
                Some(f) => {
                    let f = &s[f.clone()];
                    let significant = match int {
                        b"0" => f.len() - f.iter().take_while(|&&d| d == b'0').count(),
                        _ => int_digits + f.len(),
                    };
                    f.last() != Some(&b'0')
                        && significant <= 15
                        && int_digits <= 15
                        && (int != b"0" || !f.starts_with(b"000"))
                }
            };
        if canonical {
            return Some(Token { text: Cow::Borrowed(token), kind: Kind::Number });
        }
        let mut value: Value = serde_json::from_str(token).ok()?;
        normalise_numbers(&mut value);
        Some(Token { text: Cow::Owned(serde_json::to_string(&value).ok()?), kind: Kind::Number })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The general path's text for the same data.
    fn general(text: &str) -> String {
        let mut v: Value = serde_json::from_str(text).unwrap();
        super::super::canonical_data(&mut v);
        serde_json::to_string(&v).unwrap()
    }

    #[test]
    fn the_common_shape_is_written_exactly_as_the_general_path_writes_it() {
        for text in [
            r#"{"rows":[]}"#,
            r#"{"rows":[{"entity":"France","time":2000,"value":1.5},{"entity":"Chad","time":2001,"value":2}]}"#,
            r#"{"rows":[{"value":2e3,"time":"2000","entity":"France"},{"time":1999.0,"entity":"France","value":-0.0}]}"#,
            r#"{"rows":[{"series":"b","entity":"A","time":1},{"entity":"Z","time":10},{"series":null,"entity":"Z","time":9}]}"#,
            r#"{"rows":[{"entity":"Côte d'Ivoire \"CI\"","time":2000,"value":1e-7,"ok":true,"note":null}]}"#,
            r#"{"rows":[{"entity":"A","time":1,"value":1},{"entity":"A","time":1,"value":0}]}"#,
            r#"{"rows":[{"entity":"A","time":1,"value":18446744073709551615},{"entity":"B","time":-5,"value":-9007199254740993}]}"#,
            r#"{"rows":[{"entity":"A"},{},{"time":3}]}"#,
            r#" { "rows" : [ { "entity" : "A" , "time" : 1 } ] } "#,
        ] {
            assert_eq!(canonical_data(text).as_deref(), Some(general(text).as_str()), "{text}");
        }
    }

    #[test]
    fn other_shapes_are_left_to_the_general_path() {
        for text in [
            r#"{"rows":[],"meta":1}"#,
            r#"{"rows":[{"entity":"A","value":[1,2]}]}"#,
            r#"{"rows":[{"entity":"A","tags":{"a":1}}]}"#,
            r#"{"rows":[{"ent\u0069ty":"A"}]}"#,
            r#"{"rows":[{"entity":"A","entity":"B"}]}"#,
            r#"{"rows":[1,2]}"#,
            r#"[{"entity":"A"}]"#,
            r#"{"rows":[{"entity":"A"}]"#,
            r#"{"rows":[{"entity":"A"}]} x"#,
            r#"{}"#,
        ] {
            assert_eq!(canonical_data(text), None, "{text}");
        }
    }

    /// A small deterministic generator (xorshift), so a failure names its seed.
    struct Gen(u64);

    impl Gen {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }

        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }

        fn pick<'s>(&mut self, from: &[&'s str]) -> &'s str {
            from[self.below(from.len() as u64) as usize]
        }

        fn digits(&mut self, n: u64, lead_zero: bool) -> String {
            (0..n)
                .map(|k| {
                    let d = self.below(10);
                    if k == 0 && !lead_zero && d == 0 {
                        '1'
                    } else {
                        char::from(b'0' + d as u8)
                    }
                })
                .collect()
        }

        /// A JSON number in the many ways exports write them.
        fn number(&mut self) -> String {
            let sign = if self.below(4) == 0 { "-" } else { "" };
            let int = match self.below(6) {
                0 => "0".to_string(),
                k => {
                    let len = self.below(4 * k + 1) + 1;
                    self.digits(len, false)
                }
            };
            let frac = match self.below(3) {
                0 => String::new(),
                _ => {
                    let len = self.below(19) + 1;
                    format!(".{}", self.digits(len, true))
                }
            };
            let exp = match self.below(8) {
                0 => format!("e{}", self.pick(&["", "+", "-"]).to_string() + &self.below(30).to_string()),
                1 => format!("E-{}", self.below(400)),
                _ => String::new(),
            };
            format!("{sign}{int}{frac}{exp}")
        }

        fn scalar(&mut self) -> String {
            match self.below(10) {
                0 => self.pick(&["null", "true", "false"]).to_string(),
                1 => format!("\"{}\"", self.number()),
                2 => self
                    .pick(&[
                        r#""a\"b""#,
                        r#""\u00e9t\u00e9""#,
                        r#""tab\there""#,
                        r#""x\/y""#,
                        r#""Côte""#,
                        r#"" 2000 ""#,
                    ])
                    .into(),
                3 | 4 => format!("\"{}\"", self.pick(&["France", "Chad", "India", "", "a b", "Zoë", "1990", "-0"])),
                _ => self.number(),
            }
        }
    }

    #[test]
    fn generated_data_is_written_exactly_as_the_general_path_writes_it() {
        let keys = ["entity", "time", "value", "series", "note", "a"];
        let mut checked = 0;
        for seed in 1..=3000u64 {
            let mut g = Gen(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
            let rows: Vec<String> = (0..g.below(12))
                .map(|_| {
                    let mut fields: Vec<&str> = keys.iter().copied().filter(|_| g.below(3) > 0).collect();
                    for k in (1..fields.len()).rev() {
                        fields.swap(k, g.below(k as u64 + 1) as usize);
                    }
                    let pairs: Vec<String> = fields.iter().map(|k| format!("\"{k}\":{}", g.scalar())).collect();
                    format!("{{{}}}", pairs.join(if g.below(5) == 0 { " , " } else { "," }))
                })
                .collect();
            let text = format!(r#"{{"rows":[{}]}}"#, rows.join(","));
            let general = serde_json::from_str::<Value>(&text).ok().map(|_| general(&text));
            match (canonical_data(&text), general) {
                (Some(fast), Some(general)) => {
                    assert_eq!(fast, general, "seed {seed}: {text}");
                    checked += 1;
                }
                (Some(fast), None) => panic!("seed {seed}: the fast path took text that is not JSON: {text} -> {fast}"),
                (None, _) => {}
            }
        }
        assert!(checked > 2500, "the fast path took only {checked} of 3000 documents");
    }

    #[test]
    fn numbers_are_written_exactly_as_serde_json_writes_them() {
        let mut g = Gen(0x2545_F491_4F6C_DD1D);
        for _ in 0..200_000 {
            let n = g.number();
            let text = format!(r#"{{"rows":[{{"value":{n},"time":{n}}}]}}"#);
            let general = serde_json::from_str::<Value>(&text).ok().map(|_| general(&text));
            assert_eq!(canonical_data(&text), general, "{n}");
        }
    }
}
