//! Sign-in through the team's OpenID provider, with Cloakroom as the token-mediating backend
//! (RFC 10017 §6.2): Cloakroom is the confidential client, the provider's tokens stay here, and
//! the browser ends with exactly the session a password login gives it (refresh cookie, device
//! cookie; its DPoP-bound access token comes from its first silent refresh).
//!
//! The protocol steps are openidconnect-rs's: discovery, the authorization URL with PKCE (S256),
//! `state` and `nonce`, the code exchange, and ID-token verification (signature against the
//! provider's JWKS with the algorithms it advertises and never `none`; `iss`, `aud`, `azp`,
//! `exp`, `nonce`; `iat` checked here). This module adds what a browser flow needs around them:
//! the sign-in under way is a database row named by a cookie of this browser (single use, ten
//! minutes), RFC 9207's `iss` in the authorization response, a JWKS refetched once when a token
//! names a key it does not know (at most once a minute), accounts keyed on (issuer, subject),
//! and the provider's back-channel logout (OpenID Connect Back-Channel Logout 1.0).

use std::sync::Arc;

use openidconnect::{
    core::{
        CoreAuthDisplay, CoreAuthPrompt, CoreClaimName, CoreClaimType, CoreClientAuthMethod,
        CoreErrorResponseType, CoreGenderClaim, CoreGrantType, CoreJsonWebKey,
        CoreJweContentEncryptionAlgorithm, CoreJweKeyManagementAlgorithm, CoreJwsSigningAlgorithm,
        CoreResponseMode, CoreResponseType, CoreRevocableToken, CoreRevocationErrorResponse,
        CoreSubjectIdentifierType, CoreTokenIntrospectionResponse, CoreTokenType,
    },
    AdditionalClaims, AdditionalProviderMetadata, AuthType, AuthenticationFlow, AuthorizationCode,
    ClaimsVerificationError, Client, CsrfToken, EmptyExtraTokenFields, EndUserName,
    EndUserUsername, EndpointMaybeSet, EndpointNotSet, EndpointSet, IdTokenFields, JsonWebKeySet,
    LocalizedClaim, Nonce, OAuth2TokenResponse, PkceCodeChallenge, PkceCodeVerifier,
    ProviderMetadata, RedirectUrl, RequestTokenError, Scope, SignatureVerificationError,
    StandardErrorResponse, StandardTokenResponse,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::Mutex;

use crate::{
    clock::Clock,
    config::OidcSettings,
    domain::Username,
    error::{ApiError, ApiResult},
    state::AppState,
    store::{self, users::UserRow},
};

/// How long a sign-in may take at the provider (typing a password, a second factor).
pub const LOGIN_SECS: i64 = 600;
/// An ID token or logout token names a key the cached JWKS lacks: the JWKS is fetched again,
/// but not more often than this (a stream of made-up `kid`s must not become a stream of
/// requests to the provider).
const JWKS_REFETCH_SECS: i64 = 60;
/// The discovery document is read again after this long (endpoints and algorithms can change).
const DISCOVERY_TTL_SECS: i64 = 3600;
/// After a discovery fails, sign-ins through the provider are refused at once for this long
/// (`Refusal::Unavailable`) instead of each trying again: while the provider is down, every
/// attempt would otherwise wait its turn behind the one lock for up to the 10 s timeout, a
/// queue of people looking at a spinner, and the provider would get a request per click.
pub const DISCOVERY_RETRY_SECS: i64 = 15;
/// An ID token issued longer ago than a sign-in can take, or later than a clock skew allows, is
/// not this sign-in's.
const IAT_SKEW_SECS: i64 = 60;

/// The discovery fields beyond what openidconnect-rs reads.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct ExtraMetadata {
    /// RFC 9207: the provider puts `iss` in its authorization responses (a mix-up defence).
    #[serde(default)]
    pub authorization_response_iss_parameter_supported: bool,
    /// RP-initiated logout.
    #[serde(default)]
    pub end_session_endpoint: Option<String>,
}
impl AdditionalProviderMetadata for ExtraMetadata {}

type Metadata = ProviderMetadata<
    ExtraMetadata,
    CoreAuthDisplay,
    CoreClientAuthMethod,
    CoreClaimName,
    CoreClaimType,
    CoreGrantType,
    CoreJweContentEncryptionAlgorithm,
    CoreJweKeyManagementAlgorithm,
    CoreJsonWebKey,
    CoreResponseMode,
    CoreResponseType,
    CoreSubjectIdentifierType,
>;

/// The ID token's `sid` (the provider's session), which its back-channel logout names.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct SessionClaim {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
}
impl AdditionalClaims for SessionClaim {}

type Tokens = StandardTokenResponse<
    IdTokenFields<
        SessionClaim,
        EmptyExtraTokenFields,
        CoreGenderClaim,
        CoreJweContentEncryptionAlgorithm,
        CoreJwsSigningAlgorithm,
    >,
    CoreTokenType,
>;

