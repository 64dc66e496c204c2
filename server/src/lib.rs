//! Cloakroom's backend: the server keeps your coat (the refresh token, in an HttpOnly cookie and
//! hashed in its store) and hands you a ticket (a short-lived access JWT kept in client memory).

pub mod auth;
pub mod clock;
pub mod config;
pub mod docs;
pub mod domain;
pub mod error;
pub mod extract;
pub mod middleware;
pub mod ops;
pub mod routes;
pub mod security;
pub mod startup;
pub mod state;
pub mod store;
pub mod sync;
pub mod telemetry;
pub mod testing;

/// The wall clock in seconds since the Unix epoch: what `clock::Clock` reads when it is not
/// frozen. Token and session decisions read the `Clock` in the state (tests move it), never
/// this directly; only the clock itself and unit tests of pure functions call it.
pub(crate) fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// RFC 3339 rendering of a Unix timestamp, for API answers.
pub fn rfc3339(ts: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(ts)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}
