//! The credential flows shared by the browser routes (cookie) and the simplejwt-compatible
//! routes (JSON body): password login and refresh-token presentation.

use api_types::ProblemType;
use std::net::IpAddr;

use crate::{
    auth::{
        device,
        password::HashError,
        refresh,
        throttle::{Budget, Reservation, Success},
    },
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

/// Checks a username/password pair with the per-IP, per-account and per-device brakes applied.
/// An unknown or malformed username still costs one argon2 verification, so response time tells
/// nothing. `device` is the request's device cookie, if any (`auth::device`).
///
/// The guess is reserved against its budget *before* argon2 runs, in one step with the limit
/// check, so concurrent guesses cannot all slip past a check that only counts finished failures;
/// it stays charged only if the password was checked and wrong (`throttle::Reservation`).
pub async fn check_password(
    state: &AppState,
    ip: IpAddr,
    username: &str,
    password: &str,
    device: Option<&str>,
) -> ApiResult<UserRow> {
    let (user, success) = check_password_for_session(state, ip, username, password, device).await?;
    give_back(state, success).await?;
    Ok(user)
}

/// Gives a right password's attempt back in a transaction of its own (when no session is
/// made to give it back in).
pub async fn give_back(state: &AppState, success: Option<Success>) -> ApiResult<()> {
    if let Some(s) = success {
        s.apply(&state.db).await?;
    }
    Ok(())
}

/// [`check_password`] for a login, which gives the right password's attempt back in the
/// transaction that creates its session: pass the [`Success`] to [`start_session`].
pub async fn check_password_for_session(
    state: &AppState,
    ip: IpAddr,
    username: &str,
    password: &str,
    device: Option<&str>,
) -> ApiResult<(UserRow, Option<Success>)> {
    state.auth_ip_limiter.check(ip)?;
    let now = state.clock.now();
    // A malformed username can never match an account, so guessing it is pointless and it has
    // no budget (the per-IP bucket above still applies); this also keeps arbitrary client
    // strings out of the throttle's memory and out of the logs.
    let username = Username::parse(username).ok();
    let (user, reservation, trusted) = match (&username, device) {
        (None, _) => (None, None, false),
        // No device cookie: the account's budget, checked before the database is touched, so a
        // locked account answers 429 in the same time whether or not it exists.
        (Some(u), None) => {
            let r = state
                .login_throttle
                .reserve(&Budget::Account(u.folded()), now)
                .await?;
            let user = store::users::find_by_username(&state.db, u.as_str()).await?;
            (user, Some(r), false)
        }
        // A device cookie is checked against the account it names (for an unknown user, against
        // a dummy one: the same HMAC either way).
        (Some(u), Some(d)) => {
            let user = store::users::find_by_username(&state.db, u.as_str()).await?;
            let acct = user.as_ref().map(account).unwrap_or(device::Account {
                user_id: "",
                password_hash: "",
            });
            let budget = match device::verify(&state.device_key, &acct, now, d) {
                Some(id) if user.is_some() => Budget::Device(id),
                _ => Budget::Account(u.folded()),
            };
            let trusted = matches!(budget, Budget::Device(_));
            (
                user,
                Some(state.login_throttle.reserve(&budget, now).await?),
                trusted,
            )
        }
    };
    // An error here (hash queue full, database down) drops the reservation unsettled: refunded.
    let ok = state
        .hasher
        .verify(
            &Password::for_login(password),
            // An account without a password (made by a sign-in through the OpenID provider)
            // has an empty hash: checked against the dummy, so it costs the same and fails.
            user.as_ref()
                .map(|u| u.password_hash.as_str())
                .filter(|h| !h.is_empty()),
        )
        .await?;
    match user.filter(|_| ok) {
        Some(user) => Ok((user, reservation.map(Reservation::success))),
        None => {
            if let Some(r) = reservation {
                r.failed();
            }
            // (A validated username is `[A-Za-z0-9_.-]`: safe to log. A malformed one is not.)
            let who = username.as_ref().map(Username::folded);
            tracing::info!(%ip, username = who.as_deref().unwrap_or("(malformed)"), trusted_device = trusted, "failed login");
            Err(ApiError::unauthorized(
                ProblemType::InvalidCredentials,
                BAD_CREDENTIALS,
            ))
        }
    }
}

/// A permit of the credential routes' own in-flight gate, or 503 + `Retry-After` at once. Their
/// handlers take it first thing, once the request's body has arrived (a client trickling its
/// body in holds none), and hold it until the answer is made.
pub fn credential_permit(state: &AppState) -> ApiResult<tokio::sync::OwnedSemaphorePermit> {
    state
        .credential_in_flight
        .clone()
        .try_acquire_owned()
        // The same answer as a full hash queue: to the client both mean "too many logins now".
        .map_err(|_| HashError::Busy.into())
}

fn account(user: &UserRow) -> device::Account<'_> {
    device::Account {
        user_id: &user.id,
        password_hash: &user.password_hash,
    }
}

