//! Account self-service as an attacker meets it: a password change ends every session (a stolen
//! cookie or a token copied out of memory is out), needs the current password (a stolen access
//! token alone changes nothing, and guessing it spends the login budget), and follows the CSRF
//! rules; deleting an account leaves no row of it behind, and never the last admin.

use api_types::{ProblemType, TokenResponse};
use cloakroom::store::testing::fetch_ints;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::{auth_flow::decode_claims, helpers::*};

const NEW_PASSWORD: &str = "an entirely new passphrase";

impl TestApp {
    /// `POST path` as the app sends it: the access token, the CSRF header, a JSON body.
    pub async fn account_post(&self, path: &str, access: &str, body: &Value) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .bearer_auth(access)
            .header("x-requested-with", "cloakroom")
            .json(body)
            .send()
            .await
            .unwrap()
    }

    pub async fn change_password(
        &self,
        access: &str,
        current: &str,
        new: &str,
    ) -> reqwest::Response {
        self.account_post(
            "/api/account/password",
            access,
            &json!({"current_password": current, "new_password": new}),
        )
        .await
    }
}

async fn count(app: &TestApp, sql: &str) -> i64 {
    fetch_ints(&app.state.db, sql).await.unwrap()[0]
}

#[tokio::test]
async fn a_password_change_ends_every_session_and_this_browser_continues() {
    let app = spawn_app().await;
    let (name, here) = app.new_user().await;
    let elsewhere = app.login(&name).await;
    let res = app
        .change_password(&here.access, PASSWORD, NEW_PASSWORD)
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let cookies: Vec<String> = res
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    assert!(
        cookies
            .iter()
            .any(|c| c.starts_with("__Host-cloakroom_device=")),
        "{cookies:?}"
    );
    let (fresh_refresh, _) = refresh_cookie(res.headers()).expect("a new refresh cookie");
    let fresh: TokenResponse = res.json().await.unwrap();

    // Every earlier session is over, this browser's old one too: refresh tokens are refused,
    // access tokens at their next request.
    for old in [&here, &elsewhere] {
        assert_eq!(app.me_status(&old.access).await, StatusCode::UNAUTHORIZED);
        assert_eq!(
            app.refresh_raw(&old.refresh).await.status(),
            StatusCode::UNAUTHORIZED
        );
    }
    // The other browser is told why it must log in again.
    let p = assert_problem(
        app.refresh_raw(&elsewhere.refresh).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    assert_eq!(p["type"], ProblemType::SessionEnded.uri());
    assert!(
        p["detail"].as_str().unwrap().contains("password changed"),
        "{p}"
    );
    // This browser goes on, with what the answer gave it.
    assert_eq!(app.me_status(&fresh.access_token).await, StatusCode::OK);
    assert_eq!(
        app.refresh_raw(&fresh_refresh).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        decode_claims(&fresh.access_token)["sub"],
        decode_claims(&here.access)["sub"]
    );
    // The old password is dead, the new one works.
    assert_eq!(
        app.login_raw(&name, PASSWORD, false).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.login_raw(&name, NEW_PASSWORD, false).await.status(),
        StatusCode::OK
    );
    // Recorded, and the ended sessions say why.
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM security_events WHERE kind = 'password_changed'"
        )
        .await,
        1
    );
    let sid = decode_claims(&elsewhere.access)["sid"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        count(
            &app,
            &format!("SELECT COUNT(*) FROM sessions WHERE id = '{sid}' AND revoked_reason = 'password changed'")
        )
        .await,
        1
    );
}

