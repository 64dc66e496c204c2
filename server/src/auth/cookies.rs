//! The refresh cookie, built in one place so its removal matches its setting exactly.
//!
//! - `HttpOnly`: no script can read it, so an XSS cannot exfiltrate the long-lived credential.
//! - `Secure`: never sent over plain http (browsers treat http://localhost and 127.0.0.1 as
//!   secure contexts, so local development still works).
//! - The `__Host-` prefix, which forces `Secure`, `Path=/` and *no* `Domain`: a browser refuses
//!   to store a `__Host-` cookie that names a domain, so a sibling subdomain (or a network
//!   attacker on plain http) cannot plant one of this name for our host ("cookie tossing": a
//!   planted `Domain=parent; Path=/api/auth/refresh` cookie is sent *before* ours and would log
//!   the victim into the attacker's session, or, with junk, out for good, since our clearing
//!   cookie cannot remove a Domain cookie). RFC 10017 (OAuth 2.0 for Browser-Based Apps)
//!   recommends exactly this.
//! - The price of `__Host-` is `Path=/`: the cookie now travels with every same-origin request
//!   (pages, assets, API calls), not only `/api/auth`. It stays HttpOnly and SameSite=Strict;
//!   only the auth routes ever read it, nothing logs request cookies, and the refresh and
//!   logout routes keep their CSRF checks. A narrower path would keep the cookie off the wire
//!   more often but reopen tossing, which is the worse risk.
//! - `SameSite=Strict`: not sent on any cross-site request, the first CSRF defence.
//! - A request that carries the refresh cookie's name more than once is refused outright:
//!   choosing either value would let a planted cookie win.
//!
//! The device cookie (`auth::device`) is built the same way under its own name. It is no
//! credential (it only moves a login attempt from the account's guess budget to the device's),
//! so a request carrying its name twice is simply treated as coming from an unknown device.

use axum::http::{HeaderMap, HeaderValue};
use cookie::{time::Duration as CookieDuration, Cookie, SameSite};

use crate::error::ApiError;

pub const COOKIE_PATH: &str = "/";
pub const SECURE_NAME: &str = "__Host-cloakroom_refresh";
/// Used only with `CLOAKROOM_DEV_INSECURE_COOKIES` (the prefix requires `Secure`).
pub const DEV_NAME: &str = "cloakroom_refresh";
pub const SECURE_DEVICE_NAME: &str = "__Host-cloakroom_device";
pub const DEV_DEVICE_NAME: &str = "cloakroom_device";
/// The passkey ceremonies in progress in this browser (`auth::passkeys`): they bind a challenge
/// to the browser that asked for it. One name per kind, so a sign-in begun in one tab (the login
/// page) does not drop a registration under way in another (the account page).
pub const SECURE_REGISTER_CEREMONY_NAME: &str = "__Host-cloakroom_webauthn_register";
pub const DEV_REGISTER_CEREMONY_NAME: &str = "cloakroom_webauthn_register";
pub const SECURE_LOGIN_CEREMONY_NAME: &str = "__Host-cloakroom_webauthn_login";
pub const DEV_LOGIN_CEREMONY_NAME: &str = "cloakroom_webauthn_login";

/// The sign-in through the OpenID provider under way in this browser (`auth::oidc`).
pub const SECURE_OIDC_NAME: &str = "__Host-cloakroom_oidc";
pub const DEV_OIDC_NAME: &str = "cloakroom_oidc";

/// Which passkey ceremony a cookie names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ceremony {
    Register,
    Login,
}

