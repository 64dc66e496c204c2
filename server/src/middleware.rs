//! The middleware `startup::router` layers around the routes: the in-flight cap and the
//! request timeout, the canonical origin, the headers every API answer carries (DPoP nonce,
//! problem+json for every error), the client files' cache policy, and the API's fallbacks.

use axum::{
    extract::{Request, State},
    http::{header, HeaderValue, StatusCode},
    middleware::Next,
    response::{IntoResponse, Response},
};

use crate::{error::ApiError, state::AppState};

/// Every API answer carries the current DPoP nonce (RFC 9449 §9), so a client always has it
/// before it needs it and is refused for a stale one only after a long pause.
pub async fn dpop_nonce_header(State(state): State<AppState>, mut res: Response) -> Response {
    if let Some(nonce) = state.dpop_nonces.header(state.clock.now()) {
        res.headers_mut().insert("dpop-nonce", nonce);
    }
    res
}

/// Every error the API answers is problem+json, including the ones the framework makes for us
/// (a body over a route's limit read as bytes, a malformed path parameter): a client parses one
/// shape, whatever refused it. Answers that are problem+json already pass untouched.
pub async fn problem_json_everywhere(res: Response) -> Response {
    let status = res.status();
    let is_problem = res
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/problem+json"));
    if !(status.is_client_error() || status.is_server_error()) || is_problem {
        return res;
    }
    let (parts, body) = res.into_parts();
    let detail = if status == StatusCode::PAYLOAD_TOO_LARGE {
        "request body is too large".to_owned()
    } else {
        let text = axum::body::to_bytes(body, 4096).await.unwrap_or_default();
        String::from_utf8_lossy(&text)
            .chars()
            .filter(|c| !c.is_control())
            .take(300)
            .collect()
    };
    let mut out = crate::error::problem_response(&api_types::Problem {
        type_: "about:blank".into(),
        title: status.canonical_reason().unwrap_or("Error").into(),
        status: status.as_u16(),
        detail: (!detail.trim().is_empty()).then_some(detail),
        instance: None,
        retry_after: None,
    });
    for (name, value) in &parts.headers {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            // append: a header sent twice (Set-Cookie) keeps both.
            out.headers_mut().append(name, value.clone());
        }
    }
    out
}

/// The host of an origin or a `Host` header, without the port (`[::1]` keeps its brackets).
pub fn host_of(authority: &str) -> &str {
    let authority = authority
        .split_once("://")
        .map_or(authority, |(_, rest)| rest);
    match authority.strip_prefix('[') {
        Some(v6) => v6
            .split_once(']')
            .map_or(authority, |(h, _)| &authority[..h.len() + 2]),
        None => authority.split(':').next().unwrap_or(authority),
    }
}

