//! Group commit for refresh-token rotation (SQLite only: PostgreSQL runs concurrent writers
//! itself, so there each rotation is a transaction of its own, see `sessions::rotate`).
//!
//! Every rotation must be serialized (that is what makes N concurrent refreshes of one token
//! produce exactly one rotation), and SQLite has one writer anyway. Rather than one
//! transaction per refresh (BEGIN, lookup, swap, COMMIT, each a round trip to SQLite's thread
//! plus a WAL append), one writer task takes every rotation queued at that moment and applies
//! them inside a single transaction: the current tokens all at once (the transaction's start,
//! an `UPDATE` marking them rotated and an `INSERT` of their successors, sent as one text in
//! one round trip to SQLite's thread), then the rest one by one, each seeing the effects of
//! everything before it (a duplicate of a token rotated a moment ago is the repeat case and gets
//! the same successor), then `COMMIT`.
//! A failing batch fails every request in it; no request is answered before its batch has
//! committed. The design note, with what a crash at each step leaves and why the order inside a
//! batch is safe: docs/security.md, "How rotations are written".

use sqlx::{pool::PoolConnection, Sqlite, SqlitePool};
use tokio::sync::{mpsc, oneshot};

use super::checkpoint::Wake;
use super::sessions::{rotate_current_in, rotate_in, Lifetimes, RefreshOutcome};
use super::Conn;

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
    /// `checkpoint` is woken after each batch's commit (`store::checkpoint`).
    pub fn spawn(write: SqlitePool, checkpoint: Option<Wake>) -> Self {
        Self::spawn_with_handle(write, checkpoint, HOLD).0
    }

    /// As [`Rotator::spawn`], with the writer task's handle (a test waits for it to end) and
    /// its hold on the connection (tests try each bound alone).
    fn spawn_with_handle(
        write: SqlitePool,
        checkpoint: Option<Wake>,
        hold: Hold,
    ) -> (Self, tokio::task::JoinHandle<()>) {
        let (tx, rx) = mpsc::channel(4 * MAX_BATCH);
        let task = tokio::spawn(run(write, rx, checkpoint, hold));
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

async fn run(write: SqlitePool, mut rx: mpsc::Receiver<Job>, checkpoint: Option<Wake>, hold: Hold) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let mut conn = match write.acquire().await {
            Ok(conn) => conn,
            Err(e) => {
                answer(&mut batch, Err(e), checkpoint.as_ref());
                continue;
            }
        };
        // Batches queued while one was written go on the same connection, without handing it
        // back in between: sqlx pings a connection on its way back to the pool, and the next
        // `acquire` waits for that round trip (measured: a third of a batch's time under
        // load). After `HOLD`'s batches in a row, or its time, whichever comes first, it goes
        // back all the same, so a login, logout or note waiting for the one write connection
        // gets its turn (a single slow batch, 256 replays say, is still a single batch; sqlx's
        // pool hands a returned connection to the longest waiter, so the writer's next
        // `acquire` queues behind them).
        let since = tokio::time::Instant::now();
        for held in 1.. {
            let applied = apply(&mut conn, &batch).await;
            let failed = applied.is_err();
            answer(&mut batch, applied, checkpoint.as_ref());
            if failed || held >= hold.batches || since.elapsed() >= hold.time || rx.is_empty() {
                break;
            }
            rx.recv_many(&mut batch, MAX_BATCH).await;
        }
    }
}

/// How long the writer keeps the write connection for batches queued meanwhile: at most
/// `batches` in a row, for at most `time`.
#[derive(Clone, Copy)]
struct Hold {
    batches: usize,
    time: std::time::Duration,
}

const HOLD: Hold = Hold {
    batches: 8,
    time: std::time::Duration::from_millis(5),
};

