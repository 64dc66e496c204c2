//! Every forged, expired or wrong-kind access token is 401 with `WWW-Authenticate: Bearer`.

use crate::helpers::*;
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use cloakroom::auth::tokens::pkcs8_from_seed;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::StatusCode;
use serde_json::{json, Value};

async fn signing_key(app: &TestApp) -> (String, EncodingKey, Vec<u8>) {
    let row = cloakroom::store::keys::all(&app.state.db)
        .await
        .unwrap()
        .remove(0);
    let seed: [u8; 32] = row.seed.as_slice().try_into().unwrap();
    (
        row.kid,
        EncodingKey::from_ed_der(&pkcs8_from_seed(&seed)),
        row.public_key,
    )
}

fn sign(kid: &str, typ: &str, key: &EncodingKey, claims: &Value) -> String {
    let mut h = Header::new(Algorithm::EdDSA);
    h.kid = Some(kid.into());
    h.typ = Some(typ.into());
    jsonwebtoken::encode(&h, claims, key).unwrap()
}

#[tokio::test]
async fn forged_expired_and_wrong_kind_tokens_are_401() {
    let app = spawn_app().await;
    let (_, login) = app.new_user().await;
    let good = crate::auth_flow::decode_claims(&login.access);
    let (kid, key, public) = signing_key(&app).await;
    let now = app.state.clock.now();
    let with = |patch: Value| {
        let mut c = good.clone();
        for (k, v) in patch.as_object().unwrap() {
            c[k] = v.clone();
        }
        c
    };
    // Sanity: re-signing the genuine claims with the genuine key is accepted.
    assert_eq!(
        app.me_status(&sign(&kid, "at+jwt", &key, &good)).await,
        StatusCode::OK
    );

    let header_none =
        URL_SAFE_NO_PAD.encode(json!({"alg": "none", "typ": "at+jwt", "kid": kid}).to_string());
    let payload = URL_SAFE_NO_PAD.encode(good.to_string());
    let alg_none = format!("{header_none}.{payload}.");
    // HS256 keyed with the public key bytes: the classic algorithm-confusion forgery.
    let mut hs = Header::new(Algorithm::HS256);
    hs.kid = Some(kid.clone());
    hs.typ = Some("at+jwt".into());
    let hs_confusion =
        jsonwebtoken::encode(&hs, &good, &EncodingKey::from_secret(&public)).unwrap();
    let mut tampered = login.access.clone();
    let sig_start = tampered.rfind('.').unwrap() + 1;
    let flipped = if &tampered[sig_start..sig_start + 1] == "A" {
        "B"
    } else {
        "A"
    };
    tampered.replace_range(sig_start..sig_start + 1, flipped);

    let cases: Vec<(&str, String)> = vec![
        ("alg none", alg_none),
        ("HS256 confusion", hs_confusion),
        ("tampered signature", tampered),
        ("unknown kid", sign("not-a-key", "at+jwt", &key, &good)),
        ("wrong typ", sign(&kid, "JWT", &key, &good)),
        (
            "wrong token_use",
            sign(&kid, "at+jwt", &key, &with(json!({"token_use": "refresh"}))),
        ),
        (
            "wrong aud",
            sign(&kid, "at+jwt", &key, &with(json!({"aud": "other-api"}))),
        ),
        (
            "wrong iss",
            sign(
                &kid,
                "at+jwt",
                &key,
                &with(json!({"iss": "https://evil.example"})),
            ),
        ),
        (
            "expired",
            sign(
                &kid,
                "at+jwt",
                &key,
                &with(json!({"iat": now - 600, "exp": now - 1})),
            ),
        ),
        ("garbage", "not-a-jwt".into()),
        ("empty segments", "..".into()),
    ];
    for (what, token) in cases {
        let res = app.get_auth("/api/me", &token).await;
        assert!(
            res.headers()
                .get("www-authenticate")
                .is_some_and(|v| v.to_str().unwrap().starts_with("Bearer")),
            "{what}"
        );
        assert_problem(res, StatusCode::UNAUTHORIZED).await;
    }
}

#[tokio::test]
async fn missing_or_non_bearer_authorization_is_401() {
    let app = spawn_app().await;
    let (_, login) = app.new_user().await;
    assert_problem(app.get("/api/me").await, StatusCode::UNAUTHORIZED).await;
    let res = app
        .client
        .get(app.url("/api/me"))
        .header("authorization", format!("Basic {}", login.access))
        .send()
        .await
        .unwrap();
    assert_problem(res, StatusCode::UNAUTHORIZED).await;
    let res = app
        .client
        .get(app.url("/api/me"))
        .header("authorization", "Bearer")
        .send()
        .await
        .unwrap();
    assert_problem(res, StatusCode::UNAUTHORIZED).await;
}

#[tokio::test]
async fn access_tokens_expire_exactly_at_their_lifetime() {
    let app = spawn_app().await;
    app.state.clock.freeze();
    let (_, login) = app.new_user().await;
    app.state.clock.advance(299);
    assert_eq!(
        app.me_status(&login.access).await,
        StatusCode::OK,
        "second 299 of 300"
    );
    app.state.clock.advance(1);
    let p = assert_problem(
        app.get_auth("/api/me", &login.access).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    assert!(p["detail"].as_str().unwrap().contains("expired"));
}
