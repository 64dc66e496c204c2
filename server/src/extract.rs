//! Every extractor, each with what it guarantees. Rejections are `ApiError`s, so a missing token
//! or a malformed body gets the same problem+json shape as every other error. The ones that
//! read credentials are instrumented with `skip_all`: headers carry tokens, and no span may
//! record one.

use std::net::{IpAddr, SocketAddr};

use api_types::ProblemType;

use axum::{
    extract::{rejection::JsonRejection, ConnectInfo, FromRequest, FromRequestParts},
    http::{header, request::Parts, HeaderMap, StatusCode},
};

use crate::{
    auth::{sessions, throttle::client_ip, AuthUser},
    error::ApiError,
    state::AppState,
    store,
};

/// `Json<T>` with problem+json rejections (400 syntax, 413 too large, 415 wrong content type,
/// 422 wrong shape or unknown field).
#[derive(FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub struct ApiJson<T>(pub T);

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        body_rejected(rejection.status(), rejection.body_text())
    }
}

/// A body axum's JSON or form extractor refused, as the problem its status names.
fn body_rejected(status: StatusCode, detail: String) -> ApiError {
    match status {
        StatusCode::PAYLOAD_TOO_LARGE => {
            ApiError::PayloadTooLarge("request body is too large".into())
        }
        StatusCode::UNSUPPORTED_MEDIA_TYPE => {
            ApiError::UnsupportedMediaType("expected `Content-Type: application/json`".into())
        }
        StatusCode::UNPROCESSABLE_ENTITY => ApiError::Unprocessable(detail),
        _ => ApiError::BadRequest(detail),
    }
}

/// The body as JSON or, for the simplejwt-compatible routes that Django REST framework clients
/// call, as an HTML form (`application/x-www-form-urlencoded`, which DRF parses as readily as
/// JSON): the same fields either way, the same problem+json rejections (400 malformed, 413,
/// 415 another content type, 422 wrong fields). Nothing cookie-authenticated takes it: a form
/// can be posted cross-site, and these routes carry their credentials in the body.
pub struct JsonOrForm<T>(pub T);

impl<T, S> FromRequest<S> for JsonOrForm<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, Self::Rejection> {
        let form = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|m| {
                m.trim()
                    .eq_ignore_ascii_case("application/x-www-form-urlencoded")
            });
        if !form {
            return ApiJson::<T>::from_request(req, state)
                .await
                .map(|ApiJson(t)| Self(t));
        }
        match axum::Form::<T>::from_request(req, state).await {
            Ok(axum::Form(t)) => Ok(Self(t)),
            // The form's content type was checked above: its 415 cannot happen here.
            Err(rejection) => Err(body_rejected(rejection.status(), rejection.body_text())),
        }
    }
}

/// A live access token's user: signature, claims and expiry verified, session not revoked.
/// Missing, malformed, forged, expired or revoked tokens are all 401 (never 400 or 500), with
/// `WWW-Authenticate: Bearer`. A DPoP-bound token is accepted only as `Authorization: DPoP`
/// with a valid proof of its key for this very request (RFC 9449 §7).
impl FromRequestParts<AppState> for AuthUser {
    type Rejection = ApiError;

    #[tracing::instrument(name = "auth_user", skip_all)]
    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        authenticate_request(
            state,
            &parts.headers,
            parts.method.as_str(),
            parts.uri.path(),
        )
        .await?
        .ok_or_else(|| ApiError::invalid_token("missing bearer token"))
    }
}

/// The user a request's access token speaks for, `None` if it presents none. Every place that
/// accepts an access token goes through here, so none can take a DPoP-bound token as Bearer.
pub async fn authenticate_request(
    state: &AppState,
    headers: &HeaderMap,
    method: &str,
    path: &str,
) -> Result<Option<AuthUser>, ApiError> {
    let Some((scheme, token)) = credentials(headers)? else {
        return Ok(None);
    };
    // Every refusal of the token itself is `invalid_token` (`sessions::authenticate` has no
    // other answer); under the DPoP scheme it is said as RFC 9449 §7.1 says it.
    let user = sessions::authenticate(state, token).map_err(|e| match scheme {
        Scheme::Dpop => ApiError::DpopTokenRefused(e.to_string()),
        Scheme::Bearer => e,
    })?;
    match (scheme, user.jkt.as_deref()) {
        (Scheme::Bearer, None) => Ok(Some(user)),
        // RFC 9449 §7.2: a bound token is only good with a proof of its key. Accepting it as
        // Bearer would make the binding decoration.
        (Scheme::Bearer, Some(_)) => Err(ApiError::invalid_token(
            "this access token is DPoP-bound: send it as `Authorization: DPoP` with a proof",
        )),
        (Scheme::Dpop, None) => Err(ApiError::DpopTokenRefused(
            "this access token is not DPoP-bound: send it as Bearer".into(),
        )),
        (Scheme::Dpop, Some(jkt)) => {
            let proof = dpop_proof(headers)?.ok_or_else(|| {
                ApiError::unauthorized(
                    ProblemType::InvalidDpopProof,
                    "a DPoP-bound token needs a DPoP proof header",
                )
            })?;
            let proven = sessions::check_proof(state, proof, method, path, Some(token))?;
            // The key before the jti: a proof by another key is refused without taking a
            // place in the replay cache.
            if proven.jkt != jkt {
                return Err(ApiError::unauthorized(
                    ProblemType::InvalidDpopProof,
                    "the DPoP proof is signed by another key than the one the token is bound to",
                ));
            }
            // The nonce last of the checks: a proof that is wrong anyway is told what is wrong
            // with it, not sent for a nonce. Before the jti is recorded: a proof refused for its
            // nonce takes no place in the replay cache.
            if !state
                .dpop_nonces
                .accepts(proven.nonce.as_deref(), state.clock.now())
            {
                return Err(ApiError::unauthorized(
                    ProblemType::UseDpopNonce,
                    "the DPoP proof needs the current nonce: take it from this answer's DPoP-Nonce header",
                ));
            }
            sessions::record_proof(state, &proven).await?;
            Ok(Some(user))
        }
    }
}

