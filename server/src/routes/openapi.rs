//! `GET /api/openapi.json`: an OpenAPI 3.1 document generated from the handlers' own
//! annotations and the shared api-types (so the document and the code cannot drift apart
//! silently; a test checks every route of the router is in it).

use axum::{routing::get, Json, Router};
use utoipa::{
    openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme},
    Modify, OpenApi,
};

use crate::state::AppState;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Cloakroom API",
        description = "Secure browser token handling: a short-lived access JWT for memory, a rotating \
                       refresh token in an HttpOnly cookie. Every error is RFC 9457 application/problem+json."
    ),
    paths(
        super::auth::signup, super::auth::login, super::auth::refresh, super::auth::logout,
        super::auth::logout_all, super::auth::list_sessions, super::auth::revoke_session,
        super::me::me,
        super::notes::list, super::notes::create, super::notes::read, super::notes::update, super::notes::remove,
        super::token::obtain, super::token::refresh_pair, super::token::verify,
        super::admin::list_users, super::admin::revoke_user_sessions, super::admin::list_events,
        super::csp::report, super::meta::healthz, super::meta::jwks, crate::startup::readyz,
        openapi_json,
    ),
    modifiers(&Security),
    tags(
        (name = "auth", description = "Browser flow: the refresh token lives in an HttpOnly cookie"),
        (name = "sessions", description = "A user's devices"),
        (name = "account"), (name = "notes", description = "The protected resource"),
        (name = "simplejwt", description = "Token-in-body flow for non-browser clients, simplejwt-compatible"),
        (name = "admin", description = "Role `admin`, granted by the CLI only"),
        (name = "operations"),
    )
)]
pub struct ApiDoc;

struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
        components.add_security_scheme(
            "refresh_cookie",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                crate::auth::cookies::SECURE_NAME,
                "Opaque refresh token; HttpOnly, Secure, SameSite=Strict, Path=/",
            ))),
        );
    }
}

pub fn router() -> Router<AppState> {
    Router::new().route("/api/openapi.json", get(openapi_json))
}

#[utoipa::path(get, path = "/api/openapi.json", tag = "operations",
    responses((status = 200, description = "This document", body = Object)))]
async fn openapi_json() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
