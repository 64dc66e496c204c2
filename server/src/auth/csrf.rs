//! CSRF checks for the routes that authenticate by cookie (refresh, logout, logout-all).
//!
//! SameSite=Strict already keeps the cookie off cross-site requests; these checks are the
//! second, independent layer (older browsers, same-site-but-cross-origin attackers such as a
//! sibling subdomain):
//! - a present `Origin` must be our public origin exactly;
//! - `X-Requested-With: cloakroom` must be present. A custom header cannot be sent cross-origin
//!   without a CORS preflight, which this server never approves, and an HTML form cannot set
//!   one at all.

use api_types::{CSRF_HEADER, CSRF_HEADER_VALUE};
use axum::http::{header, HeaderMap};

use crate::error::ApiError;

pub fn check(headers: &HeaderMap, public_origin: &str) -> Result<(), ApiError> {
    if let Some(origin) = headers.get(header::ORIGIN) {
        if origin.as_bytes() != public_origin.as_bytes() {
            return Err(ApiError::CsrfRejected(format!(
                "cross-origin request refused: Origin must be {public_origin}"
            )));
        }
    }
    match headers.get(CSRF_HEADER) {
        Some(v) if v.as_bytes().eq_ignore_ascii_case(CSRF_HEADER_VALUE.as_bytes()) => Ok(()),
        _ => Err(ApiError::CsrfRejected(format!(
            "missing header `X-Requested-With: {CSRF_HEADER_VALUE}` (required on cookie-authenticated routes)"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn h(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut m = HeaderMap::new();
        for (k, v) in pairs {
            m.insert(*k, HeaderValue::from_static(v));
        }
        m
    }

    #[test]
    fn rules() {
        let o = "http://127.0.0.1:3000";
        assert!(check(&h(&[("x-requested-with", "cloakroom")]), o).is_ok());
        assert!(check(
            &h(&[
                ("x-requested-with", "cloakroom"),
                ("origin", "http://127.0.0.1:3000")
            ]),
            o
        )
        .is_ok());
        assert!(check(
            &h(&[
                ("x-requested-with", "cloakroom"),
                ("origin", "http://evil.test")
            ]),
            o
        )
        .is_err());
        assert!(check(
            &h(&[("x-requested-with", "cloakroom"), ("origin", "null")]),
            o
        )
        .is_err());
        assert!(check(&h(&[]), o).is_err());
        assert!(check(&h(&[("x-requested-with", "XMLHttpRequest")]), o).is_err());
    }
}
