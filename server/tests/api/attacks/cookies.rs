//! Cookie tossing: a sibling subdomain plants cookies of our refresh cookie's name. The
//! `__Host-` prefix keeps the browser from accepting a planted one with a Domain; the server
//! refuses any request carrying the name twice, so no planted value can ever win.

use crate::helpers::*;
use reqwest::StatusCode;

const NAME: &str = "__Host-cloakroom_refresh";

async fn post_with_cookies(app: &TestApp, path: &str, cookies: &[String]) -> reqwest::Response {
    let mut req = app
        .client
        .post(app.url(path))
        .header("x-requested-with", "cloakroom");
    for c in cookies {
        req = req.header("cookie", c);
    }
    req.send().await.unwrap()
}

#[tokio::test]
async fn refresh_cookie_is_host_prefixed_so_no_sibling_can_plant_it() {
    let app = spawn_app().await;
    let (_, login) = app.new_user().await;
    let c = format!("{};", login.set_cookie);
    assert!(c.starts_with(&format!("{NAME}=")), "{c}");
    assert!(
        c.contains("; Path=/;") && c.contains("Secure") && c.contains("HttpOnly"),
        "{c}"
    );
    assert!(!c.to_ascii_lowercase().contains("domain="), "{c}");
}

#[tokio::test]
async fn tossed_attacker_cookie_cannot_log_the_victim_into_the_attackers_session() {
    let app = spawn_app().await;
    let (_, victim) = app.new_user().await;
    let (_, attacker) = app.new_user().await;
    // The planted cookie comes first (more specific path), the victim's second; one header or two.
    for cookies in [
        vec![format!(
            "{NAME}={}; {NAME}={}",
            attacker.refresh, victim.refresh
        )],
        vec![
            format!("{NAME}={}", attacker.refresh),
            format!("theme=dark; {NAME}={}", victim.refresh),
        ],
    ] {
        let res = post_with_cookies(&app, "/api/auth/refresh", &cookies).await;
        assert!(
            refresh_cookie(res.headers()).is_none(),
            "no cookie set or cleared"
        );
        let p = assert_problem(res, StatusCode::BAD_REQUEST).await;
        assert!(
            p["detail"].as_str().unwrap().contains("more than once"),
            "{p}"
        );
    }
    // Nothing was rotated or revoked: both sessions go on, each as its own user.
    for l in [&victim, &attacker] {
        assert_eq!(app.refresh_raw(&l.refresh).await.status(), StatusCode::OK);
    }
}

#[tokio::test]
async fn tossed_junk_cookie_neither_logs_the_victim_out_nor_revokes_anything() {
    let app = spawn_app().await;
    let (_, victim) = app.new_user().await;
    let junk = format!("{NAME}={}; {NAME}={}", "A".repeat(43), victim.refresh);
    for path in ["/api/auth/refresh", "/api/auth/logout"] {
        let res = post_with_cookies(&app, path, std::slice::from_ref(&junk)).await;
        assert_problem(res, StatusCode::BAD_REQUEST).await;
    }
    assert_eq!(
        app.refresh_raw(&victim.refresh).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_cookie_under_the_old_unprefixed_names_is_not_a_refresh_token() {
    // `__Secure-` cookies (the previous name) can be planted by a sibling with a Domain.
    let app = spawn_app().await;
    let (_, victim) = app.new_user().await;
    for name in [
        "__Secure-cloakroom_refresh",
        "__host-cloakroom_refresh",
        "cloakroom_refresh",
    ] {
        let res = post_with_cookies(
            &app,
            "/api/auth/refresh",
            &[format!("{name}={}", victim.refresh)],
        )
        .await;
        let p = assert_problem(res, StatusCode::UNAUTHORIZED).await;
        assert!(
            p["detail"].as_str().unwrap().contains("no refresh cookie"),
            "{p}"
        );
    }
}
