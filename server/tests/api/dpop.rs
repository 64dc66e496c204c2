//! DPoP (RFC 9449) as an attacker meets it: a token bound to a key is worthless without that
//! key, and every way of reusing or bending a proof is refused. The server's clock is frozen so
//! the `iat` window is checked to the second.

use base64::{engine::general_purpose::URL_SAFE_NO_PAD as B64, Engine};
use ed25519_dalek::Signer as _;
use reqwest::StatusCode;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::helpers::*;

thread_local! {
    /// The last `DPoP-Nonce` the server handed this test, kept as a client keeps it (each test
    /// runs on a thread of its own). Proofs carry it.
    static NONCE: std::cell::RefCell<Option<String>> = const { std::cell::RefCell::new(None) };
}

/// Keeps the answer's `DPoP-Nonce`, if it has one.
pub(crate) fn learn_nonce(res: &reqwest::Response) {
    if let Some(v) = res.headers().get("dpop-nonce") {
        set_nonce(Some(v.to_str().unwrap().to_owned()));
    }
}

fn nonce() -> Option<String> {
    NONCE.with(|n| n.borrow().clone())
}

fn set_nonce(nonce: Option<String>) {
    NONCE.with(|n| *n.borrow_mut() = nonce);
}

/// A client's DPoP key pair (the browser's non-extractable CryptoKey, in the tests a plain key).
pub(crate) enum Key {
    Ed(ed25519_dalek::SigningKey),
    Es(p256::ecdsa::SigningKey),
}

impl Key {
    pub(crate) fn ed() -> Self {
        Key::Ed(ed25519_dalek::SigningKey::from_bytes(&rand::random()))
    }

    fn es() -> Self {
        Key::Es(p256::ecdsa::SigningKey::random(&mut rand::thread_rng()))
    }

    fn alg(&self) -> &'static str {
        match self {
            Key::Ed(_) => "EdDSA",
            Key::Es(_) => "ES256",
        }
    }

    pub(crate) fn jwk(&self) -> Value {
        match self {
            Key::Ed(k) => {
                json!({"kty": "OKP", "crv": "Ed25519", "x": B64.encode(k.verifying_key().as_bytes())})
            }
            Key::Es(k) => {
                let p = k.verifying_key().to_encoded_point(false);
                json!({"kty": "EC", "crv": "P-256", "x": B64.encode(p.x().unwrap()), "y": B64.encode(p.y().unwrap())})
            }
        }
    }

    /// The private JWK of an Ed25519 key (a test OpenID provider signs with it).
    pub(crate) fn private_jwk(&self) -> Value {
        let Key::Ed(k) = self else {
            panic!("Ed25519 keys only")
        };
        let mut jwk = self.jwk();
        jwk["d"] = json!(B64.encode(k.to_bytes()));
        jwk
    }

    /// RFC 7638 thumbprint, computed independently of the server's code.
    fn thumbprint(&self) -> String {
        let j = self.jwk();
        let canonical = match self {
            Key::Ed(_) => format!(
                r#"{{"crv":"Ed25519","kty":"OKP","x":"{}"}}"#,
                j["x"].as_str().unwrap()
            ),
            Key::Es(_) => format!(
                r#"{{"crv":"P-256","kty":"EC","x":"{}","y":"{}"}}"#,
                j["x"].as_str().unwrap(),
                j["y"].as_str().unwrap()
            ),
        };
        B64.encode(Sha256::digest(canonical.as_bytes()))
    }

    fn sign(&self, input: &[u8]) -> Vec<u8> {
        match self {
            Key::Ed(k) => k.sign(input).to_bytes().to_vec(),
            Key::Es(k) => {
                let sig: p256::ecdsa::Signature = p256::ecdsa::signature::Signer::sign(k, input);
                sig.to_bytes().to_vec()
            }
        }
    }

    /// A proof with this header and these claims, signed by this key.
    pub(crate) fn raw(&self, header: &Value, claims: &Value) -> String {
        let input = format!(
            "{}.{}",
            B64.encode(header.to_string()),
            B64.encode(claims.to_string())
        );
        let sig = self.sign(input.as_bytes());
        format!("{input}.{}", B64.encode(sig))
    }

    fn header(&self) -> Value {
        json!({"typ": "dpop+jwt", "alg": self.alg(), "jwk": self.jwk()})
    }

    /// A well-formed proof for `method url` at `iat`, for `token` if given.
    pub(crate) fn proof(&self, method: &str, url: &str, iat: i64, token: Option<&str>) -> String {
        let mut claims =
            json!({"jti": uuid::Uuid::new_v4().to_string(), "htm": method, "htu": url, "iat": iat});
        if let Some(t) = token {
            claims["ath"] = json!(B64.encode(Sha256::digest(t.as_bytes())));
        }
        if let Some(n) = nonce() {
            claims["nonce"] = json!(n);
        }
        self.raw(&self.header(), &claims)
    }
}

