//! Notes, the protected resource. Another user's note answers 404, never 403, so ids reveal
//! nothing about other accounts.

use api_types::Problem;
use api_types::{Note, NoteInput};
use axum::{
    extract::{DefaultBodyLimit, Path, State},
    http::{header, HeaderMap, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    Json,
};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    auth::AuthUser,
    domain::{NoteBody, NoteTitle},
    error::{ApiError, ApiResult},
    extract::ApiJson,
    state::AppState,
    store::{
        self,
        notes::{Conditional, NoteRow},
    },
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
        version: n.touched as u64,
    }
}

/// The note as JSON with its version as a strong `ETag`.
fn with_etag(status: StatusCode, n: NoteRow) -> Response {
    let etag =
        HeaderValue::from_str(&format!("\"{}\"", n.touched)).expect("digits are a header value");
    (status, [(header::ETAG, etag)], Json(to_api(n))).into_response()
}

/// The version a write is based on, from `If-Match` (RFC 9110 §13.1.1): `None` for `*` (any
/// version), `Some(v)` for a list naming version `v` (when it names several, the current one if
/// it is among them). Weak tags never match (If-Match compares strongly), and a list naming no
/// version matches nothing (`Some(0)`: versions start at 1).
///
/// No header at all is 428 (RFC 6585 §3): a write that does not say which version it replaces
/// is how one tab silently overwrites another's save, so every writer must say, and one that
/// really means "whatever is there" says `*`.
async fn expected_version(
    state: &AppState,
    user: &AuthUser,
    id: &str,
    headers: &HeaderMap,
) -> ApiResult<Option<i64>> {
    let Some(value) = headers.get(header::IF_MATCH) else {
        return Err(ApiError::PreconditionRequired(
            "Say which version of the note this replaces: send If-Match with the ETag you read (\"<version>\"), or * for whatever is there.".into(),
        ));
    };
    let value = value.to_str().unwrap_or("").trim();
    if value == "*" {
        return Ok(None);
    }
    let versions: Vec<i64> = value
        .split(',')
        // Digits only: `"-5"` or `"+5"` is no version of ours (and -1 must never mean "any").
        .filter_map(|t| {
            let v = t.trim().strip_prefix('"')?.strip_suffix('"')?;
            if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            v.parse::<u64>().ok().and_then(|v| i64::try_from(v).ok())
        })
        .collect();
    Ok(Some(match versions.as_slice() {
        [] => 0,
        [one] => *one,
        several => match store::notes::get(&state.db, &user.user_id, id).await? {
            Some(n) if several.contains(&n.touched) => n.touched,
            _ => 0,
        },
    }))
}

fn stale() -> ApiError {
    ApiError::PreconditionFailed(
        "This note was changed elsewhere (another tab or device) since you opened it. Your text is kept: save again to replace that version, or reload to see it.".into(),
    )
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
    responses((status = 201, description = "Created", body = Note, headers(("ETag" = String, description = "The note's version, in quotes"))), (status = 422, description = "Title or body breaks a rule", body = Problem)))]
async fn create(
    State(state): State<AppState>,
    user: AuthUser,
    ApiJson(input): ApiJson<NoteInput>,
) -> ApiResult<Response> {
    let (title, body) = parse(&input)?;
    let row = store::notes::create(
        &state.db,
        &user.user_id,
        title.as_str(),
        body.as_str(),
        state.clock.now(),
    )
    .await?;
    Ok(with_etag(StatusCode::CREATED, row))
}

#[utoipa::path(get, path = "/api/notes/{id}", tag = "notes", security(("bearer" = [])),
    params(("id" = String, Path, description = "Note id")),
    responses((status = 200, description = "The note", body = Note, headers(("ETag" = String, description = "The note's version, in quotes: send it as If-Match to write it"))),
        (status = 404, description = "No such note of yours (another user's note looks the same)", body = Problem)))]
async fn read(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let row = store::notes::get(&state.db, &user.user_id, &id)
        .await?
        .ok_or_else(not_found)?;
    Ok(with_etag(StatusCode::OK, row))
}

#[utoipa::path(put, path = "/api/notes/{id}", tag = "notes", security(("bearer" = [])), request_body = NoteInput,
    params(("id" = String, Path, description = "Note id"),
        ("If-Match" = String, Header, description = "The ETag of the version this write replaces (`\"<version>\"`), or `*` for any. Required: without it the answer is 428")),
    responses((status = 200, description = "Updated", body = Note, headers(("ETag" = String, description = "The new version, in quotes"))),
        (status = 404, description = "No such note of yours", body = Problem),
        (status = 412, description = "The note changed since that version: nothing was written", body = Problem),
        (status = 428, description = "No If-Match: nothing was written", body = Problem),
        (status = 422, description = "Title or body breaks a rule", body = Problem)))]
async fn update(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
    headers: HeaderMap,
    ApiJson(input): ApiJson<NoteInput>,
) -> ApiResult<Response> {
    let (title, body) = parse(&input)?;
    let expected = expected_version(&state, &user, &id, &headers).await?;
    match store::notes::update(
        &state.db,
        &user.user_id,
        &id,
        title.as_str(),
        body.as_str(),
        state.clock.now(),
        expected,
    )
    .await?
    {
        Conditional::Done(row) => Ok(with_etag(StatusCode::OK, row)),
        Conditional::Missing => Err(not_found()),
        Conditional::Stale => Err(stale()),
    }
}

#[utoipa::path(delete, path = "/api/notes/{id}", tag = "notes", security(("bearer" = [])),
    params(("id" = String, Path, description = "Note id"),
        ("If-Match" = String, Header, description = "The ETag of the version being deleted (`\"<version>\"`), or `*` for any. Required: without it the answer is 428")),
    responses((status = 204, description = "Deleted"), (status = 404, description = "No such note of yours", body = Problem),
        (status = 412, description = "The note changed since that version: it was not deleted", body = Problem),
        (status = 428, description = "No If-Match: nothing was deleted", body = Problem)))]
async fn remove(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> ApiResult<StatusCode> {
    let expected = expected_version(&state, &user, &id, &headers).await?;
    match store::notes::delete(&state.db, &user.user_id, &id, expected).await? {
        Conditional::Done(()) => Ok(StatusCode::NO_CONTENT),
        Conditional::Missing => Err(not_found()),
        Conditional::Stale => Err(stale()),
    }
}
