//! The simplejwt-compatible token flow for non-browser clients.

use crate::helpers::*;
use api_types::TokenPair;
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn obtain_verify_refresh_and_reuse() {
    let app = spawn_app().await;
    let name = unique_name();
    app.signup(&name, PASSWORD).await;
    let res = app
        .post_json(
            "/api/token/",
            &json!({"username": name, "password": PASSWORD}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(
        res.headers().get("set-cookie").is_none(),
        "no cookie in the body flow"
    );
    let pair: TokenPair = res.json().await.unwrap();
    let refresh = pair.refresh.clone().unwrap();

    assert_eq!(
        app.post_json("/api/token/verify/", &json!({"token": pair.access}))
            .await
            .status(),
        StatusCode::OK
    );
    assert_problem(
        app.post_json("/api/token/verify/", &json!({"token": "x.y.z"}))
            .await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    assert_eq!(app.me_status(&pair.access).await, StatusCode::OK);

    let res = app
        .post_json("/api/token/refresh/", &json!({"refresh": refresh}))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let next: TokenPair = res.json().await.unwrap();
    let next_refresh = next.refresh.clone().expect("rotated");
    assert_ne!(next_refresh, refresh);

    // The owner uses the successor; replaying the old token after that (and after the grace
    // window) is theft.
    let res = app
        .post_json("/api/token/refresh/", &json!({"refresh": next_refresh}))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let next_refresh = res
        .json::<TokenPair>()
        .await
        .unwrap()
        .refresh
        .expect("rotated");
    app.state.clock.advance(11);
    assert_problem(
        app.post_json("/api/token/refresh/", &json!({"refresh": refresh}))
            .await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    // Reuse killed the family: the newest token and access tokens too.
    assert_problem(
        app.post_json("/api/token/refresh/", &json!({"refresh": next_refresh}))
            .await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    assert_eq!(app.me_status(&next.access).await, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_duplicate_gets_the_same_successor() {
    let app = spawn_app().await;
    let name = unique_name();
    app.signup(&name, PASSWORD).await;
    let pair: TokenPair = app
        .post_json(
            "/api/token/",
            &json!({"username": name, "password": PASSWORD}),
        )
        .await
        .json()
        .await
        .unwrap();
    let refresh = pair.refresh.unwrap();
    let first = app
        .post_json("/api/token/refresh/", &json!({"refresh": refresh}))
        .await;
    assert_eq!(first.status(), StatusCode::OK);
    let first: serde_json::Value = first.json().await.unwrap();
    let dup: serde_json::Value = app
        .post_json("/api/token/refresh/", &json!({"refresh": refresh}))
        .await
        .json()
        .await
        .unwrap();
    assert!(dup["access"].is_string());
    assert!(first["refresh"].is_string());
    assert_eq!(dup["refresh"], first["refresh"], "{dup}");
}

#[tokio::test]
async fn bad_credentials_are_401() {
    let app = spawn_app().await;
    let res = app
        .post_json(
            "/api/token/",
            &json!({"username": "ghost", "password": PASSWORD}),
        )
        .await;
    assert_problem(res, StatusCode::UNAUTHORIZED).await;
}

/// Django REST framework clients post forms as readily as JSON (`requests.post(url,
/// data=...)`): the three routes take both, with the same answers, and a broken form gets a
/// problem, not a 415.
#[tokio::test]
async fn the_token_routes_take_html_forms_as_drf_does() {
    let app = spawn_app().await;
    let name = unique_name();
    app.signup(&name, PASSWORD).await;
    let form =
        |path: &str, fields: &[(&str, &str)]| app.client.post(app.url(path)).form(fields).send();
    let res = form(
        "/api/token/",
        &[("username", &name), ("password", PASSWORD)],
    )
    .await
    .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let pair: TokenPair = res.json().await.unwrap();
    let res = form("/api/token/verify/", &[("token", &pair.access)])
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let res = form(
        "/api/token/refresh/",
        &[("refresh", pair.refresh.as_deref().unwrap())],
    )
    .await
    .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    // A wrong password in a form is the same 401; a form without a field, or with one too
    // many, is 422, as JSON is.
    let res = form(
        "/api/token/",
        &[("username", &name), ("password", "not it at all")],
    )
    .await
    .unwrap();
    assert_problem(res, StatusCode::UNAUTHORIZED).await;
    let res = form("/api/token/", &[("username", &name)]).await.unwrap();
    assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY).await;
    let res = form("/api/token/verify/", &[("token", "x"), ("extra", "y")])
        .await
        .unwrap();
    assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY).await;
    // Any other body type is still 415.
    let res = app
        .client
        .post(app.url("/api/token/"))
        .header("content-type", "text/plain")
        .body("username=x")
        .send()
        .await
        .unwrap();
    assert_problem(res, StatusCode::UNSUPPORTED_MEDIA_TYPE).await;
}
