//! `spawn_app()`: the real server on port 0 with a fresh database, plus typed helpers. The
//! database is a SQLite file in a temp dir, or, when `CLOAKROOM_TEST_POSTGRES_URL` names a
//! PostgreSQL server (`make pg` runs this whole suite under `.ci/with-postgres`), a new database
//! of its own there: the same tests, on both engines. Cookies are handled by hand (not by a cookie jar) so tests can see and replay the
//! exact values a browser would hold.

use std::collections::HashMap;

use api_types::TokenResponse;
use cloakroom::{config::Settings, startup::Application, state::AppState};
use reqwest::{header::HeaderMap, Response, StatusCode};
use serde_json::{json, Value};
use tempfile::TempDir;

pub const PASSWORD: &str = "correct horse battery staple";

pub struct TestApp {
    pub addr: String,
    pub client: reqwest::Client,
    pub state: AppState,
    pub dir: std::sync::Arc<TempDir>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    handle: Option<tokio::task::JoinHandle<()>>,
}

/// A logged-in browser session as the client sees it.
#[derive(Debug, Clone)]
pub struct Login {
    pub access: String,
    /// Value of the refresh cookie.
    pub refresh: String,
    /// The raw `Set-Cookie` header.
    pub set_cookie: String,
}

pub async fn spawn_app() -> TestApp {
    spawn_with(&[]).await
}

/// Spawns with extra `CLOAKROOM_*` settings.
pub async fn spawn_with(extra: &[(&str, &str)]) -> TestApp {
    spawn_in(std::sync::Arc::new(TempDir::new().unwrap()), extra).await
}

/// What every test server runs with, in process or as a process of its own: fast argon2 (for
/// tests only; production keeps the OWASP default) and per-address budgets out of the way.
pub const TEST_SETTINGS: [(&str, &str); 3] = [
    ("CLOAKROOM_ARGON2_M_KIB", "64"),
    ("CLOAKROOM_AUTH_RATE_PER_MINUTE", "100000"),
    ("CLOAKROOM_REFRESH_RATE_PER_MINUTE", "100000"),
];

pub async fn spawn_in(dir: std::sync::Arc<TempDir>, extra: &[(&str, &str)]) -> TestApp {
    let mut env: HashMap<String, String> = [
        ("CLOAKROOM_PORT", "0"),
        ("CLOAKROOM_PUBLIC_ORIGIN", "http://127.0.0.1:0"),
    ]
    .into_iter()
    .chain(TEST_SETTINGS)
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    env.insert(
        "CLOAKROOM_DATA_DIR".into(),
        dir.path().to_string_lossy().into(),
    );
    if let Some(url) = postgres_for(&dir).await {
        env.insert("CLOAKROOM_DATABASE_URL".into(), url);
    }
    for (k, v) in extra {
        env.insert(k.to_string(), v.to_string());
    }
    let settings = Settings::from_lookup(|k| env.get(k).cloned()).expect("settings");
    let app = Application::build(settings).await.expect("build app");
    let port = app.port();
    let state = app.state().clone();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let handle = tokio::spawn(async move {
        app.run_until(async {
            let _ = rx.await;
        })
        .await
        .expect("server");
    });
    TestApp {
        addr: format!("http://127.0.0.1:{port}"),
        client: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
        state,
        dir,
        stop: Some(tx),
        handle: Some(handle),
    }
}

/// On PostgreSQL runs: the database that belongs to `dir` (made on first use and remembered in
/// the dir, so a test that restarts its server on the same dir finds the same data).
pub async fn postgres_for(dir: &TempDir) -> Option<String> {
    let admin = std::env::var("CLOAKROOM_TEST_POSTGRES_URL").ok()?;
    let file = dir.path().join("database-url");
    if let Ok(url) = std::fs::read_to_string(&file) {
        return Some(url);
    }
    let url = cloakroom::store::testing::fresh_postgres_database(&admin)
        .await
        .expect("creating a test database");
    std::fs::write(&file, &url).unwrap();
    Some(url)
}

/// A loopback port free at this moment (for a process that must be told its port up front).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn unique_name() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    format!("user_{}", N.fetch_add(1, Ordering::Relaxed))
}

