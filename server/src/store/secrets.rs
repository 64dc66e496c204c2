//! Named 32-byte server secrets, made once and then shared by every start (and instance).

use rand::RngCore;

use super::{with_pool, Db};

/// The secret called `name`, created with 32 random bytes if it does not exist yet. Insert-then-
/// read, so two processes starting at once agree on one value.
pub async fn get_or_create(db: &Db, name: &str) -> sqlx::Result<[u8; 32]> {
    let mut fresh = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut fresh);
    let value: Vec<u8> = with_pool!(db, write, p => {
        sqlx::query(
            "INSERT INTO server_secrets (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
        )
        .bind(name)
        .bind(&fresh[..])
        .execute(p)
        .await?;
        sqlx::query_scalar("SELECT value FROM server_secrets WHERE name = $1")
            .bind(name)
            .fetch_one(p)
            .await?
    });
    value
        .try_into()
        .map_err(|_| sqlx::Error::Protocol(format!("server secret {name} is not 32 bytes")))
}
