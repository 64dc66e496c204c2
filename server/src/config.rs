//! Settings: defaults in code, each overridable by a `CLOAKROOM_*` environment variable.
//! Nothing here is secret (the signing keys live in the database), so `Debug` may log it.

use std::{net::IpAddr, path::PathBuf, time::Duration};

use anyhow::{bail, Context};

#[derive(Debug, Clone)]
pub struct Settings {
    /// `CLOAKROOM_HOST` (default 127.0.0.1).
    pub host: IpAddr,
    /// `CLOAKROOM_PORT` (default 3000; 0 picks a free port).
    pub port: u16,
    /// `CLOAKROOM_DATA_DIR` (default ./data): the SQLite database lives here.
    pub data_dir: PathBuf,
    /// `CLOAKROOM_DIST_DIR` (default ./dist): the built client, served with an SPA fallback.
    pub dist_dir: PathBuf,
    /// `CLOAKROOM_PUBLIC_ORIGIN` (default http://127.0.0.1:<port>): the origin browsers use.
    /// It is the JWT issuer and the only `Origin` accepted on cookie-authenticated routes.
    pub public_origin: String,
    /// `CLOAKROOM_ACCESS_TTL_SECS` (default 300). Short, because a stolen access token is a
    /// bearer credential until it expires or its session is revoked.
    pub access_ttl: Duration,
    /// `CLOAKROOM_REFRESH_IDLE_TTL_SECS` (default 86400): a refresh token unused this long dies.
    pub refresh_idle_ttl: Duration,
    /// `CLOAKROOM_SESSION_MAX_TTL_SECS` (default 7 days): absolute session lifetime; rotation
    /// never extends it, so a stolen-and-refreshed family still dies on schedule.
    pub session_max_ttl: Duration,
    /// `CLOAKROOM_REUSE_GRACE_SECS` (default 10): see `auth::refresh` for why a grace exists.
    pub reuse_grace: Duration,
    /// `CLOAKROOM_LOG` (default "info"): a tracing EnvFilter directive.
    pub log_filter: String,
    /// `CLOAKROOM_DEV_INSECURE_COOKIES` (default false): drop `Secure` (and with it the
    /// `__Host-` name prefix) so plain http works on a non-localhost development host.
    /// Never set it in production: the refresh cookie would then travel in clear text.
    pub dev_insecure_cookies: bool,
    /// `CLOAKROOM_AUTH_RATE_PER_MINUTE` (default 30): per-IP budget for signup and login.
    pub auth_rate_per_minute: u32,
    /// `CLOAKROOM_REFRESH_RATE_PER_MINUTE` (default 600): per-IP budget for token refreshes. A
    /// browser refreshes about once every 4 minutes per session; the budget leaves room for
    /// many users behind one NAT while stopping a client from hammering the token store.
    pub refresh_rate_per_minute: u32,
    /// `CLOAKROOM_LOG_FORMAT` (default "text"; "json" for one JSON object per line).
    pub log_json: bool,
    /// `CLOAKROOM_LOGIN_MAX_FAILURES` (default 5) within `CLOAKROOM_LOGIN_FAILURE_WINDOW_SECS`
    /// (default 900) lock a username's logins until the oldest failure ages out.
    pub login_max_failures: u32,
    pub login_failure_window: Duration,
    /// `CLOAKROOM_TRUSTED_PROXIES` (comma-separated IPs, default none): only a peer in this list
    /// may tell us the client IP through `X-Forwarded-For`.
    pub trusted_proxies: Vec<IpAddr>,
    /// `CLOAKROOM_REQUEST_TIMEOUT_SECS` (default 30): a request still running after this is
    /// answered 408. Generous on purpose: a refresh cut off after its rotation committed would
    /// leave the browser without its new cookie.
    pub request_timeout: Duration,
    /// `CLOAKROOM_MAX_IN_FLIGHT` (default 1024): requests being served at once; beyond it, 503
    /// with `Retry-After` at once instead of an unbounded queue.
    pub max_in_flight: usize,
    /// `CLOAKROOM_TEST_CLOCK` (default false): serve `POST /api/test/clock` so end-to-end suites
    /// can move the server's clock forward (`testing`). Refused on a non-loopback address or
    /// with an https public origin.
    pub test_clock: bool,
    /// `CLOAKROOM_HASH_QUEUE` (default 8 per core): logins and signups that may wait for a
    /// password-hashing slot; past it they are answered 503 with `Retry-After` at once.
    pub hash_queue: Option<usize>,
    /// `CLOAKROOM_ARGON2_M_KIB` (default 19456, OWASP). Tests lower it to stay fast; never in
    /// production.
    pub argon2_m_kib: u32,
}

