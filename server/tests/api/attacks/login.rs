//! Attacks on login (see mod.rs): concurrent guessing, locking the owner out, and a login flood
//! meant to take the rest of the site down with it.

use crate::helpers::*;
use reqwest::StatusCode;
use serde_json::json;

/// The server trusts 127.0.0.1 as a proxy, so each request can claim its own client address:
/// an attacker spread over many addresses, as a botnet looks through a real proxy.
async fn spawn_behind_proxy(extra: &[(&str, &str)]) -> TestApp {
    let mut settings = vec![("CLOAKROOM_TRUSTED_PROXIES", "127.0.0.1")];
    settings.extend_from_slice(extra);
    spawn_with(&settings).await
}

async fn login_from(
    app: &TestApp,
    ip: &str,
    username: &str,
    password: &str,
    device: Option<&str>,
) -> reqwest::Response {
    let mut req = app
        .client
        .post(app.url("/api/auth/login"))
        .header("x-forwarded-for", ip)
        .json(&json!({"username": username, "password": password}));
    if let Some(d) = device {
        req = req.header("cookie", format!("__Host-cloakroom_device={d}"));
    }
    req.send().await.unwrap()
}

/// A login sent from its own task (for bursts), answering its status.
fn spawn_login(
    app: &TestApp,
    ip: String,
    username: &str,
    password: String,
) -> tokio::task::JoinHandle<StatusCode> {
    let req = app
        .client
        .post(app.url("/api/auth/login"))
        .header("x-forwarded-for", ip)
        .json(&json!({"username": username, "password": password}));
    tokio::spawn(async move { req.send().await.unwrap().status() })
}

fn device_cookie(res: &reqwest::Response) -> String {
    let raw = res
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("__Host-cloakroom_device="))
        .expect("a successful login sets the device cookie")
        .to_owned();
    let c = format!("{raw};");
    for part in ["HttpOnly", "Secure", "SameSite=Strict", "Path=/;"] {
        assert!(c.contains(part), "{c} lacks {part}");
    }
    assert!(!c.contains("Domain"), "{c}");
    raw.split(';')
        .next()
        .unwrap()
        .split_once('=')
        .unwrap()
        .1
        .to_owned()
}

#[tokio::test]
async fn thirty_parallel_guesses_from_thirty_addresses_get_exactly_the_account_budget() {
    let app = spawn_behind_proxy(&[]).await;
    let (name, _) = app.new_user().await;
    let guesses: Vec<_> = (0..30)
        .map(|i| {
            spawn_login(
                &app,
                format!("198.51.100.{}", i + 1),
                &name,
                format!("guess number {i:04}"),
            )
        })
        .collect();
    let mut statuses = Vec::new();
    for g in guesses {
        statuses.push(g.await.unwrap());
    }
    let checked = statuses
        .iter()
        .filter(|s| **s == StatusCode::UNAUTHORIZED)
        .count();
    let refused = statuses
        .iter()
        .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert_eq!(
        (checked, refused),
        (5, 25),
        "5 guesses per window, however concurrent: {statuses:?}"
    );
    // The budget is spent for every client without a device cookie, the right password too.
    assert_problem(
        login_from(&app, "198.51.100.200", &name, PASSWORD, None).await,
        StatusCode::TOO_MANY_REQUESTS,
    )
    .await;
}