/// Answers every job of `batch` (and empties it): each its own outcome, or each the same kind
/// of failure (busy, full, other), so each answers as honestly as a rotation of its own would
/// have: nothing rotated, retry.
fn answer(
    batch: &mut Vec<Job>,
    applied: sqlx::Result<Vec<RefreshOutcome>>,
    checkpoint: Option<&Wake>,
) {
    match applied {
        Ok(outcomes) => {
            if let Some(c) = checkpoint {
                c.commit();
            }
            for (job, outcome) in batch.drain(..).zip(outcomes) {
                let _ = job.reply.send(Ok(outcome));
            }
        }
        Err(e) => {
            tracing::error!(error = %e, size = batch.len(), "refresh rotation batch failed");
            for job in batch.drain(..) {
                let _ = job.reply.send(Err(super::fault::replicate(&e)));
            }
        }
    }
}

/// One batch on the write connection `conn`.
async fn apply(
    conn: &mut PoolConnection<Sqlite>,
    batch: &[Job],
) -> sqlx::Result<Vec<RefreshOutcome>> {
    // The transaction is opened by the batch's own text, not by sqlx, so sqlx would hand the
    // connection back with it still open. Should this future be dropped or unwind before the
    // batch ends (`COMMIT`, or `ROLLBACK` below), the connection is closed instead, which
    // rolls the transaction back.
    let mut open = OpenTransaction(Some(conn));
    let applied = apply_in(open.conn(), batch).await;
    if applied.is_err() {
        // Rolled back here. If even that fails, the connection is closed and the pool opens a
        // fresh one: it never hands out a connection in the middle of a transaction.
        match sqlx::query("ROLLBACK").execute(&mut **open.conn()).await {
            Ok(_) => {}
            // SQLite's words when nothing is open: the batch failed at its `BEGIN`, or SQLite
            // rolled back on its own (a full disk, an I/O error).
            Err(e) if e.to_string().contains("no transaction is active") => {}
            Err(e) => {
                tracing::error!(error = %e, "rolling back a failed rotation batch failed");
                return applied;
            }
        }
    }
    open.ended();
    applied
}

/// The write connection while a batch's transaction may be open: closed when dropped unless
/// [`OpenTransaction::ended`] said the transaction ended.
struct OpenTransaction<'a>(Option<&'a mut PoolConnection<Sqlite>>);

impl OpenTransaction<'_> {
    fn conn(&mut self) -> &mut PoolConnection<Sqlite> {
        self.0.as_mut().expect("not ended")
    }

    fn ended(mut self) {
        self.0 = None;
    }
}

impl Drop for OpenTransaction<'_> {
    fn drop(&mut self) {
        if let Some(conn) = self.0.take() {
            conn.close_on_drop();
        }
    }
}

/// Steps 1 to 3 of the batch on the write connection (docs/security.md, "How rotations are
/// written").
async fn apply_in(
    conn: &mut sqlx::SqliteConnection,
    batch: &[Job],
) -> sqlx::Result<Vec<RefreshOutcome>> {
    let mut out: Vec<Option<RefreshOutcome>> = batch.iter().map(|_| None).collect();
    // Step 1: every current token of the batch, one query text (one round trip) per clock
    // reading among the requests (with the successors' lifetime, which they share), earliest
    // first; a batch nearly always has one. The first text opens the transaction. A token
    // queued twice comes back once: the first request of the earliest reading that presented
    // it gets the rotation, the other is left for step 2, where it finds the token rotated a
    // moment ago and gets the same successor.
    let mut readings: Vec<(i64, i64)> =
        batch.iter().map(|j| (j.now, j.life.refresh_idle)).collect();
    readings.sort_unstable();
    readings.dedup();
    for (k, &(now, idle)) in readings.iter().enumerate() {
        let at: Vec<usize> = (0..batch.len())
            .filter(|&i| (batch[i].now, batch[i].life.refresh_idle) == (now, idle))
            .collect();
        let pairs: Vec<(&[u8], &[u8])> = at
            .iter()
            .map(|&i| (&batch[i].old_hash[..], &batch[i].new_hash[..]))
            .collect();
        let (rotated, written) = rotate_current_in(conn, k == 0, &pairs, now, idle).await?;
        // The `INSERT` writes the successors of exactly the rows the `UPDATE` rotated. Were
        // they ever to differ, a token would be rotated with no successor (its owner's next
        // refresh would read as theft), or a successor would be written for a token not
        // rotated now: the batch fails instead, rolls back, and every request in it may retry.
        if written.len() != rotated.len() {
            return Err(sqlx::Error::Protocol(
                "a batch wrote a different number of successors than it rotated tokens".into(),
            ));
        }
        for f in rotated {
            // A row the statement rotated belongs to a job of this reading; were it ever to
            // match none, the batch fails as above.
            let Some(&i) = at
                .iter()
                .find(|&&i| out[i].is_none() && batch[i].old_hash[..] == f.token_hash[..])
            else {
                return Err(sqlx::Error::Protocol(
                    "a rotated token matches no request of its batch".into(),
                ));
            };
            if !written.iter().any(|w| w[..] == batch[i].new_hash[..]) {
                return Err(sqlx::Error::Protocol(
                    "a token was rotated in a batch without its successor".into(),
                ));
            }
            let expires = (now + idle).min(f.session_expires_at);
            out[i] = Some(RefreshOutcome::Rotated(f.grant(expires)));
        }
    }
    // Step 2: the rest in queue order, each as a rotation of its own would be (duplicates,
    // replays, unknown or expired tokens, a successor presented beside its parent). A replay
    // that revokes a session rotated in step 1 ends that rotation's successor with it.
    for (i, job) in batch.iter().enumerate() {
        if out[i].is_none() {
            let mut c = Conn::from(&mut *conn);
            out[i] =
                Some(rotate_in(&mut c, &job.old_hash, &job.new_hash, job.now, job.life).await?);
        }
    }
    // Step 3.
    sqlx::query("COMMIT").execute(&mut *conn).await?;
    Ok(out
        .into_iter()
        .map(|o| o.expect("step 2 answers every job step 1 did not"))
        .collect())
}

