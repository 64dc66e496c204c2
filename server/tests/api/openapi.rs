//! The OpenAPI document is generated from the router (`routes!` registers and documents in one
//! act), so it cannot miss a route; these tests check it documents nothing the server lacks, and
//! that the shared error answers reach every operation they apply to. Schemathesis
//! (`.ci/schemathesis`, in `make test`) checks the server's real answers against it.

use std::collections::BTreeSet;

use crate::helpers::*;
use reqwest::{Method, StatusCode};
use serde_json::json;

const METHODS: [&str; 5] = ["get", "post", "put", "delete", "patch"];

#[tokio::test]
async fn every_route_is_documented_and_every_documented_route_exists() {
    // Without an OpenID provider, and with one (whose routes exist only then; this one is never
    // reached, which these requests do not need).
    every_route_is_documented_in(&[]).await;
    every_route_is_documented_in(&[
        ("CLOAKROOM_OIDC_ISSUER", "http://127.0.0.1:9"),
        ("CLOAKROOM_OIDC_CLIENT_ID", "cloakroom"),
        ("CLOAKROOM_OIDC_CLIENT_SECRET", "secret"),
        ("CLOAKROOM_OIDC_NAME", "SSO"),
    ])
    .await;
}

async fn every_route_is_documented_in(settings: &[(&str, &str)]) {
    let app = spawn_with(settings).await;
    let res = app.get("/api/openapi.json").await;
    assert_eq!(res.status(), StatusCode::OK);
    let doc: serde_json::Value = res.json().await.unwrap();
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3.1"),
        "{}",
        doc["openapi"]
    );

    let mut documented = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for m in METHODS {
            if let Some(op) = item.get(m) {
                documented.insert((m.to_owned(), path.clone()));
                // Every operation says how it fails, and every failure it documents is
                // problem+json (directly or through a shared answer in components/responses).
                let responses = op["responses"].as_object().unwrap();
                let mut failures = 0;
                for (status, answer) in responses {
                    if !(status.starts_with('4') || status.starts_with('5')) {
                        continue;
                    }
                    failures += 1;
                    let answer = match answer["$ref"].as_str() {
                        Some(r) => {
                            let name = r.strip_prefix("#/components/responses/").unwrap();
                            &doc["components"]["responses"][name]
                        }
                        None => answer,
                    };
                    let content = answer["content"].as_object();
                    assert!(
                        content.is_some_and(
                            |c| c.len() == 1 && c.contains_key("application/problem+json")
                        ),
                        "{m} {path} {status}: {answer}"
                    );
                }
                assert!(failures > 0, "{m} {path} documents no failure");
            }
        }
    }
    assert!(documented.len() >= 25, "only {documented:?}");
    assert_eq!(
        documented.contains(&("get".to_owned(), "/api/auth/oidc/start".to_owned())),
        !settings.is_empty(),
        "the OpenID routes are documented exactly when they exist"
    );
    assert!(documented.contains(&(
        "post".to_owned(),
        cloakroom::security::CSP_REPORT_PATH.to_owned()
    )));
    // The test-only clock control is never part of the contract.
    assert!(!doc["paths"]
        .as_object()
        .unwrap()
        .contains_key(cloakroom::testing::CLOCK_PATH));

    // And the server really answers each documented operation (not "no such route"/405).
    for (m, path) in &documented {
        let url = app.url(&path.replace("{id}", "no-such-id"));
        let res = app
            .client
            .request(
                Method::from_bytes(m.to_uppercase().as_bytes()).unwrap(),
                url,
            )
            .send()
            .await
            .unwrap();
        assert_ne!(res.status(), StatusCode::METHOD_NOT_ALLOWED, "{m} {path}");
        // Nothing the API answers may be stored by a browser or proxy, except the public keys.
        let cache = res.headers()["cache-control"].to_str().unwrap().to_owned();
        if path == "/.well-known/jwks.json" {
            assert!(cache.starts_with("public"), "{cache}");
        } else {
            assert_eq!(cache, "no-store", "{m} {path}");
        }
        let body = res.text().await.unwrap();
        assert!(
            !body.contains("no such API route"),
            "{m} {path} is not routed"
        );
    }

    // Schemas come from the shared types, and both security schemes are declared.
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    for s in [
        "TokenResponse",
        "Note",
        "NoteInput",
        "SessionInfo",
        "Problem",
        "LoginRequest",
        "TokenPair",
    ] {
        assert!(schemas.contains_key(s), "schema {s} missing");
    }
    // Writes to a note must name the version they replace, and the document tells clients so.
    for m in ["put", "delete"] {
        let op = &doc["paths"]["/api/notes/{id}"][m];
        let if_match = op["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == "If-Match")
            .unwrap_or_else(|| panic!("{m} lacks If-Match: {op}"));
        assert_eq!(
            (&if_match["in"], &if_match["required"]),
            (&json!("header"), &json!(true))
        );
        for status in ["412", "428"] {
            assert!(op["responses"].get(status).is_some(), "{m} lacks {status}");
        }
    }
    let security = doc["components"]["securitySchemes"].as_object().unwrap();
    assert!(security.contains_key("bearer") && security.contains_key("refresh_cookie"));
    assert_eq!(
        doc["paths"]["/api/auth/login"]["post"]["responses"]["401"]["content"]
            ["application/problem+json"]["schema"]["$ref"],
        "#/components/schemas/Problem"
    );
}

