//! Authentication: access JWTs, opaque rotating refresh tokens, the refresh cookie, password
//! hashing, revocation, CSRF and throttling.

pub mod accounts;
pub mod cookies;
pub mod csrf;
pub mod device;
pub mod dpop;
pub mod flows;
pub mod jwt_crypto;
pub mod oidc;
pub mod passkeys;
pub mod password;
pub mod refresh;
pub mod revocation;
pub mod sessions;
pub mod throttle;
pub mod tokens;

/// Who a live access token speaks for (what the `AuthUser` extractor of `extract` yields).
#[derive(Debug, Clone)]
pub struct AuthUser {
    pub user_id: String,
    pub username: String,
    pub session_id: String,
    pub roles: Vec<String>,
    /// The DPoP key thumbprint the token is bound to (`cnf.jkt`), if it is bound.
    pub jkt: Option<String>,
}
