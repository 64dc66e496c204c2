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
    /// 3 to 32 of `A-Z a-z 0-9 _ . -`; unique case-insensitively.
    #[cfg_attr(
        feature = "openapi",
        schema(
            min_length = 3,
            max_length = 32,
            pattern = "^[A-Za-z0-9_.-]{3,32}(?![\\s\\S])"
        )
    )]
    pub username: String,
    /// 12 to 256 characters, not one character repeated (the pattern: some character is
    /// followed by a different one). Patterns end in `(?![\s\S])`, not `$`: in some regex
    /// flavours `$` also matches before a final newline. Also refused, with 422, where a schema cannot say it: a
    /// password in the list of commonly used ones, or one that is mostly the username.
    #[cfg_attr(
        feature = "openapi",
        schema(
            min_length = 12,
            max_length = 256,
            pattern = "([\\s\\S])(?!\\1)[\\s\\S]"
        )
    )]
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

/// `POST /api/account/password`: the current password (a stolen access token alone cannot
/// change it) and the new one, which follows the sign-up rules.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ChangePasswordRequest {
    pub current_password: String,
    /// The sign-up rules: 12 to 256 characters, not one character repeated, not a commonly
    /// used password (422), not mostly the username (422).
    #[cfg_attr(
        feature = "openapi",
        schema(
            min_length = 12,
            max_length = 256,
            pattern = "([\\s\\S])(?!\\1)[\\s\\S]"
        )
    )]
    pub new_password: String,
}

/// `POST /api/account/delete`: the password, and `confirm: true` (an explicit confirmation).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct DeleteAccountRequest {
    pub password: String,
    /// Must be `true`: the explicit confirmation (`false` is refused with 422).
    #[cfg_attr(feature = "openapi", schema(schema_with = must_be_true))]
    pub confirm: bool,
}

/// A boolean that only `true` satisfies, as the schema says it.
#[cfg(feature = "openapi")]
fn must_be_true() -> utoipa::openapi::Object {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::Boolean)
        .enum_values(Some([true]))
        .build()
}

/// Answer of login and refresh. The refresh token never appears here: it travels only in the
/// HttpOnly cookie.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TokenResponse {
    pub access_token: String,
    /// `Bearer`, or `DPoP` when the request carried a DPoP proof and the token is bound to its key.
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
    /// The full `User-Agent` the session logged in with.
    pub user_agent: Option<String>,
    /// A person-readable name for it: "Chrome 156 on Linux", "curl 8.5", "Unknown device".
    pub device: String,
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
    /// Changes at every write of the note; its `ETag` is this number in quotes. `PUT` and
    /// `DELETE` send it back as `If-Match`, so a write based on an older version is refused
    /// (412) instead of silently overwriting what another tab or device saved.
    pub version: u64,
}

/// Body of `POST /api/notes` and `PUT /api/notes/{id}`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NoteInput {
    /// 1 to 200 characters on one line (no control characters), not all blank; stored trimmed.
    #[cfg_attr(
        feature = "openapi",
        schema(
            min_length = 1,
            max_length = 200,
            pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*[^\\u0000-\\u0020\\u007f-\\u00a0\\u1680\\u2000-\\u200d\\u2028\\u2029\\u202f\\u205f\\u2060\\u3000\\ufeff][^\\u0000-\\u001f\\u007f-\\u009f]*(?![\\s\\S])"
        )
    )]
    pub title: String,
    /// Plain text, at most 64 KiB of UTF-8, without NUL characters.
    #[serde(default)]
    #[cfg_attr(
        feature = "openapi",
        schema(max_length = 65536, pattern = "^[^\\u0000]*(?![\\s\\S])")
    )]
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
    /// RFC 3339: when a session was last made for this user (a login), if ever.
    #[serde(default)]
    pub last_login_at: Option<String>,
    /// RFC 3339, set while too many failed logins lock the account (logins without this
    /// browser's device cookie answer 429): when it unlocks by itself.
    #[serde(default)]
    pub locked_until: Option<String>,
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

