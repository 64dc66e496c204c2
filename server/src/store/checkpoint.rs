//! WAL checkpoints mostly off the writer's path (SQLite only).
//!
//! SQLite's automatic checkpoint runs in the connection that commits: every `WRITER_EVERY` WAL
//! pages, the one writer stops to copy them into the database file and sync both files. Under
//! refresh load that is every few hundred rotations, and every request queued behind the writer
//! waits for the disk (`make bench`: a third of the machine idle, iowait, p99 13.6 ms).
//!
//! So a connection of its own copies the pages first: a `PASSIVE` checkpoint never waits for the
//! writer and never makes it wait (SQLite syncs the WAL before copying and the database file
//! when a checkpoint completes, as `synchronous=NORMAL` says, in this connection's thread). The
//! writer's own checkpoint, when its turn comes, finds little left to copy.
//!
//! The writer's automatic checkpoint stays on, every `WRITER_EVERY` pages: for every write that
//! never wakes this task (logins, notes), and whenever this task falls behind, it is the WAL's
//! bound. (The WAL starts over at a write that begins with every page copied, by whichever
//! connection; under continuous rotation load only the writer's own checkpoint, run right after
//! its commit, reliably reaches that state: a measured run with it off grew the WAL to 660 MB in
//! 6 s.)
//!
//! Nothing here changes durability: a commit is in the WAL before it is answered, copied or not,
//! and a crash during a checkpoint is SQLite's own recovery case. Nothing here opens the database
//! files itself either: closing any descriptor of a file drops every POSIX lock the process holds
//! on it, SQLite's included, and another process (`cloakroom keys rotate`, a backup) could then
//! take the database for closed and delete the WAL under the server.

use sqlx::SqlitePool;
use tokio::sync::mpsc;

/// The writer's own automatic checkpoint, in WAL pages: SQLite's default, set here because it
/// is the WAL's bound. Measured (refresh A/B, 2026-12-06) with this task copying ahead: at
/// 4,000 pages +17% req/s but p99 16 -> 20 ms, the writer's rarer checkpoints syncing more at
/// once; at 2,000 p99 16 ms; at 1,000 p99 12 ms, the best, and the WAL no larger than before.
pub const WRITER_EVERY: u32 = 1_000;

/// Least time between two checkpoints of this task.
const PACE: std::time::Duration = std::time::Duration::from_millis(20);

/// Wakes the checkpointer after a commit; it ends once every `Wake` is dropped.
#[derive(Clone, Debug)]
pub struct Wake(mpsc::Sender<()>);

impl Wake {
    /// Asks for a checkpoint soon: cheap, never waits (a full channel means one is due).
    pub fn commit(&self) {
        let _ = self.0.try_send(());
    }
}

/// Starts the checkpointer on `pool` (a connection that can write).
pub fn spawn(pool: SqlitePool) -> Wake {
    let (tx, rx) = mpsc::channel(1);
    tokio::spawn(run(pool, rx));
    Wake(tx)
}

async fn run(pool: SqlitePool, mut woken: mpsc::Receiver<()>) {
    while woken.recv().await.is_some() {
        if let Err(e) = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
            .execute(&pool)
            .await
        {
            tracing::warn!(error = %e, "WAL checkpoint failed (the writer's own will catch up)");
        }
        tokio::time::sleep(PACE).await;
    }
    pool.close().await;
}
