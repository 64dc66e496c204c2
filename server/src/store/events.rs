//! The security event log.

use super::{with_pool, Db};

pub async fn record(
    db: &Db,
    now: i64,
    kind: &str,
    user_id: Option<&str>,
    session_id: Option<&str>,
    ip: Option<&str>,
    detail: &str,
) -> sqlx::Result<()> {
    with_pool!(db, write, p => sqlx::query(
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
    with_pool!(db, read, p => sqlx::query_scalar("SELECT COUNT(*) FROM security_events WHERE kind = $1 AND session_id = $2")
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

/// Which events [`recent`] returns: each field set narrows the list.
#[derive(Debug, Default, Clone, Copy)]
pub struct Filter<'a> {
    pub session_id: Option<&'a str>,
    pub user_id: Option<&'a str>,
    pub kind: Option<&'a str>,
}

/// The newest `limit` events that pass `filter`, newest first.
pub async fn recent(db: &Db, filter: Filter<'_>, limit: i64) -> sqlx::Result<Vec<EventRow>> {
    with_pool!(db, read, p => sqlx::query_as(
        "SELECT at, kind, user_id, session_id, ip, detail FROM security_events
         WHERE ($1 IS NULL OR session_id = $1) AND ($2 IS NULL OR user_id = $2)
           AND ($3 IS NULL OR kind = $3)
         ORDER BY id DESC LIMIT $4",
    )
    .bind(filter.session_id)
    .bind(filter.user_id)
    .bind(filter.kind)
    .bind(limit)
    .fetch_all(p)
    .await)
}
