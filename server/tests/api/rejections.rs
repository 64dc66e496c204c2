//! Whatever refuses a request (a handler, an extractor, the framework's body limit, a route that
//! does not exist), the answer is problem+json: walked over every operation of the OpenAPI
//! document with oversized, malformed and mistyped bodies and malformed path parameters.

use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::helpers::*;

fn with_params(path: &str, value: &str) -> String {
    let mut out = String::new();
    let mut rest = path;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let close = rest[open..].find('}').unwrap() + open;
        out.push_str(value);
        rest = &rest[close + 1..];
    }
    out.push_str(rest);
    out
}

#[tokio::test]
async fn every_rejection_on_every_route_is_problem_json() {
    let app = spawn_app().await;
    let (_, l) = app.new_user().await;
    let doc: Value = app.get("/api/openapi.json").await.json().await.unwrap();
    let huge = vec![b'{'; 1 << 20];
    let bodies: [(&str, Vec<u8>); 4] = [
        ("application/json", huge.clone()),
        ("application/json", b"{\"title\": ".to_vec()),
        ("text/plain", b"hello".to_vec()),
        ("application/csp-report", huge),
    ];
    let mut checked = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, _) in item.as_object().unwrap() {
            let method: Method = method.to_uppercase().parse().unwrap();
            for param in ["00000000-0000-0000-0000-000000000000", "%FF%FE", "x"] {
                let url = app.url(&with_params(path, param));
                let mut cases: Vec<Option<(&str, Vec<u8>)>> = vec![None];
                if method != Method::GET {
                    cases.extend(bodies.iter().cloned().map(Some));
                }
                for case in cases {
                    let mut req = app
                        .client
                        .request(method.clone(), &url)
                        .bearer_auth(&l.access)
                        .header("x-requested-with", "cloakroom")
                        .header("origin", &app.addr)
                        .header("cookie", format!("__Host-cloakroom_refresh={}", l.refresh));
                    if let Some((ct, body)) = &case {
                        req = req.header("content-type", *ct).body(body.clone());
                    }
                    let res = req.send().await.unwrap();
                    let status = res.status();
                    if status.is_client_error() || status.is_server_error() {
                        let ct = res
                            .headers()
                            .get("content-type")
                            .map(|v| v.to_str().unwrap().to_owned());
                        assert_eq!(
                            ct.as_deref(),
                            Some("application/problem+json"),
                            "{method} {url} with {:?}: {status}",
                            case.as_ref().map(|c| c.0)
                        );
                        let p: Value = res.json().await.unwrap();
                        assert_eq!(p["status"], status.as_u16());
                        assert_ne!(status, StatusCode::INTERNAL_SERVER_ERROR, "{method} {url}");
                        checked += 1;
                    }
                }
            }
        }
    }
    assert!(checked > 50, "the walk reached the rejections ({checked})");
}
