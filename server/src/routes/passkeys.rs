//! Passkeys: adding one to the signed-in account (with a recent authentication), listing,
//! renaming and deleting them, and signing in with one (`auth::passkeys` has the ceremonies and
//! their reasons). A passkey sign-in ends exactly as a password login does: a DPoP-bound access
//! token when the request carries a proof, the rotating refresh cookie, a device cookie.

use api_types::{PasskeyInfo, Problem, TokenResponse};
use axum::{
    extract::{DefaultBodyLimit, Path, State},
    http::{header, HeaderMap, StatusCode, Uri},
    response::{IntoResponse, Response},
    Json,
};
use serde::Deserialize;
use serde_json::Value;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    auth::{
        cookies::Ceremony,
        flows,
        passkeys::{self, CEREMONY_SECS},
        AuthUser,
    },
    error::{ApiError, ApiResult},
    extract::{ApiJson, ClientMeta, CsrfChecked},
    state::AppState,
    store::{self, passkeys::PasskeyRow},
};

/// How recent a sign-in must be to add a passkey without the password: a borrowed, unlocked
/// session left open cannot plant a passkey for later.
pub const RECENT_SIGN_IN_SECS: i64 = 300;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(register_start))
        .routes(routes!(register_finish))
        .routes(routes!(list))
        .routes(routes!(rename, delete))
        .routes(routes!(login_start))
        .routes(routes!(login_finish))
        // A WebAuthn answer is a few KB; anything larger is an attack or a bug.
        .layer(DefaultBodyLimit::max(64 * 1024))
}

/// `POST /api/passkeys/register/start`
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterStart {
    /// The account's password, when the sign-in is older than five minutes.
    #[serde(default)]
    pub current_password: Option<String>,
}

/// `POST /api/passkeys/register/finish`
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterFinish {
    /// What to call it: 1 to 64 characters on one line, not all blank (a note title's rule and
    /// pattern); stored trimmed.
    #[schema(
        min_length = 1,
        max_length = 64,
        pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*[^\\u0000-\\u0020\\u007f-\\u00a0\\u1680\\u2000-\\u200d\\u2028\\u2029\\u202f\\u205f\\u2060\\u3000\\ufeff][^\\u0000-\\u001f\\u007f-\\u009f]*(?![\\s\\S])"
    )]
    pub name: String,
    /// The browser's answer: `PublicKeyCredential.toJSON()` of `navigator.credentials.create()`.
    #[schema(value_type = Object)]
    pub credential: Value,
}

/// `PATCH /api/passkeys/{id}`
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Rename {
    /// As `RegisterFinish.name`.
    #[schema(
        min_length = 1,
        max_length = 64,
        pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*[^\\u0000-\\u0020\\u007f-\\u00a0\\u1680\\u2000-\\u200d\\u2028\\u2029\\u202f\\u205f\\u2060\\u3000\\ufeff][^\\u0000-\\u001f\\u007f-\\u009f]*(?![\\s\\S])"
    )]
    pub name: String,
}

/// `POST /api/auth/passkey/finish`
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginFinish {
    /// The browser's answer: `PublicKeyCredential.toJSON()` of `navigator.credentials.get()`.
    #[schema(value_type = Object)]
    pub credential: Value,
    /// As for a password login: a persistent refresh cookie.
    #[serde(default)]
    pub remember: bool,
}

/// A passkey's name: a note title's rules (exactly its schema's pattern, which the name's
/// schema repeats: `the_name_rule_is_the_note_titles`), at most 64 characters as sent.
fn passkey_name(name: &str) -> ApiResult<String> {
    use crate::domain::note::is_blank;
    if name.chars().any(char::is_control) || name.chars().all(is_blank) || name.chars().count() > 64
    {
        return Err(ApiError::Unprocessable(
            "name must be 1 to 64 characters on one line, not all blank".into(),
        ));
    }
    Ok(name.trim_matches(is_blank).to_owned())
}

fn info(row: PasskeyRow) -> PasskeyInfo {
    PasskeyInfo {
        id: row.id,
        name: row.name,
        created_at: crate::rfc3339(row.created_at),
        last_used_at: row.last_used_at.map(crate::rfc3339),
    }
}

/// The ceremony's options, with the cookie that ties the ceremony to this browser.
fn with_ceremony(state: &AppState, kind: Ceremony, options: Value, id: &str) -> Response {
    let mut res = Json(options).into_response();
    res.headers_mut().append(
        header::SET_COOKIE,
        state.cookies.set_ceremony(kind, id, CEREMONY_SECS),
    );
    res
}

#[utoipa::path(post, path = "/api/passkeys/register/start", tag = "passkeys", security(("bearer" = [])),
    request_body = RegisterStart,
    responses((status = 200, description = "Options for `navigator.credentials.create()` (`{publicKey: …}`); the ceremony's cookie is set. Answer within five minutes", body = Object,
            headers(("set-cookie" = String, description = "The ceremony's cookie (HttpOnly, SameSite=Strict)"))),
        (status = 403, description = "The sign-in is older than five minutes and the password given is wrong or missing (type `wrong-password`; a wrong one counts as a failed login)", body = Problem),
        (status = 409, description = "The account holds 20 passkeys already", body = Problem),
        (status = 404, description = "Passkeys are off: the server's public origin has no domain name", body = Problem),
        (status = 429, description = "The account's guess budget is spent; see Retry-After", body = Problem)))]
