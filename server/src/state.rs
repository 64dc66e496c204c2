//! `AppState`: what every handler shares, and the few operations that touch several parts of it.

use std::sync::Arc;

use api_types::TokenResponse;

use crate::{
    auth::{
        cookies::CookiePolicy,
        password::Hasher,
        revocation::Revoked,
        throttle::{IpLimiter, LoginThrottle},
        tokens::Keys,
        AuthUser,
    },
    config::Settings,
    error::ApiError,
    store::{sessions::Lifetimes, Db},
};

#[derive(Clone)]
pub struct AppState {
    /// The clock every request decision reads (tests advance it; see `clock`).
    pub clock: crate::clock::Clock,
    pub db: Db,
    pub settings: Arc<Settings>,
    pub keys: Arc<Keys>,
    pub revoked: Arc<Revoked>,
    /// The last revocation-log number this server has applied (`startup::sync_once`).
    pub revocation_seq: Arc<std::sync::atomic::AtomicI64>,
    pub hasher: Hasher,
    pub login_throttle: Arc<LoginThrottle>,
    pub auth_ip_limiter: Arc<IpLimiter>,
    /// Per-IP budget for refreshes (cookie and simplejwt flows).
    pub refresh_limiter: Arc<IpLimiter>,
    pub cookies: CookiePolicy,
    /// HMAC key for deterministic refresh-token successors (`auth::refresh::successor`); in the
    /// database, so every start and every instance derives the same successors.
    pub successor_key: [u8; 32],
    /// HMAC key of device cookies (`auth::device`); in the database like `successor_key`.
    pub device_key: [u8; 32],
    pub security: crate::security::SecurityHeaders,
    /// Per-IP budget for CSP violation reports (anyone can post them).
    pub report_limiter: Arc<IpLimiter>,
    /// Permits for requests in flight (`CLOAKROOM_MAX_IN_FLIGHT`), except on the credential
    /// routes, which have `credential_in_flight` of their own.
    pub in_flight: Arc<tokio::sync::Semaphore>,
    /// Permits for login, signup and token requests in flight: a flood of them sheds against
    /// this gate and the hash queue, never against the permits everything else needs.
    pub credential_in_flight: Arc<tokio::sync::Semaphore>,
}

impl AppState {
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

    /// Verifies an access token and checks its session is not revoked.
    pub fn authenticate(&self, token: &str, now: i64) -> Result<AuthUser, ApiError> {
        let claims = self
            .keys
            .verify(token, now)
            .map_err(ApiError::invalid_token)?;
        if self.revoked.contains(&claims.sid) {
            return Err(ApiError::invalid_token("session has been revoked"));
        }
        Ok(AuthUser {
            user_id: claims.sub,
            username: claims.preferred_username,
            session_id: claims.sid,
            roles: claims.roles,
        })
    }

    /// Mints the access token answer for a session.
    pub fn access_token(
        &self,
        user_id: &str,
        username: &str,
        session_id: &str,
        roles: &[String],
        now: i64,
    ) -> Result<TokenResponse, ApiError> {
        let ttl = self.access_ttl();
        let access_token = self
            .keys
            .issue(user_id, username, session_id, roles, now, ttl)?;
        Ok(TokenResponse {
            access_token,
            token_type: "Bearer".into(),
            expires_in: ttl as u64,
            rotation: None,
        })
    }

    /// The access token answer for a session grant (login, refresh, either flow).
    pub fn access_for(
        &self,
        g: &crate::store::sessions::SessionGrant,
        now: i64,
    ) -> Result<TokenResponse, ApiError> {
        self.access_token(&g.user_id, &g.username, &g.session_id, &g.roles, now)
    }
}