#[tokio::test]
async fn a_stolen_access_token_cannot_change_the_password_nor_guess_around_the_limit() {
    let app = spawn_app().await;
    let (name, l) = app.new_user().await;
    // The token alone (no current password, or a guess) changes nothing, and is told so with a
    // 403 (a 401 would make the app refresh and spend a second guess).
    for guess in ["", "password1", "hunter2hunter2"] {
        let res = app.change_password(&l.access, guess, NEW_PASSWORD).await;
        let p = assert_problem(res, StatusCode::FORBIDDEN).await;
        assert_eq!(p["type"], ProblemType::WrongPassword.uri());
    }
    assert_eq!(
        app.me_status(&l.access).await,
        StatusCode::OK,
        "nothing ended"
    );
    // Each was a guess against the account's budget (5 per window): two more and it is spent,
    // for this form and for the login form alike.
    for _ in 0..2 {
        let res = app
            .change_password(&l.access, "wrong again", NEW_PASSWORD)
            .await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN);
    }
    let res = app.change_password(&l.access, PASSWORD, NEW_PASSWORD).await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        app.login_raw(&name, PASSWORD, false).await.status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    // A weak new password is refused before any guess is spent on the current one.
    let app = spawn_app().await;
    let (_, l) = app.new_user().await;
    let res = app.change_password(&l.access, PASSWORD, "short").await;
    let p = assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(p["type"], ProblemType::Validation.uri());
}

