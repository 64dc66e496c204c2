//! The credential flows shared by the browser routes (cookie) and the simplejwt-compatible
//! routes (JSON body): password login and refresh-token presentation.

use std::net::IpAddr;

use crate::{
    auth::refresh,
    domain::{Password, Username},
    error::{ApiError, ApiResult},
    state::AppState,
    store::{
        self,
        sessions::{NewSession, RefreshOutcome, SessionGrant},
        users::UserRow,
    },
};

/// One message for every credential failure, whether or not the user exists.
pub const BAD_CREDENTIALS: &str = "invalid username or password";

/// Checks a username/password pair with the per-IP and per-username brakes applied. An unknown
/// or malformed username still costs one argon2 verification, so response time tells nothing.
pub async fn check_password(
    state: &AppState,
    ip: IpAddr,
    username: &str,
    password: &str,
) -> ApiResult<UserRow> {
    state.auth_ip_limiter.check(ip)?;
    let now = crate::now();
    let folded = username.to_ascii_lowercase();
    state.login_throttle.check(&folded, now)?;
    let password = Password::for_login(password);
    let user = match Username::parse(username) {
        Ok(u) => store::users::find_by_username(&state.db, u.as_str()).await?,
        Err(_) => None,
    };
    let ok = state
        .hasher
        .verify(&password, user.as_ref().map(|u| u.password_hash.as_str()))
        .await?;
    match user {
        Some(user) if ok => {
            state.login_throttle.record_success(&folded);
            Ok(user)
        }
        _ => {
            state.login_throttle.record_failure(&folded, now);
            tracing::info!(%ip, "failed login");
            Err(ApiError::unauthorized(BAD_CREDENTIALS))
        }
    }
}

/// Starts a session for `user`; returns it with its first refresh token (plaintext, to hand to
/// the client exactly once).
pub async fn start_session(
    state: &AppState,
    user: &UserRow,
    persistent: bool,
    user_agent: Option<&str>,
    ip: IpAddr,
) -> ApiResult<(SessionGrant, String)> {
    let token = refresh::generate();
    let ip = ip.to_string();
    let new = NewSession {
        user_id: &user.id,
        persistent,
        user_agent,
        ip: Some(&ip),
    };
    let grant = store::sessions::create(
        &state.db,
        &new,
        &user.username,
        &user.roles,
        &token.hash,
        crate::now(),
        state.lifetimes(),
    )
    .await?;
    Ok((grant, token.token))
}

/// A successful refresh: the session, and the rotated token unless this was a grace-window
/// duplicate.
pub struct Presented {
    pub grant: SessionGrant,
    pub new_token: Option<String>,
}

/// Presents a refresh token. Reuse revokes the session (in the store and for Bearer checks)
/// and is recorded as a security event.
pub async fn present_refresh(
    state: &AppState,
    token: &str,
    ip: Option<IpAddr>,
) -> ApiResult<Presented> {
    if let Some(ip) = ip {
        state.refresh_limiter.check(ip)?;
    }
    if !refresh::looks_valid(token) {
        return Err(ApiError::unauthorized("refresh token is invalid"));
    }
    let now = crate::now();
    let new = refresh::generate();
    match store::sessions::rotate(
        &state.db,
        &refresh::hash(token),
        &new.hash,
        now,
        state.lifetimes(),
    )
    .await?
    {
        RefreshOutcome::Rotated(grant) => Ok(Presented {
            grant,
            new_token: Some(new.token),
        }),
        RefreshOutcome::Grace(grant) => {
            tracing::debug!(session = %grant.session_id, "refresh within reuse grace");
            Ok(Presented {
                grant,
                new_token: None,
            })
        }
        RefreshOutcome::Reused {
            session_id,
            user_id,
        } => {
            state.mark_revoked([&session_id], now);
            let ip = ip.map(|i| i.to_string());
            tracing::warn!(session = %session_id, user = %user_id, ip = ?ip, "refresh token reuse: session revoked");
            store::events::record(
                &state.db,
                now,
                "refresh_token_reuse",
                Some(&user_id),
                Some(&session_id),
                ip.as_deref(),
                "an already-rotated refresh token was presented after the grace window; session revoked",
            )
            .await?;
            Err(ApiError::unauthorized(
                "refresh token was already used: the session has been revoked for safety; log in again",
            ))
        }
        RefreshOutcome::Invalid => Err(ApiError::unauthorized(
            "refresh token is expired, revoked or unknown",
        )),
    }
}
