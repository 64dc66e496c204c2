//! The typed API client. Attaches `Authorization: Bearer` from memory; on a 401 it refreshes
//! once (single flight, shared with every other request that hit a 401) and retries once.

use gloo_net::http::{Request, RequestBuilder, Response};
use serde::{de::DeserializeOwned, Serialize};

use crate::auth::{auth, RefreshError, RefreshReason};

/// An error to show the user: `message` is readable as it is.
#[derive(Clone, Debug, PartialEq)]
pub struct ApiError {
    /// HTTP status, or 0 when the server could not be reached.
    pub status: u16,
    pub message: String,
    pub retry_after: Option<u64>,
}

impl ApiError {
    fn network(e: impl std::fmt::Display) -> Self {
        Self {
            status: 0,
            message: format!("Could not reach the server ({e}). Nothing was lost: try again."),
            retry_after: None,
        }
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

#[derive(Clone, Copy, Debug)]
pub enum Method {
    Get,
    Post,
    Put,
    Delete,
}

fn builder(method: Method, path: &str) -> RequestBuilder {
    match method {
        Method::Get => Request::get(path),
        Method::Post => Request::post(path),
        Method::Put => Request::put(path),
        Method::Delete => Request::delete(path),
    }
}

/// The `detail` (or `title`) of a problem+json answer, or a generic line.
pub async fn problem_detail(res: Response) -> String {
    problem(res).await.message
}

async fn problem(res: Response) -> ApiError {
    let status = res.status();
    let header_retry = res
        .headers()
        .get("retry-after")
        .and_then(|v| v.parse().ok());
    let text = res.text().await.unwrap_or_default();
    match crate::json::from_str::<api_types::Problem>(&text) {
        Ok(p) => ApiError {
            status,
            message: p.detail.unwrap_or(p.title),
            retry_after: p.retry_after.or(header_retry),
        },
        Err(_) => ApiError {
            status,
            message: format!("The server answered {status}."),
            retry_after: header_retry,
        },
    }
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
    res.text().await.map_err(|e| ApiError {
        status: res.status(),
        message: format!("Unreadable answer: {e}"),
        retry_after: None,
    })
}

fn parse<T: DeserializeOwned>(text: &str) -> Result<T, ApiError> {
    crate::json::from_str(text).map_err(|e| ApiError {
        status: 200,
        message: format!("Unexpected answer from the server: {e}"),
        retry_after: None,
    })
}

async fn send_once(
    method: Method,
    path: &str,
    body: Option<&str>,
    token: Option<&str>,
    headers: &[(&str, &str)],
) -> Result<Response, ApiError> {
    let mut b = builder(method, path);
    for (k, v) in headers {
        b = b.header(k, v);
    }
    if let Some(t) = token {
        b = b.header("Authorization", &format!("Bearer {t}"));
    }
    let req = match body {
        Some(json) => b
            .header("Content-Type", "application/json")
            .body(json.to_owned()),
        None => b.build(),
    }
    .map_err(ApiError::network)?;
    req.send().await.map_err(ApiError::network)
}

fn session_over(e: RefreshError) -> ApiError {
    match e {
        RefreshError::Rejected(m) => ApiError {
            status: 401,
            message: format!("Your session has ended: {m}"),
            retry_after: None,
        },
        RefreshError::Unavailable(m) => ApiError::network(m),
    }
}

/// An authenticated call. Waits for the on-load silent refresh if it is still running.
pub async fn call<T: DeserializeOwned>(
    method: Method,
    path: &str,
    body: Option<&impl Serialize>,
) -> Result<T, ApiError> {
    let json = body
        .map(crate::json::to_string)
        .transpose()
        .map_err(|e| ApiError {
            status: 0,
            message: e,
            retry_after: None,
        })?;
    parse(&call_inner(method, path, json, &[]).await?)
}

/// An authenticated call with no body either way (the answer is a 204), with any extra
/// headers the route wants (the CSRF header on cookie-adjacent routes such as logout-all).
pub async fn send(method: Method, path: &str, headers: &[(&str, &str)]) -> Result<(), ApiError> {
    call_inner(method, path, None, headers).await.map(drop)
}

async fn call_inner(
    method: Method,
    path: &str,
    json: Option<String>,
    headers: &[(&str, &str)],
) -> Result<String, ApiError> {
    let a = auth();
    let token = match a.token() {
        Some(t) => t,
        // Joins the on-load refresh if it is still running (single flight).
        None => a
            .refresh(RefreshReason::NoToken)
            .await
            .map_err(session_over)?,
    };
    let res = send_once(method, path, json.as_deref(), Some(&token), headers).await?;
    if res.status() != 401 {
        return body_text(res).await;
    }
    // If another request already refreshed while this one was in flight, just use its token.
    let fresh = match a.token() {
        Some(t) if t != token => t,
        _ => a
            .refresh(RefreshReason::After401)
            .await
            .map_err(session_over)?,
    };
    body_text(send_once(method, path, json.as_deref(), Some(&fresh), headers).await?).await
}

pub async fn get<T: DeserializeOwned>(path: &str) -> Result<T, ApiError> {
    call::<T>(Method::Get, path, None::<&()>).await
}

/// An unauthenticated JSON POST (signup, login).
pub async fn post_public<B: Serialize, T: DeserializeOwned>(
    path: &str,
    body: &B,
) -> Result<T, ApiError> {
    let json = crate::json::to_string(body).map_err(|e| ApiError {
        status: 0,
        message: e,
        retry_after: None,
    })?;
    parse(&body_text(send_once(Method::Post, path, Some(&json), None, &[]).await?).await?)
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
    #[test]
    fn human_wait_rounds_up_minutes() {
        assert_eq!(super::human_wait(1), "a second");
        assert_eq!(super::human_wait(45), "45 seconds");
        assert_eq!(super::human_wait(890), "15 minutes");
    }
}
