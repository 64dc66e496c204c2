//! Sign-ins through the OpenID provider: the ones under way (single use, expiring), which
//! account each provider user is, and the logout tokens already acted on.

use super::{is_unique_violation, users::UserRow, with_pool, Db};

/// Records a sign-in under way; the id returned goes into this browser's cookie.
pub async fn begin_login(db: &Db, state: &str, expires_at: i64) -> sqlx::Result<String> {
    let id = uuid::Uuid::new_v4().to_string();
    with_pool!(db, write, p => sqlx::query(
        "INSERT INTO oidc_logins (id, state, expires_at) VALUES ($1, $2, $3)",
    )
    .bind(&id)
    .bind(state)
    .bind(expires_at)
    .execute(p)
    .await
    .map(|_| ()))?;
    Ok(id)
}

/// Takes the sign-in `id` if it has not expired at `now`. Taking deletes it in the same
/// statement, so of two requests finishing one sign-in (a replayed callback, two instances)
/// exactly one gets it; an expired one is spent all the same.
pub async fn take_login(db: &Db, id: &str, now: i64) -> sqlx::Result<Option<String>> {
    let taken: Option<(String, i64)> = with_pool!(db, write, p => sqlx::query_as(
        "DELETE FROM oidc_logins WHERE id = $1 RETURNING state, expires_at",
    )
    .bind(id)
    .fetch_optional(p)
    .await)?;
    Ok(taken.and_then(|(state, expires_at)| (expires_at > now).then_some(state)))
}

/// Forgets sign-ins that expired before `now` (never finished) and spent logout tokens that
/// could no longer be replayed anyway.
pub async fn purge(db: &Db, now: i64) -> sqlx::Result<u64> {
    with_pool!(db, write, p => {
        let a = sqlx::query("DELETE FROM oidc_logins WHERE expires_at < $1")
            .bind(now)
            .execute(p)
            .await?
            .rows_affected();
        let b = sqlx::query("DELETE FROM oidc_logout_tokens WHERE expires_at < $1")
            .bind(now)
            .execute(p)
            .await?
            .rows_affected();
        Ok(a + b)
    })
}

/// The account of the provider's user `(issuer, subject)`, if it has one.
pub async fn find_user(db: &Db, issuer: &str, subject: &str) -> sqlx::Result<Option<UserRow>> {
    with_pool!(db, read, p => sqlx::query_as(
        "SELECT u.id, u.username, u.password_hash, u.roles FROM oidc_identities i
         JOIN users u ON u.id = i.user_id WHERE i.issuer = $1 AND i.subject = $2",
    )
    .bind(issuer)
    .bind(subject)
    .fetch_optional(p)
    .await)
}

/// Whether the account signs in through an OpenID provider.
pub async fn has_identity(db: &Db, user_id: &str) -> sqlx::Result<bool> {
    with_pool!(db, read, p => sqlx::query_scalar::<_, i64>(
        "SELECT COUNT(*) FROM oidc_identities WHERE user_id = $1",
    )
    .bind(user_id)
    .fetch_one(p)
    .await
    .map(|n| n > 0))
}

/// What [`create_user`] did.
pub enum Created {
    User(UserRow),
    /// The username is taken: try another.
    UsernameTaken,
    /// Another request made this provider user's account meanwhile: use that one.
    IdentityExists,
}