/// A fresh device cookie for `user`, to set on a successful browser login.
pub fn device_cookie(state: &AppState, user: &UserRow) -> String {
    device::issue(&state.device_key, &account(user), state.clock.now())
}

/// Starts a session for `user`; returns it with its first refresh token (plaintext, to hand to
/// the client exactly once). `password`: the settlement of the login's right password
/// ([`check_password_for_session`]), given back in the session's own commit.
#[allow(clippy::too_many_arguments)]
pub async fn start_session(
    state: &AppState,
    user: &UserRow,
    persistent: bool,
    dpop_bound: bool,
    oidc: Option<store::sessions::OidcOrigin<'_>>,
    user_agent: Option<&str>,
    ip: IpAddr,
    password: Option<Success>,
) -> ApiResult<(SessionGrant, String)> {
    let token = refresh::generate();
    let ip = ip.to_string();
    let new = NewSession {
        user_id: &user.id,
        password_hash: &user.password_hash,
        persistent,
        dpop_bound,
        user_agent,
        ip: Some(&ip),
        oidc,
    };
    let grant = store::sessions::create_settling(
        &state.db,
        &new,
        password.as_ref().map(|s| (s.budget.as_str(), &s.how)),
        &user.username,
        &user.roles,
        &token.hash,
        state.clock.now(),
        state.lifetimes(),
    )
    .await?
    // The password changed while this login was being checked: it is refused as wrong.
    .ok_or_else(|| ApiError::unauthorized(ProblemType::InvalidCredentials, BAD_CREDENTIALS))?;
    Ok((grant, token.token))
}

/// A successful refresh: the session, and the refresh token to set unless this was a grace-window
/// straggler (whose client already holds a newer one).
pub struct Presented {
    pub grant: SessionGrant,
    pub new_token: Option<String>,
    /// The reason code of the outcome (`TokenResponse::rotation`).
    pub rotation: &'static str,
}

/// Reason code of a plain rotation (the presented token was current).
pub const ROTATED: &str = "rotated";

