//! Admin routes. The server enforces the role on every request, whatever the client shows:
//! without a token 401, without the `admin` role 403. The role is read from the database on
//! every admin request, not taken from the token's `roles` claim: a role withdrawn by an operator
//! must not live on for the rest of an access token's lifetime.

use api_types::Problem;
use api_types::{AdminUserInfo, SecurityEvent};
use axum::{
    extract::{Path, Query, State},
    http::StatusCode,
    Json,
};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    domain::fold_username,
    error::{ApiError, ApiResult},
    extract::AdminUser,
    state::AppState,
    store,
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_users))
        .routes(routes!(revoke_user_sessions))
        .routes(routes!(unlock_user))
        .routes(routes!(list_events))
}

/// How many events `GET /api/admin/events` returns.
const EVENTS_SHOWN: i64 = 200;

/// The admin event log's filters (`?user=…&kind=…`), each optional.
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct EventQuery {
    /// Only this user's events (a user id).
    user: Option<String>,
    /// Only events of this kind (`refresh_token_reuse`, `password_changed`, `account_unlocked`, …).
    kind: Option<String>,
}

#[utoipa::path(get, path = "/api/admin/events", tag = "admin", security(("bearer" = [])), params(EventQuery),
    responses((status = 200, description = "The newest security events (refresh retries, grace hits, token reuse, password changes, unlocks), newest first", body = [SecurityEvent]), (status = 400, description = "A filter this route does not know", body = Problem), (status = 403, description = "Not an admin", body = Problem)))]
async fn list_events(
    State(state): State<AppState>,
    _admin: AdminUser,
    Query(q): Query<EventQuery>,
) -> ApiResult<Json<Vec<SecurityEvent>>> {
    let filter = store::events::Filter {
        user_id: q.user.as_deref().filter(|u| !u.is_empty()),
        kind: q.kind.as_deref().filter(|k| !k.is_empty()),
        session_id: None,
    };
    let rows = store::events::recent(&state.db, filter, EVENTS_SHOWN).await?;
    Ok(Json(
        rows.into_iter()
            .map(|e| SecurityEvent {
                at: crate::rfc3339(e.at),
                reason: e
                    .detail
                    .as_deref()
                    .and_then(|d| d.split_once(':'))
                    .map(|(code, _)| code.to_owned()),
                kind: e.kind,
                detail: e.detail,
                user_id: e.user_id,
                session_id: e.session_id,
                ip: e.ip,
            })
            .collect(),
    ))
}

#[utoipa::path(get, path = "/api/admin/users", tag = "admin", security(("bearer" = [])),
    responses((status = 200, description = "Every user with their live sessions", body = [AdminUserInfo]), (status = 403, description = "Not an admin", body = Problem)))]
async fn list_users(
    State(state): State<AppState>,
    _admin: AdminUser,
) -> ApiResult<Json<Vec<AdminUserInfo>>> {
    let now = state.clock.now();
    let rows = store::users::list_with_sessions(&state.db, now).await?;
    let locked = state.login_throttle.locked_accounts(now).await?;
    Ok(Json(
        rows.into_iter()
            .map(|u| AdminUserInfo {
                locked_until: {
                    let folded = fold_username(&u.username);
                    locked
                        .iter()
                        .find(|(name, _)| *name == folded)
                        .map(|(_, until)| crate::rfc3339(*until))
                },
                last_login_at: u.last_login_at.map(crate::rfc3339),
                roles: store::users::split_roles(&u.roles),
                id: u.id,
                username: u.username,
                created_at: crate::rfc3339(u.created_at),
                live_sessions: u.live_sessions.max(0) as u32,
            })
            .collect(),
    ))
}

#[utoipa::path(post, path = "/api/admin/users/{id}/revoke-sessions", tag = "admin", security(("bearer" = [])),
    params(("id" = String, Path, description = "User id")),
    responses((status = 204, description = "Every session of that user revoked"),
        (status = 403, description = "Not an admin", body = Problem), (status = 404, description = "No such user", body = Problem)))]
#[tracing::instrument(skip_all, fields(admin = %admin.0.user_id, target = %id))]
async fn revoke_user_sessions(
    State(state): State<AppState>,
    admin: AdminUser,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    user_or_404(&state, &id).await?;
    let count = crate::auth::sessions::end_all(&state, &id, "revoked by an admin").await?;
    tracing::info!(count, "admin revoked a user's sessions");
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/api/admin/users/{id}/unlock", tag = "admin", security(("bearer" = [])),
    params(("id" = String, Path, description = "User id")),
    responses((status = 204, description = "The account's failed logins are forgotten: it can log in again from anywhere (recorded as an `account_unlocked` event)"),
        (status = 403, description = "Not an admin", body = Problem), (status = 404, description = "No such user", body = Problem)))]
#[tracing::instrument(skip_all, fields(admin = %admin.0.user_id, target = %id))]
async fn unlock_user(
    State(state): State<AppState>,
    admin: AdminUser,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let user = user_or_404(&state, &id).await?;
    state
        .login_throttle
        .forget_account(&fold_username(&user.username))
        .await?;
    store::events::record(
        &state.db,
        state.clock.now(),
        EVENT_UNLOCKED,
        Some(&id),
        None,
        None,
        &format!("admin_unlock: by admin {}", admin.0.user_id),
    )
    .await?;
    tracing::info!("admin unlocked an account");
    Ok(StatusCode::NO_CONTENT)
}

/// The user an admin route names, or 404.
async fn user_or_404(state: &AppState, id: &str) -> ApiResult<store::users::UserRow> {
    store::users::find_by_id(&state.db, id)
        .await?
        .ok_or_else(|| ApiError::NotFound("no such user".into()))
}

/// The event an admin's unlock records.
pub const EVENT_UNLOCKED: &str = "account_unlocked";
