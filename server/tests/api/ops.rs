//! Roles and admin routes, key rotation under a running server, and the operator CLI.

use crate::helpers::*;
use api_types::AdminUserInfo;
use cloakroom::{ops, sync::sync_once};
use reqwest::StatusCode;

fn kid(jwt: &str) -> String {
    jsonwebtoken::decode_header(jwt).unwrap().kid.unwrap()
}

#[tokio::test]
async fn admin_routes_need_the_admin_role() {
    let app = spawn_app().await;
    ops::create_user(
        &app.state.db,
        &app.state.hasher,
        "root_admin",
        PASSWORD,
        true,
        app.state.clock.now(),
    )
    .await
    .unwrap();
    let admin = app.login("root_admin").await;
    let (victim, v) = app.new_user().await;

    let res = app.get_auth("/api/admin/users", &admin.access).await;
    assert_eq!(res.status(), StatusCode::OK);
    let users: Vec<AdminUserInfo> = res.json().await.unwrap();
    let row = users.iter().find(|u| u.username == victim).unwrap();
    assert_eq!(row.live_sessions, 1);
    assert_eq!(
        users
            .iter()
            .find(|u| u.username == "root_admin")
            .unwrap()
            .roles,
        vec!["admin".to_string()]
    );

    // Not an admin: 403; no token: 401.
    assert_problem(
        app.get_auth("/api/admin/users", &v.access).await,
        StatusCode::FORBIDDEN,
    )
    .await;
    assert_problem(app.get("/api/admin/users").await, StatusCode::UNAUTHORIZED).await;

    let url = app.url(&format!("/api/admin/users/{}/revoke-sessions", row.id));
    let res = app
        .client
        .post(&url)
        .bearer_auth(&v.access)
        .send()
        .await
        .unwrap();
    assert_problem(res, StatusCode::FORBIDDEN).await;
    let res = app
        .client
        .post(&url)
        .bearer_auth(&admin.access)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_eq!(app.me_status(&v.access).await, StatusCode::UNAUTHORIZED);
    let res = app
        .client
        .post(app.url("/api/admin/users/nobody/revoke-sessions"))
        .bearer_auth(&admin.access)
        .send()
        .await
        .unwrap();
    assert_problem(res, StatusCode::NOT_FOUND).await;
}