#[tracing::instrument(skip_all, fields(user = %user.user_id))]
async fn register_start(
    State(state): State<AppState>,
    meta: ClientMeta,
    headers: HeaderMap,
    user: AuthUser,
    ApiJson(body): ApiJson<RegisterStart>,
) -> ApiResult<Response> {
    let now = state.clock.now();
    // An account of the organisation's OpenID provider signs in there: the provider enforces its
    // factors, and turning the person off there must turn them off here. A passkey would be a
    // way in the provider knows nothing of (and a fresh session, which the provider hands out
    // without asking while its own session lives, would be enough to plant one).
    if store::oidc::has_identity(&state.db, &user.user_id).await? {
        return Err(ApiError::Forbidden(
            "this account signs in through your organisation's provider; passkeys are managed there".into(),
        ));
    }
    let account = match body.current_password.as_deref() {
        Some(password) => {
            let _permit = flows::credential_permit(&state)?;
            super::account::confirm_password(&state, &meta, &headers, &user, password).await?
        }
        None => {
            let live = store::sessions::list_live(&state.db, &user.user_id, now).await?;
            let recent = live
                .iter()
                .any(|s| s.id == user.session_id && now - s.created_at <= RECENT_SIGN_IN_SECS);
            if !recent {
                return Err(ApiError::WrongPassword(
                    "adding a passkey needs a sign-in in the last five minutes, or the password: give `current_password`".into(),
                ));
            }
            store::users::find_by_id(&state.db, &user.user_id)
                .await?
                .ok_or_else(|| ApiError::invalid_token("this session's account no longer exists"))?
        }
    };
    let existing = store::passkeys::list(&state.db, &account.id).await?;
    let (options, id) = passkeys::begin_registration(&state, &account, &existing).await?;
    Ok(with_ceremony(&state, Ceremony::Register, options, &id))
}

#[utoipa::path(post, path = "/api/passkeys/register/finish", tag = "passkeys", security(("bearer" = [])),
    request_body = RegisterFinish,
    responses((status = 201, description = "The passkey is added", body = PasskeyInfo),
        (status = 403, description = "The answer was refused: no ceremony of this browser and account (expired or used), another origin, no user verification, or not a WebAuthn registration", body = Problem),
        (status = 409, description = "This passkey is registered already", body = Problem),
        (status = 422, description = "The name breaks its rule", body = Problem)))]
#[tracing::instrument(skip_all, fields(user = %user.user_id))]
async fn register_finish(
    State(state): State<AppState>,
    headers: HeaderMap,
    user: AuthUser,
    ApiJson(body): ApiJson<RegisterFinish>,
) -> ApiResult<Response> {
    let name = passkey_name(&body.name)?;
    let ceremony = state.cookies.read_ceremony(Ceremony::Register, &headers);
    let row = passkeys::finish_registration(
        &state,
        &user.user_id,
        ceremony.as_deref(),
        body.credential,
        &name,
    )
    .await?;
    tracing::info!(passkey = %row.id, "passkey added");
    let mut res = (StatusCode::CREATED, Json(info(row))).into_response();
    res.headers_mut().append(
        header::SET_COOKIE,
        state.cookies.clear_ceremony(Ceremony::Register),
    );
    Ok(res)
}

#[utoipa::path(get, path = "/api/passkeys", tag = "passkeys", security(("bearer" = [])),
    responses((status = 200, description = "The user's passkeys, oldest first", body = [PasskeyInfo])))]
async fn list(State(state): State<AppState>, user: AuthUser) -> ApiResult<Json<Vec<PasskeyInfo>>> {
    let rows = store::passkeys::list(&state.db, &user.user_id).await?;
    Ok(Json(rows.into_iter().map(info).collect()))
}

#[utoipa::path(patch, path = "/api/passkeys/{id}", tag = "passkeys", security(("bearer" = [])),
    params(("id" = String, Path, description = "Passkey id")), request_body = Rename,
    responses((status = 200, description = "Renamed", body = PasskeyInfo),
        (status = 404, description = "Not one of your passkeys", body = Problem)))]
#[tracing::instrument(skip_all, fields(user = %user.user_id, passkey = %id))]
async fn rename(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<Rename>,
) -> ApiResult<Json<PasskeyInfo>> {
    let name = passkey_name(&body.name)?;
    store::passkeys::rename(&state.db, &user.user_id, &id, &name)
        .await?
        .map(|row| Json(info(row)))
        .ok_or_else(|| ApiError::NotFound("no such passkey".into()))
}

#[utoipa::path(delete, path = "/api/passkeys/{id}", tag = "passkeys", security(("bearer" = [])),
    params(("id" = String, Path, description = "Passkey id")),
    responses((status = 204, description = "Deleted: its next sign-in fails, on every instance"),
        (status = 404, description = "Not one of your passkeys", body = Problem)))]
