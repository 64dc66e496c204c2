//! The only module that knows the database. Functions take a `&Db` and return domain rows;
//! handlers never see which engine is behind it.
//!
//! Two engines, one text of SQL. SQLite (embedded, the default) and PostgreSQL (many stateless
//! instances behind a proxy) share the dialect every statement here is written in: `$N`
//! placeholders (sqlx's SQLite driver reads them as positions too), `RETURNING`,
//! `ON CONFLICT`, and schemas whose column types decode to the same Rust types (migrations/sqlite
//! and migrations/postgres describe one schema). Each statement is written once; [`on!`] runs it
//! on whichever pool the `Db` holds, type-checked for both engines. Where an engine needs
//! different work (SQLite's group-commit writer for rotation, PostgreSQL's LISTEN/NOTIFY), the
//! module says so where it happens.

pub mod copy;
pub mod dpop;
pub mod events;
pub mod keys;
pub mod notes;
pub mod rotation;
pub mod secrets;
pub mod sessions;
pub mod testing;
pub mod throttle;
pub mod users;

use std::{path::Path, str::FromStr, time::Duration};

use anyhow::Context;
use sqlx::{
    postgres::{PgConnectOptions, PgPool, PgPoolOptions},
    sqlite::{
        SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
    },
};

/// A handle to the database, cheap to clone.
#[derive(Clone, Debug)]
pub struct Db {
    pub(crate) engine: Engine,
}

#[derive(Clone, Debug)]
pub(crate) enum Engine {
    Sqlite(SqliteDb),
    Postgres(PgDb),
}

/// Two pools over one SQLite file. SQLite has one writer at a time; funnelling every write
/// through a single connection makes writers queue in the async pool instead of spinning in
/// SQLite's busy handler (which sleeps a thread), and lets reads run beside them under WAL.
#[derive(Clone, Debug)]
pub(crate) struct SqliteDb {
    pub(crate) read: SqlitePool,
    pub(crate) write: SqlitePool,
    /// Serialized, group-committed refresh-token rotation (see `rotation`).
    pub(crate) rotator: rotation::Rotator,
}

/// One pool; PostgreSQL runs concurrent writers itself (row locks, see `sessions::rotate_in`).
#[derive(Clone, Debug)]
pub(crate) struct PgDb {
    pub(crate) pool: PgPool,
}

/// Runs `$body` with `$p` bound to the pool of `$db` for `read` or `write` work (SQLite has one
/// of each; PostgreSQL one for both). The body is compiled once per engine.
macro_rules! on {
    ($db:expr, $role:ident, $p:ident => $body:expr) => {
        match &$db.engine {
            $crate::store::Engine::Sqlite(e) => {
                let $p = &e.$role;
                $body
            }
            $crate::store::Engine::Postgres(e) => {
                let $p = &e.pool;
                $body
            }
        }
    };
}
pub(crate) use on;

/// An open transaction's connection on either engine (`on_conn!` runs a statement on it).
pub(crate) enum Conn<'a> {
    Sqlite(&'a mut sqlx::SqliteConnection),
    Postgres(&'a mut sqlx::PgConnection),
}

impl<'a> From<&'a mut sqlx::SqliteConnection> for Conn<'a> {
    fn from(c: &'a mut sqlx::SqliteConnection) -> Self {
        Self::Sqlite(c)
    }
}

impl<'a> From<&'a mut sqlx::PgConnection> for Conn<'a> {
    fn from(c: &'a mut sqlx::PgConnection) -> Self {
        Self::Postgres(c)
    }
}

macro_rules! on_conn {
    ($conn:expr, $c:ident => $body:expr) => {
        match $conn {
            $crate::store::Conn::Sqlite(c) => {
                let $c = &mut **c;
                $body
            }
            $crate::store::Conn::Postgres(c) => {
                let $c = &mut **c;
                $body
            }
        }
    };
}
pub(crate) use on_conn;

/// Which engine a `CLOAKROOM_DATABASE_URL` names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    Sqlite(std::path::PathBuf),
    Postgres(String),
}

impl Location {
    /// `sqlite://PATH` (a file), `postgres://…` / `postgresql://…`; nothing else.
    pub fn parse(url: &str) -> anyhow::Result<Self> {
        if let Some(path) = url.strip_prefix("sqlite://") {
            anyhow::ensure!(!path.is_empty(), "sqlite:// needs a file path");
            Ok(Self::Sqlite(path.into()))
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Self::Postgres(url.to_owned()))
        } else {
            anyhow::bail!(
                "database URL must start with sqlite:// or postgres:// (got {:?})",
                redact(url)
            )
        }
    }

    /// The default: `cloakroom.db` in the data directory.
    pub fn in_data_dir(dir: &Path) -> Self {
        Self::Sqlite(dir.join("cloakroom.db"))
    }

    /// For logs: a PostgreSQL URL without its password.
    pub fn describe(&self) -> String {
        match self {
            Self::Sqlite(p) => format!("sqlite://{}", p.display()),
            Self::Postgres(u) => redact(u),
        }
    }
}

