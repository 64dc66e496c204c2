//! The simplejwt-compatible flow for non-browser clients (mobile apps, CLIs, curl): tokens in
//! JSON bodies instead of a cookie, over the same store, sessions and reuse rules. There is no
//! ambient credential here, so no CSRF check is needed.

use api_types::Problem;
use api_types::{TokenObtainRequest, TokenPair, TokenRefreshRequest, TokenVerifyRequest};
use axum::{
    extract::{DefaultBodyLimit, State},
    routing::post,
    Json, Router,
};

use super::ClientMeta;
use crate::{
    auth::{flows, refresh},
    error::{ApiError, ApiResult},
    extract::ApiJson,
    state::AppState,
    store,
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/token/", post(obtain))
        .route("/api/token/refresh/", post(refresh_pair))
        .route("/api/token/verify/", post(verify))
        .layer(DefaultBodyLimit::max(8 * 1024))
}

#[utoipa::path(post, path = "/api/token/", tag = "simplejwt", request_body = TokenObtainRequest,
    responses((status = 200, description = "Access and refresh token in the body (non-browser clients)", body = TokenPair),
        (status = 401, description = "Invalid username or password", body = Problem, content_type = "application/problem+json"), (status = 429, description = "Account or IP throttled", body = Problem, content_type = "application/problem+json")))]
#[tracing::instrument(skip_all, fields(username = %body.username))]
async fn obtain(
    State(state): State<AppState>,
    meta: ClientMeta,
    ApiJson(body): ApiJson<TokenObtainRequest>,
) -> ApiResult<Json<TokenPair>> {
    let user = flows::check_password(&state, meta.ip, &body.username, &body.password).await?;
    let (g, refresh) =
        flows::start_session(&state, &user, true, meta.user_agent.as_deref(), meta.ip).await?;
    let access = state.access_for(&g, crate::now())?;
    Ok(Json(TokenPair {
        access: access.access_token,
        refresh: Some(refresh),
    }))
}

#[utoipa::path(post, path = "/api/token/refresh/", tag = "simplejwt", request_body = TokenRefreshRequest,
    responses((status = 200, description = "Rotated pair (`refresh` absent inside the reuse grace window)", body = TokenPair),
        (status = 401, description = "Expired, revoked or reused refresh token", body = Problem, content_type = "application/problem+json")))]
#[tracing::instrument(skip_all)]
async fn refresh_pair(
    State(state): State<AppState>,
    meta: ClientMeta,
    ApiJson(body): ApiJson<TokenRefreshRequest>,
) -> ApiResult<Json<TokenPair>> {
    let p = flows::present_refresh(&state, &body.refresh, Some(meta.ip)).await?;
    let g = &p.grant;
    let access = state.access_for(g, crate::now())?;
    Ok(Json(TokenPair {
        access: access.access_token,
        refresh: p.new_token,
    }))
}

#[utoipa::path(post, path = "/api/token/verify/", tag = "simplejwt", request_body = TokenVerifyRequest,
    responses((status = 200, description = "Valid: an empty object", body = Object), (status = 401, description = "Invalid or expired", body = Problem, content_type = "application/problem+json")))]
/// 200 `{}` for a live access token or a current refresh token, 401 otherwise (like simplejwt,
/// which verifies either kind).
async fn verify(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<TokenVerifyRequest>,
) -> ApiResult<Json<serde_json::Value>> {
    let now = crate::now();
    let valid = if body.token.contains('.') {
        state.authenticate(&body.token, now).is_ok()
    } else {
        refresh::looks_valid(&body.token)
            && store::sessions::is_current_token(&state.db, &refresh::hash(&body.token), now)
                .await?
    };
    if valid {
        Ok(Json(serde_json::json!({})))
    } else {
        Err(ApiError::unauthorized("token is invalid or expired"))
    }
}
