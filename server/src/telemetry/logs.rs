//! The process's log output (design §12): one line per event on stderr, as text or, with
//! `log_format = "json"`, one JSON object per line.
//!
//! Log lines carry what callers sent — an email typed at sign-in, a branch name, a header — and a
//! text log is read in terminals and by line-oriented tools. A value holding a line break could
//! forge a whole log line (`…\n… INFO sign-in succeeded`), an escape sequence could rewrite what
//! a terminal shows, and tracing-subscriber's text format writes field values as they are
//! (it sanitises only the message, and only ANSI escapes). So the text format here escapes every
//! control character in every value — field or message — as `\n`, `\r`, `\t` or `\u{…}`, and the
//! characters that reorder or break lines in a viewer (bidirectional overrides, U+2028/U+2029)
//! too. JSON needs nothing more: its strings escape control characters by definition.
//!
//! Colours are for people at a terminal: a log written to a file or a pipe carries no escape
//! sequences of its own either.

use std::fmt::{self, Write as _};
use std::io::IsTerminal;

use tracing::field::{Field, Visit};
use tracing_subscriber::field::{MakeVisitor, VisitFmt, VisitOutput};
use tracing_subscriber::fmt::format::{DefaultVisitor, Writer};

/// Installs the process's logger: `RUST_LOG` (default: Chartgate's info, warnings of the rest),
/// on stderr, as JSON or as escaped text.
pub fn init(json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| "chartgate=info,tower_http=warn,warn".into());
    let logs = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    if json {
        // One object per line; `span` holds the request's fields (`request_id`, `route`, `user`).
        logs.json().with_current_span(true).with_span_list(false).init();
    } else {
        logs.fmt_fields(EscapedFields).with_ansi(std::io::stderr().is_terminal()).init();
    }
}

/// The text format's fields: tracing-subscriber's own layout (`name=value`, the message first),
/// every value passed through [`escape`].
#[derive(Clone, Copy, Debug, Default)]
pub struct EscapedFields;

impl<'a> MakeVisitor<Writer<'a>> for EscapedFields {
    type Visitor = Escaping<DefaultVisitor<'a>>;

    fn make_visitor(&self, target: Writer<'a>) -> Self::Visitor {
        Escaping(DefaultVisitor::new(target, true))
    }
}

/// A visitor that hands `V` each value already escaped.
#[derive(Debug)]
pub struct Escaping<V>(V);

impl<V: Visit> Visit for Escaping<V> {
    fn record_str(&mut self, field: &Field, value: &str) {
        // As the default visitor does: the message as written, other strings quoted.
        if field.name() == "message" {
            self.record_debug(field, &format_args!("{value}"))
        } else {
            self.record_debug(field, &value)
        }
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        let mut text = value.to_string();
        let mut source = value.source();
        while let Some(cause) = source {
            let _ = write!(text, ": {cause}");
            source = cause.source();
        }
        self.record_debug(field, &format_args!("{text}"))
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0.record_debug(field, &Escaped(value))
    }
}

impl<V: VisitOutput<fmt::Result>> VisitOutput<fmt::Result> for Escaping<V> {
    fn finish(self) -> fmt::Result {
        self.0.finish()
    }
}

impl<V: VisitFmt> VisitFmt for Escaping<V> {
    fn writer(&mut self) -> &mut dyn fmt::Write {
        self.0.writer()
    }
}

/// A value's `Debug` output with [`escape`] applied as it is written.
struct Escaped<'a>(&'a dyn fmt::Debug);

impl fmt::Debug for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(Escaper(f), "{:?}", self.0)
    }
}

struct Escaper<'a, 'b>(&'a mut fmt::Formatter<'b>);

impl fmt::Write for Escaper<'_, '_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for c in s.chars() {
            escape(c, self.0)?;
        }
        Ok(())
    }
}

/// Writes `c`, or its escape when it is a control character or one that reorders or breaks lines.
fn escape(c: char, out: &mut impl fmt::Write) -> fmt::Result {
    match c {
        '\n' => out.write_str("\\n"),
        '\r' => out.write_str("\\r"),
        '\t' => out.write_str("\\t"),
        c if c.is_control()
            || matches!(c, '\u{2028}' | '\u{2029}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}') =>
        {
            write!(out, "\\u{{{:x}}}", c as u32)
        }
        c => out.write_char(c),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn escaped(value: &str) -> String {
        format!("{:?}", Escaped(&format_args!("{value}")))
    }

    #[test]
    fn control_characters_are_escaped_and_the_rest_kept() {
        assert_eq!(escaped("ana@example.org"), "ana@example.org");
        assert_eq!(escaped("a\nb\rc\td"), "a\\nb\\rc\\td");
        assert_eq!(escaped("\x1b[2J\x07\x7f\u{85}"), "\\u{1b}[2J\\u{7}\\u{7f}\\u{85}");
        assert_eq!(escaped("abc\u{202e}fed\u{2028}"), "abc\\u{202e}fed\\u{2028}");
        assert_eq!(escaped("café → ok"), "café → ok");
    }
}
