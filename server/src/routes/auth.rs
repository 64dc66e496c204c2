//! Browser auth routes: signup, login, cookie refresh, logout, sessions.

use api_types::Problem;
use api_types::{LoginRequest, SessionInfo, SignupRequest, TokenResponse, UserCreated};
use axum::{
    extract::{DefaultBodyLimit, Path, State},
    http::{header, HeaderMap, HeaderValue, StatusCode, Uri},
    response::{IntoResponse, Response},
    Json,
};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::extract::{ClientMeta, CsrfChecked, MaybeAuthUser};
use crate::{
    auth::{accounts, flows, sessions, AuthUser},
    error::{ApiError, ApiResult},
    extract::ApiJson,
    state::AppState,
    store,
};

/// The routes that hash a password: they take their permits from the credential gate
/// (`flows::credential_permit`), not the server-wide in-flight cap (`startup::router`).
pub fn credential_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(signup))
        .routes(routes!(login))
        // Credentials are small; a large body here is an attack or a bug.
        .layer(DefaultBodyLimit::max(8 * 1024))
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(refresh))
        .routes(routes!(logout))
        .routes(routes!(logout_all))
        .routes(routes!(list_sessions))
        .routes(routes!(revoke_session))
        // Credentials are small; a large body here is an attack or a bug.
        .layer(DefaultBodyLimit::max(8 * 1024))
}

#[utoipa::path(post, path = "/api/auth/signup", tag = "auth", request_body = SignupRequest,
    responses((status = 201, description = "Account created", body = UserCreated),
        (status = 409, description = "Username taken (case-insensitively)", body = Problem), (status = 422, description = "Username or password breaks a rule", body = Problem),
        (status = 429, description = "Too many attempts from this IP", body = Problem),
        (status = 503, description = "Too many passwords being hashed at once; see Retry-After", body = Problem)))]
#[tracing::instrument(skip_all)]
async fn signup(
    State(state): State<AppState>,
    meta: ClientMeta,
    ApiJson(body): ApiJson<SignupRequest>,
) -> ApiResult<(StatusCode, Json<UserCreated>)> {
    let _permit = flows::credential_permit(&state)?;
    state.auth_ip_limiter.check(meta.ip)?;
    let u = accounts::create(
        &state.db,
        &state.hasher,
        &body.username,
        &body.password,
        state.clock.now(),
    )
    .await?;
    tracing::info!(user = %u.id, "signed up");
    Ok((
        StatusCode::CREATED,
        Json(UserCreated {
            id: u.id,
            username: u.username,
        }),
    ))
}

/// The DPoP proof a login or refresh carries (checked for this POST, `jti` not yet recorded:
/// that waits until the request has passed its rate limits and its password or cookie), or
/// `None` for a plain Bearer token. `path` is the request's own, as on every other route. The refresh cookie is not bound to the key: a reload makes
/// a new key, and the cookie brings it a token.
pub(crate) fn bound_key(
    state: &AppState,
    headers: &HeaderMap,
    path: &str,
) -> ApiResult<Option<crate::auth::dpop::Checked>> {
    crate::extract::dpop_proof(headers)?
        .map(|proof| sessions::check_proof(state, proof, "POST", path, None))
        .transpose()
}

/// Records the proof's `jti` (refused if used before); the key's thumbprint to bind to.
pub(crate) async fn bind(
    state: &AppState,
    proof: Option<crate::auth::dpop::Checked>,
) -> ApiResult<Option<String>> {
    match proof {
        Some(p) => {
            sessions::record_proof(state, &p).await?;
            Ok(Some(p.jkt))
        }
        None => Ok(None),
    }
}

#[utoipa::path(post, path = "/api/auth/login", tag = "auth", request_body = LoginRequest,
    params(("DPoP" = Option<String>, Header, description = "Optional DPoP proof (RFC 9449) for POST of this URL: the access token is then bound to its key (`cnf.jkt`, `token_type: DPoP`) and accepted only as `Authorization: DPoP` with a proof of that key")),
    responses((status = 200, description = "Access token; the refresh token is set as an HttpOnly cookie", body = TokenResponse,
            headers(("set-cookie" = String, description = "__Host-cloakroom_refresh (the refresh token) and __Host-cloakroom_device (this browser's own guess budget for the account); HttpOnly; Secure; SameSite=Strict; Path=/"))),
        (status = 401, description = "Invalid username or password (one message either way)", body = Problem), (status = 429, description = "Account, device or IP throttled; see Retry-After", body = Problem),
        (status = 503, description = "Too many logins being checked at once; see Retry-After", body = Problem)))]
