//! Builds the application: opens the store, loads keys and revocations, binds the listener
//! (port 0 in tests), starts the background work (`sync`), and assembles the router from the
//! routes' areas and the `middleware`.

use std::{net::SocketAddr, sync::Arc};

use axum::{body::Body, extract::Request, http::header, middleware, Router};
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
    middleware as mw, routes,
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
        crate::sync::spawn_housekeeping(state.clone());
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
    let oidc = match &settings.oidc {
        Some(o) => Some(Arc::new(crate::auth::oidc::Provider::new(
            o.clone(),
            &settings.public_origin,
            clock.clone(),
        )?)),
        None => None,
    };
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
        webauthn: crate::auth::passkeys::relying_party(&settings.public_origin).map(Arc::new),
        oidc,
        cookies: CookiePolicy {
            insecure_dev: settings.dev_insecure_cookies,
        },
        successor_key: store::secrets::get_or_create(&db, "refresh_successor").await?,
        device_key: store::secrets::get_or_create(&db, "device_cookie").await?,
        security: crate::security::SecurityHeaders::new(
            &settings.dist_dir,
            settings.public_origin.starts_with("https://"),
        ),
        stylesheet: crate::docs::stylesheet(&settings.dist_dir),
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

/// Every route, with its middleware. The layers around the API apply to the credential routes
/// and the rest alike, except the in-flight cap: the rest (and the client files) are under it,
/// the credential routes under their own gate (`middleware::in_flight_cap` says why).
pub fn router(state: AppState) -> Router {
    let (documented, mut openapi) =
        routes::openapi::documented_routes(state.oidc.is_some()).split_for_parts();
    let (credential, credential_doc) = routes::openapi::credential_routes().split_for_parts();
    openapi.merge(credential_doc);
    let doc = routes::openapi::document(openapi);
    let doc = routes::openapi::Document(
        serde_json::to_vec(&doc)
            .expect("the OpenAPI document serialises")
            .into(),
    );
    // What every API answer gets, the credential routes' included.
    let api_layers = |r: Router<AppState>| {
        r.layer(middleware::map_response(mw::problem_json_everywhere))
            .layer(middleware::map_response_with_state(
                state.clone(),
                mw::dpop_nonce_header,
            ))
            .layer(middleware::map_response_with_state(
                state.clone(),
                mw::note_storage_full,
            ))
            // Tokens and personal data: never stored by a browser or proxy. Only the public key
            // set (`/.well-known/jwks.json`) says otherwise, on purpose, in its own handler.
            .layer(SetResponseHeaderLayer::if_not_present(
                header::CACHE_CONTROL,
                crate::security::NO_STORE,
            ))
    };
    let api = api_layers(
        documented
            .merge(crate::testing::router(state.settings.test_clock))
            .layer(axum::Extension(doc))
            .fallback(mw::api_not_found)
            .method_not_allowed_fallback(mw::method_not_allowed),
    );
    let credential = api_layers(credential);

    let dist = state.settings.dist_dir.clone();
    let spa = ServeDir::new(&dist)
        .precompressed_br()
        .precompressed_gzip()
        .fallback(ServeFile::new(dist.join("index.html")));

    let app = Router::new()
        .nest("/api", Router::new().fallback(mw::api_not_found))
        .merge(api)
        .merge(crate::docs::router(&dist))
        .fallback_service(spa)
        // Before the credential routes join: a layer wraps only what the router holds so far.
        .layer(middleware::from_fn_with_state(
            state.clone(),
            mw::in_flight_cap,
        ))
        .merge(credential)
        .layer(middleware::from_fn(mw::static_cache_headers))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            mw::canonical_origin,
        ))
        .layer(middleware::from_fn_with_state(state.clone(), mw::timeout))
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
        .layer(middleware::map_request(mw::drop_client_request_id));
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
