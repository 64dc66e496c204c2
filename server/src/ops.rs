//! Operator actions behind the `cloakroom` CLI, as library functions so tests exercise the same
//! code. Each works against the database directly, also while a server runs: the server picks
//! up key rotations and revocations within `sync::SYNC_SECS`. Every action takes `now` from
//! its caller (the CLI reads `Clock::system()`; tests pass the clock of the server under test),
//! like every store call.

use anyhow::{bail, Context};

use crate::{
    auth::{accounts, password::Hasher, tokens::generate_key},
    domain::Password,
    store::{self, keys::KeyRow, Db},
};

/// Creates a user; `admin` grants the admin role (the only way to get it).
pub async fn create_user(
    db: &Db,
    hasher: &Hasher,
    username: &str,
    password: &str,
    admin: bool,
    now: i64,
) -> anyhow::Result<String> {
    let user = accounts::create(db, hasher, username, password, now).await?;
    if admin {
        store::users::set_roles(db, &user.id, api_types::ADMIN_ROLE).await?;
    }
    Ok(user.id)
}

async fn user_id(db: &Db, username: &str) -> anyhow::Result<String> {
    Ok(store::users::find_by_username(db, username)
        .await?
        .with_context(|| format!("no user named {username:?}"))?
        .id)
}

/// Sets a new password and ends every session of the user (a password change after a
/// compromise must lock the attacker out, not just the next login).
pub async fn set_password(
    db: &Db,
    hasher: &Hasher,
    username: &str,
    password: &str,
    now: i64,
) -> anyhow::Result<usize> {
    let id = user_id(db, username).await?;
    let password = Password::parse_new(password, username).map_err(anyhow::Error::msg)?;
    let hash = hasher.hash(&password).await?;
    // The new hash and the end of every session in one transaction (`users::change_password`).
    Ok(
        store::users::change_password(db, &id, None, &hash, now, "password changed")
            .await?
            .context("the user was deleted meanwhile")?
            .len(),
    )
}

/// Ends every session of a user; returns how many.
pub async fn revoke_sessions(db: &Db, username: &str, now: i64) -> anyhow::Result<usize> {
    let id = user_id(db, username).await?;
    Ok(
        store::sessions::revoke_all(db, &id, now, "revoked by an operator")
            .await?
            .len(),
    )
}

/// Makes a new signing key the signer; the previous one keeps verifying until its tokens expire.
pub async fn rotate_keys(db: &Db, now: i64) -> anyhow::Result<KeyRow> {
    let row = generate_key(now);
    store::keys::rotate(db, &row).await?;
    Ok(row)
}

/// Revokes signing key `kid`: every token it signed stops verifying at once on every server
/// (within `SYNC_SECS`), and if it was the signer a new key takes over. For a key that leaked;
/// everyone holding a token it signed refreshes silently and gets one from the new key.
pub async fn revoke_key(
    db: &Db,
    kid: &str,
    now: i64,
) -> anyhow::Result<store::keys::KeyRevocation> {
    let outcome = store::keys::revoke(db, kid, &generate_key(now), now).await?;
    match outcome {
        store::keys::KeyRevocation::NoSuchKey => {
            bail!("no signing key {kid:?} (see `cloakroom keys list`)")
        }
        store::keys::KeyRevocation::AlreadyRevoked => bail!("key {kid:?} is already revoked"),
        ok => Ok(ok),
    }
}

/// One line per key: kid, created, state.
pub async fn list_keys(db: &Db, access_ttl: i64, now: i64) -> anyhow::Result<Vec<String>> {
    Ok(store::keys::all(db)
        .await?
        .into_iter()
        .map(|k| {
            let state = match (k.retired_at, k.revoked_at) {
                (_, Some(at)) => format!("revoked {}", crate::rfc3339(at)),
                (None, None) => "signing".to_owned(),
                (Some(at), None) if at + access_ttl > now => {
                    format!(
                        "verifying until {} (retired {})",
                        crate::rfc3339(at + access_ttl),
                        crate::rfc3339(at)
                    )
                }
                (Some(at), None) => format!("expired (retired {})", crate::rfc3339(at)),
            };
            format!(
                "{}  created {}  {}",
                k.kid,
                crate::rfc3339(k.created_at),
                state
            )
        })
        .collect())
}
