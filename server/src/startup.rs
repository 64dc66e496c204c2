//! Builds the application: opens the store, loads keys and revocations, binds the listener
//! (port 0 in tests), and assembles the router.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use axum::{
    body::Body,
    extract::{Request, State},
    http::{header, HeaderValue, StatusCode},
    middleware::{self, Next},
    response::{IntoResponse, Response},
    Router,
};
use tokio::net::TcpListener;
use tower_http::{
    request_id::{MakeRequestUuid, PropagateRequestIdLayer, RequestId, SetRequestIdLayer},
    services::{ServeDir, ServeFile},
    set_header::SetResponseHeaderLayer,
    trace::TraceLayer,
};

use crate::{
    auth::{
        cookies::CookiePolicy,
        password::Hasher,
        revocation::RevokedSessions,
        throttle::{IpLimiter, LoginThrottle},
        tokens::Keys,
    },
    config::Settings,
    error::ApiError,
    routes,
    state::AppState,
    store::{self, Db},
};

pub struct Application {
    listener: TcpListener,
    router: Router,
    state: AppState,
    port: u16,
}

impl Application {
    pub async fn build(mut settings: Settings) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(SocketAddr::new(settings.host, settings.port)).await?;
        let port = listener.local_addr()?.port();
        if settings.public_origin.ends_with(":0") {
            // Port 0 (tests): the origin is only known once bound.
            settings.public_origin =
                format!("{}{port}", settings.public_origin.trim_end_matches('0'));
        }
        let state = build_state(settings).await?;
        let router = router(state.clone());
        spawn_housekeeping(state.clone());
        Ok(Self {
            listener,
            router,
            state,
            port,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until SIGTERM or Ctrl-C, finishing in-flight requests.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.run_until(shutdown_signal()).await
    }

    pub async fn run_until(
        self,
        stop: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let db = self.state.db.clone();
        axum::serve(
            self.listener,
            self.router
                .into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(stop)
        .await?;
        db.close().await;
        Ok(())
    }
}

pub async fn build_state(settings: Settings) -> anyhow::Result<AppState> {
    let db = Db::connect(&settings.database).await?;
    let clock = crate::clock::Clock::system();
    if settings.test_clock {
        // A server started for tests keeps still between the suite's moves, so a test can stand
        // exactly one second before a lifetime's end, however long its steps take.
        clock.freeze();
        tracing::warn!("CLOAKROOM_TEST_CLOCK is on: the clock stands still and POST /api/test/clock moves it; tokens do not expire on their own. Never in production.");
    }
    let now = clock.now();
    let access_ttl = settings.access_ttl.as_secs() as i64;
    let keys = Keys::load_or_create(&db, &settings.public_origin, access_ttl, now).await?;
    // The cursor first, then the set: a revocation between the two is seen twice, never missed.
    let revocation_seq = store::sessions::last_revocation_seq(&db).await?;
    let revoked = RevokedSessions::new(
        store::sessions::revoked_since(&db, now - access_ttl).await?,
        access_ttl,
    );
    // Plus everything the log still holds (a day's worth), dated now: a revocation stamped long
    // before it committed is still within its tokens' lifetime of being seen.
    for (_, sid) in store::sessions::revocations_after(&db, 0).await? {
        revoked.insert(&sid, now);
    }
    let hasher = Hasher::with_queue(settings.argon2_m_kib, settings.hash_queue)?;
    Ok(AppState::new(crate::state::AppStateInner {
        clock,
        // Room for every request that can be hashing or queued, and as many again looking the
        // user up or making their answer.
        credential_in_flight: Arc::new(tokio::sync::Semaphore::new(2 * hasher.capacity())),
        hasher,
        login_throttle: Arc::new(LoginThrottle::new(
            db.clone(),
            settings.login_max_failures,
            settings.login_failure_window.as_secs() as i64,
        )),
        auth_ip_limiter: Arc::new(IpLimiter::per_minute(settings.auth_rate_per_minute)),
        refresh_limiter: Arc::new(IpLimiter::per_minute(settings.refresh_rate_per_minute)),
        cookies: CookiePolicy {
            insecure_dev: settings.dev_insecure_cookies,
        },
        successor_key: store::secrets::get_or_create(&db, "refresh_successor").await?,
        device_key: store::secrets::get_or_create(&db, "device_cookie").await?,
        security: crate::security::SecurityHeaders::new(
            &settings.dist_dir,
            settings.public_origin.starts_with("https://"),
        ),
        report_limiter: Arc::new(IpLimiter::per_minute(60)),
        in_flight: Arc::new(tokio::sync::Semaphore::new(settings.max_in_flight)),
        keys: Arc::new(keys),
        revoked: Arc::new(revoked),
        dpop_replay: Arc::default(),
        dpop_nonces: crate::auth::dpop::Nonces::new(
            store::secrets::get_or_create(&db, "dpop_nonce").await?,
            settings.dpop_nonce,
        ),
        revocation_seq: Arc::new(std::sync::atomic::AtomicI64::new(revocation_seq)),
        settings: Arc::new(settings),
        db,
    }))
}

/// Periodic work: pick up what other processes (the CLI) changed, prune in-memory sets, purge
/// ended sessions.
fn spawn_housekeeping(state: AppState) {
    // Key rotations and revocations made elsewhere: by `cloakroom keys rotate|revoke` or
    // `cloakroom user revoke-sessions` while this server runs, or by another instance. SQLite:
    // every few seconds. PostgreSQL: at once, woken by the database (`LISTEN`), with a slower
    // re-sync as the safety net for anything a dropped connection missed.
    let sync = state.clone();
    let every = match state.db.postgres() {
        Some(pool) => {
            tokio::spawn(follow_notifications(state.clone(), pool.clone()));
            PG_RESYNC_SECS
        }
        None => SYNC_SECS,
    };
    let every = state.settings.resync.unwrap_or(Duration::from_secs(every));
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every.max(Duration::from_secs(1)));
        loop {
            tick.tick().await;
            sync_once(&sync, sync.clock.now()).await;
        }
    });
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(60));
        let mut n: u64 = 0;
        loop {
            tick.tick().await;
            let now = state.clock.now();
            state.revoked.prune(now);
            state.auth_ip_limiter.prune();
            state.report_limiter.prune();
            state.refresh_limiter.prune();
            if n.is_multiple_of(60) {
                // Rotated tokens are kept until their session ends (that is how reuse is
                // detected); a day after the end they serve no purpose.
                match store::sessions::purge_ended(&state.db, now - 86_400).await {
                    Ok(k) if k > 0 => tracing::info!(sessions = k, "purged ended sessions"),
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "purging ended sessions failed"),
                }
                if let Err(e) = store::sessions::purge_revocation_log(&state.db, now - 86_400).await
                {
                    tracing::warn!(error = %e, "purging the revocation log failed");
                }
            }
            if let Err(e) = store::dpop::purge(&state.db, now).await {
                tracing::warn!(error = %e, "purging seen DPoP proofs failed");
            }
            if let Err(e) = state.login_throttle.purge(now).await {
                tracing::warn!(error = %e, "purging idle login budgets failed");
            }
            n += 1;
        }
    });
}

