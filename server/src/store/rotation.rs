//! Group commit for refresh-token rotation (SQLite only: PostgreSQL runs concurrent writers
//! itself, so there each rotation is a transaction of its own, see `sessions::rotate`).
//!
//! Every rotation must be serialized (that is what makes N concurrent refreshes of one token
//! produce exactly one rotation), and SQLite has one writer anyway. Rather than one
//! transaction per refresh (BEGIN, lookup, swap, COMMIT, each a round trip to SQLite's thread
//! plus a WAL append), one writer task takes every rotation queued at that moment and applies
//! them one after another inside a single transaction. Each rotation still sees the effects of
//! the ones before it (two requests with the same token in one batch: the second finds it
//! rotated a moment ago, i.e. the grace case). A failing batch fails every request in it; no
//! request is answered before its batch has committed.

use sqlx::SqlitePool;
use tokio::sync::{mpsc, oneshot};

use super::sessions::{rotate_in, Lifetimes, RefreshOutcome};

/// Most rotations applied in one transaction; bounds the latency a batch adds.
const MAX_BATCH: usize = 256;

struct Job {
    old_hash: [u8; 32],
    new_hash: [u8; 32],
    now: i64,
    life: Lifetimes,
    reply: oneshot::Sender<sqlx::Result<RefreshOutcome>>,
}

#[derive(Clone, Debug)]
pub struct Rotator {
    tx: mpsc::Sender<Job>,
}

impl Rotator {
    /// Starts the writer task on the current runtime; it ends when every `Rotator` is dropped.
    pub fn spawn(write: SqlitePool) -> Self {
        Self::spawn_with_handle(write).0
    }

    /// As [`Rotator::spawn`], with the writer task's handle (a test waits for it to end).
    fn spawn_with_handle(write: SqlitePool) -> (Self, tokio::task::JoinHandle<()>) {
        let (tx, rx) = mpsc::channel(4 * MAX_BATCH);
        let task = tokio::spawn(run(write, rx));
        (Self { tx }, task)
    }

    pub async fn rotate(
        &self,
        old_hash: [u8; 32],
        new_hash: [u8; 32],
        now: i64,
        life: Lifetimes,
    ) -> sqlx::Result<RefreshOutcome> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(Job {
                old_hash,
                new_hash,
                now,
                life,
                reply,
            })
            .await
            .map_err(|_| sqlx::Error::PoolClosed)?;
        answer.await.map_err(|_| sqlx::Error::PoolClosed)?
    }
}

async fn run(write: SqlitePool, mut rx: mpsc::Receiver<Job>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
        match apply(&write, &batch).await {
            Ok(outcomes) => {
                for (job, outcome) in batch.drain(..).zip(outcomes) {
                    let _ = job.reply.send(Ok(outcome));
                }
            }
            Err(e) => {
                tracing::error!(error = %e, size = batch.len(), "refresh rotation batch failed");
                // Each waiter gets the same kind of failure (busy, full, other), so each answers
                // as honestly as a rotation of its own would have: nothing rotated, retry.
                for job in batch.drain(..) {
                    let _ = job.reply.send(Err(super::fault::replicate(&e)));
                }
            }
        }
    }
}

async fn apply(write: &SqlitePool, batch: &[Job]) -> sqlx::Result<Vec<RefreshOutcome>> {
    let mut tx = write.begin().await?;
    let mut out = Vec::with_capacity(batch.len());
    for job in batch {
        let mut conn = (&mut *tx).into();
        out.push(rotate_in(&mut conn, &job.old_hash, &job.new_hash, job.now, job.life).await?);
    }
    tx.commit().await?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    /// The writer task ends once the last `Rotator` is gone (it does not spin on a closed
    /// channel).
    #[tokio::test]
    async fn the_writer_ends_with_the_last_rotator() {
        let pool = sqlx::SqlitePool::connect("sqlite::memory:").await.unwrap();
        let (rotator, task) = super::Rotator::spawn_with_handle(pool);
        let copy = rotator.clone();
        drop(rotator);
        drop(copy);
        // A bound on how long ending may take, not a timing: a spinning task never ends.
        tokio::time::timeout(std::time::Duration::from_secs(30), task)
            .await
            .expect("the writer task ended")
            .unwrap();
    }
}
