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

pub mod checkpoint;
pub mod copy;
pub mod dpop;
pub mod events;
pub mod fault;
pub mod keys;
pub mod notes;
pub mod oidc;
pub mod passkeys;
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
    /// Set when a write failed for lack of space; `/readyz` then proves a write before it says
    /// ready again ([`Db::writable`]).
    full: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

/// How long a PostgreSQL connection may have waited in the pool and still be used without a
/// ping (`Db::open_postgres`).
const PG_FRESH: Duration = Duration::from_secs(1);

/// How long a write waits for a lock another process or transaction holds before it gives up
/// and the client is told "busy, nothing saved, retry" (503). SQLite: every write of this
/// process goes through one connection, so only another process (the CLI, a backup) can hold
/// the lock, and its writes take milliseconds; a lock held longer is a fault to report, not to
/// sit out for seconds while every other writer queues behind it. PostgreSQL: row locks are
/// held by concurrent rotations for milliseconds; `lock_timeout` is there for a transaction
/// that stalls.
pub const LOCK_WAIT: Duration = Duration::from_secs(1);
/// PostgreSQL's `lock_timeout`: longer than SQLite's, as dozens of instances' rotations of one
/// hot row may queue legitimately.
const PG_LOCK_TIMEOUT: &str = "2s";
/// How long a write waits for the SQLite writer connection (behind `LOCK_WAIT`s of the writes
/// ahead of it) or for a PostgreSQL connection, before 503.
const ACQUIRE_WAIT: Duration = Duration::from_secs(3);

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
    /// The checkpointer's connection (`checkpoint`), closed with the others so that the writer
    /// is the last to close and leaves no WAL behind.
    checkpoints: SqlitePool,
    /// Serialized, group-committed refresh-token rotation (see `rotation`).
    pub(crate) rotator: rotation::Rotator,
}

/// One pool; PostgreSQL runs concurrent writers itself (row locks, see `sessions::rotate_in`).
#[derive(Clone, Debug)]
pub(crate) struct PgDb {
    pub(crate) pool: PgPool,
}

/// Runs `$body` with `$p` bound to the pool of `$db` for `read` or `write` work (SQLite has one
/// of each; PostgreSQL one for both). The body is compiled once per engine: sqlx's `Any` driver
/// cannot decode this schema's types on SQLite, and a file per engine would hold ~50 statements
/// twice. A body is an expression whose value is the macro's; it never `return`s (that would
/// leave the enclosing function from inside a match arm the reader does not see).
macro_rules! with_pool {
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
pub(crate) use with_pool;

/// An open transaction's connection on either engine (`with_conn!` runs a statement on it).
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

impl<'a> Conn<'a> {
    /// The connection of open transaction `tx`, for the `*_in` functions that take part in it.
    pub(crate) fn of<DB: sqlx::Database>(tx: &'a mut sqlx::Transaction<'_, DB>) -> Self
    where
        &'a mut DB::Connection: Into<Conn<'a>>,
    {
        (&mut **tx).into()
    }
}

/// Runs `$body` with `$c` bound to the connection `$conn` holds, on its engine (as
/// [`with_pool!`], compiled once per engine, and never `return`ing).
macro_rules! with_conn {
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
pub(crate) use with_conn;

/// Which engine a `CLOAKROOM_DATABASE_URL` names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    Sqlite(std::path::PathBuf),
    Postgres(String),
}

impl Location {
    /// `sqlite://PATH` (a file), `postgres://…` / `postgresql://…`; nothing else.
    pub fn parse(url: &str) -> anyhow::Result<Self> {
        if let Some(rest) = url.strip_prefix("sqlite://") {
            // sqlx's URL form may carry a query (`?mode=rwc`). A query is never part of the
            // file's name: `mode=rwc` (read, write, create) is what the server does anyway;
            // anything else would change what the server can do to its own database, so it is
            // refused here, at start, rather than half-honoured.
            let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
            anyhow::ensure!(!path.is_empty(), "sqlite:// needs a file path");
            for param in query.split('&').filter(|p| !p.is_empty()) {
                anyhow::ensure!(
                    param == "mode=rwc",
                    "sqlite:// URLs take no {param:?}: the server opens its file read-write and creates it when missing (`?mode=rwc`, the only option accepted); set journal and sync modes nowhere, the server chooses them"
                );
            }
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
            .busy_timeout(LOCK_WAIT);
        // No ping before each acquire (sqlx's default): it checks that the other end of a
        // network connection is still there, and an in-process SQLite connection has none. It
        // cost a round trip to SQLite's thread before every transaction and every read.
        let pool = || SqlitePoolOptions::new().test_before_acquire(false);
        let write = pool()
            .max_connections(1)
            .acquire_timeout(ACQUIRE_WAIT)
            .connect_with(
                opts.clone()
                    .pragma("wal_autocheckpoint", checkpoint::WRITER_EVERY.to_string()),
            )
            .await
            .with_context(|| format!("opening {}", path.display()))?;
        sqlx::migrate!("./migrations/sqlite")
            .run(&write)
            .await
            .context("running migrations")?;
        let read = pool()
            .max_connections(4)
            .connect_with(opts.clone().read_only(true))
            .await?;
        let checkpoints = pool().max_connections(1).connect_with(opts).await?;
        // Refresh A/B against the writer checkpointing alone (2026-12-06, 4 alternating rounds
        // on the 2-core dev machine): 1.06x req/s without a proof, 1.04x with one, p99 with one
        // 16.7 -> 12.2 ms.
        let wake = checkpoint::spawn(checkpoints.clone());
        let rotator = rotation::Rotator::spawn(write.clone(), Some(wake));
        Ok(Self {
            engine: Engine::Sqlite(SqliteDb {
                read,
                write,
                checkpoints,
                rotator,
            }),
            full: Default::default(),
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
                ("lock_timeout", PG_LOCK_TIMEOUT),
                ("idle_in_transaction_session_timeout", "10s"),
                ("statement_timeout", "30s"),
            ]);
        let pool = PgPoolOptions::new()
            .max_connections(16)
            // A connection can be closed under the pool: PostgreSQL restarted, a pooler or
            // `idle_session_timeout` dropped it while idle. One that waited in the pool for a
            // while is pinged before use, and replaced when the ping fails. One handed back
            // a moment ago is used as it is: sqlx's default pinged every connection before every
            // transaction, a round trip (two context switches, a backend's wake-up) for each
            // of a login's several statements. If it died in that moment (a restart under
            // load), its statement fails and the request is answered 503 `database-busy` with
            // `Retry-After`, as any statement cut off by the restart is.
            .test_before_acquire(false)
            .before_acquire(|conn, meta| {
                Box::pin(async move {
                    Ok(meta.idle_for < PG_FRESH || sqlx::Connection::ping(conn).await.is_ok())
                })
            })
            .acquire_timeout(ACQUIRE_WAIT)
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
            full: Default::default(),
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
                e.checkpoints.close().await;
                e.write.close().await;
            }
            Engine::Postgres(e) => e.pool.close().await,
        }
    }
}