fn url(app: &TestApp, path: &str) -> String {
    format!("{}{path}", app.state.settings.public_origin)
}

/// Logs in with a DPoP proof of `key`; returns the bound access token and the refresh cookie.
async fn login_bound(app: &TestApp, name: &str, key: &Key) -> (String, String) {
    let now = app.state.clock.now();
    let res = app
        .client
        .post(app.url("/api/auth/login"))
        .header(
            "dpop",
            key.proof("POST", &url(app, "/api/auth/login"), now, None),
        )
        .json(&json!({"username": name, "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    learn_nonce(&res);
    let (refresh, _) = refresh_cookie(res.headers()).unwrap();
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["token_type"], "DPoP");
    (body["access_token"].as_str().unwrap().to_owned(), refresh)
}

/// A frozen-clock server with a user logged in with a DPoP proof of `key`.
struct Bound {
    app: TestApp,
    name: String,
    key: Key,
    token: String,
    refresh: String,
}

async fn bound(key: Key) -> Bound {
    let app = spawn_app().await;
    app.state.clock.freeze();
    let (name, _) = app.new_user().await;
    let (token, refresh) = login_bound(&app, &name, &key).await;
    Bound {
        app,
        name,
        key,
        token,
        refresh,
    }
}

async fn me_with(app: &TestApp, scheme: &str, token: &str, proofs: &[String]) -> reqwest::Response {
    let mut req = app
        .client
        .get(app.url("/api/me"))
        .header("authorization", format!("{scheme} {token}"));
    for p in proofs {
        req = req.header("dpop", p);
    }
    let res = req.send().await.unwrap();
    learn_nonce(&res);
    res
}

async fn assert_bad_proof(res: reqwest::Response, why: &str) {
    let challenge = res.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_owned();
    let p = assert_problem(res, StatusCode::UNAUTHORIZED).await;
    assert_eq!(p["type"], "/api/problems/invalid-dpop-proof", "{why}: {p}");
    assert!(
        challenge.starts_with("DPoP ") && challenge.contains(r#"error="invalid_dpop_proof""#),
        "{why}: {challenge}"
    );
}

#[tokio::test]
async fn a_bound_token_is_worthless_without_its_key() {
    let Bound {
        app, key, token, ..
    } = bound(Key::ed()).await;
    let claims = crate::auth_flow::decode_claims(&token);
    assert_eq!(claims["cnf"]["jkt"], key.thumbprint());

    let now = app.state.clock.now();
    let me = url(&app, "/api/me");
    let good = key.proof("GET", &me, now, Some(&token));
    assert_eq!(
        me_with(&app, "DPoP", &token, std::slice::from_ref(&good))
            .await
            .status(),
        StatusCode::OK
    );

    // Taken out of the page (memory scan, a log, a proxy): as Bearer, or as DPoP without a
    // proof, or with the captured proof again, it buys nothing.
    let as_bearer = me_with(&app, "Bearer", &token, &[]).await;
    let p = assert_problem(as_bearer, StatusCode::UNAUTHORIZED).await;
    assert!(p["detail"].as_str().unwrap().contains("DPoP-bound"), "{p}");
    assert_bad_proof(me_with(&app, "DPoP", &token, &[]).await, "no proof").await;
    assert_bad_proof(
        me_with(&app, "DPoP", &token, &[good]).await,
        "replayed proof",
    )
    .await;
    // A proof by the attacker's own key does not match the binding.
    let other = Key::ed();
    let theirs = other.proof("GET", &me, now, Some(&token));
    assert_bad_proof(me_with(&app, "DPoP", &token, &[theirs]).await, "other key").await;
    // And an unbound token cannot be passed off as DPoP.
    let (_, plain) = app.new_user().await;
    let res = me_with(
        &app,
        "DPoP",
        &plain.access,
        &[key.proof("GET", &me, now, Some(&plain.access))],
    )
    .await;
    // A token refused on a DPoP request is challenged in DPoP's terms (RFC 9449 §7.1).
    assert_eq!(
        res.headers()["www-authenticate"],
        r#"DPoP algs="Ed25519 EdDSA ES256", error="invalid_token""#
    );
    let p = assert_problem(res, StatusCode::UNAUTHORIZED).await;
    assert_eq!(p["type"], "/api/problems/invalid-token");
    let res = me_with(&app, "DPoP", "not.a.token", &[]).await;
    assert_eq!(
        res.headers()["www-authenticate"],
        r#"DPoP algs="Ed25519 EdDSA ES256", error="invalid_token""#
    );
}

#[tokio::test]
async fn every_bent_proof_is_refused() {
    let Bound {
        app, key, token, ..
    } = bound(Key::ed()).await;
    let now = app.state.clock.now();
    let me = url(&app, "/api/me");
    let ath = B64.encode(Sha256::digest(token.as_bytes()));
    let claims = |patch: Value| {
        let mut c = json!({"jti": uuid::Uuid::new_v4().to_string(), "htm": "GET", "htu": me, "iat": now, "ath": ath, "nonce": nonce()});
        for (k, v) in patch.as_object().unwrap() {
            if v.is_null() {
                c.as_object_mut().unwrap().remove(k);
            } else {
                c[k] = v.clone();
            }
        }
        c
    };
    let header = |patch: Value| {
        let mut h = key.header();
        for (k, v) in patch.as_object().unwrap() {
            h[k] = v.clone();
        }
        h
    };
    let hs256 = {
        use hmac::Mac;
        let h = json!({"typ": "dpop+jwt", "alg": "HS256", "jwk": key.jwk()});
        let input = format!(
            "{}.{}",
            B64.encode(h.to_string()),
            B64.encode(claims(json!({})).to_string())
        );
        let mut mac =
            hmac::Hmac::<Sha256>::new_from_slice(key.jwk()["x"].as_str().unwrap().as_bytes())
                .unwrap();
        mac.update(input.as_bytes());
        format!("{input}.{}", B64.encode(mac.finalize().into_bytes()))
    };
    let none = format!(
        "{}.{}.",
        B64.encode(json!({"typ": "dpop+jwt", "alg": "none", "jwk": key.jwk()}).to_string()),
        B64.encode(claims(json!({})).to_string())
    );
    let mut with_d = key.jwk();
    with_d["d"] = json!(B64.encode([1u8; 32]));
    let reused = key.raw(&key.header(), &claims(json!({"jti": "once"})));
    assert_eq!(
        me_with(&app, "DPoP", &token, std::slice::from_ref(&reused))
            .await
            .status(),
        StatusCode::OK
    );
    let cases: Vec<(&str, String)> = vec![
        (
            "wrong htm",
            key.raw(&key.header(), &claims(json!({"htm": "POST"}))),
        ),
        (
            "wrong htu",
            key.raw(
                &key.header(),
                &claims(json!({"htu": url(&app, "/api/notes")})),
            ),
        ),
        (
            "other origin",
            key.raw(
                &key.header(),
                &claims(json!({"htu": "https://evil.example/api/me"})),
            ),
        ),
        (
            "wrong ath",
            key.raw(
                &key.header(),
                &claims(json!({"ath": B64.encode(Sha256::digest(b"other"))})),
            ),
        ),
        (
            "no ath",
            key.raw(&key.header(), &claims(json!({"ath": null}))),
        ),
        (
            "old iat",
            key.raw(&key.header(), &claims(json!({"iat": now - 61}))),
        ),
        (
            "future iat",
            key.raw(&key.header(), &claims(json!({"iat": now + 6}))),
        ),
        ("reused jti", reused),
        (
            "typ JWT",
            key.raw(&header(json!({"typ": "JWT"})), &claims(json!({}))),
        ),
        ("alg none", none),
        ("HMAC", hs256),
        (
            "private key in jwk",
            key.raw(&header(json!({"jwk": with_d})), &claims(json!({}))),
        ),
        (
            "alg and key disagree",
            key.raw(&header(json!({"alg": "ES256"})), &claims(json!({}))),
        ),
        ("bad signature", {
            let p = key.proof("GET", &me, now, Some(&token));
            format!("{}AAAA", &p[..p.len() - 4])
        }),
        ("not a JWT", "hello".to_owned()),
    ];
    for (why, proof) in cases {
        assert_bad_proof(me_with(&app, "DPoP", &token, &[proof]).await, why).await;
    }
    // Exactly one DPoP header.
    let two = [
        key.proof("GET", &me, now, Some(&token)),
        key.proof("GET", &me, now, Some(&token)),
    ];
    assert_bad_proof(me_with(&app, "DPoP", &token, &two).await, "two headers").await;
    // The window's edges are inside it: 60 s old, 5 s ahead.
    for iat in [now - 60, now + 5] {
        let p = key.raw(&key.header(), &claims(json!({"iat": iat})));
        assert_eq!(
            me_with(&app, "DPoP", &token, &[p]).await.status(),
            StatusCode::OK,
            "iat {iat}"
        );
    }
    // A query string on htu is ignored (RFC 9449 §4.3), as it is on the request.
    let p = key.raw(&key.header(), &claims(json!({"htu": format!("{me}?x=1")})));
    assert_eq!(
        me_with(&app, "DPoP", &token, &[p]).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn es256_keys_work_and_refresh_binds_the_new_token_to_the_presented_key() {
    let Bound {
        app,
        key,
        token,
        refresh,
        ..
    } = bound(Key::es()).await;
    let now = app.state.clock.now();
    let me = url(&app, "/api/me");
    let p = key.proof("GET", &me, now, Some(&token));
    assert_eq!(
        me_with(&app, "DPoP", &token, &[p]).await.status(),
        StatusCode::OK
    );

    // A bad proof on refresh is refused before the rotation: the cookie still works after.
    let refresh_url = url(&app, "/api/auth/refresh");
    let send = |proof: String| {
        app.client
            .post(app.url("/api/auth/refresh"))
            .header("cookie", format!("__Host-cloakroom_refresh={refresh}"))
            .header("x-requested-with", "cloakroom")
            .header("dpop", proof)
            .send()
    };
    let wrong = key.proof("POST", &url(&app, "/api/auth/login"), now, None);
    assert_bad_proof(send(wrong).await.unwrap(), "refresh with a login proof").await;
    // A reload makes a new key: the refresh binds the new token to it.
    let fresh = Key::ed();
    let res = send(fresh.proof("POST", &refresh_url, now, None))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["token_type"], "DPoP");
    let t2 = body["access_token"].as_str().unwrap();
    assert_eq!(
        crate::auth_flow::decode_claims(t2)["cnf"]["jkt"],
        fresh.thumbprint()
    );
    let old_key_proof = key.proof("GET", &me, now, Some(t2));
    assert_bad_proof(
        me_with(&app, "DPoP", t2, &[old_key_proof]).await,
        "old key, new token",
    )
    .await;
    let p = fresh.proof("GET", &me, now, Some(t2));
    assert_eq!(
        me_with(&app, "DPoP", t2, &[p]).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_bad_proof_on_login_spends_no_password_guess() {
    let app = spawn_app().await;
    let (name, _) = app.new_user().await;
    let key = Key::ed();
    for _ in 0..8 {
        let res = app
            .client
            .post(app.url("/api/auth/login"))
            .header(
                "dpop",
                key.proof(
                    "POST",
                    &url(&app, "/api/notes"),
                    app.state.clock.now(),
                    None,
                ),
            )
            .json(&json!({"username": name, "password": "wrong password entirely"}))
            .send()
            .await
            .unwrap();
        assert_bad_proof(res, "login proof for another URL").await;
    }
    // Five wrong passwords would have locked the account; the proofs were refused first.
    login_bound(&app, &name, &key).await;
}

/// Where else a token is accepted, a bound one is not a Bearer token either: logout with a
/// lifted bound token as Bearer ends nothing, and the simplejwt verify route does not vouch
/// for it. A refused proof takes no place in the replay cache; a replayed login proof makes no
/// session, and costs the password's owner no attempt.
#[tokio::test]
async fn a_lifted_bound_token_opens_no_side_door() {
    let Bound {
        app,
        name,
        key,
        token,
        ..
    } = bound(Key::ed()).await;
    let now = app.state.clock.now();
    let me = url(&app, "/api/me");

    let res = app
        .client
        .post(app.url("/api/auth/logout"))
        .bearer_auth(&token)
        .header("x-requested-with", "cloakroom")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let p = key.proof("GET", &me, now, Some(&token));
    assert_eq!(
        me_with(&app, "DPoP", &token, &[p]).await.status(),
        StatusCode::OK,
        "still live"
    );

    let res = app
        .post_json("/api/token/verify/", &json!({"token": token}))
        .await;
    assert_problem(res, StatusCode::UNAUTHORIZED).await;

    let before = app.state.dpop_replay.len();
    let theirs = Key::ed().proof("GET", &me, now, Some(&token));
    assert_bad_proof(me_with(&app, "DPoP", &token, &[theirs]).await, "other key").await;
    assert_eq!(
        app.state.dpop_replay.len(),
        before,
        "a refused proof is not remembered"
    );

    // A login proof replayed (captured on the wire, say) makes no second session.
    let proof = key.proof("POST", &url(&app, "/api/auth/login"), now, None);
    let login = |proof: String| {
        app.client
            .post(app.url("/api/auth/login"))
            .header("dpop", proof)
            .json(&json!({"username": name, "password": PASSWORD}))
            .send()
    };
    assert_eq!(login(proof.clone()).await.unwrap().status(), StatusCode::OK);
    let claims = crate::auth_flow::decode_claims(&token);
    let user_id = claims["sub"].as_str().unwrap();
    let sessions = cloakroom::store::sessions::list_live(&app.state.db, user_id, now)
        .await
        .unwrap()
        .len();
    assert_bad_proof(login(proof).await.unwrap(), "replayed login proof").await;
    let after = cloakroom::store::sessions::list_live(&app.state.db, user_id, now)
        .await
        .unwrap()
        .len();
    assert_eq!(after, sessions);
    // Its password was right: the attempt it reserved was given back, no session or not (a
    // retried request costs its owner no guess).
    assert_eq!(
        app.state.login_throttle.len().await.unwrap(),
        0,
        "no attempt left counted"
    );
}

/// A session that began with a proof stays bound: a refresh without one (a script borrowing
/// the cookie) is refused, and the browser's next refresh, with a proof, still works (the
/// refused answer's successor is handed out again).
#[tokio::test]
async fn a_bound_session_gives_no_bearer_token_to_a_proofless_refresh() {
    let Bound {
        app, key, refresh, ..
    } = bound(Key::ed()).await;
    let send = |proof: Option<String>| {
        let mut req = app
            .client
            .post(app.url("/api/auth/refresh"))
            .header("cookie", format!("__Host-cloakroom_refresh={refresh}"))
            .header("x-requested-with", "cloakroom");
        if let Some(p) = proof {
            req = req.header("dpop", p);
        }
        req.send()
    };
    assert_bad_proof(
        send(None).await.unwrap(),
        "proofless refresh of a bound session",
    )
    .await;
    let now = app.state.clock.now();
    let res = send(Some(key.proof(
        "POST",
        &url(&app, "/api/auth/refresh"),
        now,
        None,
    )))
    .await
    .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["token_type"], "DPoP");
    // A session that began without a proof goes on with Bearer tokens, as before.
    let (_, plain) = app.new_user().await;
    let res = app.refresh_raw(&plain.refresh).await;
    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
}

#[tokio::test]
#[ignore = "needs PostgreSQL: `make pg` runs it"]
async fn a_proof_replayed_to_another_instance_is_refused() {
    crate::scale_out::require_postgres();
    // Two instances on one database, one public origin (the proxy's), as behind nginx.
    let dir = std::sync::Arc::new(tempfile::TempDir::new().unwrap());
    let origin = [("CLOAKROOM_PUBLIC_ORIGIN", "http://cloakroom.test")];
    let a = spawn_in(dir.clone(), &origin).await;
    let b = spawn_in(dir, &origin).await;
    let (name, _) = a.new_user().await;
    let key = Key::ed();
    let (token, _) = login_bound(&a, &name, &key).await;
    let me = url(&a, "/api/me");
    let proof = key.proof("GET", &me, a.state.clock.now(), Some(&token));
    assert_eq!(
        me_with(&a, "DPoP", &token, std::slice::from_ref(&proof))
            .await
            .status(),
        StatusCode::OK
    );
    // Captured on the way (a proxy log, a copy of the page's traffic) and sent to the other
    // instance within its minute: B has never seen it in memory, the database has.
    assert_bad_proof(me_with(&b, "DPoP", &token, &[proof]).await, "replay on B").await;
    // A fresh proof of the key works on B: the refusal was the replay, not the instance.
    let fresh = key.proof("GET", &me, b.state.clock.now(), Some(&token));
    assert_eq!(
        me_with(&b, "DPoP", &token, &[fresh]).await.status(),
        StatusCode::OK
    );
}

/// Played as a script injected into the page: it cannot export the key but can use it, so it
/// signs proofs dated ahead, for the request it wants, and takes them away with the token. The
/// nonce each proof must carry changes every period, and nobody knows a period's nonce before it
/// begins: the proofs die within two periods, long before the token would.
#[tokio::test]
async fn proofs_made_ahead_of_time_die_with_their_nonce() {
    let Bound {
        app, key, token, ..
    } = bound(Key::ed()).await;
    let period = app.state.settings.dpop_nonce.as_secs() as i64;
    assert_eq!(period, 30, "the default");
    // To the start of a period, so the test knows which period each second is in.
    let now = app.state.clock.now();
    app.state.clock.advance(period - now.rem_euclid(period));
    let start = app.state.clock.now();
    let me = url(&app, "/api/me");
    // The nonce of this period, as any answer hands it out.
    let res = me_with(
        &app,
        "DPoP",
        &token,
        &[key.proof("GET", &me, start, Some(&token))],
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    let current = res.headers()["dpop-nonce"].to_str().unwrap().to_owned();
    assert_eq!(nonce().as_deref(), Some(current.as_str()));
    // Signed now for later: at +40 s (the next period, which still takes this nonce) and at
    // +70 s (two periods on). The token lives 300 s.
    let early = key.proof("GET", &me, start + 40, Some(&token));
    let late = key.proof("GET", &me, start + 70, Some(&token));

    app.state.clock.advance(40);
    assert_eq!(
        me_with(&app, "DPoP", &token, &[early]).await.status(),
        StatusCode::OK,
        "within the next period the old nonce is still good: a tab is not bounced at every change"
    );
    app.state.clock.advance(30);
    let res = me_with(&app, "DPoP", &token, std::slice::from_ref(&late)).await;
    let challenge = res.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_owned();
    let fresh = res.headers()["dpop-nonce"].to_str().unwrap().to_owned();
    let p = assert_problem(res, StatusCode::UNAUTHORIZED).await;
    assert_eq!(p["type"], "/api/problems/use-dpop-nonce", "{p}");
    assert!(
        challenge.contains(r#"error="use_dpop_nonce""#),
        "{challenge}"
    );
    assert_ne!(fresh, current, "the refusal hands out the nonce of now");
    // The page itself retries once with the nonce it was just given, and goes on.
    let retry = key.proof("GET", &me, start + 70, Some(&token));
    assert_eq!(
        me_with(&app, "DPoP", &token, &[retry]).await.status(),
        StatusCode::OK
    );
    // The refused proof took no place in the replay cache, yet stays refused.
    let seen = app.state.dpop_replay.len();
    let res = me_with(&app, "DPoP", &token, &[late]).await;
    let p = assert_problem(res, StatusCode::UNAUTHORIZED).await;
    assert_eq!(p["type"], "/api/problems/use-dpop-nonce", "{p}");
    assert_eq!(
        app.state.dpop_replay.len(),
        seen,
        "no jti recorded for a refused nonce"
    );

    // No nonce, or one made up: refused the same way.
    let now = app.state.clock.now();
    for wrong in [None, Some(B64.encode([0u8; 18]))] {
        set_nonce(wrong);
        let res = me_with(
            &app,
            "DPoP",
            &token,
            &[key.proof("GET", &me, now, Some(&token))],
        )
        .await;
        let p = assert_problem(res, StatusCode::UNAUTHORIZED).await;
        assert_eq!(p["type"], "/api/problems/use-dpop-nonce", "{p}");
    }
    // A proof that is wrong anyway is told what is wrong with it, not sent for a nonce.
    let theirs = Key::ed().proof("GET", &me, now, Some(&token));
    assert_bad_proof(me_with(&app, "DPoP", &token, &[theirs]).await, "other key").await;
}

/// Login and refresh hand the nonce out but need none: their proofs are worth nothing without
/// the password or the cookie, and a page load should not cost a round trip. With nonces off,
/// no header and no nonce.
#[tokio::test]
async fn login_and_refresh_need_no_nonce_and_nonces_can_be_off() {
    set_nonce(None);
    let app = spawn_app().await;
    let (name, _) = app.new_user().await;
    let key = Key::ed();
    let (token, refresh) = login_bound(&app, &name, &key).await;
    assert!(nonce().is_some(), "the login answer carries the nonce");
    let me = url(&app, "/api/me");
    let p = key.proof("GET", &me, app.state.clock.now(), Some(&token));
    assert_eq!(
        me_with(&app, "DPoP", &token, &[p]).await.status(),
        StatusCode::OK
    );
    // A refresh with a proof that carries no nonce (a page load's first request).
    set_nonce(None);
    let res = app
        .client
        .post(app.url("/api/auth/refresh"))
        .header("cookie", format!("__Host-cloakroom_refresh={refresh}"))
        .header("x-requested-with", "cloakroom")
        .header(
            "dpop",
            key.proof(
                "POST",
                &url(&app, "/api/auth/refresh"),
                app.state.clock.now(),
                None,
            ),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(
        res.headers().get("dpop-nonce").is_some(),
        "and its answer hands one out"
    );
    // Logout without a cookie, by the bound token and a proof with a stale nonce: told so (the
    // client retries), not a 204 that pretends the session ended.
    let body: Value = res.json().await.unwrap();
    let t2 = body["access_token"].as_str().unwrap().to_owned();
    set_nonce(Some(B64.encode([1u8; 18])));
    let logout = |proof: String| {
        app.client
            .post(app.url("/api/auth/logout"))
            .header("authorization", format!("DPoP {t2}"))
            .header("x-requested-with", "cloakroom")
            .header("dpop", proof)
            .send()
    };
    let logout_url = url(&app, "/api/auth/logout");
    let now = app.state.clock.now();
    let res = logout(key.proof("POST", &logout_url, now, Some(&t2)))
        .await
        .unwrap();
    learn_nonce(&res);
    let p = assert_problem(res, StatusCode::UNAUTHORIZED).await;
    assert_eq!(p["type"], "/api/problems/use-dpop-nonce", "{p}");
    let res = logout(key.proof("POST", &logout_url, now, Some(&t2)))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let p = key.proof("GET", &me, now, Some(&t2));
    assert_eq!(
        me_with(&app, "DPoP", &t2, &[p]).await.status(),
        StatusCode::UNAUTHORIZED,
        "ended"
    );

    set_nonce(None);
    let off = spawn_with(&[("CLOAKROOM_DPOP_NONCE_SECS", "0")]).await;
    let (name, _) = off.new_user().await;
    let (token, _) = login_bound(&off, &name, &key).await;
    assert_eq!(nonce(), None, "no nonce handed out");
    let me = url(&off, "/api/me");
    let p = key.proof("GET", &me, off.state.clock.now(), Some(&token));
    let res = me_with(&off, "DPoP", &token, &[p]).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.headers().get("dpop-nonce").is_none());
}