#[tokio::test]
async fn an_attacker_spending_the_budget_does_not_lock_the_owner_out_of_their_own_browser() {
    let app = spawn_behind_proxy(&[]).await;
    let name = unique_name();
    assert_eq!(
        app.signup(&name, PASSWORD).await.status(),
        StatusCode::CREATED
    );
    // The owner has logged in from this browser before.
    let res = login_from(&app, "203.0.113.7", &name, PASSWORD, None).await;
    assert_eq!(res.status(), StatusCode::OK);
    let device = device_cookie(&res);

    // Six wrong logins from the attacker's address spend the account's budget.
    for i in 0..6 {
        let res = login_from(
            &app,
            "192.0.2.66",
            &name,
            &format!("attacker guess {i}"),
            None,
        )
        .await;
        let want = if i < 5 {
            StatusCode::UNAUTHORIZED
        } else {
            StatusCode::TOO_MANY_REQUESTS
        };
        assert_eq!(res.status(), want, "guess {i}");
    }
    // Anyone without the owner's device cookie stays locked out, the right password or not…
    assert_problem(
        login_from(&app, "203.0.113.7", &name, PASSWORD, None).await,
        StatusCode::TOO_MANY_REQUESTS,
    )
    .await;
    // …while the owner's own browser still gets in, and is handed a fresh device cookie.
    let res = login_from(&app, "203.0.113.7", &name, PASSWORD, Some(&device)).await;
    assert_eq!(res.status(), StatusCode::OK);
    let device = device_cookie(&res);

    // The device has a budget of its own: the owner's typos are bounded too.
    for i in 0..5 {
        assert_eq!(
            login_from(
                &app,
                "203.0.113.7",
                &name,
                &format!("owner typo {i}"),
                Some(&device)
            )
            .await
            .status(),
            StatusCode::UNAUTHORIZED
        );
    }
    let p = assert_problem(
        login_from(&app, "203.0.113.7", &name, PASSWORD, Some(&device)).await,
        StatusCode::TOO_MANY_REQUESTS,
    )
    .await;
    assert!(p["detail"].as_str().unwrap().contains("this device"), "{p}");
}