/// ` FOR UPDATE` on PostgreSQL, where concurrent writers need a row held until commit; nothing
/// on SQLite, whose single writer serializes the transactions anyway (and which has no such
/// clause).
pub(crate) fn row_update_lock(db: &Db) -> &'static str {
    match db.engine {
        Engine::Postgres(_) => " FOR UPDATE",
        Engine::Sqlite(_) => "",
    }
}

/// A round trip to the database (`/readyz`).
pub async fn ping(db: &Db) -> sqlx::Result<()> {
    with_pool!(db, read, p => sqlx::query("SELECT 1").execute(p).await.map(|_| ()))
}

impl Db {
    /// Records that a write failed for lack of space (the API answered 507).
    pub fn note_full(&self) {
        self.full.store(true, std::sync::atomic::Ordering::Relaxed);
    }

    /// Whether writes succeed, for `/readyz`. After a write failed for lack of space this
    /// proves it with a write of its own (a row of two pages' worth, committed, then deleted),
    /// so readiness returns once space does and not before; otherwise a read round trip.
    pub async fn writable(&self) -> sqlx::Result<()> {
        use std::sync::atomic::Ordering;
        if !self.full.load(Ordering::Relaxed) {
            return ping(self).await;
        }
        let filler = vec![0u8; 8192];
        with_pool!(self, write, p => {
            sqlx::query(
                "INSERT INTO write_probe (id, filler) VALUES (1, $1)
                 ON CONFLICT (id) DO UPDATE SET filler = excluded.filler",
            )
            .bind(&filler)
            .execute(p)
            .await?;
            sqlx::query("DELETE FROM write_probe").execute(p).await?;
        });
        self.full.store(false, Ordering::Relaxed);
        Ok(())
    }
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
        // sqlx's documented form: the query is an option, never part of the file name.
        assert_eq!(
            Location::parse("sqlite://data/x.db?mode=rwc").unwrap(),
            Location::Sqlite("data/x.db".into())
        );
        for refused in [
            "sqlite://x.db?mode=ro",
            "sqlite://x.db?mode=memory",
            "sqlite://x.db?cache=shared",
            "sqlite://?mode=rwc",
        ] {
            assert!(Location::parse(refused).is_err(), "{refused}");
        }
    }
}