type OidcClient = Client<
    SessionClaim,
    CoreAuthDisplay,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJsonWebKey,
    CoreAuthPrompt,
    StandardErrorResponse<CoreErrorResponseType>,
    Tokens,
    CoreTokenIntrospectionResponse,
    CoreRevocableToken,
    CoreRevocationErrorResponse,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

/// What the provider said, as of `read_at`; its JWKS as of `jwks_at`.
struct Discovered {
    metadata: Metadata,
    read_at: i64,
    jwks_at: i64,
}

/// The configured provider: settings, an HTTP client, and what discovery found (read on first
/// use, so a provider that is down when Cloakroom starts only delays sign-ins through it).
pub struct Provider {
    pub settings: OidcSettings,
    redirect: RedirectUrl,
    http: reqwest::Client,
    clock: Clock,
    discovered: Mutex<Option<Arc<Discovered>>>,
    /// A background discovery is under way (`end_session_endpoint`).
    warming: std::sync::atomic::AtomicBool,
    /// When the last discovery failed (`i64::MIN`: never). Written under `discovered`'s lock.
    failed_at: std::sync::atomic::AtomicI64,
}

impl std::fmt::Debug for Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Provider")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

/// Why a sign-in through the provider ended without a session. The browser lands on the login
/// page with `?sso=` and the code; the log says more.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// This browser has no sign-in under way (never began, finished already, or expired).
    Expired,
    /// The person said no at the provider (`access_denied`).
    Denied,
    /// The provider answered with another error.
    Provider,
    /// `state` or `iss` did not match, or the ID token failed a check: an attack or a
    /// misconfiguration, never a session.
    Refused,
    /// The provider could not be reached, or its answer could not be read.
    Unavailable,
    /// Too many sign-ins are under way, or this address began too many.
    Busy,
    /// A sign-in to confirm deleting or linking the account came back without a fresh
    /// authentication at the provider (no `auth_time`, or one from before it began): nothing
    /// was changed.
    NotFresh,
    /// Not a refusal: the sign-in confirmed deleting the account, and it is deleted.
    Deleted,
    /// The provider's user is linked to an account here already (this one or another):
    /// nothing was linked.
    Taken,
    /// Not a refusal: the account is linked to the provider's user, who can sign in with it.
    Linked,
}

impl Refusal {
    pub const ALL: [Refusal; 10] = [
        Refusal::Expired,
        Refusal::Denied,
        Refusal::Provider,
        Refusal::Refused,
        Refusal::Unavailable,
        Refusal::Busy,
        Refusal::NotFresh,
        Refusal::Deleted,
        Refusal::Taken,
        Refusal::Linked,
    ];

    /// The refusal a `/login?sso=` code names; `None` for any other text.
    pub fn from_code(code: &str) -> Option<Refusal> {
        Self::ALL.into_iter().find(|r| r.code() == code)
    }

    /// What the login page says for it, in words for people. The server words it (through
    /// `GET /api/auth/oidc?sso=`), not the app, so the sentences cost the download nothing.
    /// Each says what to do next; none says which check failed (`Refused` names no detail an
    /// attacker could tune a forged answer against).
    pub fn sentence(self, provider: &str) -> String {
        match self {
            Refusal::Expired => "That sign-in had expired or was already used. Start again: it takes one click.".into(),
            Refusal::Denied => format!("The sign-in was cancelled at {provider}, so you are not signed in."),
            Refusal::Provider => format!("{provider} could not sign you in. Try again, or ask whoever runs {provider}."),
            Refusal::Refused => format!("That answer from {provider} did not check out, so it signed nobody in. Start again from this page."),
            Refusal::Unavailable => format!("{provider} could not be reached. Nothing changed: try again in a moment."),
            Refusal::Busy => "Too many sign-ins are under way. Try again in a minute.".into(),
            Refusal::NotFresh => format!("{provider} did not ask you to sign in again, so nothing was changed. Try again."),
            Refusal::Deleted => "Your account and its notes have been deleted.".into(),
            Refusal::Taken => format!("That {provider} account is linked to an account here already, so nothing was linked. Sign in at {provider} as yourself and try again."),
            Refusal::Linked => format!("Your account is linked to {provider}: you can sign in with it too."),
        }
    }

    /// The code in `/login?sso=`, which the login page turns into a sentence.
    pub fn code(self) -> &'static str {
        match self {
            Refusal::Expired => "expired",
            Refusal::Denied => "denied",
            Refusal::Provider => "provider",
            Refusal::Refused => "refused",
            Refusal::Unavailable => "unavailable",
            Refusal::Busy => "busy",
            Refusal::NotFresh => "not-fresh",
            Refusal::Deleted => "deleted",
            Refusal::Taken => "taken",
            Refusal::Linked => "linked",
        }
    }
}

/// A sign-in under way, as stored (the verifier and nonce are secrets for its ten minutes).
#[derive(Serialize, Deserialize)]
struct Pending {
    state: String,
    verifier: String,
    nonce: String,
    next: String,
    remember: bool,
    /// What the sign-in is for (`begin`'s `purpose`).
    #[serde(default)]
    purpose: Purpose,
    /// When it began (for `auth_time`, with a purpose other than signing in).
    #[serde(default)]
    began_at: i64,
}

