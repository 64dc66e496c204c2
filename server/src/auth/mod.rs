//! Authentication: access JWTs, opaque rotating refresh tokens, the refresh cookie, password
//! hashing, revocation, CSRF and throttling.

pub mod accounts;
pub mod cookies;
pub mod csrf;
pub mod device;
pub mod flows;
pub mod password;
pub mod refresh;
pub mod revocation;
pub mod sessions;
pub mod throttle;
pub mod tokens;

pub use crate::extract::AuthUser;
