//! Security headers, the CSP report endpoint, and Clear-Site-Data on logout.

use crate::helpers::*;
use reqwest::StatusCode;

#[tokio::test]
async fn every_response_carries_the_security_headers() {
    let app = spawn_app().await;
    for path in [
        "/healthz",
        "/api/nope",
        "/notes",
        "/docs/security",
        "/docs/credentials.svg",
    ] {
        let res = app.get(path).await;
        let h = res.headers();
        let csp = h["content-security-policy"].to_str().unwrap();
        assert!(
            csp.contains("default-src 'self'") && csp.contains("object-src 'none'"),
            "{path}: {csp}"
        );
        assert!(
            !csp.contains("unsafe-inline") && !csp.contains("'unsafe-eval'"),
            "{csp}"
        );
        assert!(
            csp.contains("frame-ancestors 'none'") && csp.contains("report-uri /api/csp-report")
        );
        assert_eq!(h["x-content-type-options"], "nosniff");
        assert_eq!(h["referrer-policy"], "no-referrer");
        assert_eq!(h["cross-origin-opener-policy"], "same-origin");
        assert!(h["permissions-policy"]
            .to_str()
            .unwrap()
            .contains("camera=()"));
        assert!(
            h.get("strict-transport-security").is_none(),
            "no HSTS over plain http"
        );
    }
}

#[tokio::test]
async fn hsts_when_served_over_https() {
    let app = spawn_with(&[("CLOAKROOM_PUBLIC_ORIGIN", "https://notes.example")]).await;
    let res = app.get("/healthz").await;
    assert!(res.headers()["strict-transport-security"]
        .to_str()
        .unwrap()
        .starts_with("max-age="));
}

#[tokio::test]
async fn inline_scripts_of_index_html_are_hashed_into_the_policy() {
    let dist = tempfile::TempDir::new().unwrap();
    std::fs::write(
        dist.path().join("index.html"),
        "<html><head><script type=\"module\">import init from '/app.js'; await init();</script></head></html>",
    )
    .unwrap();
    let app = spawn_with(&[("CLOAKROOM_DIST_DIR", dist.path().to_str().unwrap())]).await;
    let res = app.get("/").await;
    assert_eq!(res.headers()["cache-control"], "no-cache");
    let csp = res.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    let expected = cloakroom::security::inline_script_hashes(&res.text().await.unwrap());
    assert_eq!(expected.len(), 1);
    assert!(csp.contains(&format!("'{}'", expected[0])), "{csp}");
    // SPA fallback: deep links get index.html too.
    let res = app.get("/sessions").await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.text().await.unwrap().contains("<script"));
}

#[tokio::test]
async fn csp_reports_are_accepted_bounded_and_rate_limited() {
    let app = spawn_app().await;
    let report = serde_json::json!({"csp-report": {"document-uri": "http://x/notes?secret=1", "violated-directive": "script-src-elem", "blocked-uri": "inline"}});
    let post = || {
        app.client
            .post(app.url("/api/csp-report"))
            .header("content-type", "application/csp-report")
            .body(report.to_string())
            .send()
    };
    assert_eq!(post().await.unwrap().status(), StatusCode::NO_CONTENT);
    // The Reporting API's batch shape is a report too; anything else is refused, not logged.
    let send = |content_type: &'static str, body: String| {
        app.client
            .post(app.url("/api/csp-report"))
            .header("content-type", content_type)
            .body(body)
            .send()
    };
    let batch =
        serde_json::json!([{"type": "csp-violation", "body": {"effectiveDirective": "img-src"}}]);
    let res = send("application/reports+json", batch.to_string())
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    for (content_type, body, status) in [
        (
            "text/plain",
            report.to_string(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
        (
            "application/csp-report",
            "[1,2]".to_owned(),
            StatusCode::BAD_REQUEST,
        ),
        (
            "application/csp-report",
            r#"{"csp-report": 7}"#.to_owned(),
            StatusCode::BAD_REQUEST,
        ),
        (
            "application/reports+json",
            report.to_string(),
            StatusCode::BAD_REQUEST,
        ),
        (
            "application/csp-report",
            "not json".to_owned(),
            StatusCode::BAD_REQUEST,
        ),
    ] {
        let res = send(content_type, body.clone()).await.unwrap();
        assert_problem(res, status).await;
    }
    let big = app
        .client
        .post(app.url("/api/csp-report"))
        .body(vec![b'x'; 64 * 1024])
        .send()
        .await
        .unwrap();
    assert_eq!(big.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let mut limited = false;
    for _ in 0..70 {
        if post().await.unwrap().status() == StatusCode::TOO_MANY_REQUESTS {
            limited = true;
            break;
        }
    }
    assert!(limited, "report endpoint is rate limited per IP");
}

#[tokio::test]
async fn logout_sends_clear_site_data() {
    let app = spawn_app().await;
    let (_, login) = app.new_user().await;
    let res = app.logout_raw(&login.refresh).await;
    // Not "cookies": the device cookie must outlive a logout (auth::device).
    assert_eq!(res.headers()["clear-site-data"], "\"storage\"");
}

#[tokio::test]
async fn hashed_assets_are_precompressed_and_immutable() {
    let dist = tempfile::TempDir::new().unwrap();
    std::fs::write(dist.path().join("index.html"), "<html></html>").unwrap();
    std::fs::write(
        dist.path().join("app-0123456789abcdef.js"),
        "console.log(1)",
    )
    .unwrap();
    std::fs::write(
        dist.path().join("app-0123456789abcdef.js.br"),
        b"\x0b\x06\x80console.log(1)\x03",
    )
    .unwrap();
    let app = spawn_with(&[("CLOAKROOM_DIST_DIR", dist.path().to_str().unwrap())]).await;
    let res = app
        .client
        .get(app.url("/app-0123456789abcdef.js"))
        .header("accept-encoding", "br")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["content-encoding"], "br");
    assert_eq!(
        res.headers()["cache-control"],
        "public, max-age=31536000, immutable"
    );
    // Without br support, the plain file.
    let res = app.get("/app-0123456789abcdef.js").await;
    assert!(res.headers().get("content-encoding").is_none());
    assert_eq!(res.text().await.unwrap(), "console.log(1)");
}

#[tokio::test]
async fn the_docs_are_pages_and_the_old_address_leads_to_them() {
    let app = spawn_app().await;
    for (path, heading) in [
        ("/docs/security", "<h1 id=\"cloakroom-threat-model\">"),
        ("/docs/api", "<h1 id=\"cloakroom-http-api\">"),
    ] {
        let res = app.get(path).await;
        assert_eq!(res.status(), StatusCode::OK, "{path}");
        assert_eq!(res.headers()["content-type"], "text/html; charset=utf-8");
        let html = res.text().await.unwrap();
        assert!(html.contains(heading), "{path}");
        assert!(
            !html.contains("<script"),
            "{path}: no script on a docs page"
        );
    }
    assert_problem(app.get("/docs/nothing").await, StatusCode::NOT_FOUND).await;
    let res = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(format!("{}/security.md", app.addr))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::PERMANENT_REDIRECT);
    assert_eq!(res.headers()["location"], "/docs/security");
}