/// Who signed in: the provider's user, and its session there.
#[derive(Debug)]
pub struct Identity {
    pub subject: String,
    pub preferred_username: Option<String>,
    pub sid: Option<String>,
    /// Where the sign-in was going, and whether to keep the session when the browser closes.
    pub next: String,
    pub remember: bool,
    /// What the sign-in was for; for anything but signing in, the person has just signed in
    /// again at the provider (checked: `auth_time` after the sign-in began).
    pub purpose: Purpose,
}

/// What a sign-in through the provider is for.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Purpose {
    /// A session here for the provider's user (its account, made on the first sign-in).
    #[default]
    SignIn,
    /// Deleting this account (an id), which must be the provider's user's.
    Delete(String),
    /// Linking this account (an id) to the provider's user, who has none here yet.
    Link(String),
}

/// The callback's query, as the provider sends it.
#[derive(Debug, Default, Deserialize)]
pub struct Callback {
    pub code: Option<String>,
    pub state: Option<String>,
    pub iss: Option<String>,
    pub error: Option<String>,
}

impl Provider {
    pub fn new(settings: OidcSettings, public_origin: &str, clock: Clock) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            // openidconnect-rs's advice: a redirect followed here could be steered to any
            // address (SSRF); the provider's endpoints are where discovery says they are.
            .redirect(reqwest::redirect::Policy::none())
            .timeout(std::time::Duration::from_secs(10))
            .build()?;
        Ok(Self {
            redirect: RedirectUrl::new(format!("{public_origin}/api/auth/oidc/callback"))?,
            settings,
            http,
            clock,
            discovered: Mutex::new(None),
            warming: Default::default(),
            failed_at: i64::MIN.into(),
        })
    }

    /// The issuer as configured (the key of every identity this provider vouches for).
    pub fn issuer(&self) -> &str {
        self.settings.issuer.as_str()
    }

    /// Discovery, cached. `refetch_jwks`: the caller met a key id the cached JWKS lacks; the
    /// JWKS is fetched again unless that was done less than a minute ago.
    async fn discovered(&self, refetch_jwks: bool) -> Result<Arc<Discovered>, Refusal> {
        let mut cached = self.discovered.lock().await;
        // Read once the lock is held: a caller that waited behind a failed attempt sees that
        // failure as fresh.
        let now = self.clock.now();
        match cached.as_ref() {
            Some(d) if now - d.read_at < DISCOVERY_TTL_SECS && !refetch_jwks => {
                return Ok(d.clone())
            }
            Some(d)
                if now - d.read_at < DISCOVERY_TTL_SECS && now - d.jwks_at < JWKS_REFETCH_SECS =>
            {
                return Ok(d.clone())
            }
            Some(d) if now - d.read_at < DISCOVERY_TTL_SECS => {
                let fetched = JsonWebKeySet::fetch_async(d.metadata.jwks_uri(), &self.http).await;
                // The attempt counts against the minute whether or not it worked: a failing
                // key endpoint is not asked again for every token that names an unknown key.
                let fresh = Arc::new(Discovered {
                    metadata: match fetched {
                        Ok(ref jwks) => d.metadata.clone().set_jwks(jwks.clone()),
                        Err(_) => d.metadata.clone(),
                    },
                    read_at: d.read_at,
                    jwks_at: now,
                });
                *cached = Some(fresh.clone());
                fetched.map_err(|e| unavailable("fetching the provider's keys", &e))?;
                return Ok(fresh);
            }
            _ => {}
        }
        use std::sync::atomic::Ordering::Relaxed;
        // (A clock that stepped back since the failure ends the pause.)
        let paused =
            (0..DISCOVERY_RETRY_SECS).contains(&now.saturating_sub(self.failed_at.load(Relaxed)));
        let fetched = if paused {
            None
        } else {
            Some(Metadata::discover_async(self.settings.issuer.clone(), &self.http).await)
        };
        let metadata = match fetched {
            Some(Ok(metadata)) => metadata,
            failed => {
                if let Some(Err(e)) = failed {
                    // Counted from when the attempt gave up (a provider that hangs takes the
                    // whole timeout), not from when it began.
                    self.failed_at.store(self.clock.now(), Relaxed);
                    let _ = unavailable("reading the provider's discovery document", &e);
                }
                // What discovery said last, past its hour, rather than nothing: the provider's
                // back-channel logouts, which it does not send twice, are still verified with
                // the keys it had, and sign-ins go on against the endpoints it had.
                return match cached.as_ref() {
                    Some(d) => Ok(d.clone()),
                    None => Err(Refusal::Unavailable),
                };
            }
        };
        let fresh = Arc::new(Discovered {
            metadata,
            read_at: now,
            jwks_at: now,
        });
        *cached = Some(fresh.clone());
        Ok(fresh)
    }

    fn client(&self, d: &Discovered) -> OidcClient {
        let client = OidcClient::from_provider_metadata(
            d.metadata.clone(),
            self.settings.client_id.clone(),
            Some(self.settings.client_secret.clone()),
        )
        .set_redirect_uri(self.redirect.clone());
        // HTTP Basic is the default both sides must support; a provider that lists only the
        // form-body method gets that.
        match d.metadata.token_endpoint_auth_methods_supported() {
            Some(m)
                if !m.contains(&CoreClientAuthMethod::ClientSecretBasic)
                    && m.contains(&CoreClientAuthMethod::ClientSecretPost) =>
            {
                client.set_auth_type(AuthType::RequestBody)
            }
            _ => client,
        }
    }

    /// The provider's `end_session_endpoint` (RP-initiated logout), from the discovery already
    /// read, never waiting for one: the login page asks on every load, unauthenticated, and
    /// must neither queue behind a slow provider nor make an outbound request per page. With
    /// none read yet, one discovery begins in the background (one at a time), for later pages.
    pub fn end_session_endpoint(self: &Arc<Self>) -> Option<String> {
        if let Ok(cached) = self.discovered.try_lock() {
            if let Some(d) = cached.as_ref() {
                return d
                    .metadata
                    .additional_metadata()
                    .end_session_endpoint
                    .clone();
            }
            if !self.warming.swap(true, std::sync::atomic::Ordering::AcqRel) {
                let me = self.clone();
                tokio::spawn(async move {
                    let _ = me.discovered(false).await;
                    me.warming
                        .store(false, std::sync::atomic::Ordering::Release);
                });
            }
        }
        None
    }
}