#[tokio::test]
async fn key_rotation_under_a_running_server() {
    let app = spawn_app().await;
    // The server's own sync loop runs beside the test: on a frozen clock it sees exactly what
    // the test's passes see, so it cannot put a key back that the test's pass dropped.
    app.state.clock.freeze();
    let (name, before) = app.new_user().await;
    let old_kid = kid(&before.access);
    let new = ops::rotate_keys(&app.state.db, app.state.clock.now())
        .await
        .unwrap();
    assert_ne!(new.kid, old_kid);

    // New tokens are signed by the new key once the server has synced (its loop runs this pass
    // every SYNC_SECS; the test runs it instead of waiting)…
    let now = app.state.clock.now();
    sync_once(&app.state, now).await;
    assert_eq!(kid(&app.login(&name).await.access), new.kid);
    // …tokens of the old key stay valid, and JWKS lists both.
    assert_eq!(app.me_status(&before.access).await, StatusCode::OK);
    let jwks = || async {
        let v: serde_json::Value = app
            .get("/.well-known/jwks.json")
            .await
            .json()
            .await
            .unwrap();
        v["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["kid"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    let listed = jwks().await;
    assert!(
        listed.contains(&old_kid) && listed.contains(&new.kid),
        "{listed:?}"
    );
    let lines = ops::list_keys(&app.state.db, 300, app.state.clock.now())
        .await
        .unwrap();
    assert!(
        lines[0].contains("signing") && lines[1].contains("verifying until"),
        "{lines:?}"
    );
    // Once every token the old key signed has expired (a sync one access lifetime later), it
    // drops out.
    app.state.clock.advance(301);
    sync_once(&app.state, app.state.clock.now()).await;
    assert_eq!(jwks().await, vec![new.kid.clone()]);
    let lines = ops::list_keys(&app.state.db, 0, app.state.clock.now())
        .await
        .unwrap();
    assert!(lines[1].contains("expired"), "{lines:?}");
}

#[tokio::test]
async fn operator_revocation_and_password_change_reach_a_running_server() {
    let app = spawn_app().await;
    let (name, l) = app.new_user().await;
    assert_eq!(
        ops::revoke_sessions(&app.state.db, &name, app.state.clock.now())
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        app.refresh_raw(&l.refresh).await.status(),
        StatusCode::UNAUTHORIZED,
        "refresh dies at once"
    );
    sync_once(&app.state, app.state.clock.now()).await;
    assert_eq!(app.me_status(&l.access).await, StatusCode::UNAUTHORIZED);

    let again = app.login(&name).await;
    let n = ops::set_password(
        &app.state.db,
        &app.state.hasher,
        &name,
        "a brand new passphrase",
        app.state.clock.now(),
    )
    .await
    .unwrap();
    assert_eq!(n, 1);
    assert_eq!(
        app.refresh_raw(&again.refresh).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.login_raw(&name, PASSWORD, false).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.login_raw(&name, "a brand new passphrase", false)
            .await
            .status(),
        StatusCode::OK
    );
    assert!(ops::set_password(
        &app.state.db,
        &app.state.hasher,
        &name,
        "short",
        app.state.clock.now()
    )
    .await
    .is_err());
    assert!(
        ops::revoke_sessions(&app.state.db, "no_such_user", app.state.clock.now())
            .await
            .is_err()
    );
}

#[tokio::test]
async fn the_cli_binary_creates_users_and_rotates_keys() {
    let dir = tempfile::TempDir::new().unwrap();
    let run = |args: &[&str], stdin: &str| {
        use std::io::Write;
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_cloakroom"))
            .args(args)
            .env("CLOAKROOM_DATA_DIR", dir.path())
            .env("CLOAKROOM_ARGON2_M_KIB", "64")
            .env("CLOAKROOM_LOG", "warn")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned()
                + &String::from_utf8_lossy(&out.stderr),
        )
    };
    let (ok, out) = run(&["--help"], "");
    assert!(
        ok && out.contains("keys") && out.contains("user") && out.contains("migrate"),
        "{out}"
    );
    let (ok, out) = run(&["migrate"], "");
    assert!(ok, "{out}");
    let (ok, out) = run(
        &["user", "create", "cli_admin", "--admin", "--password-stdin"],
        &format!("{PASSWORD}\n"),
    );
    assert!(ok && out.contains("admin role"), "{out}");
    let (ok, out) = run(
        &["user", "create", "cli_admin", "--password-stdin"],
        &format!("{PASSWORD}\n"),
    );
    assert!(!ok && out.contains("taken"), "{out}");
    let (ok, out) = run(
        &["user", "create", "weak_one", "--password-stdin"],
        "short\n",
    );
    assert!(!ok && out.contains("at least 12"), "{out}");
    // First key appears with the first server start; `keys rotate` works on an empty table too.
    let (ok, out) = run(&["keys", "rotate"], "");
    assert!(ok && out.contains("new signing key"), "{out}");
    let (ok, out) = run(&["keys", "list"], "");
    assert!(ok && out.contains("signing"), "{out}");
    let signer = out.split_whitespace().next().unwrap().to_owned();
    // A key id is base64url: one in 32 begins with `-`, and must still be taken as the id.
    let (ok, out) = run(&["keys", "revoke", "-6no-such-kid"], "");
    assert!(!ok && !out.contains("unexpected argument"), "{out}");
    let (ok, out) = run(&["keys", "revoke", &signer], "");
    assert!(ok && out.contains("a new signing key took over"), "{out}");
    let (ok, out) = run(&["keys", "list"], "");
    assert!(
        ok && out.contains("revoked") && out.contains("signing"),
        "{out}"
    );
    let (ok, out) = run(&["keys", "revoke", "nonexistent"], "");
    assert!(!ok && out.contains("no signing key"), "{out}");
    let (ok, out) = run(&["user", "revoke-sessions", "cli_admin"], "");
    assert!(ok && out.contains("0 session(s)"), "{out}");
}

/// The admin's view of an account under attack: a spent guess budget shows as locked (until
/// when), an admin's unlock lets the owner in at once and is recorded, a non-admin cannot
/// unlock, last login times are shown, and the event log filters by user and kind.
/// The admins' list of locked accounts says when each lock ends, and at that second the account
/// is off the list: the oldest failure has left the window (the login budget's own rule).
#[tokio::test]
async fn a_locked_account_leaves_the_admins_list_when_its_oldest_failure_leaves_the_window() {
    let app = spawn_app().await;
    let (victim, _) = app.new_user().await;
    for _ in 0..5 {
        app.login_raw(&victim, "wrong password, wrong", false).await;
    }
    let throttle = &app.state.login_throttle;
    let now = app.state.clock.now();
    let locked = throttle.locked_accounts(now).await.unwrap();
    let folded = victim.to_ascii_lowercase();
    let until = locked
        .iter()
        .find(|(name, _)| *name == folded)
        .expect("locked")
        .1;
    let window = app.state.settings.login_failure_window.as_secs() as i64;
    assert!(until > now && until <= now + window, "{until} vs {now}");
    for (at, listed) in [(until - 1, true), (until, false)] {
        let names: Vec<String> = throttle
            .locked_accounts(at)
            .await
            .unwrap()
            .into_iter()
            .map(|(n, _)| n)
            .collect();
        assert_eq!(names.contains(&folded), listed, "at {at} (until {until})");
    }
}

#[tokio::test]
async fn admins_see_locked_accounts_unlock_them_and_filter_the_event_log() {
    let app = spawn_app().await;
    ops::create_user(
        &app.state.db,
        &app.state.hasher,
        "lock_admin",
        PASSWORD,
        true,
        app.state.clock.now(),
    )
    .await
    .unwrap();
    let admin = app.login("lock_admin").await;
    let (victim, v) = app.new_user().await;
    let row_of = |users: &[AdminUserInfo], name: &str| {
        users.iter().find(|u| u.username == name).unwrap().clone()
    };
    let users = || async {
        app.get_auth("/api/admin/users", &admin.access)
            .await
            .json::<Vec<AdminUserInfo>>()
            .await
            .unwrap()
    };
    let before = row_of(&users().await, &victim);
    assert_eq!(before.locked_until, None);
    assert!(before.last_login_at.is_some(), "new_user logged in");

    // Someone spends the victim's guess budget (5 by default): the owner's own correct
    // password, from a browser without a device cookie, is refused too.
    for _ in 0..5 {
        assert_eq!(
            app.login_raw(&victim, "wrong password, wrong", false)
                .await
                .status(),
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        app.login_raw(&victim, PASSWORD, false).await.status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    let locked = row_of(&users().await, &victim);
    let until = locked.locked_until.expect("shown as locked");
    assert!(until > locked.last_login_at.clone().unwrap(), "{until}");
    assert_eq!(row_of(&users().await, "lock_admin").locked_until, None);

    // The victim cannot unlock themselves; an admin can, and it is in the log.
    let unlock = |token: String| {
        let url = app.url(&format!("/api/admin/users/{}/unlock", locked.id));
        let client = app.client.clone();
        async move { client.post(url).bearer_auth(token).send().await.unwrap() }
    };
    assert_problem(unlock(v.access.clone()).await, StatusCode::FORBIDDEN).await;
    assert_eq!(
        app.login_raw(&victim, PASSWORD, false).await.status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(
        unlock(admin.access.clone()).await.status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(row_of(&users().await, &victim).locked_until, None);
    assert_eq!(
        app.login_raw(&victim, PASSWORD, false).await.status(),
        StatusCode::OK
    );
    let res = app
        .client
        .post(app.url("/api/admin/users/nobody/unlock"))
        .bearer_auth(&admin.access)
        .send()
        .await
        .unwrap();
    assert_problem(res, StatusCode::NOT_FOUND).await;

    // The log, filtered: the unlock is the victim's one `account_unlocked` event, and a filter
    // on another user or kind leaves it out.
    let (app_ref, admin_access) = (&app, admin.access.clone());
    let events = |query: String| {
        let token = admin_access.clone();
        async move {
            app_ref
                .get_auth(&format!("/api/admin/events{query}"), &token)
                .await
                .json::<Vec<api_types::SecurityEvent>>()
                .await
                .unwrap()
        }
    };
    let mine = events(format!("?user={}&kind=account_unlocked", locked.id)).await;
    assert_eq!(mine.len(), 1, "{mine:?}");
    assert_eq!(mine[0].reason.as_deref(), Some("admin_unlock"));
    assert!(events(format!(
        "?user={}&kind=account_unlocked",
        row_of(&users().await, "lock_admin").id
    ))
    .await
    .is_empty());
    assert!(
        events(format!("?user={}&kind=refresh_token_reuse", locked.id))
            .await
            .is_empty()
    );
    assert!(events(String::new())
        .await
        .iter()
        .any(|e| e.kind == "account_unlocked"));
    assert_problem(
        app.get_auth("/api/admin/events?colour=red", &admin.access)
            .await,
        StatusCode::BAD_REQUEST,
    )
    .await;
}
