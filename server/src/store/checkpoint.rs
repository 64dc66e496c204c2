//! WAL checkpoints mostly off the writer's path (SQLite only).
//!
//! SQLite's automatic checkpoint runs in the connection that commits: every `WRITER_EVERY` WAL
//! pages, the one writer stops to copy them into the database file and sync both files. Under
//! refresh load that is every few hundred rotations, and every request queued behind the writer
//! waits for the disk (`make bench`: a third of the machine idle, iowait, p99 13.6 ms).
//!
//! So a connection of its own copies the pages first: a `PASSIVE` checkpoint never waits for the
//! writer and never makes it wait. Then it syncs both files from a blocking thread, so the
//! writer's own checkpoint, when its turn comes, finds nearly nothing left to copy or sync.
//!
//! The writer's automatic checkpoint stays on: it is what bounds the WAL. The WAL can only start
//! over from its beginning when a writer begins with every page already copied, and under
//! continuous load only the writer itself can see that moment. A measured run with the writer's
//! checkpoint off grew the WAL to 660 MB in 6 s. It also covers every other write, and any time
//! this task falls behind.
//!
//! Nothing here changes durability. A commit is in the WAL before it is answered, copied or not.
//! A crash during a checkpoint is SQLite's own recovery case. The extra syncs only flush what the
//! OS holds already.

use std::path::PathBuf;

use sqlx::SqlitePool;
use tokio::sync::mpsc;

/// The writer's own automatic checkpoint, in WAL pages (SQLite's default is 1,000). Larger
/// than the default because this task copies the pages before; it is the WAL's bound.
pub const WRITER_EVERY: u32 = 4_000;

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

/// Starts the checkpointer on `pool` (a connection that can write) for the database file `db`.
pub fn spawn(pool: SqlitePool, db: PathBuf) -> Wake {
    let (tx, rx) = mpsc::channel(1);
    tokio::spawn(run(pool, db, rx));
    Wake(tx)
}

async fn run(pool: SqlitePool, db: PathBuf, mut woken: mpsc::Receiver<()>) {
    let mut wal = db.clone().into_os_string();
    wal.push("-wal");
    let files = [db, PathBuf::from(wal)];
    while woken.recv().await.is_some() {
        match sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
            .execute(&pool)
            .await
        {
            Ok(_) => {
                let files = files.clone();
                let synced = tokio::task::spawn_blocking(move || {
                    files
                        .iter()
                        .try_for_each(|f| std::fs::File::open(f)?.sync_data())
                })
                .await;
                if let Ok(Err(e)) = synced {
                    tracing::warn!(error = %e, "syncing after a WAL checkpoint failed (the writer's own will sync)");
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "WAL checkpoint failed (the writer's own will catch up)")
            }
        }
        tokio::time::sleep(PACE).await;
    }
    pool.close().await;
}
