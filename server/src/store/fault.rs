//! Which database failures are the database's condition rather than a bug, so the API can say
//! so honestly (503 "busy, nothing saved, retry" or 507 "full, nothing saved") instead of a
//! bare 500. Everything not named here stays a 500: an error we do not understand is not one
//! we may promise the client anything about.

use std::borrow::Cow;

/// A database condition a client can do something about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Busy, locked, restarting or unreachable: the statement did not take effect. Retry.
    Busy,
    /// Out of space: the statement did not take effect. Nothing acknowledged is lost.
    Full,
}

// SQLite primary result codes (https://www.sqlite.org/rescode.html); sqlx reports the extended
// code, whose low byte is the primary one.
const SQLITE_BUSY: i64 = 5;
const SQLITE_LOCKED: i64 = 6;
const SQLITE_FULL: i64 = 13;

/// The fault `e` is, if it is one.
pub fn fault_of(e: &sqlx::Error) -> Option<Fault> {
    match e {
        // No connection came free in time (a writer holds the only SQLite writer connection, or
        // PostgreSQL's pool is exhausted or cannot connect): nothing ran.
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed => Some(Fault::Busy),
        // The connection broke (a PostgreSQL restart or failover, a reset). A statement whose
        // connection broke before the commit was acknowledged did not commit as far as anyone
        // was told; every write here is idempotent to retry (refresh successors are
        // deterministic), so "retry" is the honest answer.
        sqlx::Error::Io(_) => Some(Fault::Busy),
        sqlx::Error::Database(d) => {
            if let Some(r) = d.try_downcast_ref::<Replicated>() {
                r.fault
            } else if d.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() {
                sqlite_fault(d.code().as_deref()?)
            } else {
                postgres_fault(d.code().as_deref()?)
            }
        }
        _ => None,
    }
}

/// SQLite: numeric (extended) result codes.
fn sqlite_fault(code: &str) -> Option<Fault> {
    match code.parse::<i64>().ok()? & 0xff {
        SQLITE_BUSY | SQLITE_LOCKED => Some(Fault::Busy),
        SQLITE_FULL => Some(Fault::Full),
        _ => None,
    }
}

/// PostgreSQL SQLSTATEs (Appendix A of its manual). Some are all digits ("53100"): the engine
/// is told by the error's type, never by the code's shape.
fn postgres_fault(code: &str) -> Option<Fault> {
    match code {
        // disk_full
        "53100" => Some(Fault::Full),
        // lock_not_available (lock_timeout), query_canceled (statement_timeout),
        // serialization_failure, deadlock_detected, insufficient_resources, out_of_memory,
        // too_many_connections, admin_shutdown, crash_shutdown, cannot_connect_now,
        // read_only_sql_transaction (a failover's old primary, now a standby)
        "55P03" | "57014" | "40001" | "40P01" | "53000" | "53200" | "53300" | "57P01" | "57P02"
        | "57P03" | "25006" => Some(Fault::Busy),
        // connection_exception and its subclasses
        c if c.starts_with("08") => Some(Fault::Busy),
        _ => None,
    }
}

/// An error that reports `e`'s fault again, for callers that must hand one failure to many
/// waiters (the rotation batch: `sqlx::Error` is not `Clone`).
pub fn replicate(e: &sqlx::Error) -> sqlx::Error {
    match e {
        sqlx::Error::PoolTimedOut => sqlx::Error::PoolTimedOut,
        sqlx::Error::PoolClosed => sqlx::Error::PoolClosed,
        sqlx::Error::Io(io) => sqlx::Error::Io(std::io::Error::new(io.kind(), io.to_string())),
        sqlx::Error::Database(d) => sqlx::Error::Database(Box::new(Replicated {
            code: d.code().map(Cow::into_owned),
            message: d.message().to_owned(),
            fault: fault_of(e),
        })),
        other => sqlx::Error::Protocol(other.to_string()),
    }
}

/// A database error seen once and reported to several waiters: its code and message.
#[derive(Debug)]
struct Replicated {
    code: Option<String>,
    message: String,
    fault: Option<Fault>,
}

impl std::fmt::Display for Replicated {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.code {
            Some(c) => write!(f, "(code: {c}) {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for Replicated {}

impl sqlx::error::DatabaseError for Replicated {
    fn message(&self) -> &str {
        &self.message
    }

    fn code(&self) -> Option<Cow<'_, str>> {
        self.code.as_deref().map(Cow::Borrowed)
    }

    fn as_error(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
        self
    }

    fn as_error_mut(&mut self) -> &mut (dyn std::error::Error + Send + Sync + 'static) {
        self
    }

    fn into_error(self: Box<Self>) -> Box<dyn std::error::Error + Send + Sync + 'static> {
        self
    }

    fn kind(&self) -> sqlx::error::ErrorKind {
        sqlx::error::ErrorKind::Other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_and_postgres_codes() {
        assert_eq!(sqlite_fault("5"), Some(Fault::Busy));
        assert_eq!(
            sqlite_fault("517"),
            Some(Fault::Busy),
            "SQLITE_BUSY_SNAPSHOT"
        );
        assert_eq!(sqlite_fault("6"), Some(Fault::Busy));
        assert_eq!(sqlite_fault("13"), Some(Fault::Full));
        assert_eq!(sqlite_fault("2067"), None, "a UNIQUE violation is no fault");
        assert_eq!(postgres_fault("53100"), Some(Fault::Full));
        assert_eq!(postgres_fault("40001"), Some(Fault::Busy));
        assert_eq!(postgres_fault("55P03"), Some(Fault::Busy));
        assert_eq!(postgres_fault("57P01"), Some(Fault::Busy));
        assert_eq!(postgres_fault("08006"), Some(Fault::Busy));
        assert_eq!(postgres_fault("23505"), None);
        assert_eq!(
            postgres_fault("13"),
            None,
            "SQLite's codes mean nothing here"
        );
        assert_eq!(fault_of(&sqlx::Error::RowNotFound), None);
    }

    #[test]
    fn a_replicated_error_keeps_its_fault() {
        for fault in [Some(Fault::Busy), Some(Fault::Full), None] {
            let e = sqlx::Error::Database(Box::new(Replicated {
                code: Some("13".into()),
                message: "m".into(),
                fault,
            }));
            assert_eq!(fault_of(&e), fault);
            assert_eq!(fault_of(&replicate(&e)), fault);
        }
        assert_eq!(
            fault_of(&replicate(&sqlx::Error::PoolTimedOut)),
            Some(Fault::Busy)
        );
    }
}
