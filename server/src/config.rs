//! Settings: each declared once in [`SETTINGS`] (variable, default, meaning), overridable by
//! its `CLOAKROOM_*` environment variable. The struct's comments say why, not what the default is.
//! Nothing here is secret (the signing keys live in the database), so `Debug` may log it.

use std::{net::IpAddr, path::PathBuf, time::Duration};

use anyhow::{bail, Context};

/// The parsed settings (what each one means is in [`SETTINGS`]; here, why where it matters).
#[derive(Debug, Clone)]
pub struct Settings {
    pub host: IpAddr,
    pub port: u16,
    pub data_dir: PathBuf,
    /// Where the data lives: SQLite (one process) or PostgreSQL (any number of instances).
    pub database: crate::store::Location,
    /// `None`: 2 s on SQLite (the CLI's changes are found only by looking), 30 s on PostgreSQL
    /// (notifications arrive at once; this only catches what a lost connection missed).
    pub resync: Option<Duration>,
    pub dist_dir: PathBuf,
    /// The JWT issuer and the only `Origin` accepted on cookie-authenticated routes.
    pub public_origin: String,
    /// Short, because a stolen access token is a bearer credential until it expires or its
    /// session is revoked.
    pub access_ttl: Duration,
    pub refresh_idle_ttl: Duration,
    /// Rotation never extends it, so a stolen-and-refreshed family still dies on schedule.
    pub session_max_ttl: Duration,
    /// See `auth::refresh` for why a grace exists.
    pub reuse_grace: Duration,
    /// How long a DPoP nonce (RFC 9449 §9) is the current one; 0 turns nonces off. A nonce is
    /// accepted while it is current and for one period after, so a proof made ahead of time is
    /// good for at most two periods (`auth::dpop::Nonces`).
    pub dpop_nonce: Duration,
    pub log_filter: String,
    /// Drops `Secure` (and with it the `__Host-` name prefix). Never in production: the refresh
    /// cookie would then travel in clear text.
    pub dev_insecure_cookies: bool,
    pub auth_rate_per_minute: u32,
    /// A browser refreshes about once every 4 minutes per session; the budget leaves room for
    /// many users behind one NAT while stopping a client from hammering the token store.
    pub refresh_rate_per_minute: u32,
    pub log_json: bool,
    /// Failures within `login_failure_window` that lock a username's logins until the oldest
    /// ages out.
    pub login_max_failures: u32,
    pub login_failure_window: Duration,
    /// Only a peer in this list may tell us the client IP through `X-Forwarded-For`.
    pub trusted_proxies: Vec<IpAddr>,
    /// Generous on purpose: a refresh cut off after its rotation committed would leave the
    /// browser without its new cookie.
    pub request_timeout: Duration,
    /// Beyond it, 503 with `Retry-After` at once instead of an unbounded queue.
    pub max_in_flight: usize,
    /// Serves `POST /api/test/clock` (`testing`); refused off loopback and with https.
    pub test_clock: bool,
    /// `None`: the default, worked out from the core count (`Hasher::with_queue`).
    pub hash_queue: Option<usize>,
    pub argon2_m_kib: u32,
    /// The OpenID provider to sign in through (`auth::oidc`), when one is configured.
    pub oidc: Option<OidcSettings>,
}

/// Cloakroom as a confidential client of the team's OpenID provider. `Debug` prints no secret:
/// the library's `ClientSecret` redacts itself.
#[derive(Debug, Clone)]
pub struct OidcSettings {
    pub issuer: openidconnect::IssuerUrl,
    pub client_id: openidconnect::ClientId,
    pub client_secret: openidconnect::ClientSecret,
    /// 1 to 64 characters on one line.
    pub name: String,
}

/// One setting: its variable, its default, what it does. [`SETTINGS`] is the only list: the
/// parser reads nothing it does not declare, and `cloakroom settings`, `--help` and the table
/// in docs/deploy.md are rendered from it (a test holds the docs to it).
#[derive(Debug)]
pub struct Setting {
    pub name: &'static str,
    pub default: Initial,
    pub help: &'static str,
}

