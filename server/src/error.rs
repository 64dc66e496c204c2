//! `ApiError`: the one error type of every handler, rendered as RFC 9457 problem+json.
//! This is the only place HTTP statuses for errors are chosen. 500s say nothing to the client
//! and are logged in full.

use api_types::{Problem, ProblemType};
use axum::{
    http::{header, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
};

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400: the request is malformed in a way the client must fix.
    #[error("{0}")]
    BadRequest(String),
    /// 401 with `WWW-Authenticate: Bearer`: missing, invalid, expired or revoked credentials.
    /// Always typed: a client must tell "refresh and retry" from "log in again" from "no cookie".
    #[error("{detail}")]
    Unauthorized { kind: ProblemType, detail: String },
    /// 401 `invalid-token` for a token presented as `Authorization: DPoP`: the challenge is
    /// `DPoP error="invalid_token"` (RFC 9449 §7.1), not Bearer's.
    #[error("{0}")]
    DpopTokenRefused(String),
    /// 403: authenticated (or not needing to be) but not allowed.
    #[error("{0}")]
    Forbidden(String),
    /// 403, typed `csrf-rejected`: the CSRF defence refused a cookie-authenticated request.
    #[error("{0}")]
    CsrfRejected(String),
    /// 403, typed `wrong-origin`: a browser request from an origin other than the public one.
    #[error("{0}")]
    WrongOrigin(String),
    /// 403, typed `wrong-password`: the password confirming an account change is wrong.
    #[error("{0}")]
    WrongPassword(String),
    /// 404: also what another user's resource looks like (no existence oracle).
    #[error("{0}")]
    NotFound(String),
    /// 405: the route exists but not with this method.
    #[error("{0}")]
    MethodNotAllowed(String),
    /// 409, typed `username-taken`: the only uniqueness rule a client can break.
    #[error("{0}")]
    Conflict(String),
    /// 412: `If-Match` names a version the resource no longer has (someone wrote it since).
    #[error("{0}")]
    PreconditionFailed(String),
    /// 428: a write that must name the version it replaces (`If-Match`) named none.
    #[error("{0}")]
    PreconditionRequired(String),
    /// 413
    #[error("{0}")]
    PayloadTooLarge(String),
    /// 415
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// 408: the request took longer than the server allows.
    #[error("{0}")]
    Timeout(String),
    /// 503 with `Retry-After`: the server is at its in-flight limit.
    #[error("{0}")]
    Overloaded(String),
    /// 503 with `Retry-After`, typed `database-busy`: the database is busy, locked,
    /// restarting or unreachable, and this request saved nothing.
    #[error("{0}")]
    DatabaseBusy(String),
    /// 507, typed `storage-full`: the database has no room for this write, which saved nothing.
    #[error("{0}")]
    StorageFull(String),
    /// 422: well-formed but breaks a rule (username shape, weak password, note size).
    #[error("{0}")]
    Unprocessable(String),
    /// 429 with `Retry-After`.
    #[error("{detail}")]
    TooManyRequests {
        detail: String,
        retry_after_secs: u64,
    },
    /// 500: logged, never described to the client.
    #[error(transparent)]
    Internal(anyhow::Error),
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized { .. } | ApiError::DpopTokenRefused(_) => {
                StatusCode::UNAUTHORIZED
            }
            ApiError::Forbidden(_)
            | ApiError::CsrfRejected(_)
            | ApiError::WrongOrigin(_)
            | ApiError::WrongPassword(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::PreconditionFailed(_) => StatusCode::PRECONDITION_FAILED,
            ApiError::PreconditionRequired(_) => StatusCode::PRECONDITION_REQUIRED,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Timeout(_) => StatusCode::REQUEST_TIMEOUT,
            ApiError::Overloaded(_) | ApiError::DatabaseBusy(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::StorageFull(_) => StatusCode::INSUFFICIENT_STORAGE,
            ApiError::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// 401 for an access token that is missing, invalid, expired or revoked.
    pub fn invalid_token(detail: impl Into<String>) -> Self {
        ApiError::unauthorized(ProblemType::InvalidToken, detail)
    }

    /// 401 of the given kind (`kind` must be one of the 401 cases of [`ProblemType`]).
    pub fn unauthorized(kind: ProblemType, detail: impl Into<String>) -> Self {
        ApiError::Unauthorized {
            kind,
            detail: detail.into(),
        }
    }

    /// The stable problem type of this error, for the cases a client must tell apart; the
    /// rest are `about:blank` (their status says it all).
    pub fn kind(&self) -> Option<ProblemType> {
        match self {
            ApiError::Unauthorized { kind, .. } => Some(*kind),
            ApiError::DpopTokenRefused(_) => Some(ProblemType::InvalidToken),
            ApiError::CsrfRejected(_) => Some(ProblemType::CsrfRejected),
            ApiError::WrongOrigin(_) => Some(ProblemType::WrongOrigin),
            ApiError::WrongPassword(_) => Some(ProblemType::WrongPassword),
            ApiError::Conflict(_) => Some(ProblemType::UsernameTaken),
            ApiError::Unprocessable(_) => Some(ProblemType::Validation),
            ApiError::TooManyRequests { .. } => Some(ProblemType::Throttled),
            ApiError::Overloaded(_) => Some(ProblemType::Overloaded),
            ApiError::DatabaseBusy(_) => Some(ProblemType::DatabaseBusy),
            ApiError::StorageFull(_) => Some(ProblemType::StorageFull),
            _ => None,
        }
    }

    /// The problem body this error renders to.
    pub fn problem(&self) -> Problem {
        let status = self.status();
        let detail = match self {
            ApiError::Internal(_) => None,
            other => Some(other.to_string()),
        };
        Problem {
            type_: self
                .kind()
                .map_or_else(|| "about:blank".to_owned(), ProblemType::uri),
            title: match self.kind() {
                Some(kind) => kind.title().to_owned(),
                None => status.canonical_reason().unwrap_or("Error").to_owned(),
            },
            status: status.as_u16(),
            detail,
            instance: None,
            retry_after: match self {
                ApiError::TooManyRequests {
                    retry_after_secs, ..
                } => Some(*retry_after_secs),
                _ => None,
            },
        }
    }
}

impl From<anyhow::Error> for ApiError {
    /// A database failure carried inside an `anyhow::Error` is still told as what it is.
    fn from(e: anyhow::Error) -> Self {
        match e.downcast::<sqlx::Error>() {
            Ok(db) => db.into(),
            Err(e) => ApiError::Internal(e),
        }
    }
}

/// Seconds a client waits before retrying after `database-busy`: a lock wait is over in about
/// this time, and a restart or failover takes a few of them.
pub const DATABASE_RETRY_SECS: u32 = 2;

impl From<sqlx::Error> for ApiError {
    /// A database condition is said as such (`store::fault`); anything else is a 500.
    fn from(e: sqlx::Error) -> Self {
        use crate::store::fault::{fault_of, Fault};
        match fault_of(&e) {
            Some(Fault::Busy) => {
                tracing::warn!(error = %e, "database busy or unreachable");
                ApiError::DatabaseBusy(
                    "the database is busy or unreachable and this request saved nothing; retry in a moment"
                        .into(),
                )
            }
            Some(Fault::Full) => {
                tracing::error!(error = %e, "database out of space");
                ApiError::StorageFull(
                    "the database is out of space and this request saved nothing; what was saved before is kept".into(),
                )
            }
            None => ApiError::Internal(e.into()),
        }
    }
}

/// Renders any problem with the right content type (also used by middleware for 404/405/413).
pub fn problem_response(problem: &Problem) -> Response {
    let status = StatusCode::from_u16(problem.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = serde_json::to_vec(problem).unwrap_or_default();
    let mut res = (status, body).into_response();
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json"),
    );
    res
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let ApiError::Internal(e) = &self {
            tracing::error!(error = ?e, "internal error");
        }
        let mut res = problem_response(&self.problem());
        match &self {
            ApiError::Unauthorized {
                kind: ProblemType::InvalidDpopProof,
                ..
            } => {
                // RFC 9449 §7.1: the proof, not the token, was refused.
                res.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static(
                        r#"DPoP algs="Ed25519 EdDSA ES256", error="invalid_dpop_proof""#,
                    ),
                );
            }
            ApiError::Unauthorized {
                kind: ProblemType::UseDpopNonce,
                ..
            } => {
                // RFC 9449 §9: the nonce itself rides on the answer's `DPoP-Nonce` header
                // (added to every API answer, `middleware::dpop_nonce_header`).
                res.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static(
                        r#"DPoP algs="Ed25519 EdDSA ES256", error="use_dpop_nonce", error_description="Resource server requires nonce in DPoP proof""#,
                    ),
                );
            }
            ApiError::DpopTokenRefused(_) => {
                res.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static(
                        r#"DPoP algs="Ed25519 EdDSA ES256", error="invalid_token""#,
                    ),
                );
            }
            ApiError::Unauthorized { .. } => {
                // RFC 6750 §3: tell the client which scheme to use. invalid_token lets a
                // client distinguish "refresh and retry" from "send credentials at all". The
                // second challenge announces DPoP (RFC 9449 §7.1) and its algorithms.
                res.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static(r#"Bearer realm="cloakroom", error="invalid_token""#),
                );
                res.headers_mut().append(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static(r#"DPoP algs="Ed25519 EdDSA ES256""#),
                );
            }
            ApiError::Overloaded(_) => {
                res.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(1));
            }
            ApiError::DatabaseBusy(_) => {
                res.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(DATABASE_RETRY_SECS));
            }
            ApiError::TooManyRequests {
                retry_after_secs, ..
            } => {
                res.headers_mut().insert(
                    header::RETRY_AFTER,
                    HeaderValue::from(retry_after_secs.max(&1).to_owned()),
                );
            }
            _ => {}
        }
        res
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_errors_say_nothing() {
        let p = ApiError::Internal(anyhow::anyhow!("db password is hunter2")).problem();
        assert_eq!(p.status, 500);
        assert!(p.detail.is_none());
    }

    #[test]
    fn unauthorized_carries_www_authenticate() {
        let res = ApiError::invalid_token("expired").into_response();
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
        assert!(res.headers()[header::WWW_AUTHENTICATE]
            .to_str()
            .unwrap()
            .starts_with("Bearer"));
        assert_eq!(
            res.headers()[header::CONTENT_TYPE],
            "application/problem+json"
        );
    }

    #[test]
    fn typed_problems_have_their_documented_status() {
        let cases = [
            ApiError::unauthorized(ProblemType::NoRefreshCookie, "x"),
            ApiError::unauthorized(ProblemType::RefreshReused, "x"),
            ApiError::unauthorized(ProblemType::SessionEnded, "x"),
            ApiError::invalid_token("x"),
            ApiError::unauthorized(ProblemType::InvalidCredentials, "x"),
            ApiError::TooManyRequests {
                detail: "x".into(),
                retry_after_secs: 1,
            },
            ApiError::Overloaded("x".into()),
            ApiError::CsrfRejected("x".into()),
            ApiError::Unprocessable("x".into()),
            ApiError::Conflict("x".into()),
            ApiError::unauthorized(ProblemType::InvalidDpopProof, "x"),
            ApiError::unauthorized(ProblemType::UseDpopNonce, "x"),
            ApiError::DatabaseBusy("x".into()),
            ApiError::StorageFull("x".into()),
            ApiError::WrongOrigin("x".into()),
            ApiError::WrongPassword("x".into()),
            ApiError::unauthorized(ProblemType::PasskeyRefused, "x"),
        ];
        let mut seen = Vec::new();
        for e in cases {
            let kind = e.kind().expect("typed");
            assert_eq!(e.status().as_u16(), kind.status(), "{kind:?}");
            let p = e.problem();
            assert_eq!(p.kind(), Some(kind));
            assert_eq!(p.title, kind.title());
            seen.push(kind);
        }
        // Every type a client may see is produced by some error.
        for &kind in ProblemType::ALL {
            assert!(seen.contains(&kind), "{kind:?} is never produced");
        }
        assert_eq!(
            ApiError::NotFound("x".into()).problem().type_,
            "about:blank"
        );
    }

    #[test]
    fn too_many_requests_sets_retry_after() {
        let res = ApiError::TooManyRequests {
            detail: "slow down".into(),
            retry_after_secs: 42,
        }
        .into_response();
        assert_eq!(res.headers()[header::RETRY_AFTER], "42");
    }
}
