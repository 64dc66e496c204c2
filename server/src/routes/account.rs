//! Account self-service: changing one's password and deleting one's account. Each is a security
//! flow of its own: what it ends, and why, is written beside each step (docs/security.md,
//! "Account self-service").

use api_types::{ChangePasswordRequest, DeleteAccountRequest, Problem, ProblemType, TokenResponse};
use axum::{
    extract::{DefaultBodyLimit, State},
    http::{header, HeaderMap, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    Json,
};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    auth::{flows, sessions, AuthUser},
    domain::Password,
    error::{ApiError, ApiResult},
    extract::{ApiJson, ClientMeta, CsrfChecked},
    state::AppState,
    store::{self, users::UserRow},
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(change_password))
        .routes(routes!(delete_account))
        .layer(DefaultBodyLimit::max(8 * 1024))
}

/// Security-event kinds of these flows (`security_events.kind`).
pub const EVENT_PASSWORD_CHANGED: &str = "password_changed";
pub const EVENT_ACCOUNT_DELETED: &str = "account_deleted";
/// Why the sessions ended, as the Sessions page and the admin's event log show it.
pub const REASON_PASSWORD_CHANGED: &str = "password changed";
pub const REASON_ACCOUNT_DELETED: &str = "account deleted";

/// The account's password, checked exactly as a login checks it: the same per-IP, per-account
/// and per-device budgets (a wrong one is a spent guess), so these forms are no way around the
/// login limits. A wrong password is 403 `wrong-password`, not the login's 401: the access token
/// was fine, and a client that refreshes and retries on 401 would spend a second guess.
pub(crate) async fn confirm_password(
    state: &AppState,
    meta: &ClientMeta,
    headers: &HeaderMap,
    user: &AuthUser,
    password: &str,
) -> ApiResult<UserRow> {
    let device = state.cookies.read_device(headers);
    let account =
        match flows::check_password(state, meta.ip, &user.username, password, device.as_deref())
            .await
        {
            Err(ApiError::Unauthorized {
                kind: ProblemType::InvalidCredentials,
                ..
            }) => {
                return Err(ApiError::WrongPassword(
                    "the current password is wrong; nothing was changed".into(),
                ))
            }
            other => other?,
        };
    if account.id != user.user_id {
        // The token's username now names another account (deleted and taken again).
        return Err(ApiError::invalid_token(
            "this session's account no longer exists",
        ));
    }
    Ok(account)
}

#[utoipa::path(post, path = "/api/account/password", tag = "account", security(("bearer" = [])),
    request_body = ChangePasswordRequest,
    params(("X-Requested-With" = String, Header, description = "Must be `cloakroom` (CSRF defence)")),
    responses((status = 200, description = "Password changed. Every session of the account ended (refresh tokens refused, access tokens refused at their next request, on every instance); this browser continues in a new session: a new access token (bound to the same DPoP key), refresh cookie and device cookie", body = TokenResponse,
            headers(("set-cookie" = String, description = "The new session's refresh cookie and a new device cookie"))),
        (status = 403, description = "The current password is wrong (type `wrong-password`; counts as a failed login), or the CSRF check failed", body = Problem),
        (status = 422, description = "The new password breaks a sign-up rule", body = Problem),
        (status = 429, description = "The account's guess budget is spent; see Retry-After", body = Problem)))]
#[tracing::instrument(skip_all, fields(user = %user.user_id))]
async fn change_password(
    // A cookie-adjacent route, like logout-all: the CSRF rules of cookie routes apply.
    _: CsrfChecked,
    State(state): State<AppState>,
    meta: ClientMeta,
    headers: HeaderMap,
    user: AuthUser,
    ApiJson(body): ApiJson<ChangePasswordRequest>,
) -> ApiResult<Response> {
    let _permit = flows::credential_permit(&state)?;
    // The new password's rules first: a weak one costs no guess of the current one.
    let new =
        Password::parse_new(&body.new_password, &user.username).map_err(ApiError::Unprocessable)?;
    let account = confirm_password(&state, &meta, &headers, &user, &body.current_password).await?;
    let hash = state.hasher.hash(&new).await?;
    // The new hash and the end of every session, this one too, in one transaction
    // (`users::change_password`): whoever holds one of them (a stolen cookie, a token copied out
    // of memory) is out at their next request, on every instance (the revocation log), and a
    // login that checked the old password meanwhile gets no session (`sessions::create`). Device
    // cookies issued before now are worth nothing: their MAC covers the old hash.
    let now = state.clock.now();
    let ended = store::users::change_password(
        &state.db,
        &account.id,
        Some(&account.password_hash),
        &hash,
        now,
        REASON_PASSWORD_CHANGED,
    )
    .await?
    .ok_or_else(|| {
        ApiError::WrongPassword(
            "the password was changed by another request meanwhile; nothing was changed here"
                .into(),
        )
    })?;
    for sid in &ended {
        state.revoked.insert(sid, now);
    }
    let ended = ended.len();
    tracing::info!(ended, "password changed");
    // From here on the change has happened: a failure below must not be answered as "nothing
    // was saved" (503), which would send the owner to retry with a password that is no longer
    // theirs. It is a 500, logged, and the browser logs in again with the new password.
    let account = UserRow {
        password_hash: hash,
        ..account
    };
    let continued = async {
        store::events::record(
            &state.db,
            now,
            EVENT_PASSWORD_CHANGED,
            Some(&account.id),
            Some(&user.session_id),
            Some(&meta.ip.to_string()),
            "password_changed: every session of the account ended; the browser that changed it continues in a new one",
        )
        .await?;
        // This browser continues: a new session, as "remembered" as the one it replaces, its
        // token bound to the key the request was proven with.
        let persistent = store::sessions::is_persistent(&state.db, &user.session_id)
            .await?
            .unwrap_or(false);
        let (grant, refresh) = flows::start_session(
            &state,
            &account,
            persistent,
            user.jkt.is_some(),
            None,
            meta.user_agent.as_deref(),
            meta.ip,
            None,
        )
        .await?;
        Ok::<_, ApiError>((grant, refresh))
    };
    let (grant, refresh) = continued.await.map_err(|e| {
        ApiError::Internal(anyhow::anyhow!(
            "password changed and every session ended, but this browser's new session failed: {e}"
        ))
    })?;
    let tokens = sessions::tokens_for(&state, &grant, now, user.jkt.as_deref())?;
    let mut res = Json(tokens).into_response();
    let h = res.headers_mut();
    h.append(
        header::SET_COOKIE,
        state.cookies.set(
            &refresh,
            grant.persistent.then_some(grant.refresh_expires_at - now),
        ),
    );
    h.append(
        header::SET_COOKIE,
        state.cookies.set_device(
            &flows::device_cookie(&state, &account),
            crate::auth::device::DEVICE_COOKIE_MAX_AGE_SECS,
        ),
    );
    Ok(res)
}

