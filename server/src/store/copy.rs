//! `cloakroom db copy`: moving house from one database to another (SQLite → PostgreSQL when one
//! machine is no longer enough, or back), with everything a running service depends on — users,
//! sessions with every refresh-token hash (rotated ones too: reuse detection keeps working),
//! notes, passkeys, provider identities, signing keys, server secrets (the refresh-successor and device-cookie keys), the
//! revocation log, login budgets and the security event log. Nobody is logged out: a browser's
//! refresh cookie, and an access token signed before the move, work against the new database.
//!
//! One transaction on the target: a failed copy leaves it as empty as it was. The target must be
//! empty (freshly migrated); copying into a database that is in use would mix two services.

use sqlx::{postgres::PgRow, sqlite::SqliteRow, FromRow};

use super::{with_conn, with_pool, Conn, Db};

/// Rows copied, per table, in copy order.
pub type Report = Vec<(&'static str, usize)>;

pub async fn copy(from: &Db, to: &Db) -> anyhow::Result<Report> {
    let occupied: i64 = with_pool!(to, read, p => sqlx::query_scalar(
        "SELECT (SELECT COUNT(*) FROM users) + (SELECT COUNT(*) FROM sessions)
              + (SELECT COUNT(*) FROM signing_keys) + (SELECT COUNT(*) FROM server_secrets)",
    )
    .fetch_one(p)
    .await)?;
    anyhow::ensure!(
        occupied == 0,
        "the target database is not empty ({occupied} users, sessions, keys and secrets); refusing to overwrite it"
    );
    let report = with_pool!(to, write, p => {
        let mut tx = p.begin().await?;
        let report = copy_all(from, &mut Conn::of(&mut tx)).await?;
        tx.commit().await?;
        report
    });
    Ok(report)
}

async fn rows<T>(from: &Db, sql: &str) -> sqlx::Result<Vec<T>>
where
    T: for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow> + Send + Unpin,
{
    with_pool!(from, read, p => sqlx::query_as(sql).fetch_all(p).await)
}

#[derive(FromRow)]
struct User {
    id: String,
    username: String,
    password_hash: String,
    roles: String,
    created_at: i64,
    notes_touched: i64,
}

#[derive(FromRow)]
struct Session {
    id: String,
    user_id: String,
    created_at: i64,
    expires_at: i64,
    persistent: bool,
    user_agent: Option<String>,
    ip: Option<String>,
    revoked_at: Option<i64>,
    revoked_reason: Option<String>,
    dpop_bound: bool,
    oidc_issuer: Option<String>,
    oidc_sid: Option<String>,
}

#[derive(FromRow)]
struct Identity {
    issuer: String,
    subject: String,
    user_id: String,
    created_at: i64,
}

#[derive(FromRow)]
struct Token {
    token_hash: Vec<u8>,
    session_id: String,
    issued_at: i64,
    expires_at: i64,
    rotated_at: Option<i64>,
}

#[derive(FromRow)]
struct Note {
    id: String,
    user_id: String,
    title: String,
    body: String,
    created_at: i64,
    updated_at: i64,
    touched: i64,
}

#[derive(FromRow)]
struct Key {
    kid: String,
    seed: Vec<u8>,
    public_key: Vec<u8>,
    created_at: i64,
    retired_at: Option<i64>,
    revoked_at: Option<i64>,
    rowid: i64,
}

#[derive(FromRow)]
struct Secret {
    name: String,
    value: Vec<u8>,
}

#[derive(FromRow)]
struct Revocation {
    seq: i64,
    session_id: String,
    revoked_at: i64,
    logged_at: i64,
}

#[derive(FromRow)]
struct Budget {
    budget: String,
    failures: String,
    last_at: i64,
}

#[derive(FromRow)]
struct Event {
    id: i64,
    at: i64,
    kind: String,
    user_id: Option<String>,
    session_id: Option<String>,
    ip: Option<String>,
    detail: Option<String>,
}

async fn copy_all(from: &Db, to: &mut Conn<'_>) -> sqlx::Result<Report> {
    let mut report = Report::new();

    let users: Vec<User> = rows(
        from,
        "SELECT id, username, password_hash, roles, created_at, notes_touched FROM users",
    )
    .await?;
    for r in &users {
        with_conn!(to, c => sqlx::query(
            "INSERT INTO users (id, username, password_hash, roles, created_at, notes_touched)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&r.id).bind(&r.username).bind(&r.password_hash).bind(&r.roles).bind(r.created_at)
        .bind(r.notes_touched)
        .execute(c)
        .await
        .map(|_| ()))?;
    }
    report.push(("users", users.len()));

    let sessions: Vec<Session> = rows(from, "SELECT id, user_id, created_at, expires_at, persistent, user_agent, ip, revoked_at, revoked_reason, dpop_bound, oidc_issuer, oidc_sid FROM sessions").await?;
    for r in &sessions {
        with_conn!(to, c => sqlx::query(
            "INSERT INTO sessions (id, user_id, created_at, expires_at, persistent, user_agent, ip,
                                   revoked_at, revoked_reason, dpop_bound, oidc_issuer, oidc_sid)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        )
        .bind(&r.id).bind(&r.user_id).bind(r.created_at).bind(r.expires_at).bind(r.persistent)
        .bind(&r.user_agent).bind(&r.ip).bind(r.revoked_at).bind(&r.revoked_reason)
        .bind(r.dpop_bound).bind(&r.oidc_issuer).bind(&r.oidc_sid)
        .execute(c)
        .await
        .map(|_| ()))?;
    }
    report.push(("sessions", sessions.len()));

    let tokens: Vec<Token> = rows(
        from,
        "SELECT token_hash, session_id, issued_at, expires_at, rotated_at FROM refresh_tokens",
    )
    .await?;
    for r in &tokens {
        with_conn!(to, c => sqlx::query(
            "INSERT INTO refresh_tokens (token_hash, session_id, issued_at, expires_at, rotated_at)
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&r.token_hash).bind(&r.session_id).bind(r.issued_at).bind(r.expires_at)
        .bind(r.rotated_at)
        .execute(c)
        .await
        .map(|_| ()))?;
    }
    report.push(("refresh_tokens", tokens.len()));

    let notes: Vec<Note> = rows(
        from,
        "SELECT id, user_id, title, body, created_at, updated_at, touched FROM notes",
    )
    .await?;
    for r in &notes {
        with_conn!(to, c => sqlx::query(
            "INSERT INTO notes (id, user_id, title, body, created_at, updated_at, touched)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&r.id).bind(&r.user_id).bind(&r.title).bind(&r.body).bind(r.created_at)
        .bind(r.updated_at).bind(r.touched)
        .execute(c)
        .await
        .map(|_| ()))?;
    }
    report.push(("notes", notes.len()));

    // Passkeys, with their signature counters. Ceremonies in progress are not copied: they live
    // five minutes, and a move takes the service down for longer.
    let passkeys: Vec<super::passkeys::PasskeyRow> = rows(
        from,
        "SELECT id, user_id, cred_id, name, passkey, created_at, last_used_at FROM passkeys",
    )
    .await?;
    for r in &passkeys {
        with_conn!(to, c => sqlx::query(
            "INSERT INTO passkeys (id, user_id, cred_id, name, passkey, created_at, last_used_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&r.id).bind(&r.user_id).bind(&r.cred_id).bind(&r.name).bind(&r.passkey)
        .bind(r.created_at).bind(r.last_used_at)
        .execute(c)
        .await
        .map(|_| ()))?;
    }
    report.push(("passkeys", passkeys.len()));

    // Which provider users are which accounts. Sign-ins under way and spent logout tokens are
    // not copied: they live minutes, and a move takes the service down for longer.
    let identities: Vec<Identity> = rows(
        from,
        "SELECT issuer, subject, user_id, created_at FROM oidc_identities",
    )
    .await?;
    for r in &identities {
        with_conn!(to, c => sqlx::query(
            "INSERT INTO oidc_identities (issuer, subject, user_id, created_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(&r.issuer).bind(&r.subject).bind(&r.user_id).bind(r.created_at)
        .execute(c)
        .await
        .map(|_| ()))?;
    }
    report.push(("oidc_identities", identities.len()));

    let keys: Vec<Key> = rows(
        from,
        "SELECT kid, seed, public_key, created_at, retired_at, revoked_at, rowid FROM signing_keys",
    )
    .await?;
    for r in &keys {
        with_conn!(to, c => sqlx::query(
            "INSERT INTO signing_keys (kid, seed, public_key, created_at, retired_at, revoked_at, rowid)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&r.kid).bind(&r.seed).bind(&r.public_key).bind(r.created_at).bind(r.retired_at)
        .bind(r.revoked_at).bind(r.rowid)
        .execute(c)
        .await
        .map(|_| ()))?;
    }
    report.push(("signing_keys", keys.len()));

    let secrets: Vec<Secret> = rows(from, "SELECT name, value FROM server_secrets").await?;
    for r in &secrets {
        with_conn!(to, c => sqlx::query("INSERT INTO server_secrets (name, value) VALUES ($1, $2)")
            .bind(&r.name).bind(&r.value)
            .execute(c)
            .await
            .map(|_| ()))?;
    }
    report.push(("server_secrets", secrets.len()));

    let revocations: Vec<Revocation> = rows(
        from,
        "SELECT seq, session_id, revoked_at, logged_at FROM revocations",
    )
    .await?;
    for r in &revocations {
        with_conn!(to, c => sqlx::query(
            "INSERT INTO revocations (seq, session_id, revoked_at, logged_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(r.seq).bind(&r.session_id).bind(r.revoked_at).bind(r.logged_at)
        .execute(c)
        .await
        .map(|_| ()))?;
    }
    report.push(("revocations", revocations.len()));

    let budgets: Vec<Budget> =
        rows(from, "SELECT budget, failures, last_at FROM login_budgets").await?;
    for r in &budgets {
        with_conn!(to, c => sqlx::query(
            "INSERT INTO login_budgets (budget, failures, last_at) VALUES ($1, $2, $3)",
        )
        .bind(&r.budget).bind(&r.failures).bind(r.last_at)
        .execute(c)
        .await
        .map(|_| ()))?;
    }
    report.push(("login_budgets", budgets.len()));

    let events: Vec<Event> = rows(
        from,
        "SELECT id, at, kind, user_id, session_id, ip, detail FROM security_events",
    )
    .await?;
    for r in &events {
        with_conn!(to, c => sqlx::query(
            "INSERT INTO security_events (id, at, kind, user_id, session_id, ip, detail)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(r.id).bind(r.at).bind(&r.kind).bind(&r.user_id).bind(&r.session_id).bind(&r.ip)
        .bind(&r.detail)
        .execute(c)
        .await
        .map(|_| ()))?;
    }
    report.push(("security_events", events.len()));

    // Rows were inserted with their numbers; PostgreSQL's sequences must continue after them
    // (SQLite's AUTOINCREMENT follows explicit ids by itself). The revocation log's numbers
    // keep their order, so instances following it lose nothing across the move.
    if let Conn::Postgres(c) = to {
        for (table, column) in [
            ("revocations", "seq"),
            ("security_events", "id"),
            ("signing_keys", "rowid"),
        ] {
            sqlx::query(&format!(
                "SELECT setval(pg_get_serial_sequence('{table}', '{column}'),
                               COALESCE((SELECT MAX({column}) FROM {table}), 0) + 1, false)"
            ))
            .execute(&mut **c)
            .await?;
        }
    }
    Ok(report)
}