/// One pass of the sync loop: reloads the signing keys and follows the revocation log from the
/// last sequence number seen. Public so tests can run a pass instead of waiting for the tick.
pub async fn sync_once(state: &AppState, now: i64) {
    use std::sync::atomic::Ordering;
    if let Err(e) = state.keys.reload(&state.db, now).await {
        tracing::warn!(error = %e, "reloading signing keys failed");
    }
    let after = state.revocation_seq.load(Ordering::Acquire);
    match store::sessions::revocations_after(&state.db, after).await {
        Ok(rows) => {
            for (seq, sid) in rows {
                // Dated when this server learned of it: its entry must outlive every access token
                // that was still valid until now, however late the revocation committed.
                state.revoked.insert(&sid, now);
                state.revocation_seq.fetch_max(seq, Ordering::AcqRel);
            }
        }
        Err(e) => tracing::warn!(error = %e, "syncing revocations failed"),
    }
}

/// How often a running server on SQLite picks up key rotations and revocations made by the CLI.
pub const SYNC_SECS: u64 = 2;

/// On PostgreSQL notifications do that at once; this re-sync only catches what a lost
/// connection let slip (`CLOAKROOM_RESYNC_SECS` overrides both).
pub const PG_RESYNC_SECS: u64 = 30;

/// Quiet time after which the LISTEN connection is probed (and given up if the probe hangs).
const LISTEN_PROBE: Duration = Duration::from_secs(20);

/// The channel the PostgreSQL triggers notify (migrations/postgres: revocations, key changes).
pub const SYNC_CHANNEL: &str = "cloakroom_sync";