#[derive(Debug)]
pub enum Initial {
    /// Parsed like a value that was set.
    Value(&'static str),
    /// Worked out at start-up (or nothing); the text says what it is.
    Computed(&'static str),
}

macro_rules! settings {
    ($($id:ident = $name:literal, $default:expr, $help:literal;)*) => {
        $(pub const $id: Setting = Setting { name: $name, default: $default, help: $help };)*
        /// Every setting, in the order the docs list them.
        pub const SETTINGS: &[Setting] = &[$($id),*];
    };
}

use Initial::{Computed, Value};

settings! {
    HOST = "CLOAKROOM_HOST", Value("127.0.0.1"), "listen address";
    PORT = "CLOAKROOM_PORT", Value("3000"), "listen port (0: any free port)";
    DATA_DIR = "CLOAKROOM_DATA_DIR", Value("data"), "SQLite database directory";
    DATABASE_URL = "CLOAKROOM_DATABASE_URL", Computed("`sqlite://<data dir>/cloakroom.db`"), "`sqlite://PATH` (one process) or `postgres://USER:PASSWORD@HOST:PORT/DB` (any number of instances behind one proxy: docs/deploy.md, \"Scaling out\")";
    RESYNC_SECS = "CLOAKROOM_RESYNC_SECS", Computed("2 (SQLite), 30 (PostgreSQL)"), "how often an instance re-reads revocations and signing keys from the database; on PostgreSQL changes arrive at once by `LISTEN`/`NOTIFY` and this is the safety net";
    DIST_DIR = "CLOAKROOM_DIST_DIR", Value("dist"), "built client to serve";
    PUBLIC_ORIGIN = "CLOAKROOM_PUBLIC_ORIGIN", Computed("`http://127.0.0.1:<port>`"), "origin browsers use; JWT issuer; the only `Origin` accepted on cookie routes";
    ACCESS_TTL_SECS = "CLOAKROOM_ACCESS_TTL_SECS", Value("300"), "access-token lifetime";
    REFRESH_IDLE_TTL_SECS = "CLOAKROOM_REFRESH_IDLE_TTL_SECS", Value("86400"), "refresh token dies after this long unused";
    SESSION_MAX_TTL_SECS = "CLOAKROOM_SESSION_MAX_TTL_SECS", Value("604800"), "absolute session lifetime (rotation never extends it)";
    REUSE_GRACE_SECS = "CLOAKROOM_REUSE_GRACE_SECS", Value("10"), "window in which a just-rotated token is a duplicate, not theft";
    DPOP_NONCE_SECS = "CLOAKROOM_DPOP_NONCE_SECS", Value("30"), "how long a DPoP nonce stays current (accepted for one more period); proofs made ahead of time by an injected script die with it. 0: no nonces";
    AUTH_RATE_PER_MINUTE = "CLOAKROOM_AUTH_RATE_PER_MINUTE", Value("30"), "per-IP signup/login budget";
    REFRESH_RATE_PER_MINUTE = "CLOAKROOM_REFRESH_RATE_PER_MINUTE", Value("600"), "per-IP refresh budget";
    LOGIN_MAX_FAILURES = "CLOAKROOM_LOGIN_MAX_FAILURES", Value("5"), "failed logins per username…";
    LOGIN_FAILURE_WINDOW_SECS = "CLOAKROOM_LOGIN_FAILURE_WINDOW_SECS", Value("900"), "…within this window lock that username";
    TRUSTED_PROXIES = "CLOAKROOM_TRUSTED_PROXIES", Computed("(none)"), "comma-separated proxy IPs allowed to set `X-Forwarded-For`";
    DEV_INSECURE_COOKIES = "CLOAKROOM_DEV_INSECURE_COOKIES", Value("false"), "development only: drop `Secure` for plain http on a non-localhost host; the server refuses to start with it and an `https://` public origin";
    ARGON2_M_KIB = "CLOAKROOM_ARGON2_M_KIB", Value("19456"), "argon2id memory (OWASP); tests lower it";
    REQUEST_TIMEOUT_SECS = "CLOAKROOM_REQUEST_TIMEOUT_SECS", Value("30"), "a request running longer is answered 408";
    MAX_IN_FLIGHT = "CLOAKROOM_MAX_IN_FLIGHT", Value("1024"), "requests served at once; beyond it 503 with `Retry-After`";
    TEST_CLOCK = "CLOAKROOM_TEST_CLOCK", Value("false"), "tests only: the server's clock stands still and `POST /api/test/clock {advance_secs}` moves it forward, so an end-to-end suite checks lifetimes exactly; the server refuses to start with it on a non-loopback address, behind a proxy (trusted proxies set) or with an https public origin; never set it in production";
    HASH_QUEUE = "CLOAKROOM_HASH_QUEUE", Computed("8 per core"), "logins and signups that may wait for a password-hashing slot (one per core); past it those routes alone answer 503 with `Retry-After`, so a login flood cannot starve the rest";
    LOG = "CLOAKROOM_LOG", Value("info"), "tracing filter; at `info`, one line per request (method, path, status, latency, request id)";
    LOG_FORMAT = "CLOAKROOM_LOG_FORMAT", Value("text"), "`json` for one JSON object per line";
    OIDC_ISSUER = "CLOAKROOM_OIDC_ISSUER", Computed("(none)"), "sign-in through this OpenID provider (its discovery document is read from `/.well-known/openid-configuration` under it); https, or http on loopback for tests. The four `CLOAKROOM_OIDC_*` settings are all set or none; with none, no OIDC route exists";
    OIDC_CLIENT_ID = "CLOAKROOM_OIDC_CLIENT_ID", Computed("(none)"), "Cloakroom's client id at that provider (redirect URI `{public origin}/api/auth/oidc/callback`, back-channel logout URI `{public origin}/api/auth/oidc/backchannel-logout`)";
    OIDC_CLIENT_SECRET = "CLOAKROOM_OIDC_CLIENT_SECRET", Computed("(none)"), "its client secret (never logged)";
    OIDC_NAME = "CLOAKROOM_OIDC_NAME", Computed("(none)"), "the provider's name on the login page's button, \"Sign in with {name}\"";
}

impl Setting {
    /// The default as the docs show it.
    pub fn shown_default(&self) -> String {
        match self.default {
            Value(v) => format!("`{v}`"),
            Computed(text) => text.to_owned(),
        }
    }
}

/// The settings table of docs/deploy.md.
pub fn markdown_table() -> String {
    let mut out = String::from("| Variable | Default | Meaning |\n|---|---|---|\n");
    for s in SETTINGS {
        out.push_str(&format!(
            "| `{}` | {} | {} |\n",
            s.name,
            s.shown_default(),
            s.help
        ));
    }
    out
}

/// The settings as plain text, for `--help`.
pub fn help_text() -> String {
    let mut out = String::from("Settings (environment variables):\n");
    for s in SETTINGS {
        let default = s.shown_default().replace('`', "");
        out.push_str(&format!(
            "  {:<38} {}  [default: {default}]\n",
            s.name,
            s.help.replace('`', "")
        ));
    }
    out
}

/// Reads settings through a lookup, only ones declared in [`SETTINGS`].
struct Reader<F> {
    get: F,
}

impl<F: Fn(&str) -> Option<String>> Reader<F> {
    /// The value set, else the declared default (`None` for a computed one).
    fn raw(&self, s: &Setting) -> Option<String> {
        (self.get)(s.name).or_else(|| match s.default {
            Value(v) => Some(v.to_owned()),
            Computed(_) => None,
        })
    }

    fn opt<T: std::str::FromStr>(&self, s: &Setting) -> anyhow::Result<Option<T>>
    where
        T::Err: std::fmt::Display,
    {
        self.raw(s)
            .map(|v| {
                v.trim()
                    .parse()
                    .map_err(|e| anyhow::anyhow!("{}={v:?} is not valid: {e}", s.name))
            })
            .transpose()
    }

    /// For a setting with a `Value` default: always present.
    fn get<T: std::str::FromStr>(&self, s: &Setting) -> anyhow::Result<T>
    where
        T::Err: std::fmt::Display,
    {
        self.opt(s)?
            .with_context(|| format!("{} has no default", s.name))
    }

    fn secs(&self, s: &Setting) -> anyhow::Result<Duration> {
        Ok(Duration::from_secs(self.get(s)?))
    }
}

impl Settings {
    pub fn from_env() -> anyhow::Result<Self> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// Builds settings from any key lookup (tests pass a map instead of the process env).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> anyhow::Result<Self> {
        let r = Reader { get };
        let port: u16 = r.get(&PORT)?;
        let public_origin = r
            .raw(&PUBLIC_ORIGIN)
            .unwrap_or_else(|| format!("http://127.0.0.1:{port}"))
            .trim_end_matches('/')
            .to_owned();
        if !(public_origin.starts_with("http://") || public_origin.starts_with("https://")) {
            bail!("{} must start with http:// or https://", PUBLIC_ORIGIN.name);
        }
        let trusted_proxies = match r.raw(&TRUSTED_PROXIES) {
            None => vec![],
            Some(v) => v
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| {
                    s.parse()
                        .with_context(|| format!("{}: {s:?}", TRUSTED_PROXIES.name))
                })
                .collect::<anyhow::Result<_>>()?,
        };
        let log_format: String = r.get(&LOG_FORMAT)?;
        let data_dir: PathBuf = r.get::<String>(&DATA_DIR)?.into();
        let database = match r.raw(&DATABASE_URL) {
            None => crate::store::Location::in_data_dir(&data_dir),
            Some(url) => crate::store::Location::parse(url.trim())
                .with_context(|| DATABASE_URL.name.to_string())?,
        };
        let s = Settings {
            host: r.get(&HOST)?,
            port,
            data_dir,
            database,
            resync: r.opt::<u64>(&RESYNC_SECS)?.map(Duration::from_secs),
            dist_dir: r.get::<String>(&DIST_DIR)?.into(),
            public_origin,
            access_ttl: r.secs(&ACCESS_TTL_SECS)?,
            refresh_idle_ttl: r.secs(&REFRESH_IDLE_TTL_SECS)?,
            session_max_ttl: r.secs(&SESSION_MAX_TTL_SECS)?,
            reuse_grace: r.secs(&REUSE_GRACE_SECS)?,
            dpop_nonce: r.secs(&DPOP_NONCE_SECS)?,
            log_filter: r.get(&LOG)?,
            dev_insecure_cookies: r.get(&DEV_INSECURE_COOKIES)?,
            auth_rate_per_minute: r.get(&AUTH_RATE_PER_MINUTE)?,
            login_max_failures: r.get(&LOGIN_MAX_FAILURES)?,
            refresh_rate_per_minute: r.get(&REFRESH_RATE_PER_MINUTE)?,
            log_json: match log_format.trim() {
                "text" => false,
                "json" => true,
                other => bail!("{} must be text or json, not {other:?}", LOG_FORMAT.name),
            },
            login_failure_window: r.secs(&LOGIN_FAILURE_WINDOW_SECS)?,
            trusted_proxies,
            argon2_m_kib: r.get(&ARGON2_M_KIB)?,
            request_timeout: r.secs(&REQUEST_TIMEOUT_SECS)?,
            max_in_flight: r.get(&MAX_IN_FLIGHT)?,
            test_clock: r.get(&TEST_CLOCK)?,
            hash_queue: r.opt(&HASH_QUEUE)?,
            oidc: oidc(&r)?,
        };
        if s.test_clock
            && (!s.host.is_loopback()
                || s.public_origin.starts_with("https://")
                || !s.trusted_proxies.is_empty())
        {
            // Whoever can move the clock can age every session and token, and a stopped clock
            // makes tokens live forever: tests only. Behind a proxy (trusted proxies set) a
            // loopback server is reachable from outside, so that is refused too.
            bail!("{}=true is for test servers on loopback only, not behind a proxy; refusing to start on {} with the public origin {} and {} trusted proxies", TEST_CLOCK.name, s.host, s.public_origin, s.trusted_proxies.len());
        }
        if s.dev_insecure_cookies && s.public_origin.starts_with("https://") {
            // Insecure cookies exist for plain-http development hosts only; with an https
            // origin they would be a silent downgrade of a production deployment.
            bail!("{}=true is for plain-http development only; refusing to start with the https origin {}", DEV_INSECURE_COOKIES.name, s.public_origin);
        }
        if s.access_ttl.is_zero() || s.refresh_idle_ttl.is_zero() || s.session_max_ttl.is_zero() {
            bail!(
                "token lifetimes must be at least one second ({}, {}, {})",
                ACCESS_TTL_SECS.name,
                REFRESH_IDLE_TTL_SECS.name,
                SESSION_MAX_TTL_SECS.name
            );
        }
        let nonce = s.dpop_nonce.as_secs();
        if nonce != 0 && !(5..=300).contains(&nonce) {
            // Shorter and a busy tab would retry every few seconds; longer and a proof signed
            // ahead of time lives as long as the access token anyway (nonces would be theatre).
            bail!(
                "{} must be 0 (no nonces) or from 5 to 300 seconds, not {nonce}",
                DPOP_NONCE_SECS.name
            );
        }
        if s.request_timeout.is_zero() || s.max_in_flight == 0 {
            bail!(
                "{} and {} must be > 0",
                REQUEST_TIMEOUT_SECS.name,
                MAX_IN_FLIGHT.name
            );
        }
        if s.auth_rate_per_minute == 0
            || s.login_max_failures == 0
            || s.refresh_rate_per_minute == 0
        {
            bail!(
                "{}, {} and {} must be > 0",
                AUTH_RATE_PER_MINUTE.name,
                LOGIN_MAX_FAILURES.name,
                REFRESH_RATE_PER_MINUTE.name
            );
        }
        Ok(s)
    }
}