#[cfg(test)]
mod tests {
    use crate::store::sessions::{self, Lifetimes, NewSession, RefreshOutcome};
    use crate::store::{users, Db, Engine};

    const LIFE: Lifetimes = Lifetimes {
        refresh_idle: 86_400,
        session_max: 7 * 86_400,
        reuse_grace: 10,
    };

    /// Token number `n`'s hash (the tests choose the chain: `h(n + 1)` is `h(n)`'s successor).
    fn h(n: u8) -> [u8; 32] {
        [n; 32]
    }

    /// A database in `dir` with one session whose first token is `h(0)`, and its writer pool.
    async fn one_session(dir: &tempfile::TempDir) -> (Db, sqlx::SqlitePool) {
        let db = Db::open(dir.path()).await.unwrap();
        session_of(&db, "ada", 0).await;
        let Engine::Sqlite(e) = &db.engine else {
            unreachable!("Db::open is SQLite")
        };
        let write = e.write.clone();
        (db, write)
    }

    /// A new account `name` with one session whose first token is `h(first)`: its session id.
    async fn session_of(db: &Db, name: &str, first: u8) -> String {
        let users::CreateUser::Created(user) = users::create(db, name, "a-hash", 0).await.unwrap()
        else {
            unreachable!("a fresh name")
        };
        let new = NewSession {
            user_id: &user.id,
            password_hash: "a-hash",
            persistent: false,
            dpop_bound: false,
            user_agent: None,
            ip: None,
            oidc: None,
        };
        let token = h(first);
        let grant = sessions::create(db, &new, name, "", &token, 0, LIFE);
        grant.await.unwrap().unwrap().session_id
    }

    /// The jobs (old token, successor, now) of a batch, whose answers nobody awaits.
    fn jobs(list: &[(u8, u8, i64)]) -> Vec<super::Job> {
        list.iter()
            .map(|&(old, new, now)| super::Job {
                old_hash: h(old),
                new_hash: h(new),
                now,
                life: LIFE,
                reply: tokio::sync::oneshot::channel().0,
            })
            .collect()
    }

    /// The batch `list` (old token, successor, now) applied as the writer applies one.
    async fn batch(write: &sqlx::SqlitePool, list: &[(u8, u8, i64)]) -> Vec<RefreshOutcome> {
        let mut conn = write.acquire().await.unwrap();
        super::apply(&mut conn, &jobs(list)).await.unwrap()
    }