/// Runs `sync_once` whenever the database says something changed. sqlx's listener reconnects
/// by itself; notifications sent while it was away are lost, so every reconnect syncs too.
async fn follow_notifications(state: AppState, pool: sqlx::PgPool) {
    loop {
        if pool.is_closed() {
            return; // shutting down
        }
        let mut listener = match sqlx::postgres::PgListener::connect_with(&pool).await {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!(error = %e, "LISTEN connection failed; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        if let Err(e) = listener.listen(SYNC_CHANNEL).await {
            tracing::warn!(error = %e, "LISTEN failed; retrying");
            tokio::time::sleep(Duration::from_secs(1)).await;
            continue;
        }
        // Anything that happened before the LISTEN took effect.
        sync_once(&state, state.clock.now()).await;
        loop {
            // A connection dropped without a word (a NAT's idle timeout: no reset) would leave
            // `try_recv` waiting forever; after a quiet spell, a round trip proves it alive.
            let next = match tokio::time::timeout(LISTEN_PROBE, listener.try_recv()).await {
                Ok(next) => next,
                Err(_) => match tokio::time::timeout(
                    LISTEN_PROBE,
                    sqlx::query("SELECT 1").execute(&mut listener),
                )
                .await
                {
                    Ok(Ok(_)) => continue,
                    Ok(Err(e)) => Err(e),
                    Err(_) => Err(sqlx::Error::PoolTimedOut),
                },
            };
            match next {
                Ok(Some(_)) => {}
                // The connection dropped and came back: what was sent meanwhile is gone.
                Ok(None) => tracing::info!("LISTEN connection re-established; re-syncing"),
                Err(e) => {
                    if pool.is_closed() {
                        return; // shutting down
                    }
                    tracing::warn!(error = %e, "LISTEN connection lost");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    break;
                }
            }
            sync_once(&state, state.clock.now()).await;
        }
    }
}

/// Every API answer carries the current DPoP nonce (RFC 9449 §9), so a client always has it
/// before it needs it and is refused for a stale one only after a long pause.
async fn dpop_nonce_header(State(state): State<AppState>, mut res: Response) -> Response {
    if let Some(nonce) = state.dpop_nonces.current(state.clock.now()) {
        if let Ok(v) = HeaderValue::from_str(&nonce) {
            res.headers_mut().insert("dpop-nonce", v);
        }
    }
    res
}

/// Every error the API answers is problem+json, including the ones the framework makes for us
/// (a body over a route's limit read as bytes, a malformed path parameter): a client parses one
/// shape, whatever refused it. Answers that are problem+json already pass untouched.
async fn problem_json_everywhere(res: Response) -> Response {
    let status = res.status();
    let is_problem = res
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/problem+json"));
    if !(status.is_client_error() || status.is_server_error()) || is_problem {
        return res;
    }
    let (parts, body) = res.into_parts();
    let detail = if status == StatusCode::PAYLOAD_TOO_LARGE {
        "request body is too large".to_owned()
    } else {
        let text = axum::body::to_bytes(body, 4096).await.unwrap_or_default();
        String::from_utf8_lossy(&text)
            .chars()
            .filter(|c| !c.is_control())
            .take(300)
            .collect()
    };
    let mut out = crate::error::problem_response(&api_types::Problem {
        type_: "about:blank".into(),
        title: status.canonical_reason().unwrap_or("Error").into(),
        status: status.as_u16(),
        detail: (!detail.trim().is_empty()).then_some(detail),
        instance: None,
        retry_after: None,
    });
    for (name, value) in &parts.headers {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            // append: a header sent twice (Set-Cookie) keeps both.
            out.headers_mut().append(name, value.clone());
        }
    }
    out
}

/// The host of an origin or a `Host` header, without the port (`[::1]` keeps its brackets).
fn host_of(authority: &str) -> &str {
    let authority = authority
        .split_once("://")
        .map_or(authority, |(_, rest)| rest);
    match authority.strip_prefix('[') {
        Some(v6) => v6
            .split_once(']')
            .map_or(authority, |(h, _)| &authority[..h.len() + 2]),
        None => authority.split(':').next().unwrap_or(authority),
    }
}

