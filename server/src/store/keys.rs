//! Persisted access-token signing keys.

use sqlx::FromRow;

use super::Db;

#[derive(Clone, FromRow)]
pub struct KeyRow {
    pub kid: String,
    pub seed: Vec<u8>,
    pub public_key: Vec<u8>,
    pub created_at: i64,
    pub retired_at: Option<i64>,
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
    sqlx::query_as("SELECT kid, seed, public_key, created_at, retired_at FROM signing_keys ORDER BY created_at DESC, rowid DESC")
        .fetch_all(&db.write)
        .await
}

pub async fn insert(db: &Db, row: &KeyRow) -> sqlx::Result<()> {
    sqlx::query("INSERT INTO signing_keys (kid, seed, public_key, created_at, retired_at) VALUES (?, ?, ?, ?, ?)")
        .bind(&row.kid)
        .bind(&row.seed)
        .bind(&row.public_key)
        .bind(row.created_at)
        .bind(row.retired_at)
        .execute(&db.write)
        .await?;
    Ok(())
}

/// Retires every active key and inserts `new` as the signer, in one transaction.
pub async fn rotate(db: &Db, new: &KeyRow) -> sqlx::Result<()> {
    let mut tx = db.write.begin().await?;
    sqlx::query("UPDATE signing_keys SET retired_at = ? WHERE retired_at IS NULL")
        .bind(new.created_at)
        .execute(&mut *tx)
        .await?;
    sqlx::query("INSERT INTO signing_keys (kid, seed, public_key, created_at, retired_at) VALUES (?, ?, ?, ?, NULL)")
        .bind(&new.kid)
        .bind(&new.seed)
        .bind(&new.public_key)
        .bind(new.created_at)
        .execute(&mut *tx)
        .await?;
    tx.commit().await
}
