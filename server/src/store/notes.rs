//! Notes. Every query is scoped by `user_id`: another user's note is indistinguishable from a
//! missing one.

use sqlx::FromRow;

use super::{with_conn, with_pool, Conn, Db};

#[derive(Debug, Clone, FromRow)]
pub struct NoteRow {
    pub id: String,
    pub title: String,
    pub body: String,
    pub created_at: i64,
    pub updated_at: i64,
    /// The user's write counter at this note's last write: its version (`ETag`).
    pub touched: i64,
}

const COLS: &str = "id, title, body, created_at, updated_at, touched";

/// Takes the next value of the user's touch counter (`users.notes_touched`): create and update
/// both take it, so the list order is the order of the user's own writes, exact even within one
/// second. The `UPDATE … RETURNING` locks the user's row until the transaction ends, so two
/// concurrent writers (two PostgreSQL instances) queue instead of taking the same number; the
/// UNIQUE index on (user_id, touched) would refuse a duplicate rather than order it at random.
async fn next_touch(conn: &mut Conn<'_>, user_id: &str) -> sqlx::Result<i64> {
    with_conn!(conn, c => sqlx::query_scalar(
        "UPDATE users SET notes_touched = notes_touched + 1 WHERE id = $1 RETURNING notes_touched",
    )
    .bind(user_id)
    .fetch_one(c)
    .await)
}

/// A user's notes, most recently created or updated first (the order the client's optimistic
/// list keeps too: it puts the note it just saved on top).
pub async fn list(db: &Db, user_id: &str) -> sqlx::Result<Vec<NoteRow>> {
    let sql = format!("SELECT {COLS} FROM notes WHERE user_id = $1 ORDER BY touched DESC");
    with_pool!(db, read, p => sqlx::query_as(&sql).bind(user_id).fetch_all(p).await)
}

pub async fn get(db: &Db, user_id: &str, id: &str) -> sqlx::Result<Option<NoteRow>> {
    let sql = format!("SELECT {COLS} FROM notes WHERE user_id = $1 AND id = $2");
    with_pool!(db, read, p => sqlx::query_as(&sql).bind(user_id).bind(id).fetch_optional(p).await)
}

pub async fn create(
    db: &Db,
    user_id: &str,
    title: &str,
    body: &str,
    now: i64,
) -> sqlx::Result<NoteRow> {
    let id = uuid::Uuid::new_v4().to_string();
    let touched = with_pool!(db, write, p => {
        let mut tx = p.begin().await?;
        let touched = next_touch(&mut Conn::of(&mut tx), user_id).await?;
        sqlx::query(
            "INSERT INTO notes (id, user_id, title, body, created_at, updated_at, touched)
             VALUES ($1, $2, $3, $4, $5, $5, $6)",
        )
        .bind(&id)
        .bind(user_id)
        .bind(title)
        .bind(body)
        .bind(now)
        .bind(touched)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        touched
    });
    Ok(NoteRow {
        id,
        title: title.into(),
        body: body.into(),
        created_at: now,
        updated_at: now,
        touched,
    })
}

/// What a write conditional on the note's version (`If-Match`) found.
#[derive(Debug)]
pub enum Conditional<T> {
    Done(T),
    /// No such note of this user.
    Missing,
    /// The note exists, at another version: someone wrote it since the client read it.
    Stale,
}

/// `expected`: the version the client read (`None`: any, `If-Match: *`).
pub async fn update(
    db: &Db,
    user_id: &str,
    id: &str,
    title: &str,
    body: &str,
    now: i64,
    expected: Option<i64>,
) -> sqlx::Result<Conditional<NoteRow>> {
    // The version check is part of the `UPDATE`'s condition, so it holds at the moment of the
    // write (under the row's lock), not at some read before it.
    let sql = format!(
        "UPDATE notes SET title = $1, body = $2, updated_at = $3, touched = $4
         WHERE user_id = $5 AND id = $6 AND ($7 < 0 OR touched = $7) RETURNING {COLS}"
    );
    let row = with_pool!(db, write, p => {
        let mut tx = p.begin().await?;
        let touched = next_touch(&mut Conn::of(&mut tx), user_id).await?;
        let row: Option<NoteRow> = sqlx::query_as(&sql)
            .bind(title)
            .bind(body)
            .bind(now)
            .bind(touched)
            .bind(user_id)
            .bind(id)
            .bind(expected.unwrap_or(-1))
            .fetch_optional(&mut *tx)
            .await?;
        // Nothing written: the counter bump is rolled back with the transaction.
        if row.is_some() {
            tx.commit().await?;
        }
        row
    });
    Ok(match row {
        Some(r) => Conditional::Done(r),
        None => missing_or_stale(db, user_id, id).await?,
    })
}

async fn missing_or_stale<T>(db: &Db, user_id: &str, id: &str) -> sqlx::Result<Conditional<T>> {
    Ok(match get(db, user_id, id).await? {
        Some(_) => Conditional::Stale,
        None => Conditional::Missing,
    })
}

pub async fn delete(
    db: &Db,
    user_id: &str,
    id: &str,
    expected: Option<i64>,
) -> sqlx::Result<Conditional<()>> {
    let n = with_pool!(db, write, p => sqlx::query(
        "DELETE FROM notes WHERE user_id = $1 AND id = $2 AND ($3 < 0 OR touched = $3)",
    )
        .bind(user_id)
        .bind(id)
        .bind(expected.unwrap_or(-1))
        .execute(p)
        .await?
        .rows_affected());
    if n == 1 {
        return Ok(Conditional::Done(()));
    }
    missing_or_stale(db, user_id, id).await
}
