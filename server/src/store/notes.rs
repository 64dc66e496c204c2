//! Notes. Every query is scoped by `user_id`: another user's note is indistinguishable from a
//! missing one.

use sqlx::FromRow;

use super::Db;

#[derive(Debug, Clone, FromRow)]
pub struct NoteRow {
    pub id: String,
    pub title: String,
    pub body: String,
    pub created_at: i64,
    pub updated_at: i64,
}

const COLS: &str = "id, title, body, created_at, updated_at";

/// The next value of the user's touch counter: create and update both take it, so the list
/// order is the order of the user's own writes, exact even within one second. SQLite runs one
/// write at a time (one writer connection), so the subquery cannot race with itself; the
/// UNIQUE index on (user_id, touched) would refuse a duplicate rather than order it at random.
const NEXT_TOUCH: &str = "(SELECT COALESCE(MAX(touched), 0) + 1 FROM notes WHERE user_id = ?)";

/// A user's notes, most recently created or updated first (the order the client's optimistic
/// list keeps too: it puts the note it just saved on top).
pub async fn list(db: &Db, user_id: &str) -> sqlx::Result<Vec<NoteRow>> {
    sqlx::query_as(&format!(
        "SELECT {COLS} FROM notes WHERE user_id = ? ORDER BY touched DESC"
    ))
    .bind(user_id)
    .fetch_all(&db.read)
    .await
}

pub async fn get(db: &Db, user_id: &str, id: &str) -> sqlx::Result<Option<NoteRow>> {
    sqlx::query_as(&format!(
        "SELECT {COLS} FROM notes WHERE user_id = ? AND id = ?"
    ))
    .bind(user_id)
    .bind(id)
    .fetch_optional(&db.read)
    .await
}

pub async fn create(
    db: &Db,
    user_id: &str,
    title: &str,
    body: &str,
    now: i64,
) -> sqlx::Result<NoteRow> {
    let id = uuid::Uuid::new_v4().to_string();
    sqlx::query(&format!("INSERT INTO notes (id, user_id, title, body, created_at, updated_at, touched) VALUES (?, ?, ?, ?, ?, ?, {NEXT_TOUCH})"))
        .bind(&id)
        .bind(user_id)
        .bind(title)
        .bind(body)
        .bind(now)
        .bind(now)
        .bind(user_id)
        .execute(&db.write)
        .await?;
    Ok(NoteRow {
        id,
        title: title.into(),
        body: body.into(),
        created_at: now,
        updated_at: now,
    })
}

pub async fn update(
    db: &Db,
    user_id: &str,
    id: &str,
    title: &str,
    body: &str,
    now: i64,
) -> sqlx::Result<Option<NoteRow>> {
    sqlx::query_as(&format!(
        "UPDATE notes SET title = ?, body = ?, updated_at = ?, touched = {NEXT_TOUCH} WHERE user_id = ? AND id = ? RETURNING {COLS}"
    ))
    .bind(title)
    .bind(body)
    .bind(now)
    .bind(user_id)
    .bind(user_id)
    .bind(id)
    .fetch_optional(&db.write)
    .await
}

pub async fn delete(db: &Db, user_id: &str, id: &str) -> sqlx::Result<bool> {
    let res = sqlx::query("DELETE FROM notes WHERE user_id = ? AND id = ?")
        .bind(user_id)
        .bind(id)
        .execute(&db.write)
        .await?;
    Ok(res.rows_affected() == 1)
}
