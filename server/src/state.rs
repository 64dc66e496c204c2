//! `AppState`: what every handler shares, as plain data (handles to the database, keys, settings,
//! limiters). Behaviour that touches several parts of it lives in the services (`auth::sessions`,
//! `auth::accounts`, `auth::flows`).

use std::sync::Arc;

use crate::{
    auth::{
        cookies::CookiePolicy,
        password::Hasher,
        revocation::RevokedSessions,
        throttle::{IpLimiter, LoginThrottle},
        tokens::Keys,
    },
    config::Settings,
    store::{sessions::Lifetimes, Db},
};

/// The shared state, behind one `Arc`: axum clones the state for every extractor and middleware
/// layer of every request, and a clone of the plain struct was some twenty reference-count
/// increments (and as many decrements on drop), on cache lines both cores write. Profiled under
/// `make bench`'s DPoP load, cloning and dropping it was about 9% of the server's CPU; now a
/// clone is one increment. Fields are reached through `Deref`, as before.
#[derive(Clone)]
pub struct AppState(Arc<AppStateInner>);

impl AppState {
    pub fn new(shared: AppStateInner) -> Self {
        AppState(Arc::new(shared))
    }
}

impl std::ops::Deref for AppState {
    type Target = AppStateInner;
    fn deref(&self) -> &AppStateInner {
        &self.0
    }
}

/// What [`AppState`] holds.
pub struct AppStateInner {
    /// The clock every request decision reads (tests advance it; see `clock`).
    pub clock: crate::clock::Clock,
    pub db: Db,
    pub settings: Arc<Settings>,
    pub keys: Arc<Keys>,
    pub revoked: Arc<RevokedSessions>,
    /// DPoP proof ids seen recently (`auth::dpop`), per process.
    pub dpop_replay: Arc<crate::auth::dpop::ReplayCache>,
    /// DPoP nonces (`auth::dpop::Nonces`): required on API proofs, handed out on every answer.
    pub dpop_nonces: crate::auth::dpop::Nonces,
    /// The last revocation-log number this server has applied (`sync::sync_once`).
    pub revocation_seq: Arc<std::sync::atomic::AtomicI64>,
    pub hasher: Hasher,
    pub login_throttle: Arc<LoginThrottle>,
    pub auth_ip_limiter: Arc<IpLimiter>,
    /// Per-IP budget for refreshes (cookie and simplejwt flows).
    pub refresh_limiter: Arc<IpLimiter>,
    pub cookies: CookiePolicy,
    /// The WebAuthn relying party of the public origin (`auth::passkeys`); `None` where
    /// browsers allow no passkeys (an IP address as the origin's host).
    pub webauthn: Option<Arc<webauthn_rs::Webauthn>>,
    /// The OpenID provider to sign in through (`auth::oidc`), when one is configured.
    pub oidc: Option<Arc<crate::auth::oidc::Provider>>,
    /// HMAC key for deterministic refresh-token successors (`auth::refresh::successor`); in the
    /// database, so every start and every instance derives the same successors.
    pub successor_key: [u8; 32],
    /// HMAC key of device cookies (`auth::device`); in the database like `successor_key`.
    pub device_key: [u8; 32],
    pub security: crate::security::SecurityHeaders,
    /// The app's stylesheet as Trunk linked it in dist/index.html (`docs::stylesheet`), read
    /// once at start like the CSP's script hashes: for the pages the server renders itself.
    pub stylesheet: Option<String>,
    /// Per-IP budget for CSP violation reports (anyone can post them).
    pub report_limiter: Arc<IpLimiter>,
    /// Permits for requests in flight (`CLOAKROOM_MAX_IN_FLIGHT`), except on the credential
    /// routes, which have `credential_in_flight` of their own.
    pub in_flight: Arc<tokio::sync::Semaphore>,
    /// Permits for login, signup and token requests in flight: a flood of them sheds against
    /// this gate and the hash queue, never against the permits everything else needs.
    pub credential_in_flight: Arc<tokio::sync::Semaphore>,
}

impl AppStateInner {
    pub fn lifetimes(&self) -> Lifetimes {
        Lifetimes {
            refresh_idle: self.settings.refresh_idle_ttl.as_secs() as i64,
            session_max: self.settings.session_max_ttl.as_secs() as i64,
            reuse_grace: self.settings.reuse_grace.as_secs() as i64,
        }
    }

    pub fn access_ttl(&self) -> i64 {
        self.settings.access_ttl.as_secs() as i64
    }
}
