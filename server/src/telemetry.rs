//! Tracing set-up. Request spans carry method, path (never the query string, which could hold
//! secrets) and a request id the server made; no handler logs a token, cookie or password.
//!
//! Log forging: whatever a client sends can end up in a field value (a path, a header someone
//! adds to a span later). Every line therefore goes through `Escaping`, which writes each
//! control character of a record (newline, carriage return, escape, NEL, the Unicode line
//! separators, bidi overrides, …) as a visible `\n`, `\r`, `\u001b`, `\u2028`, so one request
//! can never produce a line that looks like another record, nor drive the terminal of whoever
//! reads the log. Colours (ANSI escapes) are off for the same
//! reason.

use std::io::{self, Write};

use tracing_subscriber::{fmt, fmt::MakeWriter, EnvFilter};

/// Human-readable lines, or one JSON object per line (`CLOAKROOM_LOG_FORMAT=json`) for log
/// shippers.
pub fn init(filter: &str, json: bool) {
    init_with_writer(filter, json, io::stdout);
}

/// `init` with another destination (tests capture the log this way).
pub fn init_with_writer<W>(filter: &str, json: bool, writer: W)
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_ansi(false)
        .with_writer(Escaping(writer));
    let _ = if json {
        builder.json().flatten_event(true).try_init()
    } else {
        builder.try_init()
    };
}

/// A `MakeWriter` whose writers escape control characters (see the module docs).
pub struct Escaping<M>(pub M);

impl<'a, M: MakeWriter<'a>> MakeWriter<'a> for Escaping<M> {
    type Writer = EscapingWriter<M::Writer>;

    fn make_writer(&'a self) -> Self::Writer {
        EscapingWriter(self.0.make_writer())
    }
}

pub struct EscapingWriter<W>(W);

/// Whether `c` could end a line or reorder what a reader sees: C0 and C1 controls (NEL among
/// them), DEL, the Unicode line and paragraph separators, and the bidirectional overrides.
fn needs_escape(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{2028}' | '\u{2029}' | '\u{200e}' | '\u{200f}' | '\u{061c}'
        )
        || ('\u{202a}'..='\u{202e}').contains(&c)
        || ('\u{2066}'..='\u{2069}').contains(&c)
}

/// `buf` (one formatted record) with every such character but the final newline escaped.
pub fn escape_record(buf: &[u8]) -> Vec<u8> {
    let (body, newline) = match buf.strip_suffix(b"\n") {
        Some(b) => (b, true),
        None => (buf, false),
    };
    let text = String::from_utf8_lossy(body);
    let mut out = String::with_capacity(buf.len() + 8);
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            // `\uXXXX`: readable in a text line and a valid escape inside a JSON string (the
            // JSON format leaves C1 controls and U+2028 raw, and may hold client bytes).
            c if needs_escape(c) => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    if newline {
        out.push('\n');
    }
    out.into_bytes()
}

impl<W: Write> Write for EscapingWriter<W> {
    /// The formatter hands over each record in one call, so "the final newline" is the record's.
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write_all(&escape_record(buf))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::escape_record;

    #[test]
    fn a_value_cannot_start_a_new_line() {
        let rec = b"INFO failed login username=x\nFORGED INFO admin logged in\r\x1b[2J\n";
        let out = String::from_utf8(escape_record(rec)).unwrap();
        assert_eq!(
            out,
            "INFO failed login username=x\\nFORGED INFO admin logged in\\r\\u001b[2J\n"
        );
        assert_eq!(out.lines().count(), 1);
        assert_eq!(
            escape_record("plain ünïcode\n".as_bytes()),
            "plain ünïcode\n".as_bytes()
        );
        // Unicode line breaks and a bidi override are escaped too, as valid JSON escapes.
        let out = escape_record("a\u{85}FORGED\u{2028}FORGED\u{202e}desrever\n".as_bytes());
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "a\\u0085FORGED\\u2028FORGED\\u202edesrever\n"
        );
        let json = escape_record("{\"path\":\"/x\u{2028}y\"}\n".as_bytes());
        let v: serde_json::Value = serde_json::from_slice(&json).unwrap();
        assert_eq!(v["path"], "/x\u{2028}y");
    }
}