#[utoipa::path(post, path = "/api/account/delete", tag = "account", security(("bearer" = [])),
    request_body = DeleteAccountRequest,
    params(("X-Requested-With" = String, Header, description = "Must be `cloakroom` (CSRF defence)")),
    responses((status = 204, description = "Account deleted with its notes, sessions and refresh-token hashes; every session ended; cookies removed, Clear-Site-Data sent"),
        (status = 403, description = "The password is wrong (type `wrong-password`; counts as a failed login), the account is the last admin, or the CSRF check failed", body = Problem),
        (status = 422, description = "`confirm` is not `true`", body = Problem),
        (status = 429, description = "The account's guess budget is spent; see Retry-After", body = Problem)))]
#[tracing::instrument(skip_all, fields(user = %user.user_id))]
async fn delete_account(
    // A cookie-adjacent route, like logout-all: the CSRF rules of cookie routes apply.
    _: CsrfChecked,
    State(state): State<AppState>,
    meta: ClientMeta,
    headers: HeaderMap,
    user: AuthUser,
    ApiJson(body): ApiJson<DeleteAccountRequest>,
) -> ApiResult<Response> {
    if !body.confirm {
        return Err(ApiError::Unprocessable(
            "confirm must be true: deleting an account cannot be undone".into(),
        ));
    }
    let _permit = flows::credential_permit(&state)?;
    let account = confirm_password(&state, &meta, &headers, &user, &body.password).await?;
    delete_now(
        &state,
        &account,
        Some(&user.session_id),
        &meta.ip.to_string(),
    )
    .await?;
    tracing::info!("account deleted");
    Ok(account_gone(&state, StatusCode::NO_CONTENT.into_response()))
}

/// `res` with this browser's cookies of the account cleared (refresh and device) and its
/// storage too (`Clear-Site-Data`).
pub(crate) fn account_gone(state: &AppState, mut res: Response) -> Response {
    let h = res.headers_mut();
    h.append(header::SET_COOKIE, state.cookies.clear());
    h.append(header::SET_COOKIE, state.cookies.set_device("", 0));
    h.insert(
        header::HeaderName::from_static("clear-site-data"),
        HeaderValue::from_static("\"storage\""),
    );
    res
}

/// Deletes `account` (its owner confirmed it), `session_id` being the session that asked if
/// any: every session ends on every instance, then the account goes with everything it holds.
pub(crate) async fn delete_now(
    state: &AppState,
    account: &UserRow,
    session_id: Option<&str>,
    ip: &str,
) -> ApiResult<()> {
    // Sessions end first, through the revocation log, so every instance refuses their access
    // tokens at once; then the account goes, with its notes, sessions and refresh-token hashes
    // (cascades). If the delete is refused (last admin), the sessions are not ended.
    let now = state.clock.now();
    match store::users::delete_account(&state.db, &account.id, now, REASON_ACCOUNT_DELETED).await? {
        store::users::Deleted::Deleted(ids) => {
            for sid in &ids {
                state.revoked.insert(sid, now);
            }
        }
        store::users::Deleted::LastAdmin => {
            return Err(ApiError::Forbidden(
                "you are the last admin: make another account admin first (`cloakroom user create NAME --admin`), then delete this one".into(),
            ))
        }
        store::users::Deleted::Missing => {
            return Err(ApiError::invalid_token("the account no longer exists"))
        }
    }
    // The account's guess budget goes with it; device budgets name no account and age out.
    state
        .login_throttle
        .forget_account(&crate::domain::fold_username(&account.username))
        .await?;
    // Kept for operators: the event names the account by id, never by name.
    store::events::record(
        &state.db,
        now,
        EVENT_ACCOUNT_DELETED,
        Some(&account.id),
        session_id,
        Some(ip),
        "account_deleted: the account, its notes and its sessions were deleted by its owner",
    )
    .await?;
    Ok(())
}