/// The four `CLOAKROOM_OIDC_*` settings: all or none.
fn oidc<F: Fn(&str) -> Option<String>>(r: &Reader<F>) -> anyhow::Result<Option<OidcSettings>> {
    let all = [
        &OIDC_ISSUER,
        &OIDC_CLIENT_ID,
        &OIDC_CLIENT_SECRET,
        &OIDC_NAME,
    ];
    let values: Vec<Option<String>> = all
        .iter()
        .map(|s| {
            r.raw(s)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        })
        .collect();
    let [Some(issuer), Some(client_id), Some(secret), Some(name)] = values.as_slice() else {
        if values.iter().any(Option::is_some) {
            let missing: Vec<&str> = all
                .iter()
                .zip(&values)
                .filter(|(_, v)| v.is_none())
                .map(|(s, _)| s.name)
                .collect();
            bail!(
                "the CLOAKROOM_OIDC_* settings are all set or none; missing: {}",
                missing.join(", ")
            );
        }
        return Ok(None);
    };
    let url = openidconnect::url::Url::parse(issuer)
        .with_context(|| format!("{}={issuer:?} is not a URL", OIDC_ISSUER.name))?;
    // The issuer's discovery document names the keys every ID token is checked against: over
    // plain http anyone on the path could swap them. Loopback is the one exception (a test
    // provider on this machine), as for the public origin's `Secure` cookies.
    if !https_or_loopback(&url) {
        bail!(
            "{}={issuer:?} must be https (http only on loopback, for tests)",
            OIDC_ISSUER.name
        );
    }
    if url.query().is_some() || url.fragment().is_some() {
        bail!(
            "{}={issuer:?} may have no query or fragment (OpenID Connect Discovery §2)",
            OIDC_ISSUER.name
        );
    }
    if name.chars().count() > 64 || name.chars().any(char::is_control) {
        bail!("{} must be 1 to 64 characters on one line", OIDC_NAME.name);
    }
    Ok(Some(OidcSettings {
        issuer: openidconnect::IssuerUrl::new(issuer.clone())
            .with_context(|| OIDC_ISSUER.name.to_string())?,
        client_id: openidconnect::ClientId::new(client_id.clone()),
        client_secret: openidconnect::ClientSecret::new(secret.clone()),
        name: name.clone(),
    }))
}