/// The refresh cookie value in a response's `Set-Cookie`, if any (empty string when cleared).
pub fn refresh_cookie(headers: &HeaderMap) -> Option<(String, String)> {
    headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("__Host-cloakroom_refresh=") || v.starts_with("cloakroom_refresh="))
        .map(|v| {
            let value = v
                .split(';')
                .next()
                .unwrap()
                .split_once('=')
                .unwrap()
                .1
                .to_string();
            (value, v.to_string())
        })
}

pub async fn assert_problem(res: Response, status: StatusCode) -> Value {
    assert_eq!(res.status(), status, "unexpected status");
    let ct = res
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string());
    assert_eq!(ct.as_deref(), Some("application/problem+json"));
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["status"], status.as_u16());
    assert!(body["title"].is_string());
    body
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.addr, path)
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> Response {
        self.client
            .post(self.url(path))
            .json(body)
            .send()
            .await
            .unwrap()
    }

    pub async fn signup(&self, username: &str, password: &str) -> Response {
        self.post_json(
            "/api/auth/signup",
            &json!({"username": username, "password": password}),
        )
        .await
    }

    pub async fn login_raw(&self, username: &str, password: &str, remember: bool) -> Response {
        self.post_json(
            "/api/auth/login",
            &json!({"username": username, "password": password, "remember": remember}),
        )
        .await
    }

    /// Signs up a fresh user and logs in; returns (username, login).
    pub async fn new_user(&self) -> (String, Login) {
        let name = unique_name();
        assert_eq!(
            self.signup(&name, PASSWORD).await.status(),
            StatusCode::CREATED
        );
        let login = self.login(&name).await;
        (name, login)
    }

    pub async fn login(&self, username: &str) -> Login {
        let res = self.login_raw(username, PASSWORD, true).await;
        assert_eq!(res.status(), StatusCode::OK);
        let (refresh, set_cookie) =
            refresh_cookie(res.headers()).expect("login sets the refresh cookie");
        let body: TokenResponse = res.json().await.unwrap();
        Login {
            access: body.access_token,
            refresh,
            set_cookie,
        }
    }

    /// `POST /api/auth/refresh` as the client sends it (cookie + CSRF header).
    pub async fn refresh_raw(&self, refresh: &str) -> Response {
        self.client
            .post(self.url("/api/auth/refresh"))
            .header("cookie", format!("__Host-cloakroom_refresh={refresh}"))
            .header("x-requested-with", "cloakroom")
            .send()
            .await
            .unwrap()
    }

    /// `POST /api/auth/logout` with the refresh cookie and the CSRF header.
    pub async fn logout_raw(&self, refresh: &str) -> Response {
        self.client
            .post(self.url("/api/auth/logout"))
            .header("cookie", format!("__Host-cloakroom_refresh={refresh}"))
            .header("x-requested-with", "cloakroom")
            .send()
            .await
            .unwrap()
    }

    /// An unauthenticated GET.
    pub async fn get(&self, path: &str) -> Response {
        self.client.get(self.url(path)).send().await.unwrap()
    }

    pub async fn get_auth(&self, path: &str, access: &str) -> Response {
        self.client
            .get(self.url(path))
            .bearer_auth(access)
            .send()
            .await
            .unwrap()
    }

    pub async fn me_status(&self, access: &str) -> StatusCode {
        self.get_auth("/api/me", access).await.status()
    }

    /// Stops the server and waits for it to finish (for restart tests).
    pub async fn stop(mut self) -> std::sync::Arc<TempDir> {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(h) = self.handle.take() {
            h.await.unwrap();
        }
        self.dir.clone()
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }
}

/// Yields until `cond` holds: waiting for an event the server will make happen (a request read,
/// a connection closed), never for time to pass. Bounded so a broken server fails the test
/// instead of hanging the suite.
pub async fn until(what: &str, cond: impl Fn() -> bool) {
    let wait = async {
        while !cond() {
            tokio::task::yield_now().await;
        }
    };
    if tokio::time::timeout(std::time::Duration::from_secs(30), wait)
        .await
        .is_err()
    {
        panic!("never happened: {what}");
    }
}