/// `postgres://user:secret@host/db` → `postgres://user:***@host/db`.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..s + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

impl Db {
    /// Opens (creating if needed) `dir/cloakroom.db` and applies the embedded migrations.
    pub async fn open(dir: &Path) -> anyhow::Result<Self> {
        Self::connect(&Location::in_data_dir(dir)).await
    }

    /// Opens the database at `location` and applies that engine's migrations.
    pub async fn connect(location: &Location) -> anyhow::Result<Self> {
        match location {
            Location::Sqlite(path) => Self::open_sqlite(path).await,
            Location::Postgres(url) => Self::open_postgres(url).await,
        }
    }

    async fn open_sqlite(path: &Path) -> anyhow::Result<Self> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("creating data dir {}", dir.display()))?;
        }
        let opts = SqliteConnectOptions::from_str("sqlite:")?
            .filename(path)
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
        sqlx::migrate!("./migrations/sqlite")
            .run(&write)
            .await
            .context("running migrations")?;
        let read = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(opts.read_only(true))
            .await?;
        let rotator = rotation::Rotator::spawn(write.clone());
        Ok(Self {
            engine: Engine::Sqlite(SqliteDb {
                read,
                write,
                rotator,
            }),
        })
    }

    async fn open_postgres(url: &str) -> anyhow::Result<Self> {
        let opts = PgConnectOptions::from_str(url)
            .context("parsing the PostgreSQL URL")?
            .options([
                // Rotation, the guess budgets and the notes counter rely on READ COMMITTED's
                // re-check of a locked row (`sessions::rotate_in`): under REPEATABLE READ or
                // SERIALIZABLE a duplicate refresh would fail with a serialization error
                // instead of getting the same successor (the 64-refresh test runs on a
                // database whose default is SERIALIZABLE). Set here, whatever the database's
                // or role's default; a space in a startup option is escaped with a backslash.
                ("default_transaction_isolation", "read\\ committed"),
                // An instance that vanishes mid-transaction (a frozen VM, a lost network) must
                // not hold a token's or a budget's row lock for the hours TCP takes to notice:
                // the others wait at most `lock_timeout`, and its session is ended after
                // `idle_in_transaction_session_timeout`.
                ("lock_timeout", "5s"),
                ("idle_in_transaction_session_timeout", "10s"),
                ("statement_timeout", "30s"),
            ]);
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(5))
            .connect_with(opts)
            .await
            .with_context(|| format!("connecting to {}", redact(url)))?;
        // Migrations take an advisory lock: instances starting together apply them once.
        sqlx::migrate!("./migrations/postgres")
            .run(&pool)
            .await
            .context("running migrations")?;
        Ok(Self {
            engine: Engine::Postgres(PgDb { pool }),
        })
    }

    /// The PostgreSQL pool, if that is the engine (the LISTEN/NOTIFY follower needs it).
    pub fn postgres(&self) -> Option<&PgPool> {
        match &self.engine {
            Engine::Postgres(e) => Some(&e.pool),
            Engine::Sqlite(_) => None,
        }
    }

    pub fn engine_name(&self) -> &'static str {
        match &self.engine {
            Engine::Sqlite(_) => "sqlite",
            Engine::Postgres(_) => "postgres",
        }
    }

    pub async fn close(&self) {
        match &self.engine {
            Engine::Sqlite(e) => {
                e.read.close().await;
                e.write.close().await;
            }
            Engine::Postgres(e) => e.pool.close().await,
        }
    }
}

/// A round trip to the database (`/readyz`).
pub async fn ping(db: &Db) -> sqlx::Result<()> {
    on!(db, read, p => sqlx::query("SELECT 1").execute(p).await.map(|_| ()))
}

/// Whether a database error is a UNIQUE constraint violation (mapped to 409 by callers).
pub fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.is_unique_violation())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_parse_and_hide_passwords() {
        assert_eq!(
            Location::parse("sqlite://data/x.db").unwrap(),
            Location::Sqlite("data/x.db".into())
        );
        let pg = Location::parse("postgres://app:hunter2@db:5432/cloakroom").unwrap();
        assert_eq!(pg.describe(), "postgres://app:***@db:5432/cloakroom");
        assert!(!format!(
            "{:?}",
            Location::parse("mysql://app:hunter2@db").unwrap_err()
        )
        .contains("hunter2"));
        assert!(Location::parse("sqlite://").is_err());
    }
}
