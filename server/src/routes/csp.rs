//! `POST /api/csp-report`: where browsers send Content-Security-Policy violations. Anyone can
//! post here, so bodies are small, posts are rate-limited per IP, and what is logged is a
//! bounded summary (never the whole body, which an attacker controls).

use api_types::Problem;
use axum::{
    body::Bytes,
    extract::{DefaultBodyLimit, State},
    http::{header, HeaderMap, StatusCode},
};
use serde_json::Value;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::extract::ClientMeta;
use crate::{
    error::{ApiError, ApiResult},
    state::AppState,
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(report))
        .layer(DefaultBodyLimit::max(16 * 1024))
}

fn field<'a>(v: &'a Value, names: &[&str]) -> Option<&'a str> {
    names
        .iter()
        .find_map(|n| v.get(*n).and_then(|x| x.as_str()))
}

fn clip(s: &str) -> String {
    s.chars().filter(|c| !c.is_control()).take(200).collect()
}

/// What `report-uri` posts (`application/csp-report`).
#[derive(ToSchema)]
#[allow(dead_code)] // a schema only: the handler reads the report as JSON, field by field
struct CspReport {
    #[schema(rename = "csp-report", value_type = Object)]
    csp_report: Value,
}

/// One entry of what the Reporting API posts (`application/reports+json`).
#[derive(ToSchema)]
#[allow(dead_code)]
struct ReportEntry {
    #[schema(value_type = Object)]
    body: Value,
}

/// The violations a report describes (a batch may hold several, or none), or why the request is
/// not a report. Browsers send either shape; anything else is refused (400/415) rather than
/// logged, so the log holds reports only.
fn violations(headers: &HeaderMap, body: &[u8]) -> ApiResult<Vec<Value>> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase());
    let batch = match content_type.as_deref() {
        Some("application/csp-report") | Some("application/json") => false,
        Some("application/reports+json") => true,
        _ => {
            return Err(ApiError::UnsupportedMediaType(
                "a CSP report is application/csp-report (or application/json) or application/reports+json".into(),
            ))
        }
    };
    let bad = || ApiError::BadRequest("not a CSP violation report".into());
    let parsed: Value = serde_json::from_slice(body).map_err(|_| bad())?;
    let object = |v: Option<&Value>| match v {
        Some(v @ Value::Object(_)) => Ok(v.clone()),
        _ => Err(bad()),
    };
    if batch {
        let entries = parsed.as_array().ok_or_else(bad)?;
        entries.iter().map(|e| object(e.get("body"))).collect()
    } else {
        Ok(vec![object(parsed.get("csp-report"))?])
    }
}

#[utoipa::path(post, path = "/api/csp-report", tag = "operations",
    request_body(content(
        (CspReport = "application/csp-report"),
        (CspReport = "application/json"),
        (Vec<ReportEntry> = "application/reports+json"),
    )),
    responses((status = 204, description = "Logged"),
        (status = 400, description = "Not a CSP violation report", body = Problem),
        (status = 413, description = "Report too large", body = Problem),
        (status = 415, description = "Not application/csp-report, application/json or application/reports+json", body = Problem),
        (status = 429, description = "Too many reports from this IP", body = Problem)))]
async fn report(
    State(state): State<AppState>,
    meta: ClientMeta,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<StatusCode> {
    state.report_limiter.check(meta.ip)?;
    // `report-uri` posts {"csp-report": {...}}; the Reporting API posts [{"body": {...}}, …].
    // One line per report is enough to see an attack or a broken deploy: the first of a batch.
    let Some(inner) = violations(&headers, &body)?.into_iter().next() else {
        return Ok(StatusCode::NO_CONTENT);
    };
    let inner = &inner;
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
