//! Browser-side defences carried by every response: a strict Content-Security-Policy and the
//! other security headers. XSS is the one threat that can reach an in-memory access token, so
//! the policy forbids every script the app did not ship: no inline script except the exact
//! bytes of Trunk's loader (hashed from dist/index.html at start-up), no eval (only
//! 'wasm-unsafe-eval', which compiling the wasm module needs), no plugins, no framing.

use std::path::Path;

use axum::{
    extract::{Request, State},
    http::{header, HeaderName, HeaderValue},
    middleware::Next,
    response::Response,
};
use base64::{engine::general_purpose::STANDARD, Engine};
use sha2::{Digest, Sha256};

/// Path of the CSP violation report endpoint.
pub const CSP_REPORT_PATH: &str = "/api/csp-report";

/// The precomputed header values.
#[derive(Clone, Debug)]
pub struct SecurityHeaders {
    pub csp: HeaderValue,
    pub hsts: Option<HeaderValue>,
}

impl SecurityHeaders {
    /// Reads `dist/index.html` (if built) to hash its inline scripts.
    pub fn new(dist: &Path, https: bool) -> Self {
        let hashes = std::fs::read_to_string(dist.join("index.html"))
            .map(|html| inline_script_hashes(&html))
            .unwrap_or_default();
        let csp = csp(&hashes);
        Self {
            csp: HeaderValue::from_str(&csp).expect("CSP is ASCII"),
            // Only over https: HSTS on plain http is ignored at best, and on a development host
            // it would later force https onto every port of it.
            hsts: https.then(|| HeaderValue::from_static("max-age=63072000; includeSubDomains")),
        }
    }
}

/// The policy, given the `'sha256-…'` sources of the inline scripts to allow.
pub fn csp(script_hashes: &[String]) -> String {
    let mut script_src = String::from("'self' 'wasm-unsafe-eval'");
    for h in script_hashes {
        script_src.push_str(&format!(" '{h}'"));
    }
    format!(
        "default-src 'self'; script-src {script_src}; style-src 'self'; img-src 'self' data:; \
         connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; \
         frame-ancestors 'none'; form-action 'self'; report-uri {CSP_REPORT_PATH}"
    )
}

/// `sha256-<base64>` of the content of every `<script>` element without `src`.
pub fn inline_script_hashes(html: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = html;
    while let Some(start) = rest.find("<script") {
        let after = &rest[start..];
        let Some(tag_end) = after.find('>') else {
            break;
        };
        let tag = &after[..tag_end];
        let body_start = tag_end + 1;
        let Some(close) = after[body_start..].find("</script>") else {
            break;
        };
        let body = &after[body_start..body_start + close];
        if !tag.contains(" src=") {
            out.push(format!(
                "sha256-{}",
                STANDARD.encode(Sha256::digest(body.as_bytes()))
            ));
        }
        rest = &after[body_start + close..];
    }
    out
}

/// Adds the security headers to every response.
pub async fn headers(
    State(security): State<SecurityHeaders>,
    req: Request,
    next: Next,
) -> Response {
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    h.insert(header::CONTENT_SECURITY_POLICY, security.csp.clone());
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    // Tokens never appear in URLs, but no URL of ours needs to leak to another site either.
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    // A window we open (or that opens us) gets no handle on this one.
    h.insert(
        HeaderName::from_static("cross-origin-opener-policy"),
        HeaderValue::from_static("same-origin"),
    );
    h.insert(
        HeaderName::from_static("cross-origin-resource-policy"),
        HeaderValue::from_static("same-origin"),
    );
    h.insert(
        HeaderName::from_static("permissions-policy"),
        HeaderValue::from_static(
            "accelerometer=(), camera=(), geolocation=(), gyroscope=(), magnetometer=(), microphone=(), \
             payment=(), usb=(), interest-cohort=(), browsing-topics=()",
        ),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    if let Some(hsts) = &security.hsts {
        h.insert(header::STRICT_TRANSPORT_SECURITY, hsts.clone());
    }
    res
}

/// `Cache-Control: no-store` value for every API response: tokens and private data must never
/// sit in a shared or disk cache.
pub const NO_STORE: axum::http::HeaderValue = axum::http::HeaderValue::from_static("no-store");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_only_inline_scripts() {
        let html = r#"<head><script type="module">import init from '/a.js';</script>
            <script src="/x.js"></script><script>one()</script></head>"#;
        let h = inline_script_hashes(html);
        assert_eq!(h.len(), 2);
        let expect = STANDARD.encode(Sha256::digest(b"import init from '/a.js';"));
        assert_eq!(h[0], format!("sha256-{expect}"));
    }

    #[test]
    fn policy_has_no_unsafe_inline_or_eval() {
        let p = csp(&["sha256-abc".into()]);
        assert!(!p.contains("'unsafe-inline'") && !p.contains("'unsafe-eval'"));
        for d in [
            "default-src 'self'",
            "connect-src 'self'",
            "object-src 'none'",
            "base-uri 'none'",
            "frame-ancestors 'none'",
            "form-action 'self'",
            "'wasm-unsafe-eval'",
            "'sha256-abc'",
        ] {
            assert!(p.contains(d), "{p} lacks {d}");
        }
    }
}
