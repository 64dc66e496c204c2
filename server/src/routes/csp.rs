//! `POST /api/csp-report`: where browsers send Content-Security-Policy violations. Anyone can
//! post here, so bodies are small, posts are rate-limited per IP, and what is logged is a
//! bounded summary (never the whole body, which an attacker controls).

use api_types::Problem;
use axum::{
    body::Bytes,
    extract::{DefaultBodyLimit, State},
    http::StatusCode,
    routing::post,
    Router,
};

use crate::extract::ClientMeta;
use crate::{error::ApiResult, security::CSP_REPORT_PATH, state::AppState};

pub fn router() -> Router<AppState> {
    Router::new()
        .route(CSP_REPORT_PATH, post(report))
        .layer(DefaultBodyLimit::max(16 * 1024))
}

fn field<'a>(v: &'a serde_json::Value, names: &[&str]) -> Option<&'a str> {
    names
        .iter()
        .find_map(|n| v.get(*n).and_then(|x| x.as_str()))
}

fn clip(s: &str) -> String {
    s.chars().filter(|c| !c.is_control()).take(200).collect()
}

#[utoipa::path(post, path = "/api/csp-report", tag = "operations", request_body(content = Object, content_type = "application/csp-report"),
    responses((status = 204, description = "Logged"), (status = 413, description = "Report too large", body = Problem, content_type = "application/problem+json"), (status = 429, description = "Too many reports from this IP", body = Problem, content_type = "application/problem+json")))]
async fn report(
    State(state): State<AppState>,
    meta: ClientMeta,
    body: Bytes,
) -> ApiResult<StatusCode> {
    state.report_limiter.check(meta.ip)?;
    // `report-uri` posts {"csp-report": {...}}; the Reporting API posts [{"body": {...}}].
    let parsed: serde_json::Value =
        serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null);
    let inner = parsed
        .get("csp-report")
        .or_else(|| parsed.get(0).and_then(|r| r.get("body")))
        .unwrap_or(&parsed);
    let directive = field(
        inner,
        &[
            "violated-directive",
            "effectiveDirective",
            "effective-directive",
        ],
    )
    .unwrap_or("?");
    let blocked = field(inner, &["blocked-uri", "blockedURL"]).unwrap_or("?");
    let page = field(inner, &["document-uri", "documentURL"]).unwrap_or("?");
    tracing::warn!(
        ip = %meta.ip,
        directive = %clip(directive),
        blocked = %clip(blocked),
        page = %clip(page.split('?').next().unwrap_or("")),
        "CSP violation reported"
    );
    Ok(StatusCode::NO_CONTENT)
}
