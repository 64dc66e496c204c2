//! Malformed requests, unknown routes, health and discovery: always problem+json, never 500.

use crate::helpers::*;
use reqwest::StatusCode;

#[tokio::test]
async fn malformed_bodies_are_4xx_problems() {
    let app = spawn_app().await;
    let post = |body: &'static str, ct: &'static str| {
        app.client
            .post(app.url("/api/auth/signup"))
            .header("content-type", ct)
            .body(body)
            .send()
    };
    assert_problem(
        post("{not json", "application/json").await.unwrap(),
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_problem(
        post("", "application/json").await.unwrap(),
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_problem(
        post(r#"{"username":"abc"}"#, "application/json")
            .await
            .unwrap(),
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_problem(
        post(r#"{"username":1,"password":2}"#, "application/json")
            .await
            .unwrap(),
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_problem(
        post(r#"{"username":"abc","password":"x"}"#, "text/plain")
            .await
            .unwrap(),
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
    )
    .await;
    let p = assert_problem(
        app.post_json(
            "/api/auth/login",
            &serde_json::json!({"username":"a","password":"b","admin":true}),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert!(
        p["detail"].as_str().unwrap().contains("unknown field"),
        "{p}"
    );
    let big = format!(
        r#"{{"username":"abc","password":"{}"}}"#,
        "x".repeat(100_000)
    );
    let res = app
        .client
        .post(app.url("/api/auth/signup"))
        .header("content-type", "application/json")
        .body(big)
        .send()
        .await
        .unwrap();
    assert_problem(res, StatusCode::PAYLOAD_TOO_LARGE).await;
}

#[tokio::test]
async fn unknown_api_routes_and_methods_are_problems() {
    let app = spawn_app().await;
    assert_problem(app.get("/api/nope").await, StatusCode::NOT_FOUND).await;
    assert_problem(
        app.get("/api/auth/login").await,
        StatusCode::METHOD_NOT_ALLOWED,
    )
    .await;
}

#[tokio::test]
async fn health_readiness_and_request_ids() {
    let app = spawn_app().await;
    let res = app.get("/healthz").await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.headers().contains_key("x-request-id"));
    assert_eq!(app.get("/readyz").await.status(), StatusCode::OK);
}

#[tokio::test]
async fn api_responses_are_never_cached() {
    let app = spawn_app().await;
    let (_, l) = app.new_user().await;
    let res = app.get_auth("/api/me", &l.access).await;
    assert_eq!(res.headers()["cache-control"], "no-store");
    let res = app.refresh_raw(&l.refresh).await;
    assert_eq!(res.headers()["cache-control"], "no-store");
}

#[tokio::test]
async fn jwks_lists_the_signing_key() {
    let app = spawn_app().await;
    let (_, l) = app.new_user().await;
    let jwks: serde_json::Value = app
        .get("/.well-known/jwks.json")
        .await
        .json()
        .await
        .unwrap();
    let keys = jwks["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 1);
    let header = jsonwebtoken::decode_header(&l.access).unwrap();
    assert_eq!(keys[0]["kid"].as_str(), header.kid.as_deref());
    assert_eq!(keys[0]["kty"], "OKP");
    assert_eq!(keys[0]["crv"], "Ed25519");
    // The published key really verifies the token.
    let key =
        jsonwebtoken::DecodingKey::from_ed_components(keys[0]["x"].as_str().unwrap()).unwrap();
    let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::EdDSA);
    v.set_audience(&["cloakroom-api"]);
    assert!(jsonwebtoken::decode::<serde_json::Value>(&l.access, &key, &v).is_ok());
}

/// Opens a connection and sends a request whose body never finishes arriving: deterministic
/// slowness, no timing assumptions.
async fn stalled_request(app: &TestApp) -> tokio::net::TcpStream {
    use tokio::io::AsyncWriteExt;
    let mut stream = tokio::net::TcpStream::connect(app.addr.trim_start_matches("http://"))
        .await
        .unwrap();
    stream
        .write_all(
            b"POST /api/csp-report HTTP/1.1\r\nHost: x\r\nContent-Type: application/csp-report\r\n\
              Content-Length: 100\r\n\r\n{\"csp-report\":",
        )
        .await
        .unwrap();
    stream
}

#[tokio::test]
async fn slow_requests_time_out_with_a_problem() {
    use tokio::io::AsyncReadExt;
    let app = spawn_with(&[("CLOAKROOM_REQUEST_TIMEOUT_SECS", "1")]).await;
    let mut stream = stalled_request(&app).await;
    let mut answer = Vec::new();
    // The server answers and closes; the client never sent the rest of its body.
    // Bounded, so a broken timeout fails this test instead of hanging the suite.
    tokio::time::timeout(
        std::time::Duration::from_secs(10),
        stream.read_to_end(&mut answer),
    )
    .await
    .expect("the server never timed the request out")
    .unwrap();
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(
        answer.contains("application/problem+json") && answer.contains("too long"),
        "{answer}"
    );
    // Other requests are unaffected.
    assert_eq!(app.get("/healthz").await.status(), StatusCode::OK);
}

#[tokio::test]
async fn beyond_the_in_flight_limit_is_503_at_once() {
    let app = spawn_with(&[("CLOAKROOM_MAX_IN_FLIGHT", "1")]).await;
    // The stalled request holds the only permit until its connection goes away (waiting for
    // the server to have read its headers is waiting for an event, not for time).
    let stalled = stalled_request(&app).await;
    until("the stalled request holds the permit", || {
        app.state.in_flight.available_permits() == 0
    })
    .await;
    let res = app.get("/healthz").await;
    assert_eq!(res.headers()["retry-after"], "1");
    assert_problem(res, StatusCode::SERVICE_UNAVAILABLE).await;
    // Once the stalled client goes away, its permit comes back.
    drop(stalled);
    until("the permit comes back", || {
        app.state.in_flight.available_permits() > 0
    })
    .await;
    assert_eq!(
        app.get("/healthz").await.status(),
        StatusCode::OK,
        "the permit was released when the stalled client left"
    );
}
