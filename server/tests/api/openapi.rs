//! The OpenAPI document covers every route the server has, and documents nothing it lacks.

use std::collections::BTreeSet;

use crate::helpers::*;
use reqwest::{Method, StatusCode};

const METHODS: [&str; 5] = ["get", "post", "put", "delete", "patch"];

/// Every (method, path) registered with `.route(` in the server's source.
fn routes_in_source() -> BTreeSet<(String, String)> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/src");
    let mut files: Vec<_> = std::fs::read_dir(format!("{dir}/routes"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.push(format!("{dir}/startup.rs").into());
    let mut out = BTreeSet::new();
    for file in files {
        let src = std::fs::read_to_string(&file).unwrap();
        let mut rest = src.as_str();
        while let Some(i) = rest.find(".route(") {
            rest = &rest[i + ".route(".len()..];
            // The call's text up to its matching parenthesis.
            let mut depth = 1;
            let end = rest
                .char_indices()
                .find(|&(_, c)| {
                    depth += match c {
                        '(' => 1,
                        ')' => -1,
                        _ => 0,
                    };
                    depth == 0
                })
                .map(|(i, _)| i)
                .unwrap();
            let call = &rest[..end];
            let (path_arg, handlers) = call.split_once(',').unwrap();
            let path = match path_arg.trim() {
                p if p.starts_with('"') => p.trim_matches('"').to_owned(),
                "CSP_REPORT_PATH" => cloakroom::security::CSP_REPORT_PATH.to_owned(),
                other => panic!("{}: cannot resolve route path {other}", file.display()),
            };
            let handlers = format!(" {}", handlers.trim());
            for m in METHODS {
                for prefix in [" ", "."] {
                    if handlers.contains(&format!("{prefix}{m}(")) {
                        out.insert((m.to_owned(), path.clone()));
                    }
                }
            }
        }
    }
    out
}

#[tokio::test]
async fn every_route_is_documented_and_every_documented_route_exists() {
    let app = spawn_app().await;
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
                // Every operation says how it fails, in problem+json, unless it cannot fail.
                let responses = op["responses"].as_object().unwrap();
                assert!(!responses.is_empty(), "{m} {path} documents no responses");
            }
        }
    }
    let routed = routes_in_source();
    assert!(routed.len() >= 20, "scanner found only {routed:?}");
    let missing: Vec<_> = routed.difference(&documented).collect();
    assert!(
        missing.is_empty(),
        "routes missing from the OpenAPI document: {missing:?}"
    );
    let phantom: Vec<_> = documented.difference(&routed).collect();
    assert!(
        phantom.is_empty(),
        "documented routes the router lacks: {phantom:?}"
    );

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
    let security = doc["components"]["securitySchemes"].as_object().unwrap();
    assert!(security.contains_key("bearer") && security.contains_key("refresh_cookie"));
    assert_eq!(
        doc["paths"]["/api/auth/login"]["post"]["responses"]["401"]["content"]
            ["application/problem+json"]["schema"]["$ref"],
        "#/components/schemas/Problem"
    );
}
