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

/// The OpenID provider the login page offers (`GET /api/auth/oidc`; absent when none is
/// configured).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OidcProvider {
    /// The button's label: "Sign in with {name}".
    pub name: String,
    /// Why the last sign-in through it did not happen, in words for people, when asked with
    /// `?sso=` and a code the server sent the browser to `/login` with.
    pub refusal: Option<String>,
    /// Where a person who has just logged out here can sign out of the provider too (its
    /// `end_session_endpoint`, OpenID Connect RP-Initiated Logout 1.0), if it has one.
    pub sign_out: Option<String>,
}

/// One of the user's passkeys (`GET /api/passkeys`). Times are RFC 3339 in UTC.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PasskeyInfo {
    pub id: String,
    /// The user's name for it ("Laptop", "Phone").
    pub name: String,
    pub created_at: String,
    /// The last sign-in with it; `null` until the first.
    pub last_used_at: Option<String>,
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

/// Declares [`ProblemType`] from one table: each case's doc, stable name, HTTP status, `title`
/// and description are written once, side by side, and `ALL`, `name`, `status`, `title` and
/// `description` are generated from it (four hand-kept parallel `match`es and a list could
/// drift apart; this cannot).
macro_rules! problem_types {
    ($($(#[doc = $doc:literal])* $case:ident = $name:literal, $status:literal, $title:literal,
        $description:literal;)*) => {
        /// The problem `type`s a client must tell apart, as stable URIs. Clients decide what to
        /// do by these, never by the English of `detail` (which may change). Every other error
        /// is `about:blank` (RFC 9457 §4.2.1: the status code says it all). The URIs are
        /// relative references to `GET /api/problems/{name}`, which describes each one.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum ProblemType {
            $($(#[doc = $doc])* $case,)*
        }

        impl ProblemType {
            /// Every case, in declaration order.
            pub const ALL: &'static [ProblemType] = &[$(ProblemType::$case),*];

            /// The stable name, the last segment of the URI.
            pub const fn name(self) -> &'static str {
                match self { $(ProblemType::$case => $name,)* }
            }

            /// The HTTP status every answer of this type has (the server's tests hold each
            /// error to it).
            pub const fn status(self) -> u16 {
                match self { $(ProblemType::$case => $status,)* }
            }

            /// The problem's `title`: the same for every occurrence of a type (RFC 9457 §3.1.3).
            pub const fn title(self) -> &'static str {
                match self { $(ProblemType::$case => $title,)* }
            }

            /// What the type means and what a client should do: `GET /api/problems/{name}`.
            pub const fn description(self) -> &'static str {
                match self { $(ProblemType::$case => $description,)* }
            }
        }
    };
}