/// The 400 answer to a request carrying the refresh cookie's name twice.
pub const DUPLICATE: &str = "the request carries the refresh cookie more than once (a cookie planted by another site?); nothing was changed. Clear this site's cookies and log in again";

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

    pub fn device_name(&self) -> &'static str {
        if self.insecure_dev {
            DEV_DEVICE_NAME
        } else {
            SECURE_DEVICE_NAME
        }
    }

    fn base(&self, value: String) -> Cookie<'static> {
        self.named(self.name(), value)
    }

    fn named(&self, name: &'static str, value: String) -> Cookie<'static> {
        Cookie::build((name, value))
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

    /// The refresh token from the request's `Cookie` headers: `Ok(None)` without one, an error
    /// when the name appears more than once (across all `Cookie` headers), whatever the values.
    pub fn read(&self, headers: &HeaderMap) -> Result<Option<String>, ApiError> {
        read_once(headers, self.name()).map_err(|()| ApiError::BadRequest(DUPLICATE.into()))
    }

    /// `Set-Cookie` for a device cookie that lives `max_age_secs`.
    pub fn set_device(&self, value: &str, max_age_secs: i64) -> HeaderValue {
        let mut c = self.named(self.device_name(), value.to_owned());
        c.set_max_age(CookieDuration::seconds(max_age_secs.max(0)));
        HeaderValue::from_str(&c.to_string()).expect("cookie is ASCII")
    }

    /// The device cookie, if the request carries its name exactly once.
    pub fn read_device(&self, headers: &HeaderMap) -> Option<String> {
        read_once(headers, self.device_name()).ok().flatten()
    }

    fn ceremony_name(&self, kind: Ceremony) -> &'static str {
        match (kind, self.insecure_dev) {
            (Ceremony::Register, false) => SECURE_REGISTER_CEREMONY_NAME,
            (Ceremony::Register, true) => DEV_REGISTER_CEREMONY_NAME,
            (Ceremony::Login, false) => SECURE_LOGIN_CEREMONY_NAME,
            (Ceremony::Login, true) => DEV_LOGIN_CEREMONY_NAME,
        }
    }

    /// `Set-Cookie` naming a passkey ceremony, for as long as the ceremony lives.
    pub fn set_ceremony(&self, kind: Ceremony, id: &str, max_age_secs: i64) -> HeaderValue {
        let mut c = self.named(self.ceremony_name(kind), id.to_owned());
        c.set_max_age(CookieDuration::seconds(max_age_secs.max(0)));
        HeaderValue::from_str(&c.to_string()).expect("cookie is ASCII")
    }

    /// `Set-Cookie` that removes a ceremony cookie (the ceremony is spent).
    pub fn clear_ceremony(&self, kind: Ceremony) -> HeaderValue {
        let mut c = self.named(self.ceremony_name(kind), String::new());
        c.set_max_age(CookieDuration::ZERO);
        HeaderValue::from_str(&c.to_string()).expect("cookie is ASCII")
    }

    fn oidc_name(&self) -> &'static str {
        if self.insecure_dev {
            DEV_OIDC_NAME
        } else {
            SECURE_OIDC_NAME
        }
    }

    /// `Set-Cookie` naming this browser's sign-in through the OpenID provider.
    ///
    /// The one `SameSite=Lax` cookie, on purpose: the provider sends the browser back with a
    /// navigation that its own site started, and a Strict cookie is not sent on that. Lax is
    /// safe here because the cookie is no credential: it names a sign-in under way, which the
    /// callback finishes only with the provider's code *and* the `state` stored in it, takes
    /// (single use), and which expires in minutes. A cross-site request that sends it along
    /// (Lax allows top-level GETs) carries no state that matches, so it ends the sign-in
    /// refused; it cannot log the browser into another account (login CSRF), because the
    /// state an attacker has is bound to the attacker's own browser's row.
    pub fn set_oidc(&self, id: &str, max_age_secs: i64) -> HeaderValue {
        let mut c = self.named(self.oidc_name(), id.to_owned());
        c.set_same_site(SameSite::Lax);
        c.set_max_age(CookieDuration::seconds(max_age_secs.max(0)));
        HeaderValue::from_str(&c.to_string()).expect("cookie is ASCII")
    }

    /// `Set-Cookie` that removes the sign-in cookie (spent, or refused).
    pub fn clear_oidc(&self) -> HeaderValue {
        self.set_oidc("", 0)
    }

    /// The sign-in this browser began, if the request names exactly one.
    pub fn read_oidc(&self, headers: &HeaderMap) -> Option<String> {
        read_once(headers, self.oidc_name()).ok().flatten()
    }

    /// The ceremony of `kind` this browser began, if the request names exactly one.
    pub fn read_ceremony(&self, kind: Ceremony, headers: &HeaderMap) -> Option<String> {
        read_once(headers, self.ceremony_name(kind)).ok().flatten()
    }
}

/// The value of cookie `name`: `Ok(None)` when absent, `Err` when the name appears more than once
/// across all `Cookie` headers.
fn read_once(headers: &HeaderMap, name: &str) -> Result<Option<String>, ()> {
    let mut found = headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| Cookie::split_parse(v.to_owned()))
        .filter_map(Result::ok)
        .filter(|c| c.name() == name);
    let first = found.next().map(|c| c.value().to_owned());
    if found.next().is_some() {
        return Err(());
    }
    Ok(first)
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
        let s = format!("{};", v.to_str().unwrap());
        assert!(!s.contains("Domain"), "{s}");
        for part in [
            "__Host-cloakroom_refresh=tok",
            "HttpOnly",
            "Secure",
            "SameSite=Strict",
            "Path=/;",
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
            s.contains("Max-Age=0") && s.contains("Path=/") && s.contains("Secure"),
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
            HeaderValue::from_static("theme=dark; __Host-cloakroom_refresh=abc"),
        );
        assert_eq!(p.read(&h).unwrap().as_deref(), Some("abc"));
        assert_eq!(CookiePolicy { insecure_dev: true }.read(&h).unwrap(), None);
        // The old name (and a lookalike in another case) is not ours.
        h.insert(
            "cookie",
            HeaderValue::from_static("__Secure-cloakroom_refresh=abc; __host-cloakroom_refresh=x"),
        );
        assert_eq!(p.read(&h).unwrap(), None);
    }

    #[test]
    fn the_name_twice_is_refused_in_one_header_or_across_headers() {
        let p = CookiePolicy {
            insecure_dev: false,
        };
        let mut h = HeaderMap::new();
        h.insert(
            "cookie",
            HeaderValue::from_static("__Host-cloakroom_refresh=a; __Host-cloakroom_refresh=a"),
        );
        assert!(matches!(p.read(&h), Err(ApiError::BadRequest(_))));
        let mut h = HeaderMap::new();
        h.append(
            "cookie",
            HeaderValue::from_static("__Host-cloakroom_refresh=a"),
        );
        h.append(
            "cookie",
            HeaderValue::from_static("x=1; __Host-cloakroom_refresh=b"),
        );
        assert!(matches!(p.read(&h), Err(ApiError::BadRequest(_))));
    }
}
