//! The security event log.

use super::{on, Db};

pub async fn record(
    db: &Db,
    now: i64,
    kind: &str,
    user_id: Option<&str>,
    session_id: Option<&str>,
    ip: Option<&str>,
    detail: &str,
) -> sqlx::Result<()> {
    on!(db, write, p => sqlx::query(
        "INSERT INTO security_events (at, kind, user_id, session_id, ip, detail) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(now)
    .bind(kind)
    .bind(user_id)
    .bind(session_id)
    .bind(ip)
    .bind(detail)
    .execute(p)
    .await
    .map(|_| ()))
}

/// Number of events of `kind` for a session (tests and operators).
pub async fn count(db: &Db, kind: &str, session_id: &str) -> sqlx::Result<i64> {
    on!(db, read, p => sqlx::query_scalar("SELECT COUNT(*) FROM security_events WHERE kind = $1 AND session_id = $2")
        .bind(kind)
        .bind(session_id)
        .fetch_one(p)
        .await)
}

/// One security event.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct EventRow {
    pub at: i64,
    pub kind: String,
    pub user_id: Option<String>,
    pub session_id: Option<String>,
    pub ip: Option<String>,
    pub detail: Option<String>,
}

/// The newest `limit` events, newest first (optionally of one session).
pub async fn recent(db: &Db, session_id: Option<&str>, limit: i64) -> sqlx::Result<Vec<EventRow>> {
    on!(db, read, p => sqlx::query_as(
        "SELECT at, kind, user_id, session_id, ip, detail FROM security_events
         WHERE $1 IS NULL OR session_id = $1 ORDER BY id DESC LIMIT $2",
    )
    .bind(session_id)
    .bind(limit)
    .fetch_all(p)
    .await)
}
