//! Attacks on operators' promises (see mod.rs): a withdrawn admin role living on in a token, a
//! leaked signing key that keeps verifying, a revocation the running servers miss, a retired
//! private key left lying in the database.

use crate::{auth_flow::decode_claims, helpers::*};
use cloakroom::{
    ops,
    store::{
        self,
        testing::{execute, Arg},
    },
    sync::sync_once,
};
use reqwest::StatusCode;

fn kid(jwt: &str) -> String {
    jsonwebtoken::decode_header(jwt).unwrap().kid.unwrap()
}

#[tokio::test]
async fn a_withdrawn_admin_role_does_not_live_on_in_the_access_token() {
    let app = spawn_app().await;
    let id = ops::create_user(
        &app.state.db,
        &app.state.hasher,
        "demoted",
        PASSWORD,
        true,
        app.state.clock.now(),
    )
    .await
    .unwrap();
    let admin = app.login("demoted").await;
    assert_eq!(decode_claims(&admin.access)["roles"][0], "admin");
    assert_eq!(
        app.get_auth("/api/admin/users", &admin.access)
            .await
            .status(),
        StatusCode::OK
    );
    // The operator withdraws the role; the token still claims it for minutes.
    store::users::set_roles(&app.state.db, &id, "")
        .await
        .unwrap();
    assert_problem(
        app.get_auth("/api/admin/users", &admin.access).await,
        StatusCode::FORBIDDEN,
    )
    .await;
}