fn unavailable(what: &str, e: &dyn std::error::Error) -> Refusal {
    let mut chain = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        chain.push_str(": ");
        chain.push_str(&s.to_string());
        source = s.source();
    }
    tracing::warn!(error = %chain, "OpenID provider: {what} failed");
    Refusal::Unavailable
}

/// Begins a sign-in for this browser: the provider's authorization URL to send it to, and the
/// id of the sign-in under way for its cookie. `next` is where to go afterwards (already a
/// same-origin path); `remember`, whether the session outlives the browser.
///
/// For another `purpose` than signing in (deleting an account, linking one), the provider is
/// asked to authenticate the person again, whatever session it has
/// (`max_age=0`, `prompt=login`: OpenID Connect Core §3.1.2.1), and the answer must show it
/// did (`auth_time` after now). A provider account has no password here to confirm with, and a
/// session of ours, or a silent sign-in at a provider whose own session lives, proves only that
/// someone has the unlocked browser.
pub async fn begin(
    state: &AppState,
    next: &str,
    remember: bool,
    purpose: Purpose,
) -> Result<(String, String), Refusal> {
    let provider = state.oidc.as_ref().ok_or(Refusal::Unavailable)?;
    let now = state.clock.now();
    let d = provider.discovered(false).await?;
    let client = provider.client(&d);
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let request = client
        .authorize_url(
            AuthenticationFlow::<CoreResponseType>::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        // `openid` is added by the library; `profile` brings `preferred_username`.
        .add_scope(Scope::new("profile".into()))
        .set_pkce_challenge(challenge);
    let request = match purpose {
        Purpose::SignIn => request,
        _ => request
            .set_max_age(std::time::Duration::ZERO)
            .add_prompt(CoreAuthPrompt::Login),
    };
    let (url, csrf, nonce) = request.url();
    let pending = Pending {
        state: csrf.secret().clone(),
        verifier: verifier.secret().clone(),
        nonce: nonce.secret().clone(),
        next: next.to_owned(),
        remember,
        purpose,
        began_at: now,
    };
    let json = serde_json::to_string(&pending).map_err(|_| Refusal::Unavailable)?;
    let id = store::oidc::begin_login(&state.db, &json, now + LOGIN_SECS)
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "storing a sign-in under way failed");
            Refusal::Unavailable
        })?;
    Ok((url.to_string(), id))
}

/// Finishes this browser's sign-in (`login`: the id its cookie names) with the provider's
/// answer. The sign-in is taken first, whatever follows: a callback is answered once.
pub async fn finish(
    state: &AppState,
    login: Option<&str>,
    answer: &Callback,
) -> Result<Identity, Refused> {
    let provider = state.oidc.as_ref().ok_or(Refusal::Unavailable)?;
    let now = state.clock.now();
    let Some(login) = login else {
        tracing::info!("OpenID callback without a sign-in cookie");
        return Err(Refusal::Expired.into());
    };
    let taken = store::oidc::take_login(&state.db, login, now)
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "taking a sign-in under way failed");
            Refusal::Unavailable
        })?;
    let Some(pending) = taken.and_then(|s| serde_json::from_str::<Pending>(&s).ok()) else {
        tracing::info!("OpenID callback for no sign-in under way (spent or expired)");
        return Err(Refusal::Expired.into());
    };
    let next = pending.next.clone();
    // The state first, before anything the answer says is believed (the error included): an
    // answer that is not for this browser's sign-in is refused as such.
    let state_ok = answer
        .state
        .as_ref()
        .is_some_and(|s| CsrfToken::new(s.clone()) == CsrfToken::new(pending.state.clone()));
    let linking = matches!(pending.purpose, Purpose::Link(_));
    if !state_ok {
        tracing::warn!("OpenID callback with a state that is not this browser's sign-in's");
        return Err(Refused {
            why: Refusal::Refused,
            next: Some(next),
            checked: false,
            linking,
        });
    }
    check(state, provider, pending, answer)
        .await
        .map_err(|why| Refused {
            why,
            next: Some(next),
            checked: true,
            linking,
        })
}

