//! One address for the app, its public origin: the same server reached by another name
//! (`localhost` for `127.0.0.1`, what many people type) redirects page loads there, and a browser
//! request from a page at that other name gets one problem naming the address, before anything
//! is done, so nobody makes an account they then cannot log in to.

use api_types::ProblemType;
use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::*;

fn other_name(app: &TestApp) -> String {
    app.addr.replace("127.0.0.1", "localhost")
}

#[tokio::test]
async fn a_page_at_another_name_signs_up_nobody_and_is_told_where_to_go() {
    let app = spawn_app().await;
    let name = unique_name();
    let body = json!({"username": name, "password": PASSWORD});
    for path in ["/api/auth/signup", "/api/auth/login"] {
        let res = app
            .client
            .post(app.url(path))
            .header("origin", other_name(&app))
            .header("x-requested-with", "cloakroom")
            .json(&body)
            .send()
            .await
            .unwrap();
        let p = assert_problem(res, StatusCode::FORBIDDEN).await;
        assert_eq!(p["type"], ProblemType::WrongOrigin.uri());
        let detail = p["detail"].as_str().unwrap();
        assert!(
            detail.contains(&app.addr),
            "names the address to use: {detail}"
        );
    }
    // Nothing was made: the name is still free from the right address.
    let res = app
        .client
        .post(app.url("/api/auth/signup"))
        .header("origin", &app.addr)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    // Clients that send no Origin (curl, simplejwt clients) are not affected.
    assert_eq!(
        app.login_raw(&name, PASSWORD, false).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn page_loads_at_another_name_go_to_the_public_origin() {
    let app = spawn_app().await;
    let host = other_name(&app).trim_start_matches("http://").to_owned();
    let get = |path: &'static str, host: String| {
        let app = &app;
        async move {
            app.client
                .get(app.url(path))
                .header("host", host)
                .send()
                .await
                .unwrap()
        }
    };
    for (path, to) in [
        ("/", "/"),
        ("/notes?x=1", "/notes?x=1"),
        ("/login", "/login"),
    ] {
        let res = get(path, host.clone()).await;
        assert_eq!(res.status(), StatusCode::PERMANENT_REDIRECT, "{path}");
        assert_eq!(res.headers()["location"], format!("{}{to}", app.addr));
    }
    // The public name itself is served, and health checks and key discovery answer by any name.
    let public_host = app.addr.trim_start_matches("http://").to_owned();
    assert_ne!(
        get("/login", public_host).await.status(),
        StatusCode::PERMANENT_REDIRECT
    );
    for path in ["/healthz", "/readyz", "/.well-known/jwks.json"] {
        assert_eq!(
            get(path, host.clone()).await.status(),
            StatusCode::OK,
            "{path}"
        );
    }
    // API calls without an Origin are answered, not redirected.
    assert_eq!(
        get("/api/me", host.clone()).await.status(),
        StatusCode::UNAUTHORIZED
    );
}