#[tracing::instrument(skip_all)]
async fn login(
    State(state): State<AppState>,
    meta: ClientMeta,
    headers: HeaderMap,
    uri: Uri,
    ApiJson(body): ApiJson<LoginRequest>,
) -> ApiResult<Response> {
    let _permit = flows::credential_permit(&state)?;
    // The proof first: a bad one must not spend a password guess.
    let jkt = bound_key(&state, &headers, uri.path())?;
    let device = state.cookies.read_device(&headers);
    let (user, password) = flows::check_password_for_session(
        &state,
        meta.ip,
        &body.username,
        &body.password,
        device.as_deref(),
    )
    .await?;
    // The password was right: now the proof's jti is recorded (a replayed proof is refused
    // before any session exists, and the right password's attempt is given back all the same).
    let jkt = match bind(&state, jkt).await {
        Ok(jkt) => jkt,
        Err(e) => {
            // The proof's refusal is the answer, whatever becomes of the give-back.
            if let Err(g) = flows::give_back(&state, password).await {
                tracing::warn!(error = ?g, "giving back a right password's attempt failed");
            }
            return Err(e);
        }
    };
    browser_signed_in(
        &state,
        &meta,
        &user,
        body.remember,
        jkt.as_deref(),
        Via::Password(password),
    )
    .await
}

/// A browser that proved who it is (a password or a passkey) gets its session: the access
/// token (bound to `jkt` when its request carried a proof), the refresh cookie and a device
/// cookie. From here on this browser's login attempts have a guess budget of their own
/// (`auth::device`). `via`: the proof.
pub(crate) async fn browser_signed_in(
    state: &AppState,
    meta: &ClientMeta,
    user: &crate::store::users::UserRow,
    remember: bool,
    jkt: Option<&str>,
    via: Via,
) -> ApiResult<Response> {
    let (grant, cookies) =
        browser_session(state, meta, user, remember, jkt.is_some(), None, via).await?;
    let tokens = sessions::tokens_for(state, &grant, state.clock.now(), jkt)?;
    let mut res = Json(tokens).into_response();
    for c in cookies {
        res.headers_mut().append(header::SET_COOKIE, c);
    }
    Ok(res)
}

/// How a browser proved who it is.
pub(crate) enum Via {
    /// A password, with the settlement of its reserved attempt (`flows::start_session` gives
    /// it back in the session's own commit).
    Password(Option<crate::auth::throttle::Success>),
    Passkey,
    Oidc,
}

impl Via {
    /// For the log line.
    fn name(&self) -> &'static str {
        match self {
            Via::Password(_) => "password",
            Via::Passkey => "passkey",
            Via::Oidc => "oidc",
        }
    }
}

/// The session of a browser that proved who it is, and the two cookies that carry it: the
/// refresh cookie and a device cookie. `dpop_bound`: every refresh of it must carry a proof.
pub(crate) async fn browser_session(
    state: &AppState,
    meta: &ClientMeta,
    user: &crate::store::users::UserRow,
    remember: bool,
    dpop_bound: bool,
    oidc: Option<crate::store::sessions::OidcOrigin<'_>>,
    via: Via,
) -> ApiResult<(crate::store::sessions::SessionGrant, [HeaderValue; 2])> {
    let name = via.name();
    let password = match via {
        Via::Password(settle) => settle,
        Via::Passkey | Via::Oidc => None,
    };
    let (grant, refresh) = flows::start_session(
        state,
        user,
        remember,
        dpop_bound,
        oidc,
        meta.user_agent.as_deref(),
        meta.ip,
        password,
    )
    .await?;
    let now = state.clock.now();
    tracing::info!(user = %grant.user_id, session = %grant.session_id, via = name, "logged in");
    let cookies = [
        state.cookies.set(
            &refresh,
            grant.persistent.then_some(grant.refresh_expires_at - now),
        ),
        state.cookies.set_device(
            &flows::device_cookie(state, user),
            crate::auth::device::DEVICE_COOKIE_MAX_AGE_SECS,
        ),
    ];
    Ok((grant, cookies))
}

