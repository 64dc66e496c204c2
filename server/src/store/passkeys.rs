//! Passkeys and WebAuthn ceremonies. Every passkey query that names one is scoped by `user_id`,
//! as notes are: another account's passkey is indistinguishable from a missing one.

use sqlx::FromRow;

use super::{with_pool, Db};

#[derive(Debug, Clone, FromRow)]
pub struct PasskeyRow {
    pub id: String,
    pub user_id: String,
    pub cred_id: Vec<u8>,
    pub name: String,
    /// webauthn-rs's `Passkey` as JSON.
    pub passkey: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
}

const COLS: &str = "id, user_id, cred_id, name, passkey, created_at, last_used_at";

/// A user's passkeys, oldest first.
pub async fn list(db: &Db, user_id: &str) -> sqlx::Result<Vec<PasskeyRow>> {
    let sql = format!("SELECT {COLS} FROM passkeys WHERE user_id = $1 ORDER BY created_at, id");
    with_pool!(db, read, p => sqlx::query_as(&sql).bind(user_id).fetch_all(p).await)
}

/// Adds a passkey. `false` if its credential id is registered already (to this account or
/// another): a credential belongs to one account.
pub async fn insert(
    db: &Db,
    user_id: &str,
    cred_id: &[u8],
    name: &str,
    passkey: &str,
    now: i64,
) -> sqlx::Result<Option<PasskeyRow>> {
    let id = uuid::Uuid::new_v4().to_string();
    let sql = format!(
        "INSERT INTO passkeys (id, user_id, cred_id, name, passkey, created_at)
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING {COLS}"
    );
    let inserted = with_pool!(db, write, p => sqlx::query_as(&sql)
        .bind(&id)
        .bind(user_id)
        .bind(cred_id)
        .bind(name)
        .bind(passkey)
        .bind(now)
        .fetch_one(p)
        .await);
    match inserted {
        Ok(row) => Ok(Some(row)),
        Err(e) if super::is_unique_violation(&e) => Ok(None),
        Err(e) => Err(e),
    }
}

/// After a login with it: the credential's new state (its signature counter) and the time, if
/// the stored state is still `was` (what the sign-in was checked against). `false` otherwise:
/// the passkey was deleted meanwhile, or another sign-in with it finished first (its counter
/// moved), and the sign-in is refused rather than let through on a state that is gone, or
/// allowed to put an older counter back.
pub async fn used(db: &Db, id: &str, was: &str, passkey: &str, now: i64) -> sqlx::Result<bool> {
    with_pool!(db, write, p => sqlx::query(
        "UPDATE passkeys SET passkey = $1, last_used_at = $2 WHERE id = $3 AND passkey = $4",
    )
    .bind(passkey)
    .bind(now)
    .bind(id)
    .bind(was)
    .execute(p)
    .await
    .map(|r| r.rows_affected() == 1))
}

/// Renames one of the user's passkeys; the row, or `None` if the user has no such passkey.
pub async fn rename(
    db: &Db,
    user_id: &str,
    id: &str,
    name: &str,
) -> sqlx::Result<Option<PasskeyRow>> {
    let sql =
        format!("UPDATE passkeys SET name = $1 WHERE user_id = $2 AND id = $3 RETURNING {COLS}");
    with_pool!(db, write, p => sqlx::query_as(&sql)
        .bind(name)
        .bind(user_id)
        .bind(id)
        .fetch_optional(p)
        .await)
}

/// Deletes one of the user's passkeys; `false` if the user has no such passkey. A deleted
/// passkey fails its next login on every instance: logins read the row, never a cache.
pub async fn delete(db: &Db, user_id: &str, id: &str) -> sqlx::Result<bool> {
    with_pool!(db, write, p => sqlx::query("DELETE FROM passkeys WHERE user_id = $1 AND id = $2")
        .bind(user_id)
        .bind(id)
        .execute(p)
        .await
        .map(|r| r.rows_affected() == 1))
}

/// Live ceremonies of every kind (for the cap on how many may be open at once).
pub async fn live_ceremonies(db: &Db, now: i64) -> sqlx::Result<i64> {
    with_pool!(db, read, p => sqlx::query_scalar(
        "SELECT COUNT(*) FROM webauthn_ceremonies WHERE expires_at >= $1",
    )
    .bind(now)
    .fetch_one(p)
    .await)
}

/// Starts a ceremony: its state, kept until `expires_at`. A registration replaces the user's
/// earlier one, if any: one account has at most one registration open, so a signed-in user
/// cannot fill the table.
pub async fn begin_ceremony(
    db: &Db,
    kind: &str,
    user_id: Option<&str>,
    state: &str,
    expires_at: i64,
) -> sqlx::Result<String> {
    let id = uuid::Uuid::new_v4().to_string();
    with_pool!(db, write, p => {
        let mut tx = p.begin().await?;
        if let Some(user) = user_id {
            sqlx::query("DELETE FROM webauthn_ceremonies WHERE user_id = $1 AND kind = $2")
                .bind(user)
                .bind(kind)
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query(
            "INSERT INTO webauthn_ceremonies (id, kind, user_id, state, expires_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&id)
        .bind(kind)
        .bind(user_id)
        .bind(state)
        .bind(expires_at)
        .execute(&mut *tx)
        .await?;
        tx.commit().await
    })?;
    Ok(id)
}

/// Takes a ceremony of `kind` for `user_id` (`None`: a login), if it exists and has not expired
/// at `now`: its state. Taking deletes it, in the same statement, so of two requests finishing
/// one ceremony (a replay, or two instances) exactly one gets it: a challenge is answered once.
pub async fn take_ceremony(
    db: &Db,
    id: &str,
    kind: &str,
    user_id: Option<&str>,
    now: i64,
) -> sqlx::Result<Option<String>> {
    let taken: Option<(String, Option<String>, i64)> = with_pool!(db, write, p => sqlx::query_as(
        "DELETE FROM webauthn_ceremonies WHERE id = $1 AND kind = $2
         RETURNING state, user_id, expires_at",
    )
    .bind(id)
    .bind(kind)
    .fetch_optional(p)
    .await)?;
    // Checked after the delete, not in its WHERE: an expired or misdirected ceremony is spent
    // all the same.
    Ok(taken.and_then(|(state, owner, expires_at)| {
        (owner.as_deref() == user_id && expires_at > now).then_some(state)
    }))
}

/// Forgets ceremonies that expired before `now` (never finished).
pub async fn purge_ceremonies(db: &Db, now: i64) -> sqlx::Result<u64> {
    with_pool!(db, write, p => sqlx::query("DELETE FROM webauthn_ceremonies WHERE expires_at < $1")
        .bind(now)
        .execute(p)
        .await
        .map(|r| r.rows_affected()))
}