/// An https URL, or an http one on loopback (a test server on this machine): what an OpenID
/// provider's URLs must be (its issuer here; its sign-out endpoint, `routes::oidc`).
pub fn https_or_loopback(url: &openidconnect::url::Url) -> bool {
    let loopback = match url.host() {
        Some(openidconnect::url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(openidconnect::url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(openidconnect::url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    };
    url.scheme() == "https" || (url.scheme() == "http" && loopback)
}

#[cfg(test)]
mod tests {
    /// What a provider URL may be: https, or http on loopback; nothing else (a
    /// `javascript:` or plain-http sign-out endpoint from a discovery document is not offered).
    #[test]
    fn provider_urls_are_https_or_loopback() {
        let ok = |u: &str| super::https_or_loopback(&openidconnect::url::Url::parse(u).unwrap());
        assert!(ok("https://idp.example/logout"));
        assert!(ok("http://127.0.0.1:9/end"));
        assert!(ok("http://localhost/end"));
        assert!(ok("http://[::1]/end"));
        assert!(!ok("http://idp.example/logout"));
        assert!(!ok("javascript:alert(1)//"));
        assert!(!ok("data:text/html,hi"));
    }

    use super::*;
    use std::collections::HashMap;

    fn with(pairs: &[(&str, &str)]) -> anyhow::Result<Settings> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Settings::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn defaults_are_the_documented_ones() {
        let s = with(&[]).unwrap();
        assert_eq!(s.port, 3000);
        assert_eq!(s.access_ttl.as_secs(), 300);
        assert_eq!(s.refresh_idle_ttl.as_secs(), 86_400);
        assert_eq!(s.session_max_ttl.as_secs(), 604_800);
        assert_eq!(s.reuse_grace.as_secs(), 10);
        assert_eq!(s.public_origin, "http://127.0.0.1:3000");
        assert_eq!(s.log_filter, "info");
        assert!(!s.dev_insecure_cookies);
    }

    #[test]
    fn bad_values_are_named_in_the_error() {
        let err = with(&[("CLOAKROOM_ACCESS_TTL_SECS", "soon")]).unwrap_err();
        assert!(
            err.to_string().contains("CLOAKROOM_ACCESS_TTL_SECS"),
            "{err}"
        );
        assert!(with(&[("CLOAKROOM_PUBLIC_ORIGIN", "example.com")]).is_err());
        assert!(with(&[("CLOAKROOM_ACCESS_TTL_SECS", "0")]).is_err());
        assert!(with(&[("CLOAKROOM_HASH_QUEUE", "many")]).is_err());
        let err = with(&[("CLOAKROOM_REFRESH_RATE_PER_MINUTE", "0")]).unwrap_err();
        assert!(
            err.to_string()
                .contains("CLOAKROOM_REFRESH_RATE_PER_MINUTE"),
            "{err}"
        );
    }

    #[test]
    fn the_test_clock_is_refused_off_loopback_and_with_https() {
        assert!(!with(&[]).unwrap().test_clock);
        assert!(
            with(&[("CLOAKROOM_TEST_CLOCK", "true")])
                .unwrap()
                .test_clock
        );
        for bad in [
            [
                ("CLOAKROOM_TEST_CLOCK", "true"),
                ("CLOAKROOM_HOST", "0.0.0.0"),
            ],
            [
                ("CLOAKROOM_TEST_CLOCK", "true"),
                ("CLOAKROOM_HOST", "192.0.2.10"),
            ],
            [
                ("CLOAKROOM_TEST_CLOCK", "true"),
                ("CLOAKROOM_PUBLIC_ORIGIN", "https://notes.example"),
            ],
        ] {
            let err = with(&bad).unwrap_err();
            assert!(err.to_string().contains("refusing to start"), "{err}");
        }
        let err = with(&[
            ("CLOAKROOM_TEST_CLOCK", "true"),
            ("CLOAKROOM_TRUSTED_PROXIES", "127.0.0.1"),
        ])
        .unwrap_err();
        assert!(err.to_string().contains("refusing to start"), "{err}");
        assert!(with(&[("CLOAKROOM_TEST_CLOCK", "true"), ("CLOAKROOM_HOST", "::1")]).is_ok());
    }

    #[test]
    fn dpop_nonce_periods_are_off_or_between_5_and_300_seconds() {
        for ok in ["0", "5", "30", "300"] {
            let s = with(&[("CLOAKROOM_DPOP_NONCE_SECS", ok)]).unwrap();
            assert_eq!(s.dpop_nonce.as_secs().to_string(), ok);
        }
        for bad in ["1", "4", "301", "86400", "18446744073709551615"] {
            let err = with(&[("CLOAKROOM_DPOP_NONCE_SECS", bad)]).unwrap_err();
            assert!(
                err.to_string().contains("CLOAKROOM_DPOP_NONCE_SECS"),
                "{bad}: {err}"
            );
        }
        assert_eq!(with(&[]).unwrap().dpop_nonce.as_secs(), 30);
    }

    #[test]
    fn insecure_dev_cookies_are_refused_with_an_https_origin() {
        let err = with(&[
            ("CLOAKROOM_DEV_INSECURE_COOKIES", "true"),
            ("CLOAKROOM_PUBLIC_ORIGIN", "https://notes.example"),
        ])
        .unwrap_err();
        assert!(
            err.to_string().contains("CLOAKROOM_DEV_INSECURE_COOKIES"),
            "{err}"
        );
        assert!(with(&[
            ("CLOAKROOM_DEV_INSECURE_COOKIES", "true"),
            ("CLOAKROOM_PUBLIC_ORIGIN", "http://devbox.lan:3000"),
        ])
        .is_ok());
    }

    /// docs/deploy.md's table is the one rendered from `SETTINGS` (regenerate it with
    /// `cloakroom settings`), and every setting is declared once.
    #[test]
    fn the_docs_table_is_rendered_from_the_declarations() {
        let doc = include_str!("../../docs/deploy.md");
        let table = markdown_table();
        assert!(
            doc.contains(&table),
            "docs/deploy.md's settings table is stale; replace it with:\n{table}"
        );
        let mut names: Vec<_> = SETTINGS.iter().map(|s| s.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), SETTINGS.len(), "a setting is declared twice");
        // Every Value default parses: `with(&[])` above is the proof (it reads them all).
        assert!(with(&[]).is_ok());
        assert!(help_text().contains("CLOAKROOM_HASH_QUEUE"));
    }

    #[test]
    fn log_format_is_text_or_json() {
        assert!(!with(&[]).unwrap().log_json);
        assert!(with(&[("CLOAKROOM_LOG_FORMAT", "json")]).unwrap().log_json);
        assert!(with(&[("CLOAKROOM_LOG_FORMAT", "xml")]).is_err());
    }

    #[test]
    fn origin_loses_its_trailing_slash() {
        let s = with(&[("CLOAKROOM_PUBLIC_ORIGIN", "https://notes.example/")]).unwrap();
        assert_eq!(s.public_origin, "https://notes.example");
    }

    /// The OpenID provider: all four settings or none; https, or http on loopback only; the
    /// secret never printed.
    #[test]
    fn oidc_is_all_or_nothing_and_https() {
        assert!(with(&[]).unwrap().oidc.is_none());
        let full = |issuer: &'static str| {
            [
                ("CLOAKROOM_OIDC_ISSUER", issuer),
                ("CLOAKROOM_OIDC_CLIENT_ID", "cloakroom"),
                ("CLOAKROOM_OIDC_CLIENT_SECRET", "s3cret-value"),
                ("CLOAKROOM_OIDC_NAME", "Acme SSO"),
            ]
        };
        let s = with(&full("https://sso.example/realms/acme")).unwrap();
        let oidc = s.oidc.as_ref().unwrap();
        assert_eq!(oidc.issuer.as_str(), "https://sso.example/realms/acme");
        assert_eq!(oidc.name, "Acme SSO");
        assert!(!format!("{s:?}").contains("s3cret-value"));
        for ok in [
            "http://127.0.0.1:9000",
            "http://localhost:9000/x",
            "http://[::1]:9",
        ] {
            assert!(with(&full(ok)).is_ok(), "{ok}");
        }
        for bad in [
            "http://sso.example",
            "http://10.0.0.1",
            "ftp://127.0.0.1",
            "https://sso.example/?a=b",
            "sso.example",
        ] {
            let err = with(&full(bad)).unwrap_err().to_string();
            assert!(err.contains("CLOAKROOM_OIDC_ISSUER"), "{bad}: {err}");
        }
        let err = with(&full("https://sso.example")[..3])
            .unwrap_err()
            .to_string();
        assert!(err.contains("missing: CLOAKROOM_OIDC_NAME"), "{err}");
        let mut long = full("https://sso.example");
        let name = "n".repeat(65);
        long[3].1 = Box::leak(name.into_boxed_str());
        assert!(with(&long).is_err());
    }
}
