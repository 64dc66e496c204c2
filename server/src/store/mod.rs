//! The only module that knows the database. Functions take a `&Db` and return domain rows, so
//! a PostgreSQL backend can replace this module without touching handlers.

pub mod events;
pub mod keys;
pub mod notes;
pub mod rotation;
pub mod secrets;
pub mod sessions;
pub mod users;

use std::{path::Path, str::FromStr, time::Duration};

use anyhow::Context;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

/// Two pools over one SQLite file. SQLite has one writer at a time; funnelling every write
/// through a single connection makes writers queue in the async pool instead of spinning in
/// SQLite's busy handler (which sleeps a thread), and lets reads run beside them under WAL.
#[derive(Clone, Debug)]
pub struct Db {
    pub read: SqlitePool,
    pub write: SqlitePool,
    /// Serialized, group-committed refresh-token rotation (see `rotation`).
    pub rotator: rotation::Rotator,
}

impl Db {
    /// Opens (creating if needed) `dir/cloakroom.db` and applies the embedded migrations.
    pub async fn open(dir: &Path) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("creating data dir {}", dir.display()))?;
        let path = dir.join("cloakroom.db");
        let opts = SqliteConnectOptions::from_str("sqlite:")?
            .filename(&path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // NORMAL under WAL is durable against process crashes; a power cut may lose the
            // last transactions, which costs at worst a re-login, never a corrupt database.
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(5));
        let write = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(opts.clone())
            .await
            .with_context(|| format!("opening {}", path.display()))?;
        sqlx::migrate!("./migrations")
            .run(&write)
            .await
            .context("running migrations")?;
        let read = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(opts.read_only(true))
            .await?;
        let rotator = rotation::Rotator::spawn(write.clone());
        Ok(Self {
            read,
            write,
            rotator,
        })
    }

    pub async fn close(&self) {
        self.read.close().await;
        self.write.close().await;
    }
}

/// A round trip to the database (`/readyz`).
pub async fn ping(db: &Db) -> sqlx::Result<()> {
    sqlx::query("SELECT 1").execute(&db.read).await?;
    Ok(())
}

/// Whether a database error is a UNIQUE constraint violation (mapped to 409 by callers).
pub fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.is_unique_violation())
}