/// A sign-in that ended without a session: why, and where it was going (once its row was
/// found), so the login page can still go there afterwards.
#[derive(Debug)]
pub struct Refused {
    pub why: Refusal,
    pub next: Option<String>,
    /// The answer carried this browser's state: it failed a later check (an event worth an
    /// operator's look), not the first one (which anyone can fail at will).
    pub checked: bool,
    /// It was to link a signed-in account: the account page says why, not the login page
    /// (which a signed-in browser leaves at once).
    pub linking: bool,
}

impl From<Refusal> for Refused {
    fn from(why: Refusal) -> Self {
        Refused {
            why,
            next: None,
            checked: false,
            linking: false,
        }
    }
}

/// The provider's answer to this browser's sign-in `pending` (its state already matched),
/// checked.
async fn check(
    state: &AppState,
    provider: &Provider,
    pending: Pending,
    answer: &Callback,
) -> Result<Identity, Refusal> {
    let d = provider.discovered(false).await?;
    // RFC 9207: where the provider says it sends `iss`, it must be there and be this provider
    // (a mix-up attack hands us another provider's code); where it is sent anyway, it must
    // match all the same.
    let iss_required = d
        .metadata
        .additional_metadata()
        .authorization_response_iss_parameter_supported;
    match &answer.iss {
        Some(iss) if iss != provider.issuer() => {
            tracing::warn!(%iss, "OpenID callback from another issuer (mix-up?)");
            return Err(Refusal::Refused);
        }
        None if iss_required => {
            tracing::warn!("OpenID callback without the iss its provider promises (RFC 9207)");
            return Err(Refusal::Refused);
        }
        _ => {}
    }
    if let Some(error) = &answer.error {
        tracing::info!(%error, "the OpenID provider answered with an error");
        return Err(if error == "access_denied" {
            Refusal::Denied
        } else {
            Refusal::Provider
        });
    }
    let Some(code) = answer.code.clone() else {
        tracing::warn!("OpenID callback without a code");
        return Err(Refusal::Refused);
    };
    let client = provider.client(&d);
    let tokens = client
        .exchange_code(AuthorizationCode::new(code))
        .map_err(|e| unavailable("the code exchange", &e))?
        .set_pkce_verifier(PkceCodeVerifier::new(pending.verifier))
        .request_async(&provider.http)
        .await
        .map_err(|e| match e {
            // The provider read the request and said no (a made-up, spent or stolen code,
            // a verifier that does not match): refused, not unreachable.
            RequestTokenError::ServerResponse(r) => {
                tracing::warn!(error = %r, "the provider refused the code exchange");
                Refusal::Refused
            }
            e => unavailable("the code exchange", &e),
        })?;
    let id_token = tokens.extra_fields().id_token().ok_or_else(|| {
        tracing::warn!("the OpenID provider's token answer has no ID token");
        Refusal::Refused
    })?;
    let nonce = Nonce::new(pending.nonce);
    let clock = state.clock.clone();
    let verify = |client: &OidcClient| {
        let clock = clock.clone();
        let issued = clock.clone();
        let verifier = client
            .id_token_verifier()
            .set_time_fn(move || to_datetime(clock.now()))
            .set_issue_time_verifier_fn(move |iat| {
                let now = issued.now();
                let iat = iat.timestamp();
                if iat > now + IAT_SKEW_SECS || iat < now - LOGIN_SECS {
                    Err(format!(
                        "issued at {iat}, not within this sign-in (now {now})"
                    ))
                } else {
                    Ok(())
                }
            });
        id_token.claims(&verifier, &nonce).cloned()
    };
    let claims = match verify(&client) {
        Err(ClaimsVerificationError::SignatureVerification(
            SignatureVerificationError::NoMatchingKey,
        )) => {
            // The provider may have rotated its keys since we read them.
            let d = provider.discovered(true).await?;
            verify(&provider.client(&d))
        }
        other => other,
    }
    .map_err(|e| {
        tracing::warn!(error = %e, "the provider's ID token was refused");
        Refusal::Refused
    })?;
    // Deleting or linking the account needs the person to have signed in at the provider just
    // now: its `auth_time` (which `max_age` makes it send) after this sign-in began, give or
    // take the clocks' skew. A provider that ignored `max_age`, or answered from an older
    // session, changes nothing. (For a link, it is also what stops an account here from being
    // linked to whoever the browser was signed in as at the provider, unseen: a provider
    // session planted by someone else's login-CSRF.)
    if pending.purpose != Purpose::SignIn {
        let auth_time = claims.auth_time().map(|t| t.timestamp());
        if !authenticated_since(auth_time, pending.began_at) {
            tracing::warn!(
                "a sign-in to delete or link an account came back without a fresh authentication"
            );
            return Err(Refusal::NotFresh);
        }
    }
    // Google releases no `preferred_username`, only `name`: the name then suggests the username
    // (its allowed characters), so its users are not all "user", "user-2", … Either is a
    // suggestion only; the account is the provider user's by (issuer, subject).
    let suggested = |preferred: Option<&EndUserUsername>,
                     name: Option<&LocalizedClaim<EndUserName>>| {
        preferred.map(|u| u.as_str().to_owned()).or_else(|| {
            name.and_then(|n| n.get(None))
                .map(|n| n.as_str().to_owned())
        })
    };
    let mut preferred_username = suggested(claims.preferred_username(), claims.name());
    // A provider that conforms strictly puts profile claims in its UserInfo answer, not in the
    // ID token: asked there (for the subject the ID token vouched for) when the token lacks one.
    // Only a name suggestion rides on it, so a failure here costs nothing but the name.
    if preferred_username.is_none() {
        if let Ok(request) = client.user_info(
            tokens.access_token().clone(),
            Some(claims.subject().clone()),
        ) {
            match request
                .request_async::<SessionClaim, _, CoreGenderClaim>(&provider.http)
                .await
            {
                Ok(info) => preferred_username = suggested(info.preferred_username(), info.name()),
                Err(e) => tracing::info!(error = %e, "the provider's UserInfo answer was refused"),
            }
        }
    }
    Ok(Identity {
        subject: claims.subject().as_str().to_owned(),
        preferred_username,
        sid: claims.additional_claims().sid.clone(),
        next: pending.next,
        remember: pending.remember,
        purpose: pending.purpose,
    })
}