/// The token answer, with the refresh cookie when one was (re)issued.
fn with_refresh_cookie(
    state: &AppState,
    tokens: TokenResponse,
    cookie: Option<(&str, Option<i64>)>,
) -> Response {
    let mut res = Json(tokens).into_response();
    if let Some((token, max_age)) = cookie {
        res.headers_mut()
            .append(header::SET_COOKIE, state.cookies.set(token, max_age));
    }
    res
}

/// An error response that also removes the refresh cookie (it is useless from now on).
fn clearing_cookie(state: &AppState, err: ApiError) -> Response {
    let mut res = err.into_response();
    res.headers_mut()
        .append(header::SET_COOKIE, state.cookies.clear());
    res
}

#[utoipa::path(post, path = "/api/auth/refresh", tag = "auth", security(("refresh_cookie" = [])),
    params(("X-Requested-With" = String, Header, description = "Must be `cloakroom` (CSRF defence)"),
        ("DPoP" = Option<String>, Header, description = "Optional DPoP proof (RFC 9449) for POST of this URL: the new access token is bound to its key (a reload's new key gets a token of its own; the refresh cookie is not bound)")),
    responses((status = 200, description = "New access token and the token's successor as the cookie (the same successor for every repeat of one token; no cookie for a straggler after the successor was used)", body = TokenResponse),
        (status = 400, description = "The refresh cookie's name appears more than once (cookie tossing); nothing changed", body = Problem),
        (status = 401, description = "No, expired, revoked or reused refresh token; the cookie is cleared", body = Problem),
        (status = 429, description = "Too many refreshes from this IP", body = Problem)))]
#[tracing::instrument(skip_all)]
async fn refresh(
    _: CsrfChecked,
    State(state): State<AppState>,
    meta: ClientMeta,
    headers: HeaderMap,
    uri: Uri,
) -> ApiResult<Response> {
    let Some(token) = state.cookies.read(&headers)? else {
        // Whatever the proof: without a cookie there is nothing to refresh (a first visit's
        // on-load refresh is told so, not that its proof was dated by the wrong clock).
        return Err(ApiError::unauthorized(
            api_types::ProblemType::NoRefreshCookie,
            "no refresh cookie: log in",
        ));
    };
    // Before the rotation: a bad proof must not use up the refresh token.
    let jkt = bound_key(&state, &headers, uri.path())?;
    let presented = match flows::present_refresh(&state, &token, Some(meta.ip)).await {
        Ok(p) => p,
        Err(e @ ApiError::Unauthorized { .. }) => return Ok(clearing_cookie(&state, e)),
        Err(e) => return Err(e),
    };
    let g = &presented.grant;
    let now = state.clock.now();
    // A replayed proof is refused after the rotation: the browser's retry with the same cookie
    // gets the same successor (`auth::refresh`), so nobody is logged out by it.
    let jkt = bind(&state, jkt).await?;
    if g.dpop_bound && jkt.is_none() {
        // The session began with a proof: a refresh without one (a script borrowing the
        // cookie, say) gets no Bearer token out of it. After the rotation, as above: the retry
        // with a proof gets the same successor.
        return Err(ApiError::unauthorized(
            api_types::ProblemType::InvalidDpopProof,
            "this session is DPoP-bound: refresh with a DPoP proof",
        ));
    }
    let mut tokens = sessions::tokens_for(&state, g, now, jkt.as_deref())?;
    tokens.rotation = Some(presented.rotation.into());
    // Every answer that carries a cookie carries the token's one deterministic successor, so
    // duplicates and retries all leave the browser with a live token. Only a grace-window
    // straggler (successor already used) gets none: the browser already holds a newer one.
    let cookie = presented
        .new_token
        .as_deref()
        .map(|t| (t, g.persistent.then_some(g.refresh_expires_at - now)));
    Ok(with_refresh_cookie(&state, tokens, cookie))
}

