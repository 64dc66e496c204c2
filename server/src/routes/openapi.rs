//! `GET /api/openapi.json`: the OpenAPI 3.1 document, generated from the router itself. Every
//! route module registers its handlers with utoipa-axum's `routes!`, which reads each handler's
//! `#[utoipa::path]`: registering a route and documenting it are one act, so the document cannot
//! list a route the server lacks or miss one it has. The error answers many operations share are
//! declared once, in [`SHARED`], and added to every operation they apply to.

use axum::{body::Bytes, http::header, response::IntoResponse, Extension};
use serde_json::{json, Value};
use utoipa::{
    openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme},
    Modify, OpenApi,
};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::state::AppState;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Cloakroom API",
        description = "Secure browser token handling: a short-lived access JWT for memory, a rotating \
                       refresh token in an HttpOnly cookie. Every error is RFC 9457 application/problem+json; \
                       the cases a client must tell apart have a stable `type` (see `GET /api/problems/{name}`)."
    ),
    modifiers(&Security),
    tags(
        (name = "auth", description = "Browser flow: the refresh token lives in an HttpOnly cookie"),
        (name = "sessions", description = "A user's devices"),
        (name = "passkeys", description = "The user's passkeys (WebAuthn): adding one, listing, renaming, deleting; signing in with one is under `auth`"),
        (name = "account", description = "The user's own account: change the password, delete the account"), (name = "notes", description = "The protected resource"),
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
                    .description(Some(
                        "The access JWT. A DPoP-bound one (`token_type: DPoP`, RFC 9449) goes as \
                         `Authorization: DPoP <token>` instead, with a fresh `DPoP` proof of its key whose \
                         `nonce` is the current one (every /api answer carries it in `DPoP-Nonce`); a refused \
                         proof is 401 `invalid-dpop-proof` or `use-dpop-nonce`. A bound token is never \
                         accepted as Bearer.",
                    ))
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

/// Which operations a shared answer applies to.
enum When {
    /// Every operation: the server-wide in-flight cap and request timeout apply to all.
    Always,
    /// Operations with an `application/json` request body (`extract::ApiJson`).
    JsonBody,
    /// Operations that require a Bearer token (and accept nothing else).
    Bearer,
    /// Operations behind the CSRF check (they declare the `X-Requested-With` header).
    Csrf,
    /// Operations on a resource named in the path.
    PathParam,
    /// Operations that may write to the database (every method but GET and HEAD).
    Write,
}

/// One shared error answer: its status, its name under `components/responses`, what it means.
struct CommonAnswer {
    status: &'static str,
    name: &'static str,
    description: &'static str,
    when: When,
}

/// The error answers shared by many operations, declared once. An operation that documents the
/// same status itself (with a more precise description) keeps its own.
const SHARED: &[CommonAnswer] = &[
    CommonAnswer { status: "400", name: "MalformedJson", when: When::JsonBody,
        description: "The body is not well-formed JSON" },
    CommonAnswer { status: "413", name: "PayloadTooLarge", when: When::JsonBody,
        description: "The body is larger than this route accepts" },
    CommonAnswer { status: "415", name: "UnsupportedMediaType", when: When::JsonBody,
        description: "The body is not sent as `Content-Type: application/json`" },
    CommonAnswer { status: "422", name: "Unprocessable", when: When::JsonBody,
        description: "A field is missing, unknown, of the wrong type or breaks a rule; `detail` says which (type `/api/problems/validation`)" },
    CommonAnswer { status: "401", name: "InvalidToken", when: When::Bearer,
        description: "Missing, invalid, expired or revoked access token (type `/api/problems/invalid-token`): refresh once and retry" },
    CommonAnswer { status: "403", name: "CsrfRejected", when: When::Csrf,
        description: "CSRF check failed: no `X-Requested-With: cloakroom`, or a foreign Origin (type `/api/problems/csrf-rejected`)" },
    CommonAnswer { status: "404", name: "NotFound", when: When::PathParam,
        description: "No such resource of yours" },
    CommonAnswer { status: "408", name: "Timeout", when: When::Always,
        description: "The request took longer than the server allows and was stopped" },
    CommonAnswer { status: "503", name: "Unavailable", when: When::Always,
        description: "Nothing was saved; retry after `Retry-After` seconds. The server is at capacity (type `/api/problems/overloaded`), or the database is busy, restarting or unreachable (type `/api/problems/database-busy`)" },
    CommonAnswer { status: "507", name: "StorageFull", when: When::Write,
        description: "The database is out of space: nothing was saved, everything saved before is kept (type `/api/problems/storage-full`)" },
    CommonAnswer { status: "403", name: "WrongOrigin", when: When::Always,
        description: "A browser request from an origin other than this server's public one (type `/api/problems/wrong-origin`); `detail` names the address to open the app at" },
];

const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

fn applies(when: &When, method: &str, op: &Value) -> bool {
    let has_param = |place: &str, name: Option<&str>| {
        op["parameters"].as_array().is_some_and(|ps| {
            ps.iter()
                .any(|p| p["in"] == place && name.is_none_or(|n| p["name"].as_str() == Some(n)))
        })
    };
    match when {
        When::Always => true,
        When::JsonBody => op["requestBody"]["content"]
            .get("application/json")
            .is_some(),
        // Exactly one requirement, and it is `bearer`: optional or cookie auth answers otherwise.
        When::Bearer => op["security"]
            .as_array()
            .is_some_and(|s| s.len() == 1 && s[0].get("bearer").is_some()),
        When::Csrf => has_param("header", Some("X-Requested-With")),
        When::PathParam => has_param("path", None),
        When::Write => !matches!(method, "get" | "head"),
    }
}

/// Adds the shared answers to every operation they apply to, as references to
/// `components/responses`.
fn add_shared_responses(doc: &mut Value) {
    let problem = json!({"$ref": "#/components/schemas/Problem"});
    for s in SHARED {
        doc["components"]["responses"][s.name] = json!({
            "description": s.description,
            "content": {"application/problem+json": {"schema": problem}},
        });
    }
    let Some(paths) = doc["paths"].as_object_mut() else {
        return;
    };
    for item in paths.values_mut() {
        for m in METHODS {
            let Some(op) = item.get_mut(m) else { continue };
            for s in SHARED {
                if applies(&s.when, m, op) && op["responses"].get(s.status).is_none() {
                    op["responses"][s.status] =
                        json!({"$ref": format!("#/components/responses/{}", s.name)});
                }
            }
        }
    }
}

/// The routes that hash a password (signup, login, simplejwt's token pair), which
/// `startup::router` keeps out of the server-wide in-flight cap.
pub fn credential_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(super::auth::credential_router())
        .merge(super::token::credential_router())
}