#[tokio::test]
async fn account_changes_follow_the_csrf_rules_of_cookie_routes() {
    let app = spawn_app().await;
    let (name, l) = app.new_user().await;
    for (path, body) in [
        (
            "/api/account/password",
            json!({"current_password": PASSWORD, "new_password": NEW_PASSWORD}),
        ),
        (
            "/api/account/delete",
            json!({"password": PASSWORD, "confirm": true}),
        ),
    ] {
        // No X-Requested-With: what a form on another site could send.
        let res = app
            .client
            .post(app.url(path))
            .bearer_auth(&l.access)
            .json(&body)
            .send()
            .await
            .unwrap();
        let p = assert_problem(res, StatusCode::FORBIDDEN).await;
        assert_eq!(p["type"], ProblemType::CsrfRejected.uri(), "{path}");
        let res = app
            .client
            .post(app.url(path))
            .bearer_auth(&l.access)
            .header("x-requested-with", "cloakroom")
            .header("origin", "http://evil.example")
            .json(&body)
            .send()
            .await
            .unwrap();
        let p = assert_problem(res, StatusCode::FORBIDDEN).await;
        assert_eq!(p["type"], ProblemType::WrongOrigin.uri(), "{path}");
    }
    assert_eq!(
        app.login_raw(&name, PASSWORD, false).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn deleting_an_account_leaves_no_row_of_it_and_ends_every_session() {
    let app = spawn_app().await;
    let (name, here) = app.new_user().await;
    let elsewhere = app.login(&name).await;
    let id = decode_claims(&here.access)["sub"]
        .as_str()
        .unwrap()
        .to_owned();
    for title in ["one", "two"] {
        let res = app
            .client
            .post(app.url("/api/notes"))
            .bearer_auth(&here.access)
            .json(&json!({"title": title, "body": "x"}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::CREATED);
    }
    let delete = |password: &'static str, confirm: bool| {
        let (app, access) = (&app, here.access.clone());
        async move {
            app.account_post(
                "/api/account/delete",
                &access,
                &json!({"password": password, "confirm": confirm}),
            )
            .await
        }
    };
    let p = assert_problem(delete("not it", true).await, StatusCode::FORBIDDEN).await;
    assert_eq!(p["type"], ProblemType::WrongPassword.uri());
    assert_problem(
        delete(PASSWORD, false).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(
        count(
            &app,
            &format!("SELECT COUNT(*) FROM notes WHERE user_id = '{id}'")
        )
        .await,
        2
    );

    let res = delete(PASSWORD, true).await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_eq!(res.headers()["clear-site-data"], "\"storage\"");
    let cleared: Vec<_> = res
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    for name in ["__Host-cloakroom_refresh=;", "__Host-cloakroom_device=;"] {
        assert!(
            cleared
                .iter()
                .any(|c| c.starts_with(name) && c.contains("Max-Age=0")),
            "{cleared:?}"
        );
    }
    for old in [&here, &elsewhere] {
        assert_eq!(app.me_status(&old.access).await, StatusCode::UNAUTHORIZED);
        assert_eq!(
            app.refresh_raw(&old.refresh).await.status(),
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        app.login_raw(&name, PASSWORD, false).await.status(),
        StatusCode::UNAUTHORIZED
    );
    for table in [
        "users WHERE id",
        "sessions WHERE user_id",
        "notes WHERE user_id",
    ] {
        assert_eq!(
            count(&app, &format!("SELECT COUNT(*) FROM {table} = '{id}'")).await,
            0,
            "{table}"
        );
    }
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM refresh_tokens WHERE session_id NOT IN (SELECT id FROM sessions)"
        )
        .await,
        0
    );
    // Operators keep the event, naming the account by id.
    assert_eq!(
        count(&app, &format!("SELECT COUNT(*) FROM security_events WHERE kind = 'account_deleted' AND user_id = '{id}'")).await,
        1
    );
    // The name is free again.
    assert_eq!(
        app.signup(&name, PASSWORD).await.status(),
        StatusCode::CREATED
    );
}

#[tokio::test]
async fn the_last_admin_cannot_delete_themselves() {
    let app = spawn_app().await;
    let now = app.state.clock.now();
    let first = unique_name();
    cloakroom::ops::create_user(
        &app.state.db,
        &app.state.hasher,
        &first,
        PASSWORD,
        true,
        now,
    )
    .await
    .unwrap();
    let l = app.login(&first).await;
    let body = json!({"password": PASSWORD, "confirm": true});
    let res = app
        .account_post("/api/account/delete", &l.access, &body)
        .await;
    let p = assert_problem(res, StatusCode::FORBIDDEN).await;
    assert!(p["detail"].as_str().unwrap().contains("last admin"), "{p}");
    assert_eq!(
        app.me_status(&l.access).await,
        StatusCode::OK,
        "nothing ended"
    );
    // With a second admin, the first may go.
    let second = unique_name();
    cloakroom::ops::create_user(
        &app.state.db,
        &app.state.hasher,
        &second,
        PASSWORD,
        true,
        now,
    )
    .await
    .unwrap();
    let res = app
        .account_post("/api/account/delete", &l.access, &body)
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
}

/// A login that checked the old password while the owner changed it gets no session: the
/// check and the session's insert are one transaction holding the user's row, and the change
/// updates that row first. Played at the store, with the hash such a login had read.
#[tokio::test]
async fn a_login_that_checked_the_old_password_gets_no_session_after_the_change() {
    let app = spawn_app().await;
    let (name, l) = app.new_user().await;
    let db = &app.state.db;
    let before = cloakroom::store::users::find_by_username(db, &name)
        .await
        .unwrap()
        .unwrap();
    let res = app.change_password(&l.access, PASSWORD, NEW_PASSWORD).await;
    assert_eq!(res.status(), StatusCode::OK);
    let new = cloakroom::store::sessions::NewSession {
        user_id: &before.id,
        password_hash: &before.password_hash,
        persistent: true,
        dpop_bound: false,
        user_agent: None,
        ip: None,
        oidc: None,
    };
    let now = app.state.clock.now();
    let made = cloakroom::store::sessions::create(
        db,
        &new,
        &name,
        "",
        &[7u8; 32],
        now,
        app.state.lifetimes(),
    )
    .await
    .unwrap();
    assert!(made.is_none(), "a session was made on the old password");
}

/// The browser that changed the password continues as "remembered" as it was: a persistent
/// refresh cookie stays persistent, a browser-session one stays a browser-session one.
#[tokio::test]
async fn the_browser_that_changed_the_password_keeps_its_remember_me() {
    let app = spawn_app().await;
    for remember in [true, false] {
        let name = unique_name();
        app.signup(&name, PASSWORD).await;
        let res = app.login_raw(&name, PASSWORD, remember).await;
        let tokens: TokenResponse = res.json().await.unwrap();
        let res = app
            .change_password(&tokens.access_token, PASSWORD, NEW_PASSWORD)
            .await;
        assert_eq!(res.status(), StatusCode::OK);
        let (_, raw) = refresh_cookie(res.headers()).expect("a new refresh cookie");
        assert_eq!(raw.contains("Max-Age="), remember, "{raw}");
    }
}
