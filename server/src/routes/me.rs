//! `GET /api/me`: who the access token says you are.
//!
//! Answered from the verified token alone (after the revocation check), without a database
//! read: it is the hottest authenticated route and the token is the statement of identity for
//! its short life. Roles granted or removed take effect at the next refresh.

use api_types::Me;
use axum::Json;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{auth::AuthUser, state::AppState};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(me))
}

#[utoipa::path(get, path = "/api/me", tag = "account", security(("bearer" = [])),
    responses((status = 200, description = "Who the access token says you are", body = Me)))]
async fn me(user: AuthUser) -> Json<Me> {
    Json(Me {
        id: user.user_id,
        username: user.username,
        roles: user.roles,
    })
}