    /// docs/security.md, "How rotations are written": a replay that revokes a session, queued in
    /// the same batch as a rotation of that session's current token, in either order. The
    /// replay is theft, and nothing of the session is left alive: not the rotation's successor,
    /// not the session.
    #[tokio::test]
    async fn a_replay_revoking_a_session_in_the_batch_that_rotates_it_leaves_nothing_alive() {
        for replay_first in [false, true] {
            let dir = tempfile::TempDir::new().unwrap();
            let (db, write) = one_session(&dir).await;
            // h(0) -> h(1) -> h(2) at 0: h(1) is used, so h(0) again is a replay after use.
            assert!(matches!(
                batch(&write, &[(0, 1, 0)]).await[..],
                [RefreshOutcome::Rotated(_)]
            ));
            assert!(matches!(
                batch(&write, &[(1, 2, 0)]).await[..],
                [RefreshOutcome::Rotated(_)]
            ));
            // Past the grace window: h(2)'s rotation and h(0)'s replay in one batch.
            let t = LIFE.reuse_grace + 1;
            let jobs = if replay_first {
                [(0, 1, t), (2, 3, t)]
            } else {
                [(2, 3, t), (0, 1, t)]
            };
            let out = batch(&write, &jobs).await;
            let (replay, rotation) = if replay_first {
                (&out[0], &out[1])
            } else {
                (&out[1], &out[0])
            };
            assert!(
                matches!(replay, RefreshOutcome::Reused { .. }),
                "{replay:?}"
            );
            // The current token's rotation goes first in a batch (the note says why that is
            // an order the clients could have produced), then the revocation ends it.
            assert!(
                matches!(rotation, RefreshOutcome::Rotated(_)),
                "{rotation:?}"
            );
            for (old, new) in [(3, 4), (2, 3), (0, 1)] {
                let later = sessions::rotate(&db, &h(old), &h(new), t + 1, LIFE)
                    .await
                    .unwrap();
                assert!(
                    matches!(later, RefreshOutcome::Invalid),
                    "token {old} after the batch (replay first: {replay_first}): {later:?}"
                );
            }
        }
    }

    /// Five sessions' tokens rotated in one batch (the list padded to eight, the successors
    /// written as four rows and one): each answer is its own session's, and each successor
    /// rotates on as its own session's.
    #[tokio::test]
    async fn each_rotation_of_a_batch_is_its_own_sessions() {
        let dir = tempfile::TempDir::new().unwrap();
        let (db, write) = one_session(&dir).await;
        let others = [("bea", 10), ("cy", 20), ("dee", 30), ("eve", 40)];
        let mut sessions = vec![];
        for (name, first) in others {
            sessions.push(session_of(&db, name, first).await);
        }
        let who = |o: &RefreshOutcome| match o {
            RefreshOutcome::Rotated(g) => (g.username.clone(), g.session_id.clone()),
            other => panic!("not rotated: {other:?}"),
        };
        let jobs = [
            (10, 11, 5),
            (0, 1, 5),
            (20, 21, 5),
            (30, 31, 5),
            (40, 41, 5),
        ];
        let out = batch(&write, &jobs).await;
        let names: Vec<_> = out.iter().map(|o| who(o).0).collect();
        assert_eq!(names, ["bea", "ada", "cy", "dee", "eve"]);
        let ids: Vec<_> = [0, 2, 3, 4].iter().map(|&i| who(&out[i]).1).collect();
        assert_eq!(ids, sessions);
        for (old, new, name) in [
            (11, 12, "bea"),
            (1, 2, "ada"),
            (21, 22, "cy"),
            (31, 32, "dee"),
            (41, 42, "eve"),
        ] {
            let next = sessions::rotate(&db, &h(old), &h(new), 6, LIFE)
                .await
                .unwrap();
            assert_eq!(who(&next).0, name, "the successor of {name}'s token");
        }
    }