/// Whether an ID token's `auth_time` says the person authenticated at the provider after
/// `began_at` (give or take the clocks' skew); a token without one says nothing of the kind.
fn authenticated_since(auth_time: Option<i64>, began_at: i64) -> bool {
    auth_time.is_some_and(|t| t >= began_at - IAT_SKEW_SECS)
}

/// The `events` member a logout token carries (Back-Channel Logout 1.0 §2.4).
const BACKCHANNEL_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";
/// A logout token older than this is not acted on (its `jti` would have been forgotten).
const LOGOUT_TOKEN_MAX_AGE_SECS: i64 = 600;

/// A logout token's claims, as far as they matter here.
#[derive(Debug, Deserialize)]
struct LogoutClaims {
    jti: Option<String>,
    iat: Option<i64>,
    exp: Option<i64>,
    sub: Option<String>,
    sid: Option<String>,
    aud: Option<Value>,
    azp: Option<String>,
    events: Option<serde_json::Map<String, Value>>,
    nonce: Option<Value>,
}

/// The provider's back-channel logout (OpenID Connect Back-Channel Logout 1.0): a logout token,
/// verified like an ID token (signature against the provider's JWKS with an algorithm it
/// advertises, `iss`, `aud`, `iat`, `exp`), plus its own rules: the logout event present, no
/// `nonce` (so an ID token cannot pass for one), a `jti` never seen before (a replay is
/// refused), and `sub` or `sid`. Ends the matching sessions on every instance (the revocation
/// log carries them); returns how many. `Err`: why the token was refused (answered 400).
pub async fn backchannel_logout(state: &AppState, token: &str) -> Result<usize, String> {
    let provider = state.oidc.as_ref().ok_or("no provider configured")?;
    let header = jsonwebtoken::decode_header(token).map_err(|e| format!("not a JWT: {e}"))?;
    if let Some(typ) = header.typ.as_deref() {
        // Explicit typing (RFC 8725 §3.11): a token of another kind is not a logout token.
        if !(typ.eq_ignore_ascii_case("logout+jwt") || typ.eq_ignore_ascii_case("JWT")) {
            return Err(format!("typ {typ:?} is not a logout token's"));
        }
    }
    let mut d = provider
        .discovered(false)
        .await
        .map_err(|_| "provider unreachable")?;
    let advertised: Vec<String> = d
        .metadata
        .id_token_signing_alg_values_supported()
        .iter()
        .filter_map(|a| serde_json::to_value(a).ok()?.as_str().map(str::to_owned))
        .collect();
    let alg = format!("{:?}", header.alg);
    // Public-key algorithms only: a shared-secret one would let anyone with the client secret
    // (which is ours, not only the provider's) mint logout tokens.
    let asymmetric = !matches!(
        header.alg,
        jsonwebtoken::Algorithm::HS256
            | jsonwebtoken::Algorithm::HS384
            | jsonwebtoken::Algorithm::HS512
    );
    if !asymmetric || !advertised.contains(&alg) {
        return Err(format!("alg {alg} is not one the provider signs with"));
    }
    let mut key = find_key(&d, header.kid.as_deref(), header.alg);
    if key.is_none() {
        d = provider
            .discovered(true)
            .await
            .map_err(|_| "provider unreachable")?;
        key = find_key(&d, header.kid.as_deref(), header.alg);
    }
    let key = key.ok_or("no key of the provider's signs it")?;
    let mut v = jsonwebtoken::Validation::new(header.alg);
    v.set_issuer(&[provider.issuer()]);
    v.set_audience(&[provider.settings.client_id.as_str()]);
    // `exp` is REQUIRED (Back-Channel Logout 1.0 §2.4), checked below on the injected clock.
    v.set_required_spec_claims(&["iss", "aud", "iat", "exp"]);
    // Times are checked below against the injected clock, not the library's own.
    v.validate_exp = false;
    v.validate_nbf = false;
    let claims = jsonwebtoken::decode::<LogoutClaims>(token, &key, &v)
        .map_err(|e| format!("refused: {e}"))?
        .claims;
    let now = state.clock.now();
    let iat = claims.iat.ok_or("no iat")?;
    if iat > now + IAT_SKEW_SECS || iat < now - LOGOUT_TOKEN_MAX_AGE_SECS {
        return Err(format!("issued at {iat}, too far from now ({now})"));
    }
    let exp = claims.exp.ok_or("no exp")?;
    if exp < now - IAT_SKEW_SECS {
        return Err("expired".into());
    }
    // Audiences as for an ID token (§2.6): ours alone, or ours among others only with `azp`
    // naming us.
    let ours = provider.settings.client_id.as_str();
    let aud_ok = match &claims.aud {
        Some(Value::String(a)) => a == ours,
        Some(Value::Array(all)) if all.len() == 1 => all[0].as_str() == Some(ours),
        Some(Value::Array(_)) => claims.azp.as_deref() == Some(ours),
        _ => false,
    };
    if !aud_ok {
        return Err("another audience besides this client, with no azp naming it".into());
    }
    if !claims
        .events
        .as_ref()
        .and_then(|e| e.get(BACKCHANNEL_EVENT))
        .is_some_and(Value::is_object)
    {
        return Err("no back-channel logout event".into());
    }
    if claims.nonce.is_some() {
        return Err("a nonce: this is an ID token, not a logout token".into());
    }
    if claims.sub.is_none() && claims.sid.is_none() {
        return Err("names neither sub nor sid".into());
    }
    let jti = claims.jti.ok_or("no jti")?;
    // Kept while the checks above could still pass, and a minute more: at a time `t` they need
    // `iat >= t - LOGOUT_TOKEN_MAX_AGE_SECS` and `exp >= t - IAT_SKEW_SECS`, so past the earlier
    // of those two bounds the token is refused as too old or expired. The minute covers an
    // instance whose clock runs ahead (each purges with its own, `store::oidc::purge`) and a
    // purge that lands between a replay's checks and its insert below. Saturating: a token's
    // `exp` may be anything up to `i64::MAX`.
    let last_accepted = iat
        .saturating_add(LOGOUT_TOKEN_MAX_AGE_SECS)
        .min(exp.saturating_add(IAT_SKEW_SECS));
    let keep_until = last_accepted.saturating_add(IAT_SKEW_SECS);
    let fresh = store::oidc::spend_logout_token(&state.db, provider.issuer(), &jti, keep_until)
        .await
        .map_err(|e| format!("recording its jti failed: {e}"))?;
    if !fresh {
        return Err("replayed (its jti was seen before)".into());
    }
    let user = match &claims.sub {
        Some(sub) => match store::oidc::find_user(&state.db, provider.issuer(), sub).await {
            Ok(Some(u)) => Some(u.id),
            // A subject with no account here has no sessions here.
            Ok(None) => return Ok(0),
            Err(e) => {
                let _ = store::oidc::forget_logout_token(&state.db, provider.issuer(), &jti).await;
                return Err(format!("looking the subject up failed: {e}"));
            }
        },
        None => None,
    };
    let ended = store::oidc::revoke_sessions(
        &state.db,
        provider.issuer(),
        claims.sid.as_deref(),
        user.as_deref(),
        now,
        "oidc_backchannel_logout: the provider ended the session",
    )
    .await;
    let ended = match ended {
        Ok(ended) => ended,
        Err(e) => {
            // Nothing ended: the jti is forgotten again, so the provider's retry is not taken
            // for a replay.
            let _ = store::oidc::forget_logout_token(&state.db, provider.issuer(), &jti).await;
            return Err(format!("revoking failed: {e}"));
        }
    };
    for id in &ended {
        crate::auth::sessions::revoked_by_store(state, id);
    }
    Ok(ended.len())
}