/// How an access token was presented.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    Bearer,
    Dpop,
}

/// The access token of `Authorization: Bearer …` or `Authorization: DPoP …`. More than one
/// `Authorization` header is refused: a proxy and this server could read different ones.
pub fn credentials(headers: &HeaderMap) -> Result<Option<(Scheme, &str)>, ApiError> {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(ApiError::invalid_token(
            "more than one Authorization header",
        ));
    }
    let Some((scheme, token)) = value.to_str().ok().and_then(|v| v.split_once(' ')) else {
        return Ok(None);
    };
    let token = token.trim();
    if token.is_empty() {
        return Ok(None);
    }
    Ok(if scheme.eq_ignore_ascii_case("bearer") {
        Some((Scheme::Bearer, token))
    } else if scheme.eq_ignore_ascii_case("dpop") {
        Some((Scheme::Dpop, token))
    } else {
        None
    })
}

/// The request's one `DPoP` header, if any; two are refused (RFC 9449 §4.3: exactly one).
pub fn dpop_proof(headers: &HeaderMap) -> Result<Option<&str>, ApiError> {
    let mut values = headers.get_all("dpop").iter();
    let first = values.next();
    if values.next().is_some() {
        return Err(ApiError::unauthorized(
            ProblemType::InvalidDpopProof,
            "exactly one DPoP header is allowed",
        ));
    }
    first
        .map(|v| {
            v.to_str().map_err(|_| {
                ApiError::unauthorized(
                    ProblemType::InvalidDpopProof,
                    "the DPoP header is not a JWT",
                )
            })
        })
        .transpose()
}

/// A request that passed the CSRF checks of `auth::csrf` (our `Origin` if any, and
/// `X-Requested-With: cloakroom`): 403 `csrf-rejected` otherwise. Cookie-authenticated routes take
/// it as their first extractor, so a forged request is refused before anything reads its
/// credentials or spends a proof's `jti`.
pub struct CsrfChecked;

impl FromRequestParts<AppState> for CsrfChecked {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        crate::auth::csrf::check(&parts.headers, &state.settings.public_origin)?;
        Ok(Self)
    }
}

/// The user an access token speaks for, if the request presents a usable one, as
/// [`AuthUser`] checks it (a DPoP-bound token only with its proof). `None` for no token or one
/// that fails; a proof refused only for its stale nonce is the one rejection (401
/// `use-dpop-nonce`): the client retries with the new nonce, where swallowing it would make a
/// logout look done that ended nothing. For routes a token is one way into (logout).
pub struct MaybeAuthUser(pub Option<AuthUser>);

impl FromRequestParts<AppState> for MaybeAuthUser {
    type Rejection = ApiError;

    #[tracing::instrument(name = "maybe_auth_user", skip_all)]
    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let method = parts.method.as_str();
        match authenticate_request(state, &parts.headers, method, parts.uri.path()).await {
            Ok(user) => Ok(Self(user)),
            Err(e) if e.kind() == Some(ProblemType::UseDpopNonce) => Err(e),
            Err(_) => Ok(Self(None)),
        }
    }
}

/// An `AuthUser` who holds the `admin` role *in the database* right now (not merely in the
/// token's `roles` claim: a withdrawn role must not live on for the token's lifetime). 401
/// without a token, 403 without the role.
pub struct AdminUser(pub AuthUser);

impl FromRequestParts<AppState> for AdminUser {
    type Rejection = ApiError;

    #[tracing::instrument(name = "admin_user", skip_all)]
    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let user = AuthUser::from_request_parts(parts, state).await?;
        let current = store::users::find_by_id(&state.db, &user.user_id).await?;
        if current.is_some_and(|u| u.role_list().iter().any(|r| r == api_types::ADMIN_ROLE)) {
            Ok(AdminUser(user))
        } else {
            Err(ApiError::Forbidden("this needs the admin role".into()))
        }
    }
}

/// Where a request comes from: the client IP (the peer, or what a trusted proxy says; see
/// `throttle::client_ip`) and a user agent cut to 256 characters. Never rejects.
pub struct ClientMeta {
    pub ip: IpAddr,
    pub user_agent: Option<String>,
}

impl FromRequestParts<AppState> for ClientMeta {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0)
            .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 0)));
        let ip = client_ip(peer, &parts.headers, &state.settings.trusted_proxies);
        let user_agent = parts
            .headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|s| s.chars().take(256).collect());
        Ok(Self { ip, user_agent })
    }
}