#[tokio::test]
async fn a_device_cookie_from_another_account_or_forged_buys_no_guesses() {
    let app = spawn_behind_proxy(&[]).await;
    let (victim, _) = app.new_user().await;
    // The attacker earns a genuine device cookie on an account of their own.
    let mallory = unique_name();
    assert_eq!(
        app.signup(&mallory, PASSWORD).await.status(),
        StatusCode::CREATED
    );
    let res = login_from(&app, "192.0.2.66", &mallory, PASSWORD, None).await;
    let own = device_cookie(&res);
    for i in 0..5 {
        login_from(
            &app,
            "192.0.2.66",
            &victim,
            &format!("attacker guess {i}"),
            None,
        )
        .await;
    }
    let (id, _) = own.split_once('.').unwrap();
    let forged = format!("{id}.{}", "A".repeat(43));
    for cookie in [own.as_str(), forged.as_str(), "junk"] {
        assert_problem(
            login_from(
                &app,
                "192.0.2.67",
                &victim,
                "attacker guess 9",
                Some(cookie),
            )
            .await,
            StatusCode::TOO_MANY_REQUESTS,
        )
        .await;
    }
    // A device cookie planted twice is no device cookie at all.
    let res = app
        .client
        .post(app.url("/api/auth/login"))
        .header("x-forwarded-for", "192.0.2.68")
        .header(
            "cookie",
            format!("__Host-cloakroom_device={own}; __Host-cloakroom_device={own}"),
        )
        .json(&json!({"username": mallory, "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK, "still an ordinary login");
}

#[tokio::test]
async fn malformed_usernames_cost_a_hash_but_no_throttle_memory() {
    let app = spawn_behind_proxy(&[]).await;
    for i in 0..50 {
        let junk = format!("{}\n{i}", "x".repeat(4000));
        assert_problem(
            login_from(
                &app,
                &format!("198.51.100.{i}"),
                &junk,
                "some password",
                None,
            )
            .await,
            StatusCode::UNAUTHORIZED,
        )
        .await;
    }
    assert_eq!(
        app.state.login_throttle.len().await.unwrap(),
        0,
        "no budget is kept for usernames that cannot exist"
    );
}

#[tokio::test]
async fn a_login_flood_is_shed_by_the_credential_routes_alone() {
    let app = spawn_behind_proxy(&[("CLOAKROOM_HASH_QUEUE", "2")]).await;
    let (name, login) = app.new_user().await;
    // The flood has taken every hashing slot and filled the queue.
    let held = app.state.hasher.occupy();
    assert!(!held.is_empty());
    let queued: Vec<_> = (0..2)
        .map(|i| {
            spawn_login(
                &app,
                format!("198.51.100.{i}"),
                &name,
                "flood password 1".into(),
            )
        })
        .collect();
    until("both logins queue", || app.state.hasher.waiting() == 2).await;
    // Past the queue, logins and signups are refused at once, with a time to come back…
    for res in [
        login_from(&app, "198.51.100.50", &name, PASSWORD, None).await,
        app.signup(&unique_name(), PASSWORD).await,
        app.post_json(
            "/api/token/",
            &json!({"username": name, "password": PASSWORD}),
        )
        .await,
    ] {
        assert_eq!(res.headers()["retry-after"], "1");
        assert_problem(res, StatusCode::SERVICE_UNAVAILABLE).await;
    }
    // Everything that does not hash keeps working.
    assert_eq!(app.me_status(&login.access).await, StatusCode::OK);
    assert_eq!(app.get("/healthz").await.status(), StatusCode::OK);
    assert_eq!(app.get("/readyz").await.status(), StatusCode::OK);
    let res = app.refresh_raw(&login.refresh).await;
    assert_eq!(res.status(), StatusCode::OK);
    let res = app
        .client
        .get(app.url("/api/notes"))
        .bearer_auth(&login.access)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    // The flood ends: the queued logins are checked (and fail), and logins work again.
    drop(held);
    for q in queued {
        assert_eq!(q.await.unwrap(), StatusCode::UNAUTHORIZED);
    }
    assert_eq!(
        login_from(&app, "198.51.100.51", &name, PASSWORD, None)
            .await
            .status(),
        StatusCode::OK,
        "2 failures and the shed attempts left the budget unspent"
    );
}

#[tokio::test]
async fn credential_routes_and_everything_else_have_separate_in_flight_gates() {
    let app = spawn_behind_proxy(&[]).await;
    let (name, login) = app.new_user().await;
    // Logins in flight have taken every credential permit (what 1,100 flooding connections
    // do): logins are shed, the rest is untouched.
    let all = app.state.credential_in_flight.available_permits() as u32;
    let held = app
        .state
        .credential_in_flight
        .clone()
        .try_acquire_many_owned(all)
        .unwrap();
    let res = login_from(&app, "198.51.100.1", &name, PASSWORD, None).await;
    assert_eq!(res.headers()["retry-after"], "1");
    assert_problem(res, StatusCode::SERVICE_UNAVAILABLE).await;
    assert_eq!(app.me_status(&login.access).await, StatusCode::OK);
    assert_eq!(app.get("/healthz").await.status(), StatusCode::OK);
    assert_eq!(
        app.refresh_raw(&login.refresh).await.status(),
        StatusCode::OK,
        "a refresh hashes no password: not behind the credential gate"
    );
    drop(held);
    // The other way round: a server at its global cap still checks a login, a signup and a
    // simplejwt token request (the three routes that hash a password), and nothing else.
    let all = app.state.in_flight.available_permits() as u32;
    let held = app
        .state
        .in_flight
        .clone()
        .try_acquire_many_owned(all)
        .unwrap();
    assert_problem(
        app.get_auth("/api/me", &login.access).await,
        StatusCode::SERVICE_UNAVAILABLE,
    )
    .await;
    assert_eq!(
        login_from(&app, "198.51.100.2", &name, PASSWORD, None)
            .await
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        app.signup(&unique_name(), PASSWORD).await.status(),
        StatusCode::CREATED
    );
    let pair = app
        .post_json(
            "/api/token/",
            &serde_json::json!({"username": name, "password": PASSWORD}),
        )
        .await;
    assert_eq!(pair.status(), StatusCode::OK);
    for (path, res) in [
        ("/healthz", app.get("/healthz").await),
        ("/", app.get("/").await),
        ("/api/nothing-here", app.get("/api/nothing-here").await),
        ("/api/auth/refresh", app.refresh_raw(&login.refresh).await),
        (
            "/api/token/verify/",
            app.post_json(
                "/api/token/verify/",
                &serde_json::json!({"token": login.access}),
            )
            .await,
        ),
    ] {
        assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE, "{path}");
    }
    drop(held);
}

#[tokio::test]
async fn device_cookies_collected_before_a_password_change_buy_nothing_after_it() {
    let app = spawn_behind_proxy(&[]).await;
    let name = unique_name();
    assert_eq!(
        app.signup(&name, PASSWORD).await.status(),
        StatusCode::CREATED
    );
    // Someone who knew the old password collects device cookies, one per login.
    let collected = collect_device_cookies(&app, &name).await;
    // The owner changes the password; then the account's budget is spent.
    let new_password = "an entirely new passphrase";
    cloakroom::ops::set_password(
        &app.state.db,
        &app.state.hasher,
        &name,
        new_password,
        app.state.clock.now(),
    )
    .await
    .unwrap();
    assert_collected_cookies_buy_nothing(&app, &name, &collected).await;
}

/// The same through the app's own form (`POST /api/account/password`): cookies collected with
/// the old password buy nothing after the owner changed it there, while the owner's browser gets
/// a new device cookie that keeps its own budget.
#[tokio::test]
async fn device_cookies_collected_before_a_self_service_password_change_buy_nothing_after_it() {
    let app = spawn_behind_proxy(&[]).await;
    let name = unique_name();
    assert_eq!(
        app.signup(&name, PASSWORD).await.status(),
        StatusCode::CREATED
    );
    let collected = collect_device_cookies(&app, &name).await;
    let owner = app.login(&name).await;
    let new_password = "an entirely new passphrase";
    let res = app
        .client
        .post(app.url("/api/account/password"))
        .header("x-forwarded-for", "192.0.2.50")
        .bearer_auth(&owner.access)
        .header("x-requested-with", "cloakroom")
        .json(&json!({"current_password": PASSWORD, "new_password": new_password}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let owners = device_cookie(&res);
    assert_collected_cookies_buy_nothing(&app, &name, &collected).await;
    // The owner's new cookie still has a budget of its own: the right password gets in.
    let res = login_from(&app, "192.0.2.50", &name, new_password, Some(&owners)).await;
    assert_eq!(res.status(), StatusCode::OK);
}

/// Device cookies for `name`, one per login with the right password from three addresses: what
/// someone who knew the password could have collected.
async fn collect_device_cookies(app: &TestApp, name: &str) -> Vec<String> {
    let mut collected = Vec::new();
    for i in 0..3 {
        let res = login_from(app, &format!("192.0.2.{}", 10 + i), name, PASSWORD, None).await;
        collected.push(device_cookie(&res));
    }
    collected
}

/// After a password change: someone spends the account's guess budget, and every collected
/// cookie is then an unknown device, with no budget of its own (429).
async fn assert_collected_cookies_buy_nothing(app: &TestApp, name: &str, collected: &[String]) {
    for i in 0..5 {
        login_from(
            app,
            "192.0.2.66",
            name,
            &format!("attacker guess {i}"),
            None,
        )
        .await;
    }
    for d in collected {
        assert_problem(
            login_from(app, "192.0.2.67", name, "attacker guess 9", Some(d)).await,
            StatusCode::TOO_MANY_REQUESTS,
        )
        .await;
    }
}

/// A device cookie for a username nobody holds is checked against a dummy account so that the
/// check costs the same either way; even a cookie that passes that check (made here with the
/// server's own key, which no attacker has) buys no budget of its own: guesses at an unknown
/// name are charged to that name's account budget, exactly as without a cookie.
#[tokio::test]
async fn a_device_cookie_for_a_username_nobody_holds_buys_no_budget() {
    let app = spawn_behind_proxy(&[]).await;
    let ghost = unique_name();
    let dummy = cloakroom::auth::device::Account {
        user_id: "",
        password_hash: "",
    };
    let cookie =
        cloakroom::auth::device::issue(&app.state.device_key, &dummy, app.state.clock.now());
    for i in 0..5 {
        let res = login_from(
            &app,
            "192.0.2.70",
            &ghost,
            &format!("guess {i}"),
            Some(&cookie),
        )
        .await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    }
    // The name's own budget is spent: without the cookie, and with it, 429.
    for device in [None, Some(cookie.as_str())] {
        assert_problem(
            login_from(&app, "192.0.2.71", &ghost, "guess 9", device).await,
            StatusCode::TOO_MANY_REQUESTS,
        )
        .await;
    }
}