/// One address for the app: its public origin. Cookies (`__Host-`), DPoP proofs (`htu`) and the
/// CSRF defence are all bound to it, so a page opened at another name of the same server
/// (`localhost` for `127.0.0.1`) could sign up but never log in. Such page loads are redirected
/// to the public origin; API requests a browser sends from such a page (it says so in `Origin`)
/// are refused with one problem that names the address to use, before anything is done: a
/// signup from there would make an account its maker then cannot log in to from that page.
/// Requests without `Origin` (non-browser clients, same-origin GETs) are not affected, nor are
/// the health checks and key discovery that load balancers and verifiers reach by internal names.
async fn canonical_origin(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let public = state.settings.public_origin.as_str();
    let path = req.uri().path();
    if path == "/api" || path.starts_with("/api/") {
        // Browsers post CSP reports from wherever the page was; they are accepted as they come.
        if path != "/api/csp-report" {
            if let Some(origin) = req.headers().get(header::ORIGIN) {
                if origin.as_bytes() != public.as_bytes() {
                    let from: String = String::from_utf8_lossy(origin.as_bytes())
                        .chars()
                        .filter(|c| !c.is_control())
                        .take(100)
                        .collect();
                    return ApiError::WrongOrigin(format!(
                        "this app lives at {public}: open it there (this request came from a page at {from}, which this server does not serve)"
                    ))
                    .into_response();
                }
            }
        }
        return next.run(req).await;
    }
    let page_load = matches!(
        *req.method(),
        axum::http::Method::GET | axum::http::Method::HEAD
    ) && !matches!(path, "/healthz" | "/readyz")
        && !path.starts_with("/.well-known/");
    if page_load {
        // The host name only: a proxy's `Host $host` drops the port, and the case to catch is
        // another name for the server, not another port of the same one.
        let wrong_host = req
            .headers()
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .is_some_and(|h| !host_of(h).eq_ignore_ascii_case(host_of(public)));
        if wrong_host {
            let to = format!(
                "{public}{}",
                req.uri().path_and_query().map_or("/", |p| p.as_str())
            );
            if let Ok(location) = HeaderValue::from_str(&to) {
                // Not cached: a cache keyed without the Host would serve it for the right name too.
                return (
                    StatusCode::PERMANENT_REDIRECT,
                    [
                        (header::LOCATION, location),
                        (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
                    ],
                )
                    .into_response();
            }
        }
    }
    next.run(req).await
}

/// A write that failed for lack of space (507) makes `/readyz` prove writes work before it
/// says ready again (`Db::writable`).
async fn note_storage_full(State(state): State<AppState>, res: Response) -> Response {
    if res.status() == StatusCode::INSUFFICIENT_STORAGE {
        state.db.note_full();
    }
    res
}

pub fn router(state: AppState) -> Router {
    let (documented, openapi) = routes::openapi::documented_routes().split_for_parts();
    let doc = routes::openapi::document(openapi);
    let doc = routes::openapi::Document(
        serde_json::to_vec(&doc)
            .expect("the OpenAPI document serialises")
            .into(),
    );
    let api = documented
        .merge(crate::testing::router(state.settings.test_clock))
        .layer(axum::Extension(doc))
        .fallback(api_not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::map_response(problem_json_everywhere))
        .layer(middleware::map_response_with_state(
            state.clone(),
            dpop_nonce_header,
        ))
        .layer(middleware::map_response_with_state(
            state.clone(),
            note_storage_full,
        ))
        // Tokens and personal data: never stored by a browser or proxy. Only the public key set
        // (`/.well-known/jwks.json`) says otherwise, on purpose, in its own handler.
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CACHE_CONTROL,
            crate::security::NO_STORE,
        ));

    let dist = state.settings.dist_dir.clone();
    let spa = ServeDir::new(&dist)
        .precompressed_br()
        .precompressed_gzip()
        .fallback(ServeFile::new(dist.join("index.html")));

    let app = Router::new()
        .nest("/api", Router::new().fallback(api_not_found))
        .merge(api)
        .fallback_service(spa)
        .layer(middleware::from_fn(static_cache_headers))
        .layer(middleware::from_fn_with_state(state.clone(), canonical_origin))
        .layer(middleware::from_fn_with_state(state.clone(), limits))
        .layer(middleware::from_fn_with_state(
            state.security.clone(),
            crate::security::headers,
        ))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(
            TraceLayer::new_for_http().make_span_with(|req: &Request<Body>| {
                let id = req
                    .extensions()
                    .get::<RequestId>()
                    .and_then(|r| r.header_value().to_str().ok())
                    .unwrap_or("-")
                    .to_owned();
                tracing::info_span!("request", method = %req.method(), path = %req.uri().path(), request_id = %id)
            })
            // One line per request at info: status and latency, inside the span above (method,
            // path without the query string, request id). Never headers: they carry tokens.
            .on_request(())
            .on_response(
                tower_http::trace::DefaultOnResponse::new()
                    .level(tracing::Level::INFO)
                    .latency_unit(tower_http::LatencyUnit::Micros),
            ),
        )
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
        // Request ids are made here, never taken from the client: a client-chosen id could
        // forge log correlation (or carry junk into every line of the request).
        .layer(middleware::map_request(drop_client_request_id));
    let app = if state.settings.test_clock {
        app.layer(middleware::map_response_with_state(
            state.clone(),
            crate::testing::date_from_clock,
        ))
    } else {
        app
    };
    app.with_state(state)
}

