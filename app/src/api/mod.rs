//! The typed API client. Every request carries a DPoP proof of this tab's key ([`dpop`]), and
//! an authenticated one `Authorization: DPoP` with the token its caller's [`Credentials`] hold
//! (`Bearer` only where the browser cannot make keys); on a 401 it asks them for a fresh token
//! once and retries once. It knows nothing of how a token is kept or refreshed: `auth` depends
//! on this module, never the reverse.

pub mod dpop;

use std::future::Future;

use api_types::{ProblemType, TokenResponse, CSRF_HEADER, CSRF_HEADER_VALUE};
use gloo_net::http::{RequestBuilder, Response};
use serde::Serialize;

use crate::json::FromJson;

/// The header the cookie-authenticated auth routes require (refresh, logout, logout-all).
pub const CSRF: &[(&str, &str)] = &[(CSRF_HEADER, CSRF_HEADER_VALUE)];

/// An error to show the user: `message` is readable as it is. Code decides by `status` and
/// `kind`, never by the words of `message`.
#[derive(Clone, Debug, PartialEq)]
pub struct ApiError {
    /// HTTP status, or 0 when the server could not be reached.
    pub status: u16,
    /// The case the server named in the problem's `type`, if it is one a client tells apart.
    pub kind: Option<ProblemType>,
    pub message: String,
    /// The server's own words (a problem's `detail`), for the inspector's timeline.
    pub detail: Option<String>,
    pub retry_after: Option<u64>,
}

impl ApiError {
    /// An error found on this side, with no problem from the server behind it.
    fn local(status: u16, message: String) -> Self {
        Self {
            status,
            kind: None,
            message,
            detail: None,
            retry_after: None,
        }
    }

    /// The server could not be reached (or the request could not even be built), `why` in
    /// the browser's words (or ours).
    pub fn network(why: String) -> Self {
        Self::local(
            0,
            format!("Could not reach the server ({why}). Nothing was lost: try again."),
        )
    }

    /// [`ApiError::network`] for fetch's own error.
    pub fn fetch(e: gloo_net::Error) -> Self {
        Self::network(fetch_error(e))
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// Whoever holds the access token (`auth::Auth` in the app). The client asks it for the token
/// to send, and for a fresh one when there is none or the server refused it; how and when
/// that refresh runs is the holder's business.
pub trait Credentials {
    /// The access token in memory, if any.
    fn token(&self) -> Option<String>;
    /// A fresh access token, or the error the call then fails with.
    fn refresh(&self, why: Need) -> impl Future<Output = Result<String, ApiError>>;
    /// Whether two tokens speak for the same account.
    fn same_holder(&self, a: &str, b: &str) -> bool;
}

/// Why the client asks for a fresh token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Need {
    /// There was none in memory (none yet, or the last refresh failed).
    Missing,
    /// The server answered 401 to the one sent.
    Refused,
}

#[derive(Clone, Copy, Debug)]
pub enum Method {
    Get,
    Post,
    Put,
    Delete,
}

impl Method {
    pub fn name(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Delete => "DELETE",
        }
    }
}

/// One builder for every method (gloo's `Request::get`, `post`, ... would each be a copy).
fn builder(method: Method, path: &str) -> RequestBuilder {
    use gloo_net::http::Method as M;
    RequestBuilder::new(path).method(match method {
        Method::Get => M::GET,
        Method::Post => M::POST,
        Method::Put => M::PUT,
        Method::Delete => M::DELETE,
    })
}

/// A failed answer as an error.
async fn problem(res: Response) -> ApiError {
    let status = res.status();
    let header_retry = res
        .headers()
        .get("retry-after")
        .and_then(|v| v.parse().ok());
    problem_from(status, &res.text().await.unwrap_or_default(), header_retry)
}

/// The error a failed answer's body says: a problem+json body's `type` and `retry_after`, with
/// a sentence for people ([`for_people`]) as its message and the server's own words as its
/// `detail`; or a generic line when the body is not a problem.
fn problem_from(status: u16, body: &str, header_retry: Option<u64>) -> ApiError {
    match crate::json::from_str::<api_types::Problem>(body) {
        Ok(p) => {
            let kind = p.kind();
            let detail = p.detail.unwrap_or(p.title);
            ApiError {
                status,
                kind,
                retry_after: p.retry_after.or(header_retry),
                message: for_people(kind, status, &detail),
                detail: Some(detail),
            }
        }
        Err(_) => ApiError {
            retry_after: header_retry,
            ..ApiError::local(status, format!("The server answered {status}."))
        },
    }
}

