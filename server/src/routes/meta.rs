//! Health and public key discovery.

use axum::{extract::State, http::header, response::IntoResponse, routing::get, Json, Router};

use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/.well-known/jwks.json", get(jwks))
}

#[utoipa::path(get, path = "/healthz", tag = "operations", responses((status = 200, description = "The process serves", body = String)))]
/// Process is up and serving. (Readiness, with a database round-trip, is `/readyz`.)
async fn healthz() -> &'static str {
    "ok"
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
