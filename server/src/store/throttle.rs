//! Login guess budgets (`auth::throttle::LoginThrottle`) in the database, so every instance
//! counts the same guesses and a restart forgets none.

use super::{with_conn, with_pool, Conn, Db};

/// Runs `decide` on the attempt times recorded for `budget` (oldest first) while holding the
/// budget's row, and stores the times it returns (none: the row goes).
///
/// The first statement is an upsert whose (no-op) update locks the row until commit, on
/// PostgreSQL across instances; SQLite has one writer anyway. So a check and the reservation
/// it grants are one step: a burst of concurrent guesses cannot all pass before any is counted.
pub async fn update<T>(
    db: &Db,
    budget: &str,
    now: i64,
    decide: impl FnOnce(Vec<i64>) -> (Vec<i64>, T),
) -> sqlx::Result<T> {
    with_pool!(db, write, p => {
        let mut tx = p.begin().await?;
        let answer = update_in(&mut Conn::of(&mut tx), budget, now, decide).await?;
        tx.commit().await?;
        Ok(answer)
    })
}

/// [`update`] inside the open transaction `conn`, which holds the budget's row until it ends.
async fn update_in<T>(
    conn: &mut Conn<'_>,
    budget: &str,
    now: i64,
    decide: impl FnOnce(Vec<i64>) -> (Vec<i64>, T),
) -> sqlx::Result<T> {
    let stored: String = with_conn!(conn, c => sqlx::query_scalar(
        "INSERT INTO login_budgets (budget, failures, last_at) VALUES ($1, '', $2)
         ON CONFLICT (budget) DO UPDATE SET last_at = login_budgets.last_at
         RETURNING failures",
    )
    .bind(budget)
    .bind(now)
    .fetch_one(c)
    .await)?;
    let times = stored
        .split_whitespace()
        .filter_map(|t| t.parse().ok())
        .collect();
    let (times, answer) = decide(times);
    match times.iter().max() {
        Some(last) => {
            let text = times
                .iter()
                .map(i64::to_string)
                .collect::<Vec<_>>()
                .join(" ");
            with_conn!(conn, c => sqlx::query(
                "UPDATE login_budgets SET failures = $2, last_at = $3 WHERE budget = $1",
            )
            .bind(budget)
            .bind(text)
            .bind(*last)
            .execute(c)
            .await
            .map(|_| ()))?;
        }
        None => {
            with_conn!(conn, c => sqlx::query("DELETE FROM login_budgets WHERE budget = $1")
                .bind(budget)
                .execute(c)
                .await
                .map(|_| ()))?;
        }
    }
    Ok(answer)
}

/// What a right password does to the budget its attempt was reserved on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Settle {
    /// The attempt made at this time is given back (one entry of that time goes).
    Refund(i64),
    /// Every attempt is forgiven: the budget goes.
    Clear,
}

/// Settles the attempt on `budget` as `how` says, in a transaction of its own.
pub async fn settle(db: &Db, budget: &str, how: &Settle) -> sqlx::Result<()> {
    with_pool!(db, write, p => {
        let mut tx = p.begin().await?;
        settle_in(&mut Conn::of(&mut tx), budget, how).await?;
        tx.commit().await
    })
}

/// [`settle`] inside the open transaction `conn` (a login's session insert: the attempt is
/// given back in the commit that creates the session, `sessions::create`).
pub(crate) async fn settle_in(conn: &mut Conn<'_>, budget: &str, how: &Settle) -> sqlx::Result<()> {
    match *how {
        Settle::Clear => {
            with_conn!(conn, c => sqlx::query("DELETE FROM login_budgets WHERE budget = $1")
            .bind(budget)
            .execute(c)
            .await
            .map(|_| ()))
        }
        Settle::Refund(at) => {
            update_in(conn, budget, at, |mut times| {
                if let Some(i) = times.iter().rposition(|t| *t == at) {
                    times.remove(i);
                }
                (times, ())
            })
            .await
        }
    }
}

/// Forgets `budget` altogether.
pub async fn clear(db: &Db, budget: &str) -> sqlx::Result<()> {
    with_pool!(db, write, p => sqlx::query("DELETE FROM login_budgets WHERE budget = $1")
        .bind(budget)
        .execute(p)
        .await
        .map(|_| ()))
}

/// Every budget whose key starts with `prefix`, with its attempt times (oldest first).
pub async fn with_prefix(db: &Db, prefix: &str) -> sqlx::Result<Vec<(String, Vec<i64>)>> {
    let rows: Vec<(String, String)> = with_pool!(db, read, p => sqlx::query_as(
        "SELECT budget, failures FROM login_budgets WHERE substr(budget, 1, length($1)) = $1",
    )
    .bind(prefix)
    .fetch_all(p)
    .await)?;
    Ok(rows
        .into_iter()
        .map(|(b, f)| {
            (
                b,
                f.split_whitespace()
                    .filter_map(|t| t.parse().ok())
                    .collect(),
            )
        })
        .collect())
}

/// Deletes budgets whose newest attempt is at or before `before` (out of every window).
pub async fn purge(db: &Db, before: i64) -> sqlx::Result<u64> {
    with_pool!(db, write, p => Ok(sqlx::query("DELETE FROM login_budgets WHERE last_at <= $1")
        .bind(before)
        .execute(p)
        .await?
        .rows_affected()))
}

/// How many budgets are kept (tests, operators).
pub async fn count(db: &Db) -> sqlx::Result<i64> {
    with_pool!(db, read, p => sqlx::query_scalar("SELECT COUNT(*) FROM login_budgets").fetch_one(p).await)
}