/// The problem `type`s a client must tell apart, as stable URIs. Clients decide what to do by
/// these, never by the English of `detail` (which may change). Every other error is
/// `about:blank` (RFC 9457 §4.2.1: the status code says it all). The URIs are relative
/// references to `GET /api/problems/{name}`, which describes each one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProblemType {
    /// 401 on refresh: there is no refresh cookie (never logged in here, or logged out).
    NoRefreshCookie,
    /// 401 on refresh: an already-rotated refresh token was replayed; the session is revoked.
    RefreshReused,
    /// 401 on refresh: the refresh token is expired, revoked or unknown.
    SessionEnded,
    /// 401 on a protected route: the access token is missing, invalid, expired or revoked.
    /// A client refreshes once and retries.
    InvalidToken,
    /// 401 on login: the username or password is wrong (never says which).
    InvalidCredentials,
    /// 429: a rate or guess limit; `retry_after` says when to try again.
    Throttled,
    /// 503: the server (or its password-hashing queue) is full; retry in a moment.
    Overloaded,
    /// 403: the CSRF defence refused the request (missing `X-Requested-With` or a foreign origin).
    CsrfRejected,
    /// 422: a field breaks a rule (username shape, weak password, note size); `detail` says which.
    Validation,
    /// 409 on signup: the username is taken.
    UsernameTaken,
    /// 401: the DPoP proof (RFC 9449) is missing, malformed, for another request, stale,
    /// replayed, or signed by a key other than the one the access token is bound to.
    InvalidDpopProof,
    /// 401: the DPoP proof carries no nonce, or one that is no longer current (RFC 9449 §9).
    /// The answer's `DPoP-Nonce` header has the current one: make a new proof with it and retry.
    UseDpopNonce,
    /// 503: the database is busy (a lock held too long), restarting or unreachable. Nothing
    /// was saved; `Retry-After` says when to try again. A refresh refused this way leaves the
    /// refresh cookie as it was.
    DatabaseBusy,
    /// 507: the database has no room left. Nothing was saved; what was saved before is kept.
    StorageFull,
    /// 403: a browser request from another origin than the server's public one (the app opened
    /// at `localhost` when it lives at `127.0.0.1`, say); `detail` names the address to use.
    WrongOrigin,
    /// 403: the current password given to confirm an account change is wrong. It counts against
    /// the account's guess budget like a failed login.
    WrongPassword,
}

impl ProblemType {
    pub const ALL: [ProblemType; 16] = [
        ProblemType::NoRefreshCookie,
        ProblemType::RefreshReused,
        ProblemType::SessionEnded,
        ProblemType::InvalidToken,
        ProblemType::InvalidCredentials,
        ProblemType::Throttled,
        ProblemType::Overloaded,
        ProblemType::CsrfRejected,
        ProblemType::Validation,
        ProblemType::UsernameTaken,
        ProblemType::InvalidDpopProof,
        ProblemType::UseDpopNonce,
        ProblemType::DatabaseBusy,
        ProblemType::StorageFull,
        ProblemType::WrongOrigin,
        ProblemType::WrongPassword,
    ];

    /// The stable name, the last segment of the URI.
    pub const fn name(self) -> &'static str {
        match self {
            ProblemType::NoRefreshCookie => "no-refresh-cookie",
            ProblemType::RefreshReused => "refresh-reused",
            ProblemType::SessionEnded => "session-ended",
            ProblemType::InvalidToken => "invalid-token",
            ProblemType::InvalidCredentials => "invalid-credentials",
            ProblemType::Throttled => "throttled",
            ProblemType::Overloaded => "overloaded",
            ProblemType::CsrfRejected => "csrf-rejected",
            ProblemType::Validation => "validation",
            ProblemType::UsernameTaken => "username-taken",
            ProblemType::InvalidDpopProof => "invalid-dpop-proof",
            ProblemType::UseDpopNonce => "use-dpop-nonce",
            ProblemType::DatabaseBusy => "database-busy",
            ProblemType::StorageFull => "storage-full",
            ProblemType::WrongOrigin => "wrong-origin",
            ProblemType::WrongPassword => "wrong-password",
        }
    }

    /// The `type` member of the problem.
    pub fn uri(self) -> String {
        format!("{PROBLEM_TYPE_PREFIX}{}", self.name())
    }

    /// The case a problem's `type` names, if it is one of these.
    pub fn from_uri(uri: &str) -> Option<ProblemType> {
        let name = uri.strip_prefix(PROBLEM_TYPE_PREFIX)?;
        ProblemType::ALL.into_iter().find(|t| t.name() == name)
    }
}

/// Every typed problem's URI starts with this.
pub const PROBLEM_TYPE_PREFIX: &str = "/api/problems/";

impl Problem {
    /// The typed case of this problem, if it has one.
    pub fn kind(&self) -> Option<ProblemType> {
        ProblemType::from_uri(&self.type_)
    }
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
    fn problem_types_round_trip_and_are_distinct() {
        for t in ProblemType::ALL {
            assert_eq!(ProblemType::from_uri(&t.uri()), Some(t));
        }
        let mut names: Vec<_> = ProblemType::ALL.iter().map(|t| t.name()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), ProblemType::ALL.len());
        assert_eq!(ProblemType::from_uri("about:blank"), None);
        assert_eq!(ProblemType::from_uri("/api/problems/nope"), None);
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