/// The code at the start of a reason text ("code: explanation").
pub fn code(reason: &'static str) -> &'static str {
    reason.split(':').next().unwrap_or(reason)
}

/// Presents a refresh token. Reuse revokes the session (in the store and for Bearer checks)
/// and is recorded as a security event; repeats that are not theft are recorded too, with a
/// reason code that tells a benign race from a possible replay (see `auth::refresh`).
pub async fn present_refresh(
    state: &AppState,
    token: &str,
    ip: Option<IpAddr>,
) -> ApiResult<Presented> {
    if let Some(ip) = ip {
        state.refresh_limiter.check(ip)?;
    }
    if !refresh::looks_valid(token) {
        return Err(ApiError::unauthorized(
            ProblemType::SessionEnded,
            "refresh token is invalid",
        ));
    }
    let now = state.clock.now();
    let next = refresh::successor(&state.successor_key, token);
    let ip = ip.map(|i| i.to_string());
    let event = |kind: &'static str, grant: SessionGrant, detail: &'static str| {
        let (db, ip) = (state.db.clone(), ip.clone());
        async move {
            store::events::record(
                &db,
                now,
                kind,
                Some(&grant.user_id),
                Some(&grant.session_id),
                ip.as_deref(),
                detail,
            )
            .await?;
            Ok::<_, ApiError>(grant)
        }
    };
    match store::sessions::rotate(
        &state.db,
        &refresh::hash(token),
        &next.hash,
        now,
        state.lifetimes(),
    )
    .await?
    {
        RefreshOutcome::Rotated(grant) => Ok(Presented {
            grant,
            new_token: Some(next.token),
            rotation: ROTATED,
        }),
        RefreshOutcome::Repeated {
            grant,
            since_rotation,
        } => {
            let detail = if since_rotation <= state.lifetimes().reuse_grace {
                REASON_CONCURRENT
            } else {
                REASON_LOST_ANSWER
            };
            tracing::info!(session = %grant.session_id, reason = detail, "refresh repeated: same successor re-issued");
            let grant = event(EVENT_REPEAT, grant, detail).await?;
            Ok(Presented {
                grant,
                new_token: Some(next.token),
                rotation: code(detail),
            })
        }
        RefreshOutcome::Grace(grant) => {
            tracing::info!(session = %grant.session_id, "refresh after its successor was used, within grace");
            let grant = event(EVENT_GRACE, grant, REASON_GRACE).await?;
            Ok(Presented {
                grant,
                new_token: None,
                rotation: code(REASON_GRACE),
            })
        }
        RefreshOutcome::Reused {
            session_id,
            user_id,
        } => {
            crate::auth::sessions::revoked_by_store(state, &session_id);
            tracing::warn!(session = %session_id, user = %user_id, ip = ?ip, "refresh token reuse: session revoked");
            store::events::record(
                &state.db,
                now,
                EVENT_REUSE,
                Some(&user_id),
                Some(&session_id),
                ip.as_deref(),
                REASON_REUSE,
            )
            .await?;
            Err(ApiError::unauthorized(
                ProblemType::RefreshReused,
                "refresh token was already used: the session has been revoked for safety; log in again",
            ))
        }
        RefreshOutcome::Invalid => {
            // The reason a session was ended is the owner's to read ("password changed" tells
            // the other browser why it has to log in again); a token nobody issued learns
            // nothing from the generic words.
            let why = store::sessions::revoked_reason(&state.db, &refresh::hash(token))
                .await
                .ok()
                .flatten();
            Err(ApiError::unauthorized(
                ProblemType::SessionEnded,
                match why {
                    Some(reason) => format!("this session was ended ({reason}): log in again"),
                    None => "refresh token is expired, revoked or unknown".into(),
                },
            ))
        }
    }
}

/// Security-event kinds and reason codes of refresh presentations (`security_events.kind`, and
/// the code that starts `detail`). Operators and the admin API tell a benign race from theft by
/// these, never by wording.
pub const EVENT_REPEAT: &str = "refresh_retry";
pub const EVENT_GRACE: &str = "refresh_grace";
pub const EVENT_REUSE: &str = "refresh_token_reuse";
/// A repeat within the grace window of the rotation, successor unused: two tabs or requests raced.
pub const REASON_CONCURRENT: &str =
    "concurrent_duplicate: the token was presented again before its successor was used; same successor re-issued";
/// A repeat after the grace window, successor unused: the answer to the first presentation never
/// arrived (network drop, proxy timeout, tab closed mid-request).
pub const REASON_LOST_ANSWER: &str =
    "retry_after_lost_answer: the token was presented again and its successor was never used; same successor re-issued";
/// The successor was used already, but the token was rotated within the grace window: a
/// straggler of a race, or a replay by someone else holding the old token.
pub const REASON_GRACE: &str =
    "successor_used_within_grace: a late duplicate or a replay; access token only, no refresh token";
pub const REASON_REUSE: &str =
    "replay_after_successor_used: an already-rotated refresh token was presented after its successor was used and the grace window passed; session revoked";