/// The documented routes of every area but [`credential_routes`]. `startup::router` adds the
/// undocumented plumbing (fallbacks, static files, the test-only clock). The OpenID provider's
/// routes exist (and are documented) only with `oidc`, when one is configured.
pub fn documented_routes(oidc: bool) -> OpenApiRouter<AppState> {
    let routes = OpenApiRouter::with_openapi(ApiDoc::openapi());
    let routes = if oidc {
        routes.merge(super::oidc::router())
    } else {
        routes
    };
    routes
        .merge(super::auth::router())
        .merge(super::account::router())
        .merge(super::token::router())
        .merge(super::me::router())
        .merge(super::notes::router())
        .merge(super::passkeys::router())
        .merge(super::csp::router())
        .merge(super::admin::router())
        .merge(super::meta::router())
        .routes(routes!(openapi_json))
}

/// Every failure an operation documents with a `Problem` body is served as
/// `application/problem+json` (`error.rs` answers every error so): said here once, not on each
/// of the operations' error lines. A `#[derive(ToResponse)]` type would say it once too, but
/// would also fix the description, and each operation says in its own words when it fails.
fn problems_as_problem_json(doc: &mut Value) {
    let Some(paths) = doc["paths"].as_object_mut() else {
        return;
    };
    for item in paths.values_mut() {
        for m in METHODS {
            let Some(responses) = item
                .get_mut(m)
                .and_then(|op| op["responses"].as_object_mut())
            else {
                continue;
            };
            for (status, answer) in responses.iter_mut() {
                let failure = status.starts_with('4') || status.starts_with('5');
                let Some(content) = answer.get_mut("content").and_then(Value::as_object_mut) else {
                    continue;
                };
                let is_problem = content
                    .get("application/json")
                    .is_some_and(|c| c["schema"]["$ref"] == "#/components/schemas/Problem");
                if failure && is_problem {
                    let body = content.remove("application/json").unwrap_or_default();
                    content.insert("application/problem+json".into(), body);
                }
            }
        }
    }
}

/// The finished document, as served.
pub fn document(openapi: utoipa::openapi::OpenApi) -> Value {
    let mut doc = serde_json::to_value(openapi).expect("the OpenAPI document serialises");
    problems_as_problem_json(&mut doc);
    add_shared_responses(&mut doc);
    name_problem_types(&mut doc);
    doc
}

/// `GET /api/problems/{name}` takes the names of [`api_types::ProblemType`], listed as an enum so
/// a client (and the contract fuzz) knows them; the list is the enum's own, never a copy.
fn name_problem_types(doc: &mut Value) {
    let names: Vec<_> = api_types::ProblemType::ALL
        .iter()
        .map(|t| t.name())
        .collect();
    if let Some(params) = doc["paths"]["/api/problems/{name}"]["get"]["parameters"].as_array_mut() {
        for p in params.iter_mut().filter(|p| p["name"] == "name") {
            p["schema"] = json!({"type": "string", "enum": names});
        }
    }
}

/// The served document, made once when the router is built; each answer shares its bytes
/// (`Bytes` clones a reference count, not the document).
#[derive(Clone)]
pub struct Document(pub Bytes);

#[utoipa::path(get, path = "/api/openapi.json", tag = "operations",
    responses((status = 200, description = "This document", body = Object)))]
async fn openapi_json(Extension(doc): Extension<Document>) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], doc.0.clone())
}