/// What a problem means to the person at the keyboard, and what to do: a sentence starting with
/// a capital letter. The server's `detail` is for programs and the inspector; where it already
/// names the one thing to fix (a field's rule, the address to use), it becomes that sentence.
pub fn for_people(kind: Option<ProblemType>, status: u16, detail: &str) -> String {
    use ProblemType as P;
    let fixed = match kind {
        Some(P::UsernameTaken) => "That username is taken. Choose another one.",
        Some(P::InvalidCredentials) => "Wrong username or password.",
        Some(P::WrongPassword) => "That is not your current password. Nothing was changed.",
        Some(P::NoRefreshCookie) => "you are not logged in on this browser. Log in to carry on.",
        Some(P::RefreshReused) => "it was ended for safety, because its refresh token was used twice (a sign it was copied). Log in again.",
        Some(P::SessionEnded) => {
            // The server says why when it knows ("… (password changed)").
            let why = detail
                .rfind('(')
                .and_then(|i| Some(&detail[i..=i + detail[i..].find(')')?]))
                .unwrap_or("");
            return format!("it expired or was ended elsewhere {why}. Log in again to carry on.")
                .replace(" .", ".");
        }
        Some(P::Overloaded | P::DatabaseBusy) => "The server is busy. Nothing was saved: try again in a moment.",
        Some(P::StorageFull) => "The server is out of space. Nothing was saved; what was saved before is safe.",
        Some(P::CsrfRejected) => "The request was refused as coming from another site. Reload the page and try again.",
        _ if status == 413 => "That is too much to send at once. Shorten it and try again.",
        _ => "",
    };
    if !fixed.is_empty() {
        return fixed.into();
    }
    // ASCII only: `char::to_uppercase` brings Unicode's case tables into the download (7 KB
    // brotli, measured), and the server's details start with an ASCII word.
    let mut out = detail.to_owned();
    if let Some(first) = out.get_mut(..1) {
        first.make_ascii_uppercase();
    }
    if !out.ends_with(['.', '!', '?']) {
        out.push('.');
    }
    out
}

/// The body of a successful answer as text ("null" for 204), or the problem as an error. Kept
/// non-generic so the request machinery exists once in the binary, not once per answer type.
async fn body_text(res: Response) -> Result<String, ApiError> {
    if !res.ok() {
        return Err(problem(res).await);
    }
    if res.status() == 204 {
        return Ok("null".into());
    }
    res.text().await.map_err(|e| {
        ApiError::local(
            res.status(),
            format!("Unreadable answer: {}", fetch_error(e)),
        )
    })
}

/// What went wrong in a fetch, in the browser's words (a `TypeError: Failed to fetch`, say).
/// Not `gloo_net::Error`'s `Display`: that would bring serde_json's parse-error and `std::io`'s
/// error texts into the download (about 700 bytes brotli with the serializer's) for a JSON
/// variant the client never meets (it reads bodies as text).
pub fn fetch_error(e: gloo_net::Error) -> String {
    match e {
        gloo_net::Error::JsError(j) => j.to_string(),
        gloo_net::Error::GlooError(s) => s,
        #[allow(unreachable_patterns)]
        _ => "unreadable".into(),
    }
}

/// The typed value of a successful answer's body.
pub fn parse<T: FromJson>(text: &str) -> Result<T, ApiError> {
    crate::json::from_str(text)
        .map_err(|e| ApiError::local(200, format!("Unexpected answer from the server: {e}")))
}

fn to_json(body: &impl Serialize) -> Result<String, ApiError> {
    crate::json::to_string(body).map_err(|e| ApiError::local(0, e))
}

/// Whether the answer's `WWW-Authenticate` challenge names `error` (RFC 9449 §7.1, §9).
fn challenged(res: &Response, error: &str) -> bool {
    res.headers()
        .get("www-authenticate")
        .is_some_and(|c| c.contains(error))
}

