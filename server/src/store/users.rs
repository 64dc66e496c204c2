//! Users and their credentials.

use sqlx::FromRow;

use super::{is_unique_violation, with_pool, Conn, Db};

#[derive(Debug, Clone, FromRow)]
pub struct UserRow {
    pub id: String,
    pub username: String,
    pub password_hash: String,
    pub roles: String,
}

impl UserRow {
    pub fn role_list(&self) -> Vec<String> {
        split_roles(&self.roles)
    }
}

pub fn split_roles(roles: &str) -> Vec<String> {
    roles.split_whitespace().map(str::to_owned).collect()
}

pub enum CreateUser {
    Created(UserRow),
    UsernameTaken,
}

pub async fn create(
    db: &Db,
    username: &str,
    password_hash: &str,
    now: i64,
) -> sqlx::Result<CreateUser> {
    let id = uuid::Uuid::new_v4().to_string();
    let res = with_pool!(db, write, p => sqlx::query(
        "INSERT INTO users (id, username, password_hash, roles, created_at) VALUES ($1, $2, $3, '', $4)",
    )
    .bind(&id)
    .bind(username)
    .bind(password_hash)
    .bind(now)
    .execute(p)
    .await
    .map(|_| ()));
    match res {
        Ok(_) => Ok(CreateUser::Created(UserRow {
            id,
            username: username.to_owned(),
            password_hash: password_hash.to_owned(),
            roles: String::new(),
        })),
        Err(e) if is_unique_violation(&e) => Ok(CreateUser::UsernameTaken),
        Err(e) => Err(e),
    }
}

/// Looks a user up by name, case-insensitively (the column's collation: NOCASE on SQLite,
/// `ascii_nocase` on PostgreSQL).
pub async fn find_by_username(db: &Db, username: &str) -> sqlx::Result<Option<UserRow>> {
    with_pool!(db, read, p => sqlx::query_as(
        "SELECT id, username, password_hash, roles FROM users WHERE username = $1",
    )
    .bind(username)
    .fetch_optional(p)
    .await)
}

pub async fn find_by_id(db: &Db, id: &str) -> sqlx::Result<Option<UserRow>> {
    with_pool!(db, read, p => sqlx::query_as("SELECT id, username, password_hash, roles FROM users WHERE id = $1")
        .bind(id)
        .fetch_optional(p)
        .await)
}

/// Sets a user's roles (space-separated). `false` if there is no such user.
pub async fn set_roles(db: &Db, user_id: &str, roles: &str) -> sqlx::Result<bool> {
    let n = with_pool!(db, write, p => sqlx::query("UPDATE users SET roles = $1 WHERE id = $2")
        .bind(roles)
        .bind(user_id)
        .execute(p)
        .await?
        .rows_affected());
    Ok(n == 1)
}

pub async fn set_password_hash(db: &Db, user_id: &str, hash: &str) -> sqlx::Result<bool> {
    let n = with_pool!(db, write, p => sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2")
        .bind(hash)
        .bind(user_id)
        .execute(p)
        .await?
        .rows_affected());
    Ok(n == 1)
}

/// Sets a new password hash, revokes every live session of the account and removes its passkeys,
/// in one transaction: a password change either happened with all its sessions ended, or not at all
/// (never "changed, but the thief's session lives on"). `expected`: the hash the caller checked
/// the current password against; if another change committed meanwhile, nothing is done and
/// `None` comes back. The `UPDATE` of the user's row comes first, so a login racing it waits for
/// it or is waited for (`sessions::create`). Returns the revoked sessions' ids.
pub async fn change_password(
    db: &Db,
    user_id: &str,
    expected: Option<&str>,
    new_hash: &str,
    now: i64,
    reason: &str,
) -> sqlx::Result<Option<Vec<String>>> {
    with_pool!(db, write, p => {
        let mut tx = p.begin().await?;
        let changed = sqlx::query(
            "UPDATE users SET password_hash = $1 WHERE id = $2 AND ($3 = '' OR password_hash = $3)",
        )
        .bind(new_hash)
        .bind(user_id)
        .bind(expected.unwrap_or(""))
        .execute(&mut *tx)
        .await?
        .rows_affected();
        // Not changed (the account went, or the expected hash is no longer its own): the
        // transaction ends unused.
        if changed == 1 {
            let ids = super::sessions::revoke_all_in(&mut Conn::of(&mut tx), user_id, now, reason).await?;
            // Every passkey goes with the old password: one added by whoever held a session
            // (a borrowed laptop, a script in the page within minutes of a sign-in) must not
            // outlive the change that was meant to shut them out. The owner adds theirs again.
            sqlx::query("DELETE FROM passkeys WHERE user_id = $1")
                .bind(user_id)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(Some(ids))
        } else {
            Ok(None)
        }
    })
}