    /// A token queued twice in one batch rotates once, and both requests get its one successor
    /// (the burst case, decided inside a batch).
    #[tokio::test]
    async fn a_token_queued_twice_in_one_batch_rotates_once_and_both_get_its_successor() {
        let dir = tempfile::TempDir::new().unwrap();
        let (db, write) = one_session(&dir).await;
        let out = batch(&write, &[(0, 1, 5), (0, 1, 5)]).await;
        assert!(matches!(out[0], RefreshOutcome::Rotated(_)), "{:?}", out[0]);
        assert!(
            matches!(
                out[1],
                RefreshOutcome::Repeated {
                    since_rotation: 0,
                    ..
                }
            ),
            "{:?}",
            out[1]
        );
        // The successor is the session's current token, and rotates on.
        let next = sessions::rotate(&db, &h(1), &h(2), 6, LIFE).await.unwrap();
        assert!(matches!(next, RefreshOutcome::Rotated(_)), "{next:?}");
    }

    /// docs/security.md, "How rotations are written": a token queued in the same batch as its
    /// own successor, in either order. Step 1 rotates the parent and writes the successor; it
    /// must leave the successor alone (it is current only since that `INSERT`), for step 2 to
    /// rotate it with a successor of its own. Never a token rotated with no successor.
    #[tokio::test]
    async fn a_token_and_its_own_successor_in_one_batch_rotate_in_turn() {
        for parent_first in [true, false] {
            let dir = tempfile::TempDir::new().unwrap();
            let (db, write) = one_session(&dir).await;
            let jobs = if parent_first {
                [(0, 1, 5), (1, 2, 5)]
            } else {
                [(1, 2, 5), (0, 1, 5)]
            };
            let out = batch(&write, &jobs).await;
            for o in &out {
                assert!(matches!(o, RefreshOutcome::Rotated(_)), "{o:?}");
            }
            // h(2) is the session's current token and rotates on; h(1) and h(0) are rotated
            // (presenting h(1) again within the grace window is a repeat, not a rotation).
            let next = sessions::rotate(&db, &h(2), &h(3), 6, LIFE).await.unwrap();
            assert!(
                matches!(next, RefreshOutcome::Rotated(_)),
                "parent first: {parent_first}: {next:?}"
            );
        }
    }

    /// docs/security.md, "How rotations are written": a replay of a token queued in the same
    /// batch as the current token it was rotated into, past the grace window, in either order.
    /// The current token rotates first (step 1), so the replay finds its successor used: theft,
    /// and the session ends. (Were the current token left for later, the replay would find its
    /// successor never presented and be handed it as a lost answer.)
    #[tokio::test]
    async fn a_replay_beside_the_token_it_was_rotated_into_is_theft() {
        for replay_first in [true, false] {
            let dir = tempfile::TempDir::new().unwrap();
            let (db, write) = one_session(&dir).await;
            assert!(matches!(
                batch(&write, &[(0, 1, 0)]).await[..],
                [RefreshOutcome::Rotated(_)]
            ));
            let t = LIFE.reuse_grace + 1;
            let jobs = if replay_first {
                [(0, 1, t), (1, 2, t)]
            } else {
                [(1, 2, t), (0, 1, t)]
            };
            let out = batch(&write, &jobs).await;
            let (replay, current) = if replay_first {
                (&out[0], &out[1])
            } else {
                (&out[1], &out[0])
            };
            assert!(
                matches!(replay, RefreshOutcome::Reused { .. }),
                "replay first: {replay_first}: {replay:?}"
            );
            assert!(matches!(current, RefreshOutcome::Rotated(_)), "{current:?}");
            let later = sessions::rotate(&db, &h(2), &h(3), t + 1, LIFE)
                .await
                .unwrap();
            assert!(matches!(later, RefreshOutcome::Invalid), "{later:?}");
        }
    }