#[tracing::instrument(skip_all, fields(user = %user.user_id, passkey = %id))]
async fn delete(
    State(state): State<AppState>,
    meta: ClientMeta,
    user: AuthUser,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    // Every account has a password today, so no passkey is its last way in.
    if !store::passkeys::delete(&state.db, &user.user_id, &id).await? {
        return Err(ApiError::NotFound("no such passkey".into()));
    }
    store::events::record(
        &state.db,
        state.clock.now(),
        "passkey_removed",
        Some(&user.user_id),
        Some(&user.session_id),
        Some(&meta.ip.to_string()),
        &format!("passkey_removed: {id}"),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/api/auth/passkey/start", tag = "auth",
    params(("X-Requested-With" = String, Header, description = "Must be `cloakroom` (CSRF defence)")),
    responses((status = 200, description = "Options for `navigator.credentials.get()` (`{publicKey: …, mediation: \"conditional\"}`; no credentials listed: the browser offers the passkeys it holds for this site); the ceremony's cookie is set. Answer within five minutes", body = Object,
            headers(("set-cookie" = String, description = "The ceremony's cookie (HttpOnly, SameSite=Strict)"))),
        (status = 404, description = "Passkeys are off: the server's public origin has no domain name", body = Problem),
        (status = 429, description = "Too many attempts from this IP", body = Problem),
        (status = 503, description = "Too many passkey sign-ins are open at once; retry in a moment", body = Problem)))]
#[tracing::instrument(skip_all)]
async fn login_start(
    _: CsrfChecked,
    State(state): State<AppState>,
    meta: ClientMeta,
) -> ApiResult<Response> {
    // The per-address budget of sign-ups and logins: a passkey sign-in is one more login.
    state.auth_ip_limiter.check(meta.ip)?;
    let (options, id) = passkeys::begin_login(&state).await?;
    Ok(with_ceremony(&state, Ceremony::Login, options, &id))
}

#[utoipa::path(post, path = "/api/auth/passkey/finish", tag = "auth",
    request_body = LoginFinish,
    params(("X-Requested-With" = String, Header, description = "Must be `cloakroom` (CSRF defence)"),
        ("DPoP" = Option<String>, Header, description = "Optional DPoP proof (RFC 9449) for POST of this URL: the access token is bound to its key")),
    responses((status = 200, description = "Signed in: as a password login (access token, refresh cookie, device cookie)", body = TokenResponse,
            headers(("set-cookie" = String, description = "The refresh cookie, a device cookie, and the spent ceremony's cookie removed"))),
        (status = 401, description = "The passkey's answer was refused (type `passkey-refused`), or the DPoP proof was", body = Problem),
        (status = 404, description = "Passkeys are off: the server's public origin has no domain name", body = Problem)))]
#[tracing::instrument(skip_all)]
async fn login_finish(
    _: CsrfChecked,
    State(state): State<AppState>,
    meta: ClientMeta,
    headers: HeaderMap,
    uri: Uri,
    ApiJson(body): ApiJson<LoginFinish>,
) -> ApiResult<Response> {
    // The per-address budget was charged when this sign-in started (one sign-in, one unit).
    // The proof first, its jti recorded too: a bad or replayed one must not spend the
    // ceremony, the passkey's counter or a `passkey_used` event.
    let jkt = super::auth::bound_key(&state, &headers, uri.path())?;
    let jkt = super::auth::bind(&state, jkt).await?;
    let ceremony = state.cookies.read_ceremony(Ceremony::Login, &headers);
    let ip = meta.ip.to_string();
    let user = passkeys::finish_login(&state, ceremony.as_deref(), body.credential, &ip).await?;
    let mut res = super::auth::browser_signed_in(
        &state,
        &meta,
        &user,
        body.remember,
        jkt.as_deref(),
        super::auth::Via::Passkey,
    )
    .await?;
    // The spent ceremony's cookie goes.
    res.headers_mut().append(
        header::SET_COOKIE,
        state.cookies.clear_ceremony(Ceremony::Login),
    );
    Ok(res)
}

#[cfg(test)]
mod tests {
    use utoipa::PartialSchema;

    /// The name's schema says what `passkey_name` does: the note title's pattern, to the byte.
    #[test]
    fn the_name_rule_is_the_note_titles() {
        let pattern = |schema: serde_json::Value, field: &str| {
            schema["properties"][field]["pattern"]
                .as_str()
                .unwrap()
                .to_owned()
        };
        let title = pattern(
            serde_json::to_value(api_types::NoteInput::schema()).unwrap(),
            "title",
        );
        for schema in [super::RegisterFinish::schema(), super::Rename::schema()] {
            assert_eq!(
                pattern(serde_json::to_value(schema).unwrap(), "name"),
                title
            );
        }
        assert!(super::passkey_name("\u{200b} ").is_err());
        assert!(super::passkey_name("a\tb").is_err());
        assert_eq!(super::passkey_name(" Phone ").unwrap(), "Phone");
        assert!(super::passkey_name(&"x".repeat(65)).is_err());
    }
}