async fn send_once(
    method: Method,
    path: &str,
    body: Option<&str>,
    token: Option<&str>,
    headers: &[(&str, &str)],
) -> Result<Response, ApiError> {
    // A fresh proof for every request, the retry after a 401 included (`htu` has no query).
    let htu = path.split('?').next().unwrap_or(path);
    let mut retried = false;
    loop {
        let mut b = builder(method, path);
        for (k, v) in headers {
            b = b.header(k, v);
        }
        let proof = dpop::proof(method.name(), htu, token).await;
        if let Some(p) = &proof {
            b = b.header("DPoP", p);
        }
        if let Some(t) = token {
            let scheme = if proof.is_some() { "DPoP" } else { "Bearer" };
            b = b.header("Authorization", &format!("{scheme} {t}"));
        }
        let req = match body {
            Some(json) => b
                .header("Content-Type", "application/json")
                .body(json.to_owned()),
            None => b.build(),
        }
        .map_err(ApiError::fetch)?;
        let res = req.send().await.map_err(ApiError::fetch)?;
        let client = dpop::client();
        let clock_moved = res.headers().get("date").is_some_and(|d| {
            client.observe_server_time(js_sys::Date::parse(&d), js_sys::Date::now())
        });
        let new_nonce = res
            .headers()
            .get("dpop-nonce")
            .is_some_and(|n| client.observe_nonce(&n));
        // Once more, with a new proof, when the proof was refused for what the answer just
        // taught: the server's time was off here (the first request of a tab whose clock is
        // wrong), or the nonce had changed (a tab idle for a minute). Not when the answer
        // taught nothing new (a proxy that drops `DPoP-Nonce`): the same proof would fail again.
        let refused = challenged(&res, "invalid_dpop_proof") && clock_moved;
        let needs_nonce = challenged(&res, "use_dpop_nonce") && new_nonce;
        if (refused || needs_nonce) && !retried {
            retried = true;
            continue;
        }
        return Ok(res);
    }
}

/// An authenticated call. With no token in memory yet, it first waits for one (the on-load
/// silent refresh, if that is still running).
pub async fn call<T: FromJson>(
    creds: &impl Credentials,
    method: Method,
    path: &str,
    body: Option<&impl Serialize>,
) -> Result<T, ApiError> {
    let json = body.map(to_json).transpose()?;
    parse(&call_inner(creds, method, path, json, &[]).await?)
}

/// An authenticated call with extra headers (the CSRF header of the account routes); a 204's
/// empty answer reads as `()`.
pub async fn call_with<T: FromJson>(
    creds: &impl Credentials,
    method: Method,
    path: &str,
    body: &impl Serialize,
    headers: &[(&str, &str)],
) -> Result<T, ApiError> {
    let json = to_json(body)?;
    parse(&call_inner(creds, method, path, Some(json), headers).await?)
}

/// An authenticated call with a JSON body whose answer is a 204 (nothing to parse).
pub async fn send_json(
    creds: &impl Credentials,
    method: Method,
    path: &str,
    body: &impl Serialize,
    headers: &[(&str, &str)],
) -> Result<(), ApiError> {
    let json = to_json(body)?;
    call_inner(creds, method, path, Some(json), headers)
        .await
        .map(drop)
}

/// An authenticated call with no body either way (the answer is a 204), with any extra
/// headers the route wants (the CSRF header on cookie-adjacent routes such as logout-all).
pub async fn send(
    creds: &impl Credentials,
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
) -> Result<(), ApiError> {
    call_inner(creds, method, path, None, headers)
        .await
        .map(drop)
}

/// Every authenticated call, as one loop with its budget in sight: the token in memory, and
/// after a 401 at most one refreshed token; each sent by [`send_once`] (one more proof if the
/// answer taught the server's time or nonce). At most four requests of its own, plus the
/// refresh's.
async fn call_inner(
    creds: &impl Credentials,
    method: Method,
    path: &str,
    json: Option<String>,
    headers: &[(&str, &str)],
) -> Result<String, ApiError> {
    let mut token = match creds.token() {
        Some(t) => t,
        // Joins the on-load refresh if it is still running.
        None => creds.refresh(Need::Missing).await?,
    };
    let mut refreshed = false;
    loop {
        let res = send_once(method, path, json.as_deref(), Some(&token), headers).await?;
        // A nonce the server still refuses after `send_once`'s retry is no reason to rotate the
        // refresh cookie: the token was fine.
        if res.status() != 401 || challenged(&res, "use_dpop_nonce") || refreshed {
            return body_text(res).await;
        }
        refreshed = true;
        // If another request already refreshed while this one was in flight, just use its
        // token.
        let fresh = match creds.token() {
            Some(t) if t != token => t,
            _ => creds.refresh(Need::Refused).await?,
        };
        // The browser's cookie may now be another account's (someone logged in as someone
        // else in another tab): what this call carries was meant for the first account, and is
        // never sent as the second.
        if !creds.same_holder(&fresh, &token) {
            return Err(ApiError::local(
                401,
                "Not sent: another account logged in.".into(),
            ));
        }
        token = fresh;
    }
}

/// An authenticated GET whose body is left as text, for a caller that parses it later (see
/// [`parse`]) and wants the request's code once, not once per answer type.
pub async fn get_text(creds: &impl Credentials, path: &str) -> Result<String, ApiError> {
    call_inner(creds, Method::Get, path, None, &[]).await
}