/// The provider's key named `kid` (or its only key, when the token names none), as a
/// jsonwebtoken key.
fn find_key(
    d: &Discovered,
    kid: Option<&str>,
    alg: jsonwebtoken::Algorithm,
) -> Option<jsonwebtoken::DecodingKey> {
    let keys: Vec<jsonwebtoken::jwk::Jwk> = d
        .metadata
        .jwks()
        .keys()
        .iter()
        .filter_map(|k| serde_json::from_value(serde_json::to_value(k).ok()?).ok())
        .collect();
    // A key for signatures (RFC 8725 §3.1: not one published for encryption), and for this
    // algorithm when the key says which.
    let keys: Vec<&jsonwebtoken::jwk::Jwk> = keys
        .iter()
        .filter(|k| {
            !matches!(
                k.common.public_key_use,
                Some(jsonwebtoken::jwk::PublicKeyUse::Encryption)
            ) && k
                .common
                .key_algorithm
                .is_none_or(|a| format!("{a:?}") == format!("{alg:?}"))
        })
        .collect();
    let key = match kid {
        Some(kid) => keys
            .iter()
            .find(|k| k.common.key_id.as_deref() == Some(kid)),
        None if keys.len() == 1 => keys.first(),
        None => None,
    }?;
    jsonwebtoken::DecodingKey::from_jwk(key).ok()
}

