//! The JSON shapes of the Cloakroom API, shared by the server and the wasm client so the two
//! cannot drift apart. Request bodies reject unknown fields: a typo in a field name is an error,
//! not a silently ignored value.

use serde::{Deserialize, Serialize};

/// Value the client must send in `X-Requested-With` on cookie-authenticated auth routes.
pub const CSRF_HEADER: &str = "x-requested-with";
/// The only accepted value of [`CSRF_HEADER`].
pub const CSRF_HEADER_VALUE: &str = "cloakroom";

/// `POST /api/auth/signup`
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SignupRequest {
    pub username: String,
    pub password: String,
}

/// `POST /api/auth/login`
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub username: String,
    pub password: String,
    /// `true`: persistent refresh cookie (Max-Age). `false` (default): browser-session cookie.
    #[serde(default)]
    pub remember: bool,
}

/// Answer of login and refresh. The refresh token never appears here: it travels only in the
/// HttpOnly cookie.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: String,
    /// Seconds until `access_token` expires.
    pub expires_in: u64,
    /// Refresh answers only: what the presented refresh token was, as the server saw it —
    /// `rotated` (it was current), `concurrent_duplicate` or `retry_after_lost_answer` (it had
    /// been rotated, its successor unused: the same successor was set again), or
    /// `successor_used_within_grace` (a late duplicate or a replay: no cookie). The same codes
    /// appear in the security event log.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rotation: Option<String>,
}

/// `201` answer of signup; also the shape of a user elsewhere.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UserCreated {
    pub id: String,
    pub username: String,
}

/// `GET /api/me`
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Me {
    pub id: String,
    pub username: String,
    pub roles: Vec<String>,
}

/// One entry of `GET /api/auth/sessions`. Times are RFC 3339 in UTC.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SessionInfo {
    pub id: String,
    pub created_at: String,
    pub last_used_at: String,
    pub user_agent: Option<String>,
    pub ip: Option<String>,
    /// The session the calling access token belongs to.
    pub current: bool,
}

/// A note, the protected resource. Times are RFC 3339 in UTC.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Note {
    pub id: String,
    pub title: String,
    pub body: String,
    pub created_at: String,
    pub updated_at: String,
}

/// Body of `POST /api/notes` and `PUT /api/notes/{id}`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NoteInput {
    pub title: String,
    #[serde(default)]
    pub body: String,
}

/// Limits the server enforces on notes, exported so the client can say them before sending.
pub const NOTE_TITLE_MAX_CHARS: usize = 200;
pub const NOTE_BODY_MAX_BYTES: usize = 64 * 1024;

/// The role that opens `/api/admin/*` (granted only by `cloakroom user create --admin`).
pub const ADMIN_ROLE: &str = "admin";

/// One row of `GET /api/admin/users` (admin only).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AdminUserInfo {
    pub id: String,
    pub username: String,
    pub roles: Vec<String>,
    pub created_at: String,
    /// Sessions that are not revoked, not expired and still hold a current refresh token.
    pub live_sessions: u32,
}

/// One row of `GET /api/admin/events` (admin only): a security event, newest first.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SecurityEvent {
    /// RFC 3339.
    pub at: String,
    /// `refresh_retry`, `refresh_grace`, `refresh_token_reuse`, …
    pub kind: String,
    /// The stable reason code that starts `detail`, e.g. `concurrent_duplicate`,
    /// `retry_after_lost_answer`, `successor_used_within_grace`, `replay_after_successor_used`:
    /// what tells a benign race from a replay.
    pub reason: Option<String>,
    pub detail: Option<String>,
    pub user_id: Option<String>,
    pub session_id: Option<String>,
    pub ip: Option<String>,
}

/// `POST /api/token/` (the simplejwt-compatible flow for non-browser clients).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct TokenObtainRequest {
    pub username: String,
    pub password: String,
}

/// `POST /api/token/refresh/`
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct TokenRefreshRequest {
    pub refresh: String,
}

/// `POST /api/token/verify/`
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct TokenVerifyRequest {
    pub token: String,
}

/// Answer of the simplejwt-compatible obtain/refresh routes. `refresh` is absent when a
/// concurrent duplicate refresh lands inside the reuse grace window (like simplejwt without
/// rotation): the caller keeps the refresh token it already has from the winning request.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TokenPair {
    pub access: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh: Option<String>,
}

/// RFC 9457 problem details, the body of every API error.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Problem {
    #[serde(rename = "type", default = "about_blank")]
    pub type_: String,
    pub title: String,
    pub status: u16,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
    /// Seconds to wait, on 429 answers (also sent as `Retry-After`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<u64>,
}

fn about_blank() -> String {
    "about:blank".to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_reject_unknown_fields() {
        let err = serde_json::from_str::<LoginRequest>(
            r#"{"username":"a","password":"b","rememberme":true}"#,
        )
        .unwrap_err();
        assert!(err.to_string().contains("unknown field"), "{err}");
    }

    #[test]
    fn remember_defaults_to_false() {
        let req: LoginRequest = serde_json::from_str(r#"{"username":"a","password":"b"}"#).unwrap();
        assert!(!req.remember);
    }

    #[test]
    fn token_pair_omits_missing_refresh() {
        let json = serde_json::to_string(&TokenPair {
            access: "x".into(),
            refresh: None,
        })
        .unwrap();
        assert_eq!(json, r#"{"access":"x"}"#);
    }
}
