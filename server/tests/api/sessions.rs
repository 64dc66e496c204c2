//! Listing and revoking one's own sessions.

use crate::helpers::*;
use api_types::SessionInfo;
use reqwest::StatusCode;

#[tokio::test]
async fn list_shows_live_sessions_with_current_flag() {
    let app = spawn_app().await;
    let (name, a) = app.new_user().await;
    let b = app.login(&name).await;
    let list: Vec<SessionInfo> = app
        .get_auth("/api/auth/sessions", &a.access)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!(list.iter().filter(|s| s.current).count(), 1);
    let current = list.iter().find(|s| s.current).unwrap();
    assert_eq!(
        current.id,
        crate::auth_flow::decode_claims(&a.access)["sid"]
    );
    assert_eq!(current.ip.as_deref(), Some("127.0.0.1"));
    assert!(current.created_at.ends_with('Z'));

    // Revoke the other one.
    let other = list.iter().find(|s| !s.current).unwrap();
    let url = app.url(&format!("/api/auth/sessions/{}", other.id));
    assert_eq!(
        app.client
            .delete(&url)
            .bearer_auth(&a.access)
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        app.me_status(&b.access).await,
        StatusCode::UNAUTHORIZED,
        "revoked at once"
    );
    assert_eq!(
        app.refresh_raw(&b.refresh).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_problem(
        app.client
            .delete(&url)
            .bearer_auth(&a.access)
            .send()
            .await
            .unwrap(),
        StatusCode::NOT_FOUND,
    )
    .await;
    let list: Vec<SessionInfo> = app
        .get_auth("/api/auth/sessions", &a.access)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list.len(), 1);
}

/// A browser's session is named for people ("Chrome 156 on Linux"), with the full string beside
/// it; a client that sends none is "Unknown device", not a blank.
#[tokio::test]
async fn sessions_name_their_device() {
    let app = spawn_app().await;
    let (name, a) = app.new_user().await;
    let chrome = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36";
    let res = app
        .client
        .post(app.url("/api/auth/login"))
        .header("user-agent", chrome)
        .json(&serde_json::json!({"username": name, "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let list: Vec<SessionInfo> = app
        .get_auth("/api/auth/sessions", &a.access)
        .await
        .json()
        .await
        .unwrap();
    let browser = list.iter().find(|s| !s.current).unwrap();
    assert_eq!(browser.user_agent.as_deref(), Some(chrome));
    assert_eq!(browser.device, "Chrome 156 on Linux");
    let current = list.iter().find(|s| s.current).unwrap();
    assert_eq!(current.user_agent, None);
    assert_eq!(current.device, "Unknown device");
}

#[tokio::test]
async fn another_users_session_is_404() {
    let app = spawn_app().await;
    let (_, a) = app.new_user().await;
    let (_, b) = app.new_user().await;
    let b_sid = crate::auth_flow::decode_claims(&b.access)["sid"]
        .as_str()
        .unwrap()
        .to_owned();
    let res = app
        .client
        .delete(app.url(&format!("/api/auth/sessions/{b_sid}")))
        .bearer_auth(&a.access)
        .send()
        .await
        .unwrap();
    assert_problem(res, StatusCode::NOT_FOUND).await;
    assert_eq!(app.me_status(&b.access).await, StatusCode::OK);
}

/// The revocation log (how other instances learn of revocations) is purged of entries older
/// than the cut-off and keeps newer ones. (The database stamps entries with its own clock, so the
/// cut-offs here are the wall clock's.)
#[tokio::test]
async fn the_revocation_log_is_purged_of_old_entries_only() {
    use cloakroom::store::sessions::{purge_revocation_log, revocations_after};
    let app = spawn_app().await;
    for _ in 0..2 {
        let (_, login) = app.new_user().await;
        assert_eq!(
            app.logout_raw(&login.refresh).await.status(),
            StatusCode::NO_CONTENT
        );
    }
    let wall = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    assert_eq!(revocations_after(&app.state.db, 0).await.unwrap().len(), 2);
    assert_eq!(
        purge_revocation_log(&app.state.db, wall - 3600)
            .await
            .unwrap(),
        0
    );
    assert_eq!(revocations_after(&app.state.db, 0).await.unwrap().len(), 2);
    assert_eq!(
        purge_revocation_log(&app.state.db, wall + 3600)
            .await
            .unwrap(),
        2
    );
    assert!(revocations_after(&app.state.db, 0)
        .await
        .unwrap()
        .is_empty());
}

/// Ended sessions are purged once they ended before the cut-off; live ones stay.
#[tokio::test]
async fn ended_sessions_are_purged_and_live_ones_stay() {
    use cloakroom::store::sessions::purge_ended;
    let app = spawn_app().await;
    app.state.clock.freeze();
    let (_, ended) = app.new_user().await;
    let (_, live) = app.new_user().await;
    assert_eq!(
        app.logout_raw(&ended.refresh).await.status(),
        StatusCode::NO_CONTENT
    );
    let now = app.state.clock.now();
    // Cut-off before the logout: nothing ended before it.
    assert_eq!(purge_ended(&app.state.db, now).await.unwrap(), 0);
    // After it: the ended session goes, the live one stays and still refreshes.
    assert_eq!(purge_ended(&app.state.db, now + 1).await.unwrap(), 1);
    assert_eq!(purge_ended(&app.state.db, now + 1).await.unwrap(), 0);
    assert_eq!(
        app.refresh_raw(&live.refresh).await.status(),
        StatusCode::OK
    );
}