impl Settings {
    pub fn from_env() -> anyhow::Result<Self> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// Builds settings from any key lookup (tests pass a map instead of the process env).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> anyhow::Result<Self> {
        fn parse<T: std::str::FromStr>(
            get: &impl Fn(&str) -> Option<String>,
            key: &str,
            default: T,
        ) -> anyhow::Result<T>
        where
            T::Err: std::fmt::Display,
        {
            match get(key) {
                None => Ok(default),
                Some(v) => v
                    .trim()
                    .parse()
                    .map_err(|e| anyhow::anyhow!("{key}={v:?} is not valid: {e}")),
            }
        }
        let secs = |key: &str, default: u64| -> anyhow::Result<Duration> {
            Ok(Duration::from_secs(parse(&get, key, default)?))
        };
        let port: u16 = parse(&get, "CLOAKROOM_PORT", 3000)?;
        let host: IpAddr = parse(&get, "CLOAKROOM_HOST", IpAddr::from([127, 0, 0, 1]))?;
        let public_origin = get("CLOAKROOM_PUBLIC_ORIGIN")
            .unwrap_or_else(|| format!("http://127.0.0.1:{port}"))
            .trim_end_matches('/')
            .to_owned();
        if !(public_origin.starts_with("http://") || public_origin.starts_with("https://")) {
            bail!("CLOAKROOM_PUBLIC_ORIGIN must start with http:// or https://");
        }
        let trusted_proxies = match get("CLOAKROOM_TRUSTED_PROXIES") {
            None => vec![],
            Some(v) => v
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| {
                    s.parse()
                        .with_context(|| format!("CLOAKROOM_TRUSTED_PROXIES: {s:?}"))
                })
                .collect::<anyhow::Result<_>>()?,
        };
        let s = Settings {
            host,
            port,
            data_dir: get("CLOAKROOM_DATA_DIR")
                .unwrap_or_else(|| "data".into())
                .into(),
            dist_dir: get("CLOAKROOM_DIST_DIR")
                .unwrap_or_else(|| "dist".into())
                .into(),
            public_origin,
            access_ttl: secs("CLOAKROOM_ACCESS_TTL_SECS", 300)?,
            refresh_idle_ttl: secs("CLOAKROOM_REFRESH_IDLE_TTL_SECS", 86_400)?,
            session_max_ttl: secs("CLOAKROOM_SESSION_MAX_TTL_SECS", 7 * 86_400)?,
            reuse_grace: secs("CLOAKROOM_REUSE_GRACE_SECS", 10)?,
            log_filter: get("CLOAKROOM_LOG").unwrap_or_else(|| "info".into()),
            dev_insecure_cookies: parse(&get, "CLOAKROOM_DEV_INSECURE_COOKIES", false)?,
            auth_rate_per_minute: parse(&get, "CLOAKROOM_AUTH_RATE_PER_MINUTE", 30)?,
            login_max_failures: parse(&get, "CLOAKROOM_LOGIN_MAX_FAILURES", 5)?,
            refresh_rate_per_minute: parse(&get, "CLOAKROOM_REFRESH_RATE_PER_MINUTE", 600)?,
            log_json: match get("CLOAKROOM_LOG_FORMAT").as_deref().map(str::trim) {
                None | Some("text") => false,
                Some("json") => true,
                Some(other) => bail!("CLOAKROOM_LOG_FORMAT must be text or json, not {other:?}"),
            },
            login_failure_window: secs("CLOAKROOM_LOGIN_FAILURE_WINDOW_SECS", 900)?,
            trusted_proxies,
            argon2_m_kib: parse(&get, "CLOAKROOM_ARGON2_M_KIB", 19_456)?,
            request_timeout: secs("CLOAKROOM_REQUEST_TIMEOUT_SECS", 30)?,
            max_in_flight: parse(&get, "CLOAKROOM_MAX_IN_FLIGHT", 1024)?,
            test_clock: parse(&get, "CLOAKROOM_TEST_CLOCK", false)?,
            hash_queue: match get("CLOAKROOM_HASH_QUEUE") {
                None => None,
                Some(v) => Some(v.trim().parse().map_err(|e| {
                    anyhow::anyhow!("CLOAKROOM_HASH_QUEUE={v:?} is not valid: {e}")
                })?),
            },
        };
        if s.test_clock && (!s.host.is_loopback() || s.public_origin.starts_with("https://")) {
            // Whoever can move the clock can age every session and token: tests only.
            bail!("CLOAKROOM_TEST_CLOCK=true is for test servers on loopback only; refusing to start on {} with the public origin {}", s.host, s.public_origin);
        }
        if s.dev_insecure_cookies && s.public_origin.starts_with("https://") {
            // Insecure cookies exist for plain-http development hosts only; with an https
            // origin they would be a silent downgrade of a production deployment.
            bail!("CLOAKROOM_DEV_INSECURE_COOKIES=true is for plain-http development only; refusing to start with the https origin {}", s.public_origin);
        }
        if s.access_ttl.is_zero() || s.refresh_idle_ttl.is_zero() || s.session_max_ttl.is_zero() {
            bail!("token lifetimes must be at least one second");
        }
        if s.request_timeout.is_zero() || s.max_in_flight == 0 {
            bail!("CLOAKROOM_REQUEST_TIMEOUT_SECS and CLOAKROOM_MAX_IN_FLIGHT must be > 0");
        }
        if s.auth_rate_per_minute == 0
            || s.login_max_failures == 0
            || s.refresh_rate_per_minute == 0
        {
            bail!("CLOAKROOM_AUTH_RATE_PER_MINUTE, CLOAKROOM_LOGIN_MAX_FAILURES and CLOAKROOM_REFRESH_RATE_PER_MINUTE must be > 0");
        }
        Ok(s)
    }
}

#[cfg(test)]
mod tests {
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
        assert!(with(&[("CLOAKROOM_TEST_CLOCK", "true"), ("CLOAKROOM_HOST", "::1")]).is_ok());
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

    /// docs/deploy.md must list every setting this file reads.
    #[test]
    fn every_setting_is_documented() {
        let source = include_str!("config.rs");
        let doc = include_str!("../../docs/deploy.md");
        let mut rest = source;
        let mut seen = 0;
        while let Some(i) = rest.find("\"CLOAKROOM_") {
            let name: String = rest[i + 1..]
                .chars()
                .take_while(|c| c.is_ascii_uppercase() || *c == '_' || c.is_ascii_digit())
                .collect();
            // (The search literal above is itself a bare prefix: skip it.)
            if name.len() > "CLOAKROOM_".len() {
                assert!(
                    doc.contains(&format!("`{name}`")),
                    "{name} is missing from docs/deploy.md"
                );
                seen += 1;
            }
            rest = &rest[i + 1..];
        }
        assert!(seen >= 18, "found only {seen} settings");
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
}