async fn drop_client_request_id(mut req: Request) -> Request {
    req.headers_mut().remove("x-request-id");
    req
}

/// The server-wide in-flight cap and the request timeout, both answered with problem+json. The
/// credential routes take their permit from a gate of their own instead
/// (`flows::credential_permit`, once the body has arrived), so a login flood cannot take the
/// permits that `/api/me`, refresh, notes and the health checks need.
async fn limits(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let _permit = if is_credential_route(req.uri().path()) {
        None
    } else {
        match state.in_flight.clone().try_acquire_owned() {
            Ok(p) => Some(p),
            Err(_) => {
                return ApiError::Overloaded("the server is at capacity; retry in a moment".into())
                    .into_response()
            }
        }
    };
    match tokio::time::timeout(state.settings.request_timeout, next.run(req)).await {
        Ok(res) => res,
        Err(_) => {
            tracing::warn!("request timed out");
            ApiError::Timeout("the request took too long and was stopped".into()).into_response()
        }
    }
}

/// The routes that hash a password.
fn is_credential_route(path: &str) -> bool {
    matches!(path, "/api/auth/login" | "/api/auth/signup" | "/api/token/")
}

async fn api_not_found() -> ApiError {
    ApiError::NotFound("no such API route".into())
}

async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed("method not allowed on this route".into())
}

/// Cache policy for the client files: Trunk names assets by content hash, so they may be cached
/// forever; `index.html` (and the SPA fallback) must be revalidated so a deploy is seen at once.
async fn static_cache_headers(req: Request, next: Next) -> Response {
    let path = req.uri().path().to_owned();
    let mut res = next.run(req).await;
    if path.starts_with("/api/")
        || path == "/healthz"
        || path == "/readyz"
        || path.starts_with("/.well-known/")
    {
        return res;
    }
    if res.status().is_success() || res.status() == StatusCode::NOT_MODIFIED {
        let hashed = path.rsplit('/').next().is_some_and(is_hashed_asset);
        let value = if hashed {
            "public, max-age=31536000, immutable"
        } else {
            "no-cache"
        };
        res.headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static(value));
        // The threat model (`/security.md`, linked from the attack lab) is read in the browser:
        // as plain text, which every browser shows (text/markdown some would download).
        if path.ends_with(".md") {
            res.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; charset=utf-8"),
            );
        }
    }
    res
}

/// `app-1a2b3c4d5e6f7a8b.js`, `app-…_bg.wasm`, `style-….css`: a 16-hex-digit content hash.
fn is_hashed_asset(file: &str) -> bool {
    let stem = file.split('.').next().unwrap_or("");
    let stem = stem.strip_suffix("_bg").unwrap_or(stem);
    stem.rsplit_once('-')
        .is_some_and(|(_, h)| h.len() == 16 && h.bytes().all(|b| b.is_ascii_hexdigit()))
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    tracing::info!("shutting down");
}

#[cfg(test)]
mod tests {
    #[test]
    fn hosts_without_ports() {
        assert_eq!(super::host_of("http://127.0.0.1:3000"), "127.0.0.1");
        assert_eq!(super::host_of("localhost:3000"), "localhost");
        assert_eq!(super::host_of("https://notes.example"), "notes.example");
        assert_eq!(super::host_of("[::1]:3000"), "[::1]");
        assert_eq!(super::host_of("http://[::1]"), "[::1]");
    }

    #[test]
    fn hashed_asset_names() {
        assert!(super::is_hashed_asset("app-1a2b3c4d5e6f7a8b.js"));
        assert!(super::is_hashed_asset("app-1a2b3c4d5e6f7a8b_bg.wasm"));
        assert!(!super::is_hashed_asset("index.html"));
        assert!(!super::is_hashed_asset("favicon.svg"));
    }
}
