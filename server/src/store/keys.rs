//! Persisted access-token signing keys.

use sqlx::FromRow;

use super::{with_conn, with_pool, Conn, Db};

#[derive(Clone, FromRow)]
pub struct KeyRow {
    pub kid: String,
    pub seed: Vec<u8>,
    pub public_key: Vec<u8>,
    pub created_at: i64,
    pub retired_at: Option<i64>,
    /// Set by `cloakroom keys revoke`: the key verifies nothing any more.
    pub revoked_at: Option<i64>,
}

impl std::fmt::Debug for KeyRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyRow")
            .field("kid", &self.kid)
            .field("created_at", &self.created_at)
            .finish_non_exhaustive()
    }
}

/// Keys newest first.
pub async fn all(db: &Db) -> sqlx::Result<Vec<KeyRow>> {
    // (`rowid`: SQLite's implicit insertion order; a BIGSERIAL of that name on PostgreSQL.)
    with_pool!(db, write, p => sqlx::query_as(
        "SELECT kid, seed, public_key, created_at, retired_at, revoked_at FROM signing_keys
         ORDER BY created_at DESC, rowid DESC",
    )
    .fetch_all(p)
    .await)
}

/// Inserts `row` as the signer unless there is one already; `false` if another process got
/// there first. Two instances starting together on an empty PostgreSQL database would otherwise
/// each make a first key and, until they reloaded, refuse each other's tokens: there the check
/// and the insert hold a transaction-scoped advisory lock. SQLite has one writer.
pub async fn insert_first_signer(db: &Db, row: &KeyRow) -> sqlx::Result<bool> {
    const INSERT_UNLESS_SIGNER: &str =
        "INSERT INTO signing_keys (kid, seed, public_key, created_at, retired_at)
         SELECT $1, $2, $3, $4, NULL
         WHERE NOT EXISTS (SELECT 1 FROM signing_keys WHERE retired_at IS NULL)";
    with_pool!(db, write, p => {
        let mut tx = p.begin().await?;
        let mut conn: Conn = (&mut *tx).into();
        if let Conn::Postgres(c) = &mut conn {
            // Any fixed number: the lock names "making the first signing key".
            sqlx::query("SELECT pg_advisory_xact_lock(7246001)")
                .execute(&mut **c)
                .await?;
        }
        let inserted = with_conn!(&mut conn, c => sqlx::query(INSERT_UNLESS_SIGNER)
            .bind(&row.kid)
            .bind(&row.seed)
            .bind(&row.public_key)
            .bind(row.created_at)
            .execute(c)
            .await?
            .rows_affected());
        tx.commit().await?;
        Ok(inserted == 1)
    })
}

/// Retires every active key (wiping its private seed: a retired key only verifies) and inserts
/// `new` as the signer, in one transaction.
pub async fn rotate(db: &Db, new: &KeyRow) -> sqlx::Result<()> {
    with_pool!(db, write, p => {
        let mut tx = p.begin().await?;
        retire_signer(&mut Conn::of(&mut tx), new).await?;
        tx.commit().await
    })
}

/// No bytes: what a wiped seed is.
const WIPED: &[u8] = &[];

async fn retire_signer(conn: &mut Conn<'_>, new: &KeyRow) -> sqlx::Result<()> {
    with_conn!(conn, c => sqlx::query("UPDATE signing_keys SET retired_at = $1, seed = $2 WHERE retired_at IS NULL")
        .bind(new.created_at)
        .bind(WIPED)
        .execute(c)
        .await
        .map(|_| ()))?;
    with_conn!(conn, c => sqlx::query(
        "INSERT INTO signing_keys (kid, seed, public_key, created_at, retired_at) VALUES ($1, $2, $3, $4, NULL)",
    )
    .bind(&new.kid)
    .bind(&new.seed)
    .bind(&new.public_key)
    .bind(new.created_at)
    .execute(c)
    .await
    .map(|_| ()))?;
    Ok(())
}

/// What `revoke` did.
#[derive(Debug, PartialEq, Eq)]
pub enum KeyRevocation {
    /// The key was the signer: `new` signs from now on.
    Signer,
    /// A retired key that may still have been verifying.
    Retired,
    NoSuchKey,
    AlreadyRevoked,
}

/// Revokes key `kid` at `now`: it stops verifying, its seed is wiped, and if it was the signer
/// `new` replaces it, all in one transaction.
pub async fn revoke(db: &Db, kid: &str, new: &KeyRow, now: i64) -> sqlx::Result<KeyRevocation> {
    with_pool!(db, write, p => {
        let mut tx = p.begin().await?;
        let row: Option<(Option<i64>, Option<i64>)> =
            sqlx::query_as("SELECT retired_at, revoked_at FROM signing_keys WHERE kid = $1")
                .bind(kid)
                .fetch_optional(&mut *tx)
                .await?;
        let outcome = match row {
            None => KeyRevocation::NoSuchKey,
            Some((_, Some(_))) => KeyRevocation::AlreadyRevoked,
            Some((None, None)) => {
                retire_signer(&mut Conn::of(&mut tx), new).await?;
                KeyRevocation::Signer
            }
            Some((Some(_), None)) => KeyRevocation::Retired,
        };
        // Nothing to change for a key that is not there or already revoked: the transaction
        // ends unused.
        if matches!(outcome, KeyRevocation::Signer | KeyRevocation::Retired) {
            sqlx::query(
                "UPDATE signing_keys SET revoked_at = $1, retired_at = COALESCE(retired_at, $1), seed = $2
                 WHERE kid = $3",
            )
            .bind(now)
            .bind(WIPED)
            .bind(kid)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
        }
        Ok(outcome)
    })
}
