//! The simplejwt-compatible flow for non-browser clients (mobile apps, CLIs, curl): tokens in
//! JSON bodies instead of a cookie, over the same store, sessions and reuse rules. There is no
//! ambient credential here, so no CSRF check is needed.

use api_types::Problem;
use api_types::{TokenObtainRequest, TokenPair, TokenRefreshRequest, TokenVerifyRequest};
use axum::{
    extract::{DefaultBodyLimit, State},
    Json,
};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::extract::ClientMeta;
use crate::{
    auth::{flows, sessions},
    error::{ApiError, ApiResult},
    extract::JsonOrForm,
    state::AppState,
};

/// `POST /api/token/` hashes a password: the credential gate, as `auth::credential_router`.
pub fn credential_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(obtain))
        .layer(DefaultBodyLimit::max(8 * 1024))
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(refresh_pair))
        .routes(routes!(verify))
        .layer(DefaultBodyLimit::max(8 * 1024))
}

#[utoipa::path(post, path = "/api/token/", tag = "simplejwt", request_body(content((TokenObtainRequest = "application/json"), (TokenObtainRequest = "application/x-www-form-urlencoded"))),
    responses((status = 200, description = "Access and refresh token in the body (non-browser clients)", body = TokenPair),
        (status = 401, description = "Invalid username or password", body = Problem), (status = 429, description = "Account or IP throttled", body = Problem),
        (status = 503, description = "Too many logins being checked at once; see Retry-After", body = Problem)))]
#[tracing::instrument(skip_all)]
async fn obtain(
    State(state): State<AppState>,
    meta: ClientMeta,
    JsonOrForm(body): JsonOrForm<TokenObtainRequest>,
) -> ApiResult<Json<TokenPair>> {
    let _permit = flows::credential_permit(&state)?;
    // Non-browser clients keep no device cookie: their guesses count against the account.
    let (user, password) =
        flows::check_password_for_session(&state, meta.ip, &body.username, &body.password, None)
            .await?;
    let (g, refresh) = flows::start_session(
        &state,
        &user,
        true,
        false,
        None,
        meta.user_agent.as_deref(),
        meta.ip,
        password,
    )
    .await?;
    let access = sessions::tokens_for(&state, &g, state.clock.now(), None)?;
    Ok(Json(TokenPair {
        access: access.access_token,
        refresh: Some(refresh),
    }))
}

#[utoipa::path(post, path = "/api/token/refresh/", tag = "simplejwt", request_body(content((TokenRefreshRequest = "application/json"), (TokenRefreshRequest = "application/x-www-form-urlencoded"))),
    responses((status = 200, description = "Rotated pair (`refresh` absent inside the reuse grace window)", body = TokenPair),
        (status = 401, description = "Expired, revoked or reused refresh token", body = Problem),
        (status = 429, description = "Too many refreshes from this IP", body = Problem)))]
#[tracing::instrument(skip_all)]
async fn refresh_pair(
    State(state): State<AppState>,
    meta: ClientMeta,
    JsonOrForm(body): JsonOrForm<TokenRefreshRequest>,
) -> ApiResult<Json<TokenPair>> {
    let p = flows::present_refresh(&state, &body.refresh, Some(meta.ip)).await?;
    let g = &p.grant;
    let access = sessions::tokens_for(&state, g, state.clock.now(), None)?;
    Ok(Json(TokenPair {
        access: access.access_token,
        refresh: p.new_token,
    }))
}

#[utoipa::path(post, path = "/api/token/verify/", tag = "simplejwt", request_body(content((TokenVerifyRequest = "application/json"), (TokenVerifyRequest = "application/x-www-form-urlencoded"))),
    responses((status = 200, description = "A live access token: an empty object", body = Object), (status = 401, description = "Invalid, expired or revoked, or not an access token (refresh tokens are refused)", body = Problem)))]
/// 200 `{}` for a live access token, 401 for anything else. Unlike simplejwt this refuses
/// refresh tokens: checking one here neither rotates nor records it, so a thief holding an old
/// refresh token could poll this route to learn the moment the owner rotates and replay inside
/// the grace window unseen. A refresh token is only ever checked by presenting it.
async fn verify(
    State(state): State<AppState>,
    JsonOrForm(body): JsonOrForm<TokenVerifyRequest>,
) -> ApiResult<Json<serde_json::Value>> {
    match sessions::authenticate(&state, &body.token) {
        // A bound token is only live together with its key: this route cannot see a proof, so
        // it does not vouch for one (nor tell whoever lifted it that it still works).
        Ok(user) if user.jkt.is_none() => Ok(Json(serde_json::json!({}))),
        Ok(_) => Err(ApiError::invalid_token(
            "a DPoP-bound token is checked with a proof of its key, not here",
        )),
        Err(_) => Err(ApiError::invalid_token(
            "token is invalid, expired or revoked, or is not an access token",
        )),
    }
}
