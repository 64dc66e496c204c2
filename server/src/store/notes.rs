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

pub async fn list(db: &Db, user_id: &str) -> sqlx::Result<Vec<NoteRow>> {
    sqlx::query_as(&format!(
        "SELECT {COLS} FROM notes WHERE user_id = ? ORDER BY updated_at DESC, id"
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
    sqlx::query("INSERT INTO notes (id, user_id, title, body, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)")
        .bind(&id)
        .bind(user_id)
        .bind(title)
        .bind(body)
        .bind(now)
        .bind(now)
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
        "UPDATE notes SET title = ?, body = ?, updated_at = ? WHERE user_id = ? AND id = ? RETURNING {COLS}"
    ))
    .bind(title)
    .bind(body)
    .bind(now)
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