/// Creates an account named `username`, with no password, for the provider's user
/// `(issuer, subject)`, in one transaction: an account without its identity never exists.
/// No password: its `password_hash` is empty, which no password verifies against
/// (`auth::flows::check_password`).
pub async fn create_user(
    db: &Db,
    username: &str,
    issuer: &str,
    subject: &str,
    now: i64,
) -> sqlx::Result<Created> {
    let id = uuid::Uuid::new_v4().to_string();
    let res = with_pool!(db, write, p => {
        let mut tx = p.begin().await?;
        let user = sqlx::query(
            "INSERT INTO users (id, username, password_hash, roles, created_at) VALUES ($1, $2, '', '', $3)",
        )
        .bind(&id)
        .bind(username)
        .bind(now)
        .execute(&mut *tx)
        .await;
        if let Err(e) = user {
            return if is_unique_violation(&e) { Ok(Created::UsernameTaken) } else { Err(e) };
        }
        let identity = sqlx::query(
            "INSERT INTO oidc_identities (issuer, subject, user_id, created_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(issuer)
        .bind(subject)
        .bind(&id)
        .bind(now)
        .execute(&mut *tx)
        .await;
        match identity {
            Err(e) if is_unique_violation(&e) => return Ok(Created::IdentityExists),
            Err(e) => return Err(e),
            Ok(_) => {}
        }
        tx.commit().await?;
        Ok(Created::User(UserRow {
            id: id.clone(),
            username: username.to_owned(),
            password_hash: String::new(),
            roles: String::new(),
        }))
    });
    res
}

/// Links the account `user_id` to the provider's user `(issuer, subject)`; `false` if that
/// user is linked to an account already (this one or another: one account per provider user).
pub async fn link(
    db: &Db,
    issuer: &str,
    subject: &str,
    user_id: &str,
    now: i64,
) -> sqlx::Result<bool> {
    let res = with_pool!(db, write, p => sqlx::query(
        "INSERT INTO oidc_identities (issuer, subject, user_id, created_at) VALUES ($1, $2, $3, $4)",
    )
    .bind(issuer)
    .bind(subject)
    .bind(user_id)
    .bind(now)
    .execute(p)
    .await
    .map(drop));
    first_insert(res)
}

/// `true` for a row inserted, `false` for one its unique key already had.
fn first_insert(res: sqlx::Result<()>) -> sqlx::Result<bool> {
    match res {
        Ok(()) => Ok(true),
        Err(e) if is_unique_violation(&e) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Records a logout token's `jti` until `expires_at`; `false` if it was recorded already
/// (a replay).
pub async fn spend_logout_token(
    db: &Db,
    issuer: &str,
    jti: &str,
    expires_at: i64,
) -> sqlx::Result<bool> {
    let res = with_pool!(db, write, p => sqlx::query(
        "INSERT INTO oidc_logout_tokens (issuer, jti, expires_at) VALUES ($1, $2, $3)",
    )
    .bind(issuer)
    .bind(jti)
    .bind(expires_at)
    .execute(p)
    .await
    .map(drop));
    first_insert(res)
}

/// Forgets a logout token's `jti` (its logout failed half-way, so the provider's retry must pass).
pub async fn forget_logout_token(db: &Db, issuer: &str, jti: &str) -> sqlx::Result<()> {
    with_pool!(db, write, p => sqlx::query(
        "DELETE FROM oidc_logout_tokens WHERE issuer = $1 AND jti = $2",
    )
    .bind(issuer)
    .bind(jti)
    .execute(p)
    .await
    .map(|_| ()))
}

/// Revokes the live sessions a back-channel logout of `issuer` names: those begun in its
/// provider session `sid`; else (no `sid`) every session of `user_id`, however it began (the
/// provider logs its user out of this site, passkey sessions included); with both, only those
/// that match both. Returns their ids. Names neither: nothing (never "every session").
pub async fn revoke_sessions(
    db: &Db,
    issuer: &str,
    sid: Option<&str>,
    user_id: Option<&str>,
    now: i64,
    reason: &str,
) -> sqlx::Result<Vec<String>> {
    if sid.is_none() && user_id.is_none() {
        return Ok(vec![]);
    }
    with_pool!(db, write, p => sqlx::query_scalar(
        "UPDATE sessions SET revoked_at = $1, revoked_reason = $2
         WHERE revoked_at IS NULL
           AND ($4 IS NULL OR (oidc_issuer = $3 AND oidc_sid = $4)) AND ($5 IS NULL OR user_id = $5)
         RETURNING id",
    )
    .bind(now)
    .bind(reason)
    .bind(issuer)
    .bind(sid)
    .bind(user_id)
    .fetch_all(p)
    .await)
}
