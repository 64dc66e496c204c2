//! HTTP routes, one file per area, each with its own `router()`; merged in `startup`.

pub mod admin;
pub mod auth;
pub mod csp;
pub mod me;
pub mod meta;
pub mod notes;
pub mod openapi;
pub mod token;

use std::net::{IpAddr, SocketAddr};

use axum::{
    extract::{ConnectInfo, FromRequestParts},
    http::{header, request::Parts},
};

use crate::{auth::throttle::client_ip, error::ApiError, state::AppState};

/// Where a request comes from: client IP (proxy-aware) and a bounded user agent.
pub struct ClientMeta {
    pub ip: IpAddr,
    pub user_agent: Option<String>,
}

impl FromRequestParts<AppState> for ClientMeta {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0)
            .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 0)));
        let ip = client_ip(peer, &parts.headers, &state.settings.trusted_proxies);
        let user_agent = parts
            .headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|s| s.chars().take(256).collect());
        Ok(Self { ip, user_agent })
    }
}