problem_types! {
    /// 401 on refresh: there is no refresh cookie (never logged in here, or logged out).
    NoRefreshCookie = "no-refresh-cookie", 401, "No refresh cookie",
        "The refresh request carried no refresh cookie: this browser never logged in here, or logged out. Show the login page; do not report an error.";
    /// 401 on refresh: an already-rotated refresh token was replayed; the session is revoked.
    RefreshReused = "refresh-reused", 401, "Refresh token reused",
        "A refresh token that had already been rotated was presented again after its successor was used. The session is revoked for safety; every device of it must log in again.";
    /// 401 on refresh: the refresh token is expired, revoked or unknown.
    SessionEnded = "session-ended", 401, "Session ended",
        "The refresh token is expired (idle timeout or absolute lifetime), revoked (logout, password change, operator) or unknown. Log in again.";
    /// 401 on a protected route: the access token is missing, invalid, expired or revoked.
    /// A client refreshes once and retries.
    InvalidToken = "invalid-token", 401, "Invalid access token",
        "The access token is missing, malformed, expired, signed by an unknown key or belongs to a revoked session. Refresh once and retry; if that fails, log in again.";
    /// 401 on login: the username or password is wrong (never says which).
    InvalidCredentials = "invalid-credentials", 401, "Invalid credentials",
        "The username or password is wrong. The answer never says which.";
    /// 429: a rate or guess limit; `retry_after` says when to try again.
    Throttled = "throttled", 429, "Too many requests",
        "A rate or guess limit was hit. Wait `retry_after` seconds (also sent as Retry-After).";
    /// 503: the server (or its password-hashing queue) is full; retry in a moment.
    Overloaded = "overloaded", 503, "Server busy",
        "The server, or its password-hashing queue, is full. Retry after the Retry-After seconds.";
    /// 403: the CSRF defence refused the request (missing `X-Requested-With` or a foreign origin).
    CsrfRejected = "csrf-rejected", 403, "Cross-site request refused",
        "A cookie-authenticated request lacked `X-Requested-With: cloakroom` or came from a foreign Origin.";
    /// 422: a field breaks a rule (username shape, weak password, note size); `detail` says which.
    Validation = "validation", 422, "Invalid field",
        "A field breaks a rule (username shape, password strength, note size); `detail` names it.";
    /// 409 on signup: the username is taken.
    UsernameTaken = "username-taken", 409, "Username taken",
        "Another account has this username.";
    /// 401: the DPoP proof (RFC 9449) is missing, malformed, for another request, stale,
    /// replayed, or signed by a key other than the one the access token is bound to.
    InvalidDpopProof = "invalid-dpop-proof", 401, "Invalid DPoP proof",
        "The DPoP proof (RFC 9449) is missing, malformed, for another method, URL or access token, too old or dated ahead, used before, or signed by a key other than the one the access token is bound to. Make a fresh proof with the page's key and retry.";
    /// 401: the DPoP proof carries no nonce, or one that is no longer current (RFC 9449 §9).
    /// The answer's `DPoP-Nonce` header has the current one: make a new proof with it and retry.
    UseDpopNonce = "use-dpop-nonce", 401, "DPoP nonce required",
        "The DPoP proof carries no `nonce`, or one that is no longer current (RFC 9449 §9). The `DPoP-Nonce` header of this answer, and of every other API answer, holds the current one: make a new proof that carries it and retry once. Nonces change every `CLOAKROOM_DPOP_NONCE_SECS` (30 s), so a proof made ahead of time stops working within two periods.";
    /// 503: the database is busy (a lock held too long), restarting or unreachable. Nothing
    /// was saved; `Retry-After` says when to try again. A refresh refused this way leaves the
    /// refresh cookie as it was.
    DatabaseBusy = "database-busy", 503, "Database busy",
        "The database is busy (a lock held by another process or transaction), restarting or unreachable. The request did not complete and saved nothing: retry the same request after the Retry-After seconds. A refused refresh leaves the refresh cookie working.";
    /// 507: the database has no room left. Nothing was saved; what was saved before is kept.
    StorageFull = "storage-full", 507, "Storage full",
        "The database has no room left. The request saved nothing, and everything saved before is kept. Reads still work; writes succeed again once the operator frees space (`/readyz` answers 503 until then).";
    /// 403: a browser request from another origin than the server's public one (the app opened
    /// at `localhost` when it lives at `127.0.0.1`, say); `detail` names the address to use.
    WrongOrigin = "wrong-origin", 403, "Wrong address",
        "The request came from a page at another address than this server's public origin (for example `localhost` instead of `127.0.0.1`). Cookies, DPoP proofs and the CSRF defence are all bound to the public origin, so nothing can work from there: open the app at the address `detail` names.";
    /// 403: the current password given to confirm an account change is wrong. It counts against
    /// the account's guess budget like a failed login.
    WrongPassword = "wrong-password", 403, "Wrong password",
        "The current password given to confirm an account change (a new password, deleting the account) is wrong; nothing changed. It counts against the account's guess budget like a failed login, so this form is no way around the login limits. A 403, not a 401: the access token was fine, so a client must not refresh and retry.";
    /// 401 on a passkey sign-in: the answer was refused (the ceremony expired, was used, or
    /// began in another browser; the passkey is unknown or deleted; it was made for another
    /// site; or its signature counter went backwards).
    PasskeyRefused = "passkey-refused", 401, "Passkey refused",
        "The passkey sign-in was refused: its challenge expired, was answered already or began in another browser, the passkey is not registered here (or was deleted), it answered for another site, or its signature counter went backwards (a cloned authenticator; recorded). Start the sign-in again; if it keeps failing, sign in with the password.";
}

