//! Tracing set-up. Request spans carry method, path (never the query string, which could hold
//! secrets) and the request id; no handler logs a token, cookie or password.

use std::io::IsTerminal;

use tracing_subscriber::{fmt, EnvFilter};

/// Human-readable lines, or one JSON object per line (`CLOAKROOM_LOG_FORMAT=json`) for log
/// shippers.
pub fn init(filter: &str, json: bool) {
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
    // Colours only for a person at a terminal; files and journald get plain text.
    let builder = fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_ansi(std::io::stdout().is_terminal());
    let _ = if json {
        builder.json().flatten_event(true).try_init()
    } else {
        builder.try_init()
    };
}
