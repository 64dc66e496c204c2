//! Tracing set-up. Request spans carry method, path (never the query string, which could hold
//! secrets) and the request id; no handler logs a token, cookie or password.

use tracing_subscriber::{fmt, EnvFilter};

pub fn init(filter: &str) {
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = fmt().with_env_filter(filter).with_target(false).try_init();
}