impl ProblemType {
    /// The `type` member of the problem.
    pub fn uri(self) -> String {
        format!("{PROBLEM_TYPE_PREFIX}{}", self.name())
    }

    /// The case a problem's `type` names, if it is one of these.
    pub fn from_uri(uri: &str) -> Option<ProblemType> {
        let name = uri.strip_prefix(PROBLEM_TYPE_PREFIX)?;
        ProblemType::ALL.iter().copied().find(|t| t.name() == name)
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

/// Only same-origin paths are followed after login (no open redirect via `?next=`): the login
/// page, and the server after a sign-in through the OpenID provider, apply this one rule.
///
/// The browser's URL parser is more lenient than "starts with one `/`": it drops tabs and
/// newlines anywhere (`/\t/evil.example` becomes `//evil.example`) and reads `\` as `/` (`/\evil`
/// becomes `//evil`), and either turns a path into another host. So a `next` is accepted only
/// when it cannot be read as anything but a path on this origin: it starts with exactly one `/`
/// and holds no backslash, whitespace or control character at all. It also may not lead back
/// to the login page, dot segments included (`/./login` and `/%2e/login` are `/login` to the
/// browser), where a logged-in user would be left looking at the form. Anything else goes to
/// the notes page.
#[inline]
pub fn safe_next(next: Option<String>) -> String {
    match next {
        Some(n)
            if n.starts_with('/')
                && !n.starts_with("//")
                && !leads_to_login(&n)
                && !n
                    .chars()
                    .any(|c| c == '\\' || c.is_whitespace() || c.is_control()) =>
        {
            n
        }
        _ => "/notes".into(),
    }
}

/// Whether the browser would read `path` as the login page: its path part, with `.` segments
/// (also percent-encoded) dropped and `..` going up, starts with `/login`.
#[inline]
fn leads_to_login(path: &str) -> bool {
    let path = path.split(['?', '#']).next().unwrap_or_default();
    let mut segments: Vec<String> = Vec::new();
    for s in path.split('/').skip(1) {
        match s.to_ascii_lowercase().replace("%2e", ".").as_str() {
            "." => {}
            ".." => {
                segments.pop();
            }
            s => segments.push(s.to_owned()),
        }
    }
    segments.first().is_some_and(|s| s.starts_with("login"))
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
        for &t in ProblemType::ALL {
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

    #[test]
    fn next_is_same_site_only() {
        assert_eq!(safe_next(Some("/sessions".into())), "/sessions");
        assert_eq!(safe_next(Some("//evil.example".into())), "/notes");
        assert_eq!(safe_next(Some("https://evil.example".into())), "/notes");
        assert_eq!(safe_next(Some("/login?next=/x".into())), "/notes");
        for back in [
            "/login",
            "/./login",
            "/%2e/login",
            "/%2E/login?x",
            "/notes/../login",
            "/a/%2e%2e/login#f",
        ] {
            assert_eq!(safe_next(Some(back.into())), "/notes", "{back:?}");
        }
        assert_eq!(safe_next(Some("/notes/./x".into())), "/notes/./x");
        assert_eq!(
            safe_next(Some("/sessions?from=/login".into())),
            "/sessions?from=/login"
        );
        assert_eq!(safe_next(None), "/notes");
        // What the URL parser would turn into another host.
        for evil in [
            "/\\evil.example",
            "/\t/evil.example",
            "/\n/evil.example",
            "/\r//evil",
            "\\\\evil",
            " //evil",
        ] {
            assert_eq!(safe_next(Some(evil.into())), "/notes", "{evil:?}");
        }
        assert_eq!(
            safe_next(Some("/notes?q=a%20b#top".into())),
            "/notes?q=a%20b#top"
        );
    }
}