    /// A batch whose future is dropped while its transaction is open (cancelled, or the task
    /// torn down) does not hand the write connection back mid-transaction: the connection is
    /// closed, which rolls back, and the next batch runs on a fresh one.
    #[tokio::test]
    async fn a_batch_dropped_mid_way_leaves_no_transaction_open() {
        use sqlx::Connection;
        let dir = tempfile::TempDir::new().unwrap();
        let (_db, write) = one_session(&dir).await;
        let jobs = jobs(&[(0, 1, 5)]);
        // Another connection holds the write lock, so the batch's `BEGIN IMMEDIATE` waits in
        // SQLite's thread while the batch's future is polled once and dropped; once the lock is
        // let go, that `BEGIN` opens the transaction, with nobody left to end it.
        let url = format!("sqlite://{}", dir.path().join("cloakroom.db").display());
        let mut holder = sqlx::SqliteConnection::connect(&url).await.unwrap();
        sqlx::query("BEGIN IMMEDIATE")
            .execute(&mut holder)
            .await
            .unwrap();
        let mut conn = write.acquire().await.unwrap();
        let cut = futures_util::FutureExt::now_or_never(super::apply(&mut conn, &jobs));
        assert!(cut.is_none(), "the batch was cut off");
        drop(conn);
        sqlx::query("ROLLBACK").execute(&mut holder).await.unwrap();
        let out = batch(&write, &[(0, 1, 6)]).await;
        assert!(matches!(out[..], [RefreshOutcome::Rotated(_)]), "{out:?}");
    }

    /// A batch that fails inside its one round trip (here the successors' `INSERT`, refused by
    /// a trigger, after the `UPDATE` marked both tokens rotated) rotates nothing and leaves no
    /// transaction open on the write connection: the same tokens then rotate in the next batch.
    #[tokio::test]
    async fn a_batch_failing_in_its_first_round_trip_rolls_back_and_the_writer_goes_on() {
        let dir = tempfile::TempDir::new().unwrap();
        let (db, write) = one_session(&dir).await;
        session_of(&db, "bea", 10).await;
        sqlx::query(
            "CREATE TRIGGER refuse BEFORE INSERT ON refresh_tokens
             WHEN NEW.token_hash = x'0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b'
             BEGIN SELECT RAISE(ABORT, 'refused'); END",
        )
        .execute(&write)
        .await
        .unwrap();
        let mut conn = write.acquire().await.unwrap();
        assert!(super::apply(&mut conn, &jobs(&[(0, 1, 5), (10, 11, 5)]))
            .await
            .is_err());
        drop(conn);
        sqlx::query("DROP TRIGGER refuse")
            .execute(&write)
            .await
            .unwrap();
        // Neither rotation took: both tokens are current and rotate now, on the same writer.
        let out = batch(&write, &[(0, 1, 6), (10, 11, 6)]).await;
        for o in &out {
            assert!(matches!(o, RefreshOutcome::Rotated(_)), "{o:?}");
        }
    }