/// An unauthenticated GET whose body is left as text (see [`get_text`]).
pub async fn get_public(path: &str) -> Result<String, ApiError> {
    body_text(send_once(Method::Get, path, None, None, &[]).await?).await
}

/// An unauthenticated JSON POST (signup, login).
pub async fn post_public<B: Serialize, T: FromJson>(path: &str, body: &B) -> Result<T, ApiError> {
    let json = to_json(body)?;
    parse(&body_text(send_once(Method::Post, path, Some(&json), None, &[]).await?).await?)
}

/// `POST /api/auth/refresh`: the refresh cookie (which the browser attaches and this program
/// cannot read) for a new access token.
pub async fn refresh() -> Result<TokenResponse, ApiError> {
    let res = send_once(Method::Post, "/api/auth/refresh", None, None, CSRF).await?;
    parse(&body_text(res).await?)
}

/// `POST /api/auth/logout`: ends this browser's session on the server. Only a 204 means it
/// ended; any other answer is an error, whatever its status.
pub async fn logout(token: Option<&str>) -> Result<(), ApiError> {
    let res = send_once(Method::Post, "/api/auth/logout", None, token, CSRF).await?;
    if res.status() == 204 {
        Ok(())
    } else {
        Err(problem(res).await)
    }
}

/// Turns seconds into "2 minutes" / "40 seconds" for retry messages.
pub fn human_wait(secs: u64) -> String {
    match secs {
        0..=1 => "a second".into(),
        2..=119 => format!("{secs} seconds"),
        _ => format!("{} minutes", secs.div_ceil(60)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_wait_rounds_up_minutes() {
        assert_eq!(human_wait(1), "a second");
        assert_eq!(human_wait(45), "45 seconds");
        assert_eq!(human_wait(890), "15 minutes");
    }

    #[test]
    fn problems_carry_their_kind_and_detail() {
        let e = problem_from(
            401,
            r#"{"type":"/api/problems/no-refresh-cookie","title":"Unauthorized","status":401,"detail":"no refresh cookie: log in"}"#,
            None,
        );
        assert_eq!(e.kind, Some(ProblemType::NoRefreshCookie));
        assert_eq!(e.detail.as_deref(), Some("no refresh cookie: log in"));
        assert!(
            e.message.starts_with("you are not logged in"),
            "{}",
            e.message
        );

        let e = problem_from(
            429,
            r#"{"type":"/api/problems/throttled","title":"Too Many Requests","status":429,"retry_after":90}"#,
            Some(5),
        );
        assert_eq!(e.kind, Some(ProblemType::Throttled));
        assert_eq!(
            e.detail.as_deref(),
            Some("Too Many Requests"),
            "the title when there is no detail"
        );
        assert_eq!(
            e.retry_after,
            Some(90),
            "the body's figure over the header's"
        );

        // No `type` (or about:blank): no kind, whatever the detail says.
        let e = problem_from(
            401,
            r#"{"title":"Unauthorized","status":401,"detail":"no refresh cookie"}"#,
            None,
        );
        assert_eq!(e.kind, None);

        let e = problem_from(502, "<html>Bad Gateway</html>", Some(3));
        assert_eq!((e.kind, e.retry_after), (None, Some(3)));
        assert_eq!(e.message, "The server answered 502.");
    }

    /// What people read: sentences, never the server's fragments (issue #27, item 11).
    #[test]
    fn problems_read_as_sentences_for_people() {
        let said = |status: u16, kind: &str, detail: &str| {
            let body = format!(
                r#"{{"type":"/api/problems/{kind}","title":"t","status":{status},"detail":"{detail}"}}"#
            );
            problem_from(status, &body, None).message
        };
        assert_eq!(
            said(409, "username-taken", r#"username \"QA_Alice\" is taken"#),
            "That username is taken. Choose another one."
        );
        assert_eq!(
            said(
                422,
                "validation",
                "body must be at most 64 KiB of text (got 65537 bytes)"
            ),
            "Body must be at most 64 KiB of text (got 65537 bytes)."
        );
        assert_eq!(
            said(413, "nope", "request body is too large"),
            "That is too much to send at once. Shorten it and try again."
        );
        assert_eq!(
            said(
                401,
                "session-ended",
                "this session was ended (password changed)"
            ),
            "it expired or was ended elsewhere (password changed). Log in again to carry on."
        );
        assert_eq!(
            said(
                401,
                "session-ended",
                "refresh token is expired, revoked or unknown"
            ),
            "it expired or was ended elsewhere. Log in again to carry on."
        );
        assert_eq!(said(404, "nope", "no such note"), "No such note.");
        assert_eq!(
            said(503, "database-busy", "database is locked"),
            "The server is busy. Nothing was saved: try again in a moment."
        );
    }
}