/// What [`delete_account`] did.
#[derive(Debug, PartialEq, Eq)]
pub enum Deleted {
    /// Deleted; these sessions were live and are revoked (logged for every instance).
    Deleted(Vec<String>),
    /// The account holds the admin role and no other account does: nothing changed.
    LastAdmin,
    Missing,
}

/// In one transaction: refuses if the account is the last admin; revokes its live sessions
/// (the revocation log's trigger tells every instance, and the log has no link to sessions, so
/// it outlives them); deletes the account and, by the schema's cascades, its sessions,
/// refresh-token hashes and notes. Security events are kept: they name the account by id only.
pub async fn delete_account(
    db: &Db,
    user_id: &str,
    now: i64,
    reason: &str,
) -> sqlx::Result<Deleted> {
    const ADMIN: &str = "' ' || roles || ' ' LIKE '% admin %'";
    // The admin rows, read (and on PostgreSQL locked) before anything else: two admins deleting
    // themselves at once count one after the other (the second then sees one admin left).
    let lock_admins = format!(
        "SELECT id FROM users WHERE {ADMIN}{}",
        super::row_update_lock(db)
    );
    with_pool!(db, write, p => {
        let mut tx = p.begin().await?;
        let admins: Vec<String> = sqlx::query_scalar(&lock_admins).fetch_all(&mut *tx).await?;
        // The account's own row, locked (PostgreSQL) before its sessions are revoked: a login
        // making a session meanwhile waits for it (its insert is conditional on an update of
        // this row) and then finds the account gone. Without the lock, a session made after
        // the revocation's snapshot would be removed by the delete's cascade unrevoked, and its
        // access token would pass on every instance until it expired.
        let me: Option<bool> = sqlx::query_scalar(&format!(
            "SELECT {ADMIN} FROM users WHERE id = $1{}",
            super::row_update_lock(db)
        ))
            .bind(user_id)
            .fetch_optional(&mut *tx)
            .await?;
        match me {
            None => Ok(Deleted::Missing),
            Some(true) if admins.len() <= 1 => Ok(Deleted::LastAdmin),
            Some(_) => {
                let ids = super::sessions::revoke_all_in(&mut Conn::of(&mut tx), user_id, now, reason).await?;
                sqlx::query("DELETE FROM users WHERE id = $1")
                    .bind(user_id)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(Deleted::Deleted(ids))
            }
        }
    })
}

#[derive(Debug, Clone, FromRow)]
pub struct UserSummary {
    pub id: String,
    pub username: String,
    pub roles: String,
    pub created_at: i64,
    pub last_login_at: Option<i64>,
    pub live_sessions: i64,
}

/// Every user with the number of live sessions, by name.
pub async fn list_with_sessions(db: &Db, now: i64) -> sqlx::Result<Vec<UserSummary>> {
    let sql = format!(
        "SELECT u.id, u.username, u.roles, u.created_at, u.last_login_at,
                (SELECT COUNT(*) FROM sessions s JOIN refresh_tokens t ON t.session_id = s.id
                 WHERE s.user_id = u.id AND {live}) AS live_sessions
         FROM users u ORDER BY u.username",
        live = super::sessions::LIVE
    );
    with_pool!(db, read, p => sqlx::query_as(&sql).bind(now).fetch_all(p).await)
}