/// One address for the app: its public origin. Cookies (`__Host-`), DPoP proofs (`htu`) and the
/// CSRF defence are all bound to it, so a page opened at another name of the same server
/// (`localhost` for `127.0.0.1`) could sign up but never log in. Such page loads are redirected
/// to the public origin; API requests a browser sends from such a page (it says so in `Origin`)
/// are refused with one problem that names the address to use, before anything is done: a
/// signup from there would make an account its maker then cannot log in to from that page.
/// Requests without `Origin` (non-browser clients, same-origin GETs) are not affected, nor are
/// the health checks and key discovery that load balancers and verifiers reach by internal names.
pub async fn canonical_origin(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let public = state.settings.public_origin.as_str();
    let path = req.uri().path();
    if path == "/api" || path.starts_with("/api/") {
        // Browsers post CSP reports from wherever the page was; they are accepted as they come.
        if path != "/api/csp-report" {
            if let Some(origin) = req.headers().get(header::ORIGIN) {
                if origin.as_bytes() != public.as_bytes() {
                    let from: String = String::from_utf8_lossy(origin.as_bytes())
                        .chars()
                        .filter(|c| !c.is_control())
                        .take(100)
                        .collect();
                    return ApiError::WrongOrigin(format!(
                        "this app lives at {public}: open it there (this request came from a page at {from}, which this server does not serve)"
                    ))
                    .into_response();
                }
            }
        }
        return next.run(req).await;
    }
    let page_load = matches!(
        *req.method(),
        axum::http::Method::GET | axum::http::Method::HEAD
    ) && !matches!(path, "/healthz" | "/readyz")
        && !path.starts_with("/.well-known/");
    if page_load {
        // The host name only: a proxy's `Host $host` drops the port, and the case to catch is
        // another name for the server, not another port of the same one.
        let wrong_host = req
            .headers()
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .is_some_and(|h| !host_of(h).eq_ignore_ascii_case(host_of(public)));
        if wrong_host {
            let to = format!(
                "{public}{}",
                req.uri().path_and_query().map_or("/", |p| p.as_str())
            );
            if let Ok(location) = HeaderValue::from_str(&to) {
                // Not cached: a cache keyed without the Host would serve it for the right name too.
                return (
                    StatusCode::PERMANENT_REDIRECT,
                    [
                        (header::LOCATION, location),
                        (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
                    ],
                )
                    .into_response();
            }
        }
    }
    next.run(req).await
}

/// A write that failed for lack of space (507) makes `/readyz` prove writes work before it
/// says ready again (`Db::writable`).
pub async fn note_storage_full(State(state): State<AppState>, res: Response) -> Response {
    if res.status() == StatusCode::INSUFFICIENT_STORAGE {
        state.db.note_full();
    }
    res
}

pub async fn drop_client_request_id(mut req: Request) -> Request {
    req.headers_mut().remove("x-request-id");
    req
}

/// The server-wide in-flight cap, answered with 503 problem+json at once when full. Layered
/// on everything but the credential routes (`startup::router`), which take their permit from a
/// gate of their own instead (`flows::credential_permit`, once the body has arrived), so a
/// login flood cannot take the permits that `/api/me`, refresh, notes and the health checks
/// need.
pub async fn in_flight_cap(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let Ok(_permit) = state.in_flight.clone().try_acquire_owned() else {
        return ApiError::Overloaded("the server is at capacity; retry in a moment".into())
            .into_response();
    };
    next.run(req).await
}

/// The request timeout, on every request: answered with 408 problem+json.
pub async fn timeout(State(state): State<AppState>, req: Request, next: Next) -> Response {
    match tokio::time::timeout(state.settings.request_timeout, next.run(req)).await {
        Ok(res) => res,
        Err(_) => {
            tracing::warn!("request timed out");
            ApiError::Timeout("the request took too long and was stopped".into()).into_response()
        }
    }
}

pub async fn api_not_found() -> ApiError {
    ApiError::NotFound("no such API route".into())
}

pub async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed("method not allowed on this route".into())
}

/// Cache policy for the client files: Trunk names assets by content hash, so they may be cached
/// forever; `index.html` (and the SPA fallback) must be revalidated so a deploy is seen at once.
pub async fn static_cache_headers(req: Request, next: Next) -> Response {
    let path = req.uri().path().to_owned();
    let mut res = next.run(req).await;
    if path.starts_with("/api/")
        || path == "/healthz"
        || path == "/readyz"
        || path.starts_with("/.well-known/")
    {
        return res;
    }
    if res.status().is_success() || res.status() == StatusCode::NOT_MODIFIED {
        let hashed = path.rsplit('/').next().is_some_and(is_hashed_asset);
        let value = if hashed {
            "public, max-age=31536000, immutable"
        } else {
            "no-cache"
        };
        res.headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static(value));
    }
    res
}

/// `app-1a2b3c4d5e6f7a8b.js`, `app-…_bg.wasm`, `style-….css`: a 16-hex-digit content hash.
pub fn is_hashed_asset(file: &str) -> bool {
    let stem = file.split('.').next().unwrap_or("");
    let stem = stem.strip_suffix("_bg").unwrap_or(stem);
    stem.rsplit_once('-')
        .is_some_and(|(_, h)| h.len() == 16 && h.bytes().all(|b| b.is_ascii_hexdigit()))
}

#[cfg(test)]
mod tests {
    #[test]
    fn hosts_without_ports() {
        assert_eq!(super::host_of("http://127.0.0.1:3000"), "127.0.0.1");
        assert_eq!(super::host_of("localhost:3000"), "localhost");
        assert_eq!(super::host_of("https://notes.example"), "notes.example");
        assert_eq!(super::host_of("[::1]:3000"), "[::1]");
        assert_eq!(super::host_of("http://[::1]"), "[::1]");
    }

    #[test]
    fn hashed_asset_names() {
        assert!(super::is_hashed_asset("app-1a2b3c4d5e6f7a8b.js"));
        assert!(super::is_hashed_asset("app-1a2b3c4d5e6f7a8b_bg.wasm"));
        assert!(!super::is_hashed_asset("index.html"));
        assert!(!super::is_hashed_asset("favicon.svg"));
    }
}
