//! Health, readiness, public key discovery, and the descriptions of the problem types.

use api_types::{Problem, ProblemType};
use axum::{
    extract::{Path, State},
    http::header,
    response::IntoResponse,
    Json,
};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    error::{ApiError, ApiResult},
    state::AppState,
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(healthz))
        .routes(routes!(readyz))
        .routes(routes!(jwks))
        .routes(routes!(problem_type))
}

#[utoipa::path(get, path = "/healthz", tag = "operations", responses((status = 200, description = "The process serves", body = String)))]
/// Process is up and serving. (Readiness, with a database round-trip, is `/readyz`.)
async fn healthz() -> &'static str {
    "ok"
}

#[utoipa::path(get, path = "/readyz", tag = "operations",
    responses((status = 200, description = "The database answers, and writes succeed", body = String),
        (status = 503, description = "Not ready, with the reason: the database is busy or unreachable, or out of space (writes fail)", body = Problem),
        (status = 500, description = "The database failed in a way the server does not recognise", body = Problem)))]
/// Ready to serve: the database answers, and, after a write failed for lack of space, writes
/// succeed again (a write proves it). A load balancer takes an instance that cannot save
/// anything out of rotation, and puts it back once it can.
async fn readyz(State(state): State<AppState>) -> ApiResult<&'static str> {
    match state.db.writable().await {
        Ok(()) => Ok("ready"),
        Err(e) => Err(match ApiError::from(e) {
            // Said as "not ready" (503) with the reason, not as the write's 507.
            ApiError::StorageFull(_) => ApiError::DatabaseBusy(
                "not ready: the database is out of space and writes fail".into(),
            ),
            ApiError::DatabaseBusy(_) => {
                ApiError::DatabaseBusy("not ready: the database is busy or unreachable".into())
            }
            other => other,
        }),
    }
}

#[utoipa::path(get, path = "/.well-known/jwks.json", tag = "operations",
    responses((status = 200, description = "Public keys (OKP/Ed25519) that verify access tokens", body = Object)))]
async fn jwks(State(state): State<AppState>) -> impl IntoResponse {
    // Public keys may be cached briefly; rotation keeps old keys listed long enough.
    (
        [(header::CACHE_CONTROL, "public, max-age=300")],
        Json(state.keys.jwks()),
    )
}

/// What a problem `type` of this API means (its URI dereferences here).
#[derive(Serialize, ToSchema)]
struct ProblemTypeInfo {
    /// The URI, as it appears in `type`.
    #[serde(rename = "type")]
    type_: String,
    /// The `title` every problem of this type carries.
    title: &'static str,
    /// The HTTP status it comes with.
    status: u16,
    /// What happened and what a client should do.
    description: &'static str,
}

#[utoipa::path(get, path = "/api/problems/{name}", tag = "operations",
    params(("name" = String, Path, description = "The last segment of a problem `type`, e.g. `no-refresh-cookie`")),
    responses((status = 200, description = "What the problem type means", body = ProblemTypeInfo),
        (status = 404, description = "No such problem type", body = Problem)))]
async fn problem_type(Path(name): Path<String>) -> ApiResult<Json<ProblemTypeInfo>> {
    let kind = ProblemType::ALL
        .iter()
        .copied()
        .find(|k| k.name() == name)
        .ok_or_else(|| ApiError::NotFound("no such problem type".into()))?;
    Ok(Json(ProblemTypeInfo {
        type_: kind.uri(),
        title: kind.title(),
        status: kind.status(),
        description: kind.description(),
    }))
}