#[utoipa::path(post, path = "/api/auth/logout", tag = "auth", security((), ("refresh_cookie" = []), ("bearer" = [])),
    params(("X-Requested-With" = String, Header, description = "Must be `cloakroom` (CSRF defence)")),
    responses((status = 204, description = "Session revoked, cookie removed, Clear-Site-Data sent"),
        (status = 400, description = "The refresh cookie's name appears more than once (cookie tossing); nothing changed", body = Problem)))]
#[tracing::instrument(skip_all)]
async fn logout(
    _: CsrfChecked,
    State(state): State<AppState>,
    headers: HeaderMap,
    MaybeAuthUser(user): MaybeAuthUser,
) -> ApiResult<Response> {
    let now = state.clock.now();
    let mut session = None;
    if let Some(token) = state.cookies.read(&headers)? {
        session =
            store::sessions::find_by_token(&state.db, &crate::auth::refresh::hash(&token), now)
                .await?;
    }
    // Without a usable cookie, a valid access token still names the session to end: Bearer,
    // or DPoP with its proof (a DPoP-bound token taken out of the page cannot end the session
    // as a Bearer token; `MaybeAuthUser` checks it as every authenticated route does).
    if session.is_none() {
        session = user.map(|u| (u.session_id, u.user_id));
    }
    if let Some((sid, uid)) = session {
        if sessions::end(&state, &uid, &sid, "logout").await? {
            tracing::info!(session = %sid, "logged out");
        }
    }
    Ok(logged_out(&state))
}

/// 204 that removes the refresh cookie, and asks the browser to drop the web storage this
/// origin keeps (defence in depth: the app itself stores no credential there).
///
/// Not `"cookies"`: that would also wipe the device cookie (`auth::device`), and a browser that
/// logged out would then be an unknown device, open to being locked out by someone else's
/// guesses. The refresh cookie is removed by its own `Set-Cookie` with the exact attributes it
/// was set with, and the app sets no other cookie.
fn logged_out(state: &AppState) -> Response {
    let mut res = StatusCode::NO_CONTENT.into_response();
    let h = res.headers_mut();
    h.append(header::SET_COOKIE, state.cookies.clear());
    h.insert(
        header::HeaderName::from_static("clear-site-data"),
        HeaderValue::from_static("\"storage\""),
    );
    res
}

#[utoipa::path(post, path = "/api/auth/logout-all", tag = "auth", security(("bearer" = [])),
    params(("X-Requested-With" = String, Header, description = "Must be `cloakroom` (CSRF defence)")),
    responses((status = 204, description = "Every session of the user revoked")))]
#[tracing::instrument(skip_all, fields(user = %user.user_id))]
async fn logout_all(
    _: CsrfChecked,
    State(state): State<AppState>,
    user: AuthUser,
) -> ApiResult<Response> {
    let count = sessions::end_all(&state, &user.user_id, "logout everywhere").await?;
    tracing::info!(count, "logged out everywhere");
    Ok(logged_out(&state))
}

#[utoipa::path(get, path = "/api/auth/sessions", tag = "sessions", security(("bearer" = [])),
    responses((status = 200, description = "The user's live sessions", body = [SessionInfo])))]
async fn list_sessions(
    State(state): State<AppState>,
    user: AuthUser,
) -> ApiResult<Json<Vec<SessionInfo>>> {
    let rows = store::sessions::list_live(&state.db, &user.user_id, state.clock.now()).await?;
    Ok(Json(
        rows.into_iter()
            .map(|s| SessionInfo {
                current: s.id == user.session_id,
                id: s.id,
                created_at: crate::rfc3339(s.created_at),
                last_used_at: crate::rfc3339(s.last_used_at),
                device: crate::domain::user_agent::describe(s.user_agent.as_deref()),
                user_agent: s.user_agent,
                ip: s.ip,
            })
            .collect(),
    ))
}

#[utoipa::path(delete, path = "/api/auth/sessions/{id}", tag = "sessions", security(("bearer" = [])),
    params(("id" = String, Path, description = "Session id")),
    responses((status = 204, description = "Session revoked; its tokens stop working at once"),
        (status = 404, description = "Not one of your live sessions", body = Problem)))]
#[tracing::instrument(skip_all, fields(user = %user.user_id, session = %id))]
async fn revoke_session(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    if sessions::end(&state, &user.user_id, &id, "revoked by user").await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound("no such session".into()))
    }
}
