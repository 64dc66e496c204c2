//! Notes, the protected resource. Another user's note answers 404, never 403, so ids reveal
//! nothing about other accounts.

use api_types::Problem;
use api_types::{Note, NoteInput};
use axum::{
    extract::{DefaultBodyLimit, Path, State},
    http::StatusCode,
    Json,
};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    auth::AuthUser,
    domain::{NoteBody, NoteTitle},
    error::{ApiError, ApiResult},
    extract::ApiJson,
    state::AppState,
    store::{self, notes::NoteRow},
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(read, update, remove))
        // 64 KiB of text can double in size once JSON-escaped; the domain type enforces the
        // real limit with a precise message.
        .layer(DefaultBodyLimit::max(256 * 1024))
}

fn to_api(n: NoteRow) -> Note {
    Note {
        id: n.id,
        title: n.title,
        body: n.body,
        created_at: crate::rfc3339(n.created_at),
        updated_at: crate::rfc3339(n.updated_at),
    }
}

fn parse(input: &NoteInput) -> ApiResult<(NoteTitle, NoteBody)> {
    let title = NoteTitle::parse(&input.title).map_err(ApiError::Unprocessable)?;
    let body = NoteBody::parse(&input.body).map_err(ApiError::Unprocessable)?;
    Ok((title, body))
}

fn not_found() -> ApiError {
    ApiError::NotFound("no such note".into())
}

#[utoipa::path(get, path = "/api/notes", tag = "notes", security(("bearer" = [])),
    responses((status = 200, description = "Your notes, most recently updated first", body = [Note])))]
async fn list(State(state): State<AppState>, user: AuthUser) -> ApiResult<Json<Vec<Note>>> {
    let rows = store::notes::list(&state.db, &user.user_id).await?;
    Ok(Json(rows.into_iter().map(to_api).collect()))
}

#[utoipa::path(post, path = "/api/notes", tag = "notes", security(("bearer" = [])), request_body = NoteInput,
    responses((status = 201, description = "Created", body = Note), (status = 422, description = "Title or body breaks a rule", body = Problem, content_type = "application/problem+json")))]
async fn create(
    State(state): State<AppState>,
    user: AuthUser,
    ApiJson(input): ApiJson<NoteInput>,
) -> ApiResult<(StatusCode, Json<Note>)> {
    let (title, body) = parse(&input)?;
    let row = store::notes::create(
        &state.db,
        &user.user_id,
        title.as_str(),
        body.as_str(),
        state.clock.now(),
    )
    .await?;
    Ok((StatusCode::CREATED, Json(to_api(row))))
}

#[utoipa::path(get, path = "/api/notes/{id}", tag = "notes", security(("bearer" = [])),
    params(("id" = String, Path, description = "Note id")),
    responses((status = 200, description = "The note", body = Note),
        (status = 404, description = "No such note of yours (another user's note looks the same)", body = Problem, content_type = "application/problem+json")))]
async fn read(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> ApiResult<Json<Note>> {
    let row = store::notes::get(&state.db, &user.user_id, &id)
        .await?
        .ok_or_else(not_found)?;
    Ok(Json(to_api(row)))
}

#[utoipa::path(put, path = "/api/notes/{id}", tag = "notes", security(("bearer" = [])), request_body = NoteInput,
    params(("id" = String, Path, description = "Note id")),
    responses((status = 200, description = "Updated", body = Note),
        (status = 404, description = "No such note of yours", body = Problem, content_type = "application/problem+json"), (status = 422, description = "Title or body breaks a rule", body = Problem, content_type = "application/problem+json")))]
async fn update(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<NoteInput>,
) -> ApiResult<Json<Note>> {
    let (title, body) = parse(&input)?;
    let row = store::notes::update(
        &state.db,
        &user.user_id,
        &id,
        title.as_str(),
        body.as_str(),
        state.clock.now(),
    )
    .await?
    .ok_or_else(not_found)?;
    Ok(Json(to_api(row)))
}

#[utoipa::path(delete, path = "/api/notes/{id}", tag = "notes", security(("bearer" = [])),
    params(("id" = String, Path, description = "Note id")),
    responses((status = 204, description = "Deleted"), (status = 404, description = "No such note of yours", body = Problem, content_type = "application/problem+json")))]
async fn remove(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    if store::notes::delete(&state.db, &user.user_id, &id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(not_found())
    }
}