fn to_datetime(secs: i64) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp(secs, 0).unwrap_or_default()
}

/// The account of the provider's user: found by (issuer, subject), else created with a
/// username made from `preferred_username` (made unique by a number). Never found by email or
/// username: a provider's user is only ever the account that its own first sign-in made. No
/// role is taken from the provider's claims.
pub async fn account_for(state: &AppState, who: &Identity) -> ApiResult<(UserRow, bool)> {
    let provider = state
        .oidc
        .as_ref()
        .ok_or_else(|| ApiError::NotFound("no OpenID provider is configured".into()))?;
    let issuer = provider.issuer();
    if let Some(user) = store::oidc::find_user(&state.db, issuer, &who.subject).await? {
        return Ok((user, false));
    }
    let base = username_base(who.preferred_username.as_deref());
    for n in 1..=20u32 {
        let name = match n {
            1 => base.clone(),
            // A number after a dash; the base is cut so the result stays within 32 characters.
            n => {
                let suffix = format!("-{n}");
                let cut: String = base.chars().take(32 - suffix.len()).collect();
                format!("{cut}{suffix}")
            }
        };
        let now = state.clock.now();
        match store::oidc::create_user(&state.db, &name, issuer, &who.subject, now).await? {
            store::oidc::Created::User(u) => return Ok((u, true)),
            store::oidc::Created::UsernameTaken => continue,
            store::oidc::Created::IdentityExists => {
                // Another request (another tab, another instance) made it meanwhile.
                let user = store::oidc::find_user(&state.db, issuer, &who.subject).await?;
                return user.map(|u| (u, false)).ok_or_else(|| {
                    ApiError::Internal(anyhow::anyhow!("the identity made meanwhile is gone"))
                });
            }
        }
    }
    // Twenty names taken: a random one, which cannot be.
    let name = format!("user-{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
    match store::oidc::create_user(&state.db, &name, issuer, &who.subject, state.clock.now())
        .await?
    {
        store::oidc::Created::User(u) => Ok((u, true)),
        _ => Err(ApiError::Conflict(
            "no free username for this account; try again".into(),
        )),
    }
}

/// A valid username from the provider's `preferred_username`: the allowed characters kept, the
/// rest dropped, cut to 32, at least 3 (else "user").
fn username_base(preferred: Option<&str>) -> String {
    let kept: String = preferred
        .unwrap_or_default()
        .split('@')
        .next()
        .unwrap_or_default()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || "_.-".contains(*c))
        .take(32)
        .collect();
    if Username::parse(&kept).is_ok() {
        kept
    } else {
        "user".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_are_made_valid() {
        assert_eq!(username_base(Some("alice")), "alice");
        assert_eq!(username_base(Some("alice@example.com")), "alice");
        assert_eq!(username_base(Some("Zoë Smith")), "ZoSmith");
        assert_eq!(username_base(Some("ab")), "user");
        assert_eq!(username_base(None), "user");
        assert_eq!(username_base(Some(&"x".repeat(40))).len(), 32);
        for made in ["alice", "ZoSmith", "user"] {
            assert!(Username::parse(made).is_ok());
        }
    }

    #[test]
    fn refusal_codes_are_distinct_and_read_back() {
        let all = Refusal::ALL;
        let codes: std::collections::HashSet<_> = all.iter().map(|r| r.code()).collect();
        assert_eq!(codes.len(), all.len());
        for r in all {
            assert_eq!(Refusal::from_code(r.code()), Some(r));
        }
        assert_eq!(Refusal::from_code("Denied"), None);
    }

    #[test]
    fn only_an_authentication_after_the_sign_in_began_confirms_a_deletion() {
        let began = 1_000_000;
        assert!(!authenticated_since(None, began), "no auth_time");
        assert!(!authenticated_since(Some(began - IAT_SKEW_SECS - 1), began));
        assert!(authenticated_since(Some(began - IAT_SKEW_SECS), began));
        assert!(authenticated_since(Some(began + 5), began));
        assert_eq!(Refusal::from_code(""), None);
    }
}
