//! CSRF layers on the cookie-authenticated routes.

use crate::helpers::*;
use reqwest::StatusCode;

async fn post(
    app: &TestApp,
    path: &str,
    refresh: &str,
    headers: &[(&str, &str)],
) -> reqwest::Response {
    let mut req = app
        .client
        .post(app.url(path))
        .header("cookie", format!("__Host-cloakroom_refresh={refresh}"));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    req.send().await.unwrap()
}

#[tokio::test]
async fn refresh_and_logout_require_the_custom_header() {
    let app = spawn_app().await;
    let (_, login) = app.new_user().await;
    for path in ["/api/auth/refresh", "/api/auth/logout"] {
        let p = assert_problem(
            post(&app, path, &login.refresh, &[]).await,
            StatusCode::FORBIDDEN,
        )
        .await;
        assert!(p["detail"].as_str().unwrap().contains("X-Requested-With"));
        let res = post(
            &app,
            path,
            &login.refresh,
            &[("x-requested-with", "XMLHttpRequest")],
        )
        .await;
        assert_problem(res, StatusCode::FORBIDDEN).await;
    }
    // Nothing was rotated or revoked by the refused requests.
    assert_eq!(app.me_status(&login.access).await, StatusCode::OK);
    assert_eq!(
        app.refresh_raw(&login.refresh).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_foreign_origin_is_refused_and_ours_accepted() {
    let app = spawn_app().await;
    let (_, login) = app.new_user().await;
    for origin in ["http://evil.example", "null", "http://127.0.0.1:1"] {
        let res = post(
            &app,
            "/api/auth/refresh",
            &login.refresh,
            &[("x-requested-with", "cloakroom"), ("origin", origin)],
        )
        .await;
        // Refused before the route is reached (`middleware::canonical_origin`), with the address
        // to use; `csrf::check` refuses the same again behind it.
        let p = assert_problem(res, StatusCode::FORBIDDEN).await;
        assert_eq!(p["type"], api_types::ProblemType::WrongOrigin.uri(), "{p}");
        assert!(p["detail"].as_str().unwrap().contains(&app.addr), "{p}");
    }
    let ours = app.addr.clone();
    let res = post(
        &app,
        "/api/auth/refresh",
        &login.refresh,
        &[("x-requested-with", "cloakroom"), ("origin", &ours)],
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
}

#[tokio::test]
async fn logout_all_checks_csrf_too() {
    let app = spawn_app().await;
    let (_, login) = app.new_user().await;
    let res = app
        .client
        .post(app.url("/api/auth/logout-all"))
        .bearer_auth(&login.access)
        .header("origin", "http://evil.example")
        .header("x-requested-with", "cloakroom")
        .send()
        .await
        .unwrap();
    assert_problem(res, StatusCode::FORBIDDEN).await;
    assert_eq!(app.me_status(&login.access).await, StatusCode::OK);
}
