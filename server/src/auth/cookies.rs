//! The refresh cookie, built in one place so its removal matches its setting exactly.
//!
//! - `HttpOnly`: no script can read it, so an XSS cannot exfiltrate the long-lived credential.
//! - `Secure` and the `__Secure-` prefix: never sent over plain http (browsers treat
//!   http://localhost and 127.0.0.1 as secure contexts, so local development still works).
//! - `SameSite=Strict`: not sent on any cross-site request, the first CSRF defence.
//! - `Path=/api/auth`: sent only to the auth routes, never with ordinary API or page requests,
//!   so it cannot leak through logs or handlers that have no business seeing it.

use axum::http::{HeaderMap, HeaderValue};
use cookie::{time::Duration as CookieDuration, Cookie, SameSite};

pub const COOKIE_PATH: &str = "/api/auth";
pub const SECURE_NAME: &str = "__Secure-cloakroom_refresh";
/// Used only with `CLOAKROOM_DEV_INSECURE_COOKIES` (the prefix requires `Secure`).
pub const DEV_NAME: &str = "cloakroom_refresh";

#[derive(Debug, Clone, Copy)]
pub struct CookiePolicy {
    pub insecure_dev: bool,
}

impl CookiePolicy {
    pub fn name(&self) -> &'static str {
        if self.insecure_dev {
            DEV_NAME
        } else {
            SECURE_NAME
        }
    }

    fn base(&self, value: String) -> Cookie<'static> {
        Cookie::build((self.name(), value))
            .http_only(true)
            .secure(!self.insecure_dev)
            .same_site(SameSite::Strict)
            .path(COOKIE_PATH)
            .build()
    }

    /// `Set-Cookie` for a refresh token. `max_age_secs: None` makes a browser-session cookie
    /// ("remember me" off): the browser drops it when it closes.
    pub fn set(&self, token: &str, max_age_secs: Option<i64>) -> HeaderValue {
        let mut c = self.base(token.to_owned());
        if let Some(secs) = max_age_secs {
            c.set_max_age(CookieDuration::seconds(secs.max(0)));
        }
        HeaderValue::from_str(&c.to_string()).expect("cookie is ASCII")
    }

    /// `Set-Cookie` that removes the refresh cookie: same name, path and attributes.
    pub fn clear(&self) -> HeaderValue {
        let mut c = self.base(String::new());
        c.set_max_age(CookieDuration::ZERO);
        c.set_expires(cookie::Expiration::DateTime(
            cookie::time::OffsetDateTime::UNIX_EPOCH,
        ));
        HeaderValue::from_str(&c.to_string()).expect("cookie is ASCII")
    }

    /// The refresh token from the request's `Cookie` headers, if any.
    pub fn read(&self, headers: &HeaderMap) -> Option<String> {
        headers
            .get_all(axum::http::header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| Cookie::split_parse(v.to_owned()))
            .filter_map(Result::ok)
            .find(|c| c.name() == self.name())
            .map(|c| c.value().to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secure_cookie_has_every_attribute() {
        let v = CookiePolicy {
            insecure_dev: false,
        }
        .set("tok", Some(60));
        let s = v.to_str().unwrap();
        for part in [
            "__Secure-cloakroom_refresh=tok",
            "HttpOnly",
            "Secure",
            "SameSite=Strict",
            "Path=/api/auth",
            "Max-Age=60",
        ] {
            assert!(s.contains(part), "{s} lacks {part}");
        }
    }

    #[test]
    fn session_cookie_has_no_max_age_and_clear_matches_path() {
        let p = CookiePolicy {
            insecure_dev: false,
        };
        assert!(!p.set("tok", None).to_str().unwrap().contains("Max-Age"));
        let clear = p.clear();
        let s = clear.to_str().unwrap();
        assert!(
            s.contains("Max-Age=0") && s.contains("Path=/api/auth") && s.contains("Secure"),
            "{s}"
        );
    }

    #[test]
    fn reads_among_other_cookies() {
        let p = CookiePolicy {
            insecure_dev: false,
        };
        let mut h = HeaderMap::new();
        h.insert(
            "cookie",
            HeaderValue::from_static("theme=dark; __Secure-cloakroom_refresh=abc"),
        );
        assert_eq!(p.read(&h).as_deref(), Some("abc"));
        assert_eq!(CookiePolicy { insecure_dev: true }.read(&h), None);
    }
}