#[tokio::test]
async fn a_revoked_signing_key_stops_verifying_at_once_and_nobody_is_logged_out() {
    let app = spawn_app().await;
    let (_, login) = app.new_user().await;
    let leaked = kid(&login.access);
    assert_eq!(app.me_status(&login.access).await, StatusCode::OK);

    let outcome = ops::revoke_key(&app.state.db, &leaked, app.state.clock.now())
        .await
        .unwrap();
    assert_eq!(outcome, store::keys::KeyRevocation::Signer);
    sync_once(&app.state, app.state.clock.now()).await;

    // Every token the key signed is refused, and the key is gone from JWKS…
    assert_problem(
        app.get_auth("/api/me", &login.access).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    let jwks: serde_json::Value = app
        .get("/.well-known/jwks.json")
        .await
        .json()
        .await
        .unwrap();
    assert!(
        jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .all(|k| k["kid"] != leaked.as_str()),
        "{jwks}"
    );
    // …while the user refreshes silently onto the new key.
    let res = app.refresh_raw(&login.refresh).await;
    assert_eq!(res.status(), StatusCode::OK);
    let fresh: api_types::TokenResponse = res.json().await.unwrap();
    assert_ne!(kid(&fresh.access_token), leaked);
    assert_eq!(app.me_status(&fresh.access_token).await, StatusCode::OK);

    // The revoked key's private half is gone; revoking it twice, or an unknown kid, is an error.
    let rows = store::keys::all(&app.state.db).await.unwrap();
    let row = rows.iter().find(|k| k.kid == leaked).unwrap();
    assert!(row.seed.is_empty() && row.revoked_at.is_some());
    assert!(
        ops::revoke_key(&app.state.db, &leaked, app.state.clock.now())
            .await
            .is_err()
    );
    assert!(
        ops::revoke_key(&app.state.db, "no-such-kid", app.state.clock.now())
            .await
            .is_err()
    );
    let listed = ops::list_keys(&app.state.db, 300, app.state.clock.now())
        .await
        .unwrap();
    assert!(
        listed
            .iter()
            .any(|l| l.starts_with(&leaked) && l.contains("revoked")),
        "{listed:?}"
    );
}

#[tokio::test]
async fn a_retired_key_keeps_only_its_public_half() {
    let app = spawn_app().await;
    let (_, login) = app.new_user().await;
    let old = kid(&login.access);
    ops::rotate_keys(&app.state.db, app.state.clock.now())
        .await
        .unwrap();
    sync_once(&app.state, app.state.clock.now()).await;
    let rows = store::keys::all(&app.state.db).await.unwrap();
    let retired = rows.iter().find(|k| k.kid == old).unwrap();
    assert!(retired.retired_at.is_some());
    assert!(retired.seed.is_empty(), "a retired key's seed is wiped");
    assert_eq!(retired.public_key.len(), 32);
    // It still verifies the tokens it signed until they expire.
    assert_eq!(app.me_status(&login.access).await, StatusCode::OK);
}

#[tokio::test]
async fn a_revocation_that_commits_late_is_still_seen_by_the_running_server() {
    let app = spawn_app().await;
    let (name, login) = app.new_user().await;
    assert_eq!(app.me_status(&login.access).await, StatusCode::OK);
    // The server has followed the log up to now.
    sync_once(&app.state, app.state.clock.now()).await;
    // The operator's revocation is stamped an hour before the moment it commits (a lagging
    // clock, a transaction held open): a sync "since the last look" would pass it by.
    let n = ops::revoke_sessions(&app.state.db, &name, app.state.clock.now())
        .await
        .unwrap();
    assert_eq!(n, 1);
    execute(
        &app.state.db,
        "UPDATE revocations SET revoked_at = revoked_at - 3600",
        &[],
    )
    .await
    .unwrap();
    execute(
        &app.state.db,
        "UPDATE sessions SET revoked_at = revoked_at - 3600",
        &[],
    )
    .await
    .unwrap();
    if app.state.db.engine_name() == "sqlite" {
        // (PostgreSQL wakes the server at the commit already: there is no "before".)
        assert_eq!(
            app.me_status(&login.access).await,
            StatusCode::OK,
            "not yet synced"
        );
    }
    sync_once(&app.state, app.state.clock.now()).await;
    assert_problem(
        app.get_auth("/api/me", &login.access).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    // Every revocation path is logged by the database itself, not by each caller.
    let (_, other) = app.new_user().await;
    let sid = decode_claims(&other.access)["sid"]
        .as_str()
        .unwrap()
        .to_owned();
    execute(
        &app.state.db,
        "UPDATE sessions SET revoked_at = 1, revoked_reason = 'by hand' WHERE id = $1",
        &[Arg::Text(sid.clone())],
    )
    .await
    .unwrap();
    sync_once(&app.state, app.state.clock.now()).await;
    assert_eq!(app.me_status(&other.access).await, StatusCode::UNAUTHORIZED);
}

#[test]
fn insecure_dev_cookies_with_an_https_origin_refuse_to_start() {
    let env = [
        ("CLOAKROOM_DEV_INSECURE_COOKIES", "true"),
        ("CLOAKROOM_PUBLIC_ORIGIN", "https://notes.example.com"),
    ];
    let err = cloakroom::config::Settings::from_lookup(|k| {
        env.iter()
            .find(|(n, _)| *n == k)
            .map(|(_, v)| v.to_string())
    })
    .unwrap_err();
    assert!(err.to_string().contains("refusing to start"), "{err}");
}

#[tokio::test]
async fn a_revocation_stamped_long_before_it_committed_survives_a_restart() {
    let origin = [("CLOAKROOM_PUBLIC_ORIGIN", "http://cloakroom.test")];
    let app = spawn_with(&origin).await;
    let (name, login) = app.new_user().await;
    ops::revoke_sessions(&app.state.db, &name, app.state.clock.now())
        .await
        .unwrap();
    // Its timestamp lies an hour back: a start-up that loads "revoked within one access
    // lifetime" by time would miss it.
    execute(
        &app.state.db,
        "UPDATE sessions SET revoked_at = revoked_at - 3600",
        &[],
    )
    .await
    .unwrap();
    let dir = app.stop().await;
    let app = spawn_in(dir, &origin).await;
    assert_problem(
        app.get_auth("/api/me", &login.access).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
}

#[tokio::test]
async fn the_test_clock_does_not_exist_unless_a_test_server_asks_for_it() {
    let app = spawn_app().await;
    assert_problem(
        app.post_json(
            "/api/test/clock",
            &serde_json::json!({"advance_secs": 86_400}),
        )
        .await,
        StatusCode::NOT_FOUND,
    )
    .await;
    let openapi: serde_json::Value = app.get("/api/openapi.json").await.json().await.unwrap();
    assert!(openapi["paths"].get("/api/test/clock").is_none());
}

#[tokio::test]
async fn a_test_server_moves_its_clock_and_lifetimes_follow() {
    let app = spawn_with(&[("CLOAKROOM_TEST_CLOCK", "true")]).await;
    // Between the suite's moves a test server's clock stands still (so boundaries are exact).
    assert!(app.state.clock.is_frozen());
    let (_, login) = app.new_user().await;
    let step = |secs: i64| {
        let app = &app;
        async move {
            app.post_json(
                "/api/test/clock",
                &serde_json::json!({"advance_secs": secs}),
            )
            .await
        }
    };
    let res = step(299).await;
    assert_eq!(res.status(), StatusCode::OK);
    let now: serde_json::Value = res.json().await.unwrap();
    assert_eq!(now["now"], app.state.clock.now());
    assert_eq!(app.me_status(&login.access).await, StatusCode::OK);
    assert_eq!(step(1).await.status(), StatusCode::OK);
    assert_eq!(app.me_status(&login.access).await, StatusCode::UNAUTHORIZED);
    // Every answer's Date is the moved clock (the client dates its DPoP proofs by it).
    let res = step(0).await;
    let date = res.headers()["date"].to_str().unwrap().to_owned();
    let now: serde_json::Value = res.json().await.unwrap();
    let at = httpdate::parse_http_date(&date).unwrap();
    let secs = at.duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    assert_eq!(secs, now["now"].as_i64().unwrap(), "{date}");
    // Only forward, and within reason; bad input is a problem, and changes nothing.
    let before = app.state.clock.now();
    for body in [
        serde_json::json!({"advance_secs": -10}),
        serde_json::json!({"advance_secs": 400_000_000}),
    ] {
        assert_problem(
            app.post_json("/api/test/clock", &body).await,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    }
    assert_eq!(app.state.clock.now(), before);
}