    /// `store::checkpoint`: the writer checkpoints every `WRITER_EVERY` pages (the WAL's
    /// bound), and between its checkpoints a rotation's pages reach the database file all the
    /// same, copied there by the checkpointer the rotation woke. (Polled with a bound, not
    /// timed: the checkpointer runs when the runtime gets to it.)
    #[tokio::test]
    async fn a_rotation_s_pages_are_copied_into_the_database_file_off_the_writer_s_path() {
        let dir = tempfile::TempDir::new().unwrap();
        let (db, write) = one_session(&dir).await;
        let every: i64 = sqlx::query_scalar("PRAGMA wal_autocheckpoint")
            .fetch_one(&write)
            .await
            .unwrap();
        // The writer's own checkpoint is the WAL's bound: on, and no later than SQLite's 1,000.
        assert_eq!(every, i64::from(crate::store::checkpoint::WRITER_EVERY));
        assert!(
            (1..=1_000).contains(&every),
            "the writer's checkpoint bounds the WAL: {every}"
        );
        let file = dir.path().join("cloakroom.db");
        // Whatever setting the session up left in the WAL is copied first, so from here only a
        // checkpoint of the rotation's pages can change the file (in WAL mode nothing else
        // writes it).
        sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
            .execute(&write)
            .await
            .unwrap();
        let before = std::fs::read(&file).unwrap();
        let next = sessions::rotate(&db, &h(0), &h(1), 5, LIFE).await.unwrap();
        assert!(matches!(next, RefreshOutcome::Rotated(_)), "{next:?}");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while std::fs::read(&file).unwrap() == before {
            assert!(
                std::time::Instant::now() < deadline,
                "the rotation's pages never reached the database file"
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }

    /// A writer waiting for the one write connection (a login, a logout, a note) gets its turn
    /// while rotations keep coming: the rotation writer hands the connection back after its
    /// hold's batches in a row, or its time, whichever comes first. Each bound is tried alone
    /// (the other out of reach), under a stream of 3,000 rotations, more than 8 full batches.
    #[tokio::test]
    async fn a_waiting_writer_gets_its_turn_within_the_hold_s_batches() {
        let hold = super::Hold {
            batches: super::HOLD.batches,
            time: std::time::Duration::from_secs(3600),
        };
        let (done, total) = turn_of_a_waiting_writer(hold).await;
        // The writer was waiting before the hold's first batch was answered, so at most
        // `HOLD.batches` full batches went before it.
        assert!(
            done <= super::HOLD.batches * super::MAX_BATCH && done < total,
            "{done} of {total} rotations went before the waiting writer"
        );
    }

    /// As above, the time bound alone: 3,000 rotations take longer than a millisecond.
    #[tokio::test]
    async fn a_waiting_writer_gets_its_turn_within_the_hold_s_time() {
        let hold = super::Hold {
            batches: usize::MAX,
            time: std::time::Duration::from_millis(1),
        };
        let (done, total) = turn_of_a_waiting_writer(hold).await;
        assert!(
            done < total,
            "all {total} rotations went before the waiting writer"
        );
    }

    /// 3,000 sessions' tokens rotated through a writer with `hold`, and another writer that
    /// starts waiting for the connection once the first rotation is answered: how many
    /// rotations were committed when it got the connection, and how many there were.
    async fn turn_of_a_waiting_writer(hold: super::Hold) -> (usize, usize) {
        const N: usize = 3000;
        let dir = tempfile::TempDir::new().unwrap();
        let (_db, write) = one_session(&dir).await;
        let token = |i: usize| -> [u8; 32] { format!("{i:032}").as_bytes().try_into().unwrap() };
        let successor =
            |i: usize| -> [u8; 32] { format!("n{i:031}").as_bytes().try_into().unwrap() };
        let mut tx = write.begin().await.unwrap();
        for i in 0..N {
            sqlx::query(
                "INSERT INTO sessions (id, user_id, created_at, expires_at, persistent)
                 SELECT $1, id, 0, 1000000, 0 FROM users",
            )
            .bind(format!("s{i}"))
            .execute(&mut *tx)
            .await
            .unwrap();
            sqlx::query(super::super::sessions::INSERT_TOKEN)
                .bind(&token(i)[..])
                .bind(format!("s{i}"))
                .bind(0)
                .bind(1_000_000)
                .execute(&mut *tx)
                .await
                .unwrap();
        }
        tx.commit().await.unwrap();
        let (rotator, _task) = super::Rotator::spawn_with_handle(write.clone(), None, hold);
        let (answered, mut first) = tokio::sync::mpsc::unbounded_channel();
        let rotations: Vec<_> = (0..N)
            .map(|i| {
                let (rotator, answered) = (rotator.clone(), answered.clone());
                tokio::spawn(async move {
                    let out = rotator.rotate(token(i), successor(i), 5, LIFE).await;
                    let _ = answered.send(());
                    out
                })
            })
            .collect();
        first.recv().await.unwrap();
        // The writer holds the connection now (it answers a batch before handing it back, and
        // more are queued): this acquire waits for its turn.
        let mut conn = write.acquire().await.unwrap();
        let done: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM refresh_tokens WHERE rotated_at IS NOT NULL")
                .fetch_one(&mut *conn)
                .await
                .unwrap();
        drop(conn);
        for r in rotations {
            assert!(matches!(
                r.await.unwrap().unwrap(),
                RefreshOutcome::Rotated(_)
            ));
        }
        (done as usize, N)
    }

    /// The writer task ends once the last `Rotator` is gone (it does not spin on a closed
    /// channel).
    #[tokio::test]
    async fn the_writer_ends_with_the_last_rotator() {
        let pool = sqlx::SqlitePool::connect("sqlite::memory:").await.unwrap();
        let (rotator, task) = super::Rotator::spawn_with_handle(pool, None, super::HOLD);
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
