//! Named 32-byte server secrets, made once and then shared by every start (and instance).

use rand::RngCore;

use super::Db;

/// The secret called `name`, created with 32 random bytes if it does not exist yet. Insert-then-
/// read, so two processes starting at once agree on one value.
pub async fn get_or_create(db: &Db, name: &str) -> sqlx::Result<[u8; 32]> {
    let mut fresh = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut fresh);
    sqlx::query(
        "INSERT INTO server_secrets (name, value) VALUES (?, ?) ON CONFLICT(name) DO NOTHING",
    )
    .bind(name)
    .bind(&fresh[..])
    .execute(&db.write)
    .await?;
    let value: Vec<u8> = sqlx::query_scalar("SELECT value FROM server_secrets WHERE name = ?")
        .bind(name)
        .fetch_one(&db.write)
        .await?;
    value
        .try_into()
        .map_err(|_| sqlx::Error::Protocol(format!("server secret {name} is not 32 bytes")))
}