/// The shared answers (declared once in `routes::openapi::SHARED`) are on every operation they
/// apply to, and each reference resolves.
#[tokio::test]
async fn shared_error_answers_reach_every_operation_they_apply_to() {
    let app = spawn_app().await;
    let doc: serde_json::Value = app.get("/api/openapi.json").await.json().await.unwrap();
    let shared = doc["components"]["responses"].as_object().unwrap();
    let mut json_ops = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for m in METHODS {
            let Some(op) = item.get(m) else { continue };
            let responses = op["responses"].as_object().unwrap();
            for (status, r) in responses {
                if let Some(target) = r["$ref"].as_str() {
                    let name = target.strip_prefix("#/components/responses/").unwrap();
                    assert!(shared.contains_key(name), "{m} {path} {status}: {target}");
                }
            }
            for status in ["408", "503"] {
                assert!(responses.contains_key(status), "{m} {path} lacks {status}");
            }
            if op["requestBody"]["content"]
                .get("application/json")
                .is_some()
            {
                json_ops += 1;
                for status in ["400", "413", "415", "422"] {
                    assert!(responses.contains_key(status), "{m} {path} lacks {status}");
                }
            }
            let bearer_only = op["security"]
                .as_array()
                .is_some_and(|s| s.len() == 1 && s[0].get("bearer").is_some());
            if bearer_only {
                assert!(responses.contains_key("401"), "{m} {path} lacks 401");
            }
        }
    }
    assert!(json_ops >= 7, "only {json_ops} JSON-body operations");
    // Logout works with a cookie, a Bearer token or neither (it always ends what it can and
    // answers 204): its security says so with an empty requirement.
    let logout = &doc["paths"]["/api/auth/logout"]["post"]["security"];
    assert!(
        logout
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r.as_object().unwrap().is_empty()),
        "{logout}"
    );
}

/// Every problem type a client may be sent is described at its URI, and the URI of an answer
/// the client must act on really is that type.
#[tokio::test]
async fn problem_types_dereference_to_their_description() {
    let app = spawn_app().await;
    for &kind in api_types::ProblemType::ALL {
        let res = app.get(&kind.uri()).await;
        assert_eq!(res.status(), StatusCode::OK, "{kind:?}");
        let info: serde_json::Value = res.json().await.unwrap();
        assert_eq!(info["type"], kind.uri());
        assert!(info["status"].as_u64().unwrap() >= 400);
        assert!(info["description"].as_str().unwrap().len() > 20);
    }
    assert_eq!(
        app.get("/api/problems/nope").await.status(),
        StatusCode::NOT_FOUND
    );
    // A refresh without a cookie names its case by type, not only in English.
    let res = app
        .client
        .post(app.url("/api/auth/refresh"))
        .header("x-requested-with", "cloakroom")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let p: api_types::Problem = res.json().await.unwrap();
    assert_eq!(p.kind(), Some(api_types::ProblemType::NoRefreshCookie));
}
