//! Signup, login, refresh rotation, reuse detection, lifetimes, logout, restart.

use crate::helpers::*;
use reqwest::StatusCode;
use sqlx::Connection;

#[tokio::test]
async fn signup_rules() {
    let app = spawn_app().await;
    let res = app.signup("Alice", PASSWORD).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["username"], "Alice");
    assert!(body["id"].as_str().unwrap().len() >= 32);

    let p = assert_problem(
        app.signup("aLiCe", "another long passphrase").await,
        StatusCode::CONFLICT,
    )
    .await;
    assert!(p["detail"].as_str().unwrap().contains("taken"));

    for bad in ["ab", "has space", "x".repeat(33).as_str(), "emoji😀"] {
        assert_problem(
            app.signup(bad, PASSWORD).await,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    }
    let p = assert_problem(
        app.signup("bob", "short").await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert!(p["detail"].as_str().unwrap().contains("at least 12"));
    let p = assert_problem(
        app.signup("bob", "qwerty123456").await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert!(
        p["detail"].as_str().unwrap().contains("commonly used"),
        "{p}"
    );
    let p = assert_problem(
        app.signup("bob", &"long".repeat(65)).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert!(p["detail"].as_str().unwrap().contains("at most 256"));
    // Nothing was created by the failures.
    assert_eq!(
        app.signup("bob", PASSWORD).await.status(),
        StatusCode::CREATED
    );
}

#[tokio::test]
async fn login_success_sets_exact_cookie_and_token_works() {
    let app = spawn_app().await;
    let (name, login) = app.new_user().await;
    let c = &login.set_cookie;
    assert!(c.starts_with("__Host-cloakroom_refresh="), "{c}");
    let attrs: Vec<&str> = c.split(';').skip(1).map(str::trim).collect();
    for want in ["HttpOnly", "Secure", "SameSite=Strict", "Path=/"] {
        assert!(attrs.contains(&want), "{c} lacks {want}");
    }
    assert!(
        attrs.iter().any(|a| a.starts_with("Max-Age=")),
        "remember=true gives Max-Age: {c}"
    );
    assert_eq!(login.refresh.len(), 43, "256-bit base64url token");

    let res = app.get_auth("/api/me", &login.access).await;
    assert_eq!(res.status(), StatusCode::OK);
    let me: api_types::Me = res.json().await.unwrap();
    assert_eq!(me.username, name);
    assert!(me.roles.is_empty());
}

/// The device cookie (`auth::device`) is built like the refresh cookie and lives 180 days, with
/// or without "remember me": it outlives sessions on purpose (a known device keeps its own
/// guess budget when the account is under attack).
#[tokio::test]
async fn the_device_cookie_lives_180_days_with_the_refresh_cookies_attributes() {
    let app = spawn_app().await;
    let name = unique_name();
    app.signup(&name, PASSWORD).await;
    for remember in [true, false] {
        let res = app.login_raw(&name, PASSWORD, remember).await;
        let device = res
            .headers()
            .get_all("set-cookie")
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .find(|c| c.starts_with("__Host-cloakroom_device="))
            .expect("a device cookie");
        let attrs: Vec<&str> = device.split(';').skip(1).map(str::trim).collect();
        for want in [
            "HttpOnly",
            "Secure",
            "SameSite=Strict",
            "Path=/",
            "Max-Age=15552000",
        ] {
            assert!(attrs.contains(&want), "{device} lacks {want}");
        }
    }
}

#[tokio::test]
async fn remember_false_gives_a_browser_session_cookie() {
    let app = spawn_app().await;
    let name = unique_name();
    app.signup(&name, PASSWORD).await;
    let res = app.login_raw(&name, PASSWORD, false).await;
    let (value, raw) = refresh_cookie(res.headers()).unwrap();
    assert!(
        !raw.contains("Max-Age") && !raw.contains("Expires"),
        "{raw}"
    );
    // The session stays non-persistent across rotation.
    let res = app.refresh_raw(&value).await;
    let (_, raw) = refresh_cookie(res.headers()).unwrap();
    assert!(!raw.contains("Max-Age"), "{raw}");
}

#[tokio::test]
async fn login_failure_is_generic_and_costs_the_same_path() {
    let app = spawn_app().await;
    let (name, _) = app.new_user().await;
    let wrong = assert_problem(
        app.login_raw(&name, "not the password!!", false).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    let unknown = assert_problem(
        app.login_raw("nobody_here", PASSWORD, false).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    let malformed = assert_problem(
        app.login_raw("a b", PASSWORD, false).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    assert_eq!(wrong["detail"], unknown["detail"]);
    assert_eq!(wrong["detail"], malformed["detail"]);
}

#[tokio::test]
async fn login_throttle_locks_the_username_with_retry_after() {
    let app = spawn_app().await;
    let (name, _) = app.new_user().await;
    for _ in 0..5 {
        assert_eq!(
            app.login_raw(&name, "wrong password 123", false)
                .await
                .status(),
            StatusCode::UNAUTHORIZED
        );
    }
    // Even the right password is refused now (otherwise the lock would be an oracle).
    let res = app.login_raw(&name.to_uppercase(), PASSWORD, false).await;
    let retry: u64 = res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry > 800 && retry <= 900, "{retry}");
    let p = assert_problem(res, StatusCode::TOO_MANY_REQUESTS).await;
    assert_eq!(p["retry_after"], retry);
    // Other accounts are unaffected.
    let (other, _) = app.new_user().await;
    assert_eq!(
        app.login_raw(&other, PASSWORD, false).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn per_ip_limit_on_signup_and_login() {
    let app = spawn_with(&[("CLOAKROOM_AUTH_RATE_PER_MINUTE", "3")]).await;
    for i in 0..3 {
        assert_eq!(
            app.signup(&format!("ipuser{i}"), PASSWORD).await.status(),
            StatusCode::CREATED
        );
    }
    let res = app.login_raw("ipuser0", PASSWORD, false).await;
    assert!(res.headers().contains_key("retry-after"));
    assert_problem(res, StatusCode::TOO_MANY_REQUESTS).await;
}

#[tokio::test]
async fn refresh_rotates_the_token() {
    let app = spawn_app().await;
    let (_, login) = app.new_user().await;
    let res = app.refresh_raw(&login.refresh).await;
    assert_eq!(res.status(), StatusCode::OK);
    let (next, raw) = refresh_cookie(res.headers()).expect("rotated cookie");
    assert_ne!(next, login.refresh);
    assert!(raw.contains("HttpOnly") && raw.contains("Path=/;"));
    let body: api_types::TokenResponse = res.json().await.unwrap();
    assert_eq!(body.token_type, "Bearer");
    assert_eq!(body.expires_in, 300);
    assert_eq!(body.rotation.as_deref(), Some("rotated"));
    assert_eq!(app.me_status(&body.access_token).await, StatusCode::OK);
    // And the new one rotates again.
    let res = app.refresh_raw(&next).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(refresh_cookie(res.headers()).is_some());
}

#[tokio::test]
async fn a_straggler_after_the_successor_was_used_gets_access_but_no_cookie_within_grace() {
    let app = spawn_app().await;
    let (_, login) = app.new_user().await;
    let first = app.refresh_raw(&login.refresh).await;
    let (next, _) = refresh_cookie(first.headers()).unwrap();
    // The successor is used: the client has moved on.
    let second = app.refresh_raw(&next).await;
    let (newest, _) = refresh_cookie(second.headers()).unwrap();
    // A late duplicate of the first presentation, within the grace window.
    let dup = app.refresh_raw(&login.refresh).await;
    assert_eq!(dup.status(), StatusCode::OK);
    assert!(
        refresh_cookie(dup.headers()).is_none(),
        "a grace answer must not touch the cookie"
    );
    let body: api_types::TokenResponse = dup.json().await.unwrap();
    assert_eq!(app.me_status(&body.access_token).await, StatusCode::OK);
    assert_eq!(
        app.refresh_raw(&newest).await.status(),
        StatusCode::OK,
        "session still live"
    );
}

#[tokio::test]
async fn concurrent_refreshes_rotate_exactly_once() {
    let app = spawn_app().await;
    let (_, login) = app.new_user().await;
    // Real concurrency: separate tasks, each with its own connection.
    let handles: Vec<_> = (0..20)
        .map(|_| {
            let client = reqwest::Client::new();
            let url = app.url("/api/auth/refresh");
            let cookie = format!("__Host-cloakroom_refresh={}", login.refresh);
            tokio::spawn(async move {
                client
                    .post(url)
                    .header("cookie", cookie)
                    .header("x-requested-with", "cloakroom")
                    .send()
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut successors = std::collections::BTreeSet::new();
    for h in handles {
        let res = h.await.unwrap();
        assert_eq!(
            res.status(),
            StatusCode::OK,
            "no request of the burst may fail"
        );
        let (value, _) = refresh_cookie(res.headers()).expect("every answer carries the successor");
        successors.insert(value);
    }
    assert_eq!(
        successors.len(),
        1,
        "exactly one rotation: one successor for the whole burst"
    );
    let successor = successors.pop_first().unwrap();
    assert_eq!(app.refresh_raw(&successor).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn replay_after_grace_revokes_the_session_and_its_access_tokens() {
    let app = spawn_app().await;
    app.state.clock.freeze();
    let (_, login) = app.new_user().await;
    let res = app.refresh_raw(&login.refresh).await;
    let (used, _) = refresh_cookie(res.headers()).unwrap();
    let body: api_types::TokenResponse = res.json().await.unwrap();
    // The owner moves on: the successor is used, so the first token is now strictly stale.
    let res = app.refresh_raw(&used).await;
    let (next, _) = refresh_cookie(res.headers()).unwrap();
    // The last second of the 10 s grace window: a straggler, answered without a cookie.
    app.state.clock.advance(10);
    let res = app.refresh_raw(&login.refresh).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(refresh_cookie(res.headers()).is_none());
    // One second later it is a replay.
    app.state.clock.advance(1);
    let res = app.refresh_raw(&login.refresh).await;
    let (cleared, _) = refresh_cookie(res.headers()).expect("cookie cleared");
    assert_eq!(cleared, "");
    let p = assert_problem(res, StatusCode::UNAUTHORIZED).await;
    assert!(
        p["detail"].as_str().unwrap().contains("already used"),
        "{p}"
    );
    // Every token of the family is dead: the current refresh token and both access tokens.
    assert_eq!(
        app.refresh_raw(&next).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.me_status(&body.access_token).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(app.me_status(&login.access).await, StatusCode::UNAUTHORIZED);
    // And it was recorded.
    let claims = decode_claims(&login.access);
    let n = cloakroom::store::events::count(
        &app.state.db,
        "refresh_token_reuse",
        claims["sid"].as_str().unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(n, 1);
}

pub fn decode_claims(jwt: &str) -> serde_json::Value {
    use base64::Engine;
    let payload = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap()
}

#[tokio::test]
async fn refresh_idle_expiry_and_absolute_cap() {
    // Idle: the lifetime counts from the last use, to the second.
    let app = spawn_with(&[
        ("CLOAKROOM_REFRESH_IDLE_TTL_SECS", "10"),
        ("CLOAKROOM_SESSION_MAX_TTL_SECS", "100"),
    ])
    .await;
    app.state.clock.freeze();
    let (_, login) = app.new_user().await;
    app.state.clock.advance(9);
    let res = app.refresh_raw(&login.refresh).await;
    assert_eq!(res.status(), StatusCode::OK, "second 9 of 10 idle");
    let (next, _) = refresh_cookie(res.headers()).unwrap();
    app.state.clock.advance(9);
    let res = app.refresh_raw(&next).await;
    assert_eq!(
        res.status(),
        StatusCode::OK,
        "idle counts from the last use"
    );
    let (next, _) = refresh_cookie(res.headers()).unwrap();
    app.state.clock.advance(10);
    assert_problem(app.refresh_raw(&next).await, StatusCode::UNAUTHORIZED).await;

    // The cap: Max-Age is the absolute lifetime, not the idle one, and rotation does not
    // extend the session.
    let app = spawn_with(&[
        ("CLOAKROOM_REFRESH_IDLE_TTL_SECS", "60"),
        ("CLOAKROOM_SESSION_MAX_TTL_SECS", "2"),
    ])
    .await;
    app.state.clock.freeze();
    let (_, login) = app.new_user().await;
    let max_age: i64 = login
        .set_cookie
        .split("Max-Age=")
        .nth(1)
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(max_age, 2, "{}", login.set_cookie);
    let res = app.refresh_raw(&login.refresh).await;
    assert_eq!(res.status(), StatusCode::OK);
    let (next, _) = refresh_cookie(res.headers()).unwrap();
    app.state.clock.advance(2);
    assert_problem(app.refresh_raw(&next).await, StatusCode::UNAUTHORIZED).await;
}

#[tokio::test]
async fn production_lifetimes_hold_exactly_idle_24_hours_and_a_7_day_cap() {
    let app = spawn_app().await;
    app.state.clock.freeze();
    let (_, login) = app.new_user().await;
    // Idle: a refresh token unused for 24 h dies; one second before, it still works.
    app.state.clock.advance(86_400 - 1);
    let res = app.refresh_raw(&login.refresh).await;
    assert_eq!(res.status(), StatusCode::OK, "second 86,399 of idling");
    let (mut current, _) = refresh_cookie(res.headers()).unwrap();
    // Cap: refreshed every 23 h, the session still ends 7 days after the login.
    let mut elapsed = 86_400 - 1;
    while elapsed + 23 * 3600 < 7 * 86_400 {
        app.state.clock.advance(23 * 3600);
        elapsed += 23 * 3600;
        let res = app.refresh_raw(&current).await;
        assert_eq!(res.status(), StatusCode::OK, "at {elapsed} s");
        current = refresh_cookie(res.headers()).unwrap().0;
    }
    app.state.clock.advance(7 * 86_400 - 1 - elapsed);
    let res = app.refresh_raw(&current).await;
    assert_eq!(
        res.status(),
        StatusCode::OK,
        "the last second of the 7 days"
    );
    current = refresh_cookie(res.headers()).unwrap().0;
    app.state.clock.advance(1);
    assert_problem(app.refresh_raw(&current).await, StatusCode::UNAUTHORIZED).await;

    let (_, idle) = app.new_user().await;
    app.state.clock.advance(86_400);
    assert_problem(
        app.refresh_raw(&idle.refresh).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
}

#[tokio::test]
async fn refresh_without_cookie_or_with_garbage_is_401() {
    let app = spawn_app().await;
    let res = app
        .client
        .post(app.url("/api/auth/refresh"))
        .header("x-requested-with", "cloakroom")
        .send()
        .await
        .unwrap();
    assert_problem(res, StatusCode::UNAUTHORIZED).await;
    assert_problem(app.refresh_raw("garbage").await, StatusCode::UNAUTHORIZED).await;
    assert_problem(
        app.refresh_raw(&"A".repeat(43)).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
}

#[tokio::test]
async fn logout_revokes_and_clears_the_cookie() {
    let app = spawn_app().await;
    let (_, login) = app.new_user().await;
    let res = app.logout_raw(&login.refresh).await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let (value, raw) = refresh_cookie(res.headers()).unwrap();
    assert_eq!(value, "");
    for want in [
        "Max-Age=0",
        "Path=/;",
        "HttpOnly",
        "Secure",
        "SameSite=Strict",
    ] {
        assert!(raw.contains(want), "{raw} lacks {want}");
    }
    assert_eq!(
        app.refresh_raw(&login.refresh).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(app.me_status(&login.access).await, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn logout_all_ends_every_session() {
    let app = spawn_app().await;
    let (name, a) = app.new_user().await;
    let b = app.login(&name).await;
    let res = app
        .client
        .post(app.url("/api/auth/logout-all"))
        .bearer_auth(&a.access)
        .header("x-requested-with", "cloakroom")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    for l in [&a, &b] {
        assert_eq!(app.me_status(&l.access).await, StatusCode::UNAUTHORIZED);
        assert_eq!(
            app.refresh_raw(&l.refresh).await.status(),
            StatusCode::UNAUTHORIZED
        );
    }
    // Logging in again works.
    let c = app.login(&name).await;
    assert_eq!(app.me_status(&c.access).await, StatusCode::OK);
}

/// Ends the session `access` belongs to, as its owner does from another session (`by`).
async fn end_session_of(app: &TestApp, access: &str, by: &str) {
    let sid = decode_claims(access)["sid"].as_str().unwrap().to_owned();
    let res = app
        .client
        .delete(app.url(&format!("/api/auth/sessions/{sid}")))
        .bearer_auth(by)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
}

/// A server started after the revocation log's day has been purged still refuses the access
/// tokens of sessions revoked before, while those tokens live (an operator's access-token
/// lifetime longer than the log's day): it reads the revoked sessions themselves at start-up.
#[tokio::test]
async fn a_revocation_outlives_its_purged_log_across_a_restart_while_its_tokens_live() {
    let env = [
        ("CLOAKROOM_PUBLIC_ORIGIN", "http://cloakroom.test"),
        ("CLOAKROOM_ACCESS_TTL_SECS", "172800"),
    ];
    let app = spawn_with(&env).await;
    let (name, login) = app.new_user().await;
    let revoked = app.login(&name).await;
    end_session_of(&app, &revoked.access, &login.access).await;
    // A day and a half on: the log's day is over (the sync task's purge, run then), the
    // tokens' two days are not. The revocation is dated back by hand, the server being stopped.
    let purged = cloakroom::store::sessions::purge_revocation_log(&app.state.db, i64::MAX)
        .await
        .unwrap();
    assert!(purged >= 1, "the revocation was in the log");
    let dir = app.stop().await;
    let backdate =
        "UPDATE sessions SET revoked_at = revoked_at - 129600 WHERE revoked_at IS NOT NULL";
    match postgres_for(&dir).await {
        None => {
            let path = dir.path().join("cloakroom.db");
            let mut c = sqlx::SqliteConnection::connect(&format!("sqlite://{}", path.display()))
                .await
                .unwrap();
            sqlx::query(backdate).execute(&mut c).await.unwrap();
        }
        Some(url) => {
            let mut c = sqlx::PgConnection::connect(&url).await.unwrap();
            sqlx::query(backdate).execute(&mut c).await.unwrap();
        }
    }

    let app = spawn_in(dir, &env).await;
    assert_eq!(
        app.me_status(&revoked.access).await,
        StatusCode::UNAUTHORIZED,
        "the revoked session's token, with no log entry left"
    );
    assert_eq!(app.me_status(&login.access).await, StatusCode::OK);
}

#[tokio::test]
async fn restart_keeps_users_sessions_and_signing_key() {
    // The issuer is the public origin, fixed in any real deployment (port 0 would change it).
    let origin = [("CLOAKROOM_PUBLIC_ORIGIN", "http://cloakroom.test")];
    let app = spawn_with(&origin).await;
    let (name, login) = app.new_user().await;
    let revoked = app.login(&name).await;
    end_session_of(&app, &revoked.access, &login.access).await;
    let dir = app.stop().await;

    let app = spawn_in(dir, &origin).await;
    assert_eq!(
        app.me_status(&login.access).await,
        StatusCode::OK,
        "same key after restart"
    );
    assert_eq!(
        app.me_status(&revoked.access).await,
        StatusCode::UNAUTHORIZED,
        "revocations survive restart"
    );
    assert_eq!(
        app.refresh_raw(&login.refresh).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        app.login_raw(&name, PASSWORD, false).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn refresh_has_a_per_ip_budget_and_429_keeps_the_cookie() {
    let app = spawn_with(&[("CLOAKROOM_REFRESH_RATE_PER_MINUTE", "2")]).await;
    let (_, login) = app.new_user().await;
    let res = app.refresh_raw(&login.refresh).await;
    let (next, _) = refresh_cookie(res.headers()).unwrap();
    let res = app.refresh_raw(&next).await;
    let (next, _) = refresh_cookie(res.headers()).unwrap();
    let res = app.refresh_raw(&next).await;
    assert!(res.headers().contains_key("retry-after"));
    assert!(
        refresh_cookie(res.headers()).is_none(),
        "a throttled refresh must not clear the cookie"
    );
    assert_problem(res, StatusCode::TOO_MANY_REQUESTS).await;
}

#[tokio::test]
async fn logout_by_bearer_alone_accepts_any_scheme_case() {
    // Same parsing as every Bearer route: `bearer` in any case, surrounding spaces trimmed.
    let app = spawn_app().await;
    let (_, login) = app.new_user().await;
    let res = app
        .client
        .post(app.url("/api/auth/logout"))
        .header("authorization", format!("bearer  {}", login.access))
        .header("x-requested-with", "cloakroom")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_eq!(app.me_status(&login.access).await, StatusCode::UNAUTHORIZED);
    assert_eq!(
        app.refresh_raw(&login.refresh).await.status(),
        StatusCode::UNAUTHORIZED
    );
}

/// A token rotated just before its session was ended (logout) is no way back in, even within
/// the grace window in which it would otherwise get its successor again.
#[tokio::test]
async fn a_rotated_token_of_an_ended_session_gets_nothing() {
    let app = spawn_app().await;
    app.state.clock.freeze();
    let (_, login) = app.new_user().await;
    let res = app.refresh_raw(&login.refresh).await;
    assert_eq!(res.status(), StatusCode::OK);
    let (successor, _) = refresh_cookie(res.headers()).unwrap();
    assert_eq!(
        app.logout_raw(&successor).await.status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        app.refresh_raw(&login.refresh).await.status(),
        StatusCode::UNAUTHORIZED
    );
}

/// A successor nobody presented dies with its idle lifetime: the token it replaced, presented
/// at that second or later, is refused (the session went idle; nobody stole anything), and one
/// second earlier it still gets the same successor.
#[tokio::test]
async fn a_successor_never_presented_dies_at_its_idle_limit() {
    let app = spawn_app().await;
    app.state.clock.freeze();
    let (_, login) = app.new_user().await;
    let res = app.refresh_raw(&login.refresh).await;
    let (successor, _) = refresh_cookie(res.headers()).unwrap();
    let idle = app.state.settings.refresh_idle_ttl.as_secs() as i64;
    app.state.clock.advance(idle - 1);
    let res = app.refresh_raw(&login.refresh).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(refresh_cookie(res.headers()).unwrap().0, successor);
    app.state.clock.advance(1);
    assert_eq!(
        app.refresh_raw(&login.refresh).await.status(),
        StatusCode::UNAUTHORIZED
    );
}
