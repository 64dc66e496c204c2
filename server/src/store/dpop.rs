//! DPoP proof ids shared by every instance (PostgreSQL only; see migrations/postgres).

use super::Db;

/// Records proof `jti` of key `jkt`, valid until `until`; `false` if that proof was recorded
/// before and its window has not passed (`now`): a replay, possibly to another instance.
/// On SQLite (one process) there is nothing to share and every proof is new here; the
/// process's own cache (`auth::dpop::ReplayCache`) has already looked.
///
/// The insert commits without waiting for the disk (`synchronous_commit = off`, for this
/// statement's own transaction only): a crash may forget the proofs of its last moments, which
/// re-opens at most one minute's replay window for them, and in return a DPoP request costs no
/// fsync. It is one statement, set_config's local setting included, so a DPoP request costs one
/// round trip to the database here instead of four (`BEGIN`, `SET LOCAL`, the insert, `COMMIT`):
/// the setting is read when the statement's transaction commits, before it is undone.
pub async fn record(db: &Db, jkt: &str, jti: &str, until: i64, now: i64) -> sqlx::Result<bool> {
    let Some(pool) = db.postgres() else {
        return Ok(true);
    };
    let n = sqlx::query(
        "INSERT INTO dpop_proofs (jkt, jti, until)
         SELECT $1, $2, $3::bigint
           FROM (SELECT set_config('synchronous_commit', 'off', true)) AS this_statement_only
         ON CONFLICT (jkt, jti) DO UPDATE SET until = excluded.until WHERE dpop_proofs.until < $4",
    )
    .bind(jkt)
    .bind(jti)
    .bind(until)
    .bind(now)
    .execute(pool)
    .await?
    .rows_affected();
    Ok(n == 1)
}

/// Forgets proofs whose window ended before `now`.
pub async fn purge(db: &Db, now: i64) -> sqlx::Result<u64> {
    let Some(pool) = db.postgres() else {
        return Ok(0);
    };
    Ok(sqlx::query("DELETE FROM dpop_proofs WHERE until < $1")
        .bind(now)
        .execute(pool)
        .await?
        .rows_affected())
}
