//! No token, cookie or password ever appears in a log line. Its own test binary because it
//! installs a process-wide tracing subscriber (at debug, more verbose than production) that
//! captures everything every flow logs, then searches the capture for the secrets themselves.

#[path = "api/helpers.rs"]
#[allow(dead_code)]
mod helpers;

use std::{
    io::Write,
    sync::{Arc, Mutex},
};

use helpers::*;
use reqwest::StatusCode;
use serde_json::json;

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Capture {
    type Writer = Capture;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

fn uuid_like(s: &str) -> bool {
    s.len() == 36 && s.chars().all(|c| c.is_ascii_hexdigit() || c == '-')
}

#[tokio::test]
async fn secrets_never_reach_the_logs_and_no_request_forges_a_line() {
    let capture = Capture::default();
    // The production subscriber (control characters escaped), at debug.
    cloakroom::telemetry::init_with_writer("debug", false, capture.clone());

    let app = spawn_app().await;
    let name = unique_name();
    let secret_password = "a very secret passphrase 9713";
    assert_eq!(
        app.signup(&name, secret_password).await.status(),
        StatusCode::CREATED
    );
    let res = app.login_raw(&name, secret_password, true).await;
    let (refresh1, _) = refresh_cookie(res.headers()).unwrap();
    let access1 = res
        .json::<api_types::TokenResponse>()
        .await
        .unwrap()
        .access_token;
    assert_eq!(app.me_status(&access1).await, StatusCode::OK);
    let res = app.refresh_raw(&refresh1).await;
    let (refresh2, _) = refresh_cookie(res.headers()).unwrap();
    let access2 = res
        .json::<api_types::TokenResponse>()
        .await
        .unwrap()
        .access_token;
    // Failures log too: a wrong password, a forged token, a replayed cookie.
    app.login_raw(&name, "wrong passphrase 12345", false).await;
    app.get_auth("/api/me", &format!("{access2}x")).await;
    let pair: api_types::TokenPair = app
        .post_json(
            "/api/token/",
            &json!({"username": name, "password": secret_password}),
        )
        .await
        .json()
        .await
        .unwrap();
    app.post_json("/api/token/verify/", &json!({"token": pair.access}))
        .await;
    app.post_json("/api/token/refresh/", &json!({"refresh": pair.refresh}))
        .await;
    app.logout_raw(&refresh2).await;
    // Log forging: a username with a newline, and a client's own request id, try to write a line
    // of their own (the attack's reproduction: a line starting with FORGED).
    let forged = "x\nFORGED INFO admin logged in";
    app.login_raw(forged, "whatever password 1", false).await;
    app.signup(forged, "whatever password 1").await;
    app.post_json(
        "/api/token/",
        &json!({"username": forged, "password": "pw"}),
    )
    .await;
    let res = app
        .client
        .get(app.url("/healthz"))
        .header("x-request-id", "client-chosen-id-FORGED")
        .send()
        .await
        .unwrap();
    let echoed = res.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert_ne!(echoed, "client-chosen-id-FORGED");
    assert!(uuid_like(&echoed), "server-made request id: {echoed}");
    // The server must have logged something, or this test proves nothing.
    let logs = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
    assert!(logs.contains("failed login"), "{logs}");
    for line in logs.lines() {
        assert!(!line.starts_with("FORGED"), "a forged line: {line}");
    }
    assert!(
        !logs.contains("client-chosen-id"),
        "a client's request id reached the logs"
    );
    assert!(
        logs.contains("logged in") && logs.contains("/api/auth/refresh"),
        "{logs}"
    );

    let mut secrets = vec![
        secret_password.to_owned(),
        "wrong passphrase 12345".to_owned(),
        refresh1,
        refresh2,
        pair.refresh.unwrap(),
    ];
    for jwt in [access1, access2, pair.access] {
        // Any of the three parts would leak something (the signature makes it usable).
        secrets.extend(jwt.split('.').map(str::to_owned));
    }
    for s in secrets {
        assert!(!logs.contains(&s), "a secret reached the logs: {s}");
    }
}
