//! Refresh-token rotation under the conditions that break naive implementations: bursts of
//! duplicates, answers lost on the way, and a thief replaying an old token. Each token's
//! successor is derived from it (HMAC with a server secret), so every repeat gets the same one.

use std::collections::BTreeSet;

use crate::{auth_flow::decode_claims, helpers::*};
use cloakroom::store::{
    events,
    testing::{execute, fetch_bytes, Arg},
};
use reqwest::StatusCode;

/// Moves a rotation `secs` into the past, as if that much time had passed since it happened
/// (no test sleeps for time to pass).
async fn age_rotation(app: &TestApp, token: &str, secs: i64) {
    let hash = cloakroom::auth::refresh::hash(token);
    let n = execute(
        &app.state.db,
        "UPDATE refresh_tokens SET rotated_at = rotated_at - $1 WHERE token_hash = $2",
        &[Arg::Int(secs), Arg::Bytes(hash.to_vec())],
    )
    .await
    .unwrap();
    assert_eq!(n, 1);
}

async fn burst(app: &TestApp, token: &str, n: usize) -> Vec<(StatusCode, Option<String>)> {
    let handles: Vec<_> = (0..n)
        .map(|_| {
            let client = reqwest::Client::new();
            let url = app.url("/api/auth/refresh");
            let cookie = format!("__Host-cloakroom_refresh={token}");
            tokio::spawn(async move {
                let res = client
                    .post(url)
                    .header("cookie", cookie)
                    .header("x-requested-with", "cloakroom")
                    .send()
                    .await
                    .unwrap();
                (res.status(), refresh_cookie(res.headers()).map(|c| c.0))
            })
        })
        .collect();
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.unwrap());
    }
    out
}

fn session_of(access: &str) -> String {
    decode_claims(access)["sid"].as_str().unwrap().to_owned()
}

async fn kinds(app: &TestApp, sid: &str) -> Vec<(String, String)> {
    events::recent(
        &app.state.db,
        events::Filter {
            session_id: Some(sid),
            ..Default::default()
        },
        100,
    )
    .await
    .unwrap()
    .into_iter()
    .rev()
    .map(|e| {
        let code = e.detail.unwrap_or_default();
        let code = code.split(':').next().unwrap_or_default().to_owned();
        (e.kind, code)
    })
    .collect()
}

#[tokio::test]
async fn lost_refresh_answer_then_retry_keeps_the_user_logged_in() {
    let app = spawn_app().await;
    let (_, login) = app.new_user().await;
    let sid = session_of(&login.access);
    // The answer to this refresh is lost: the browser never sees its Set-Cookie.
    let lost = app.refresh_raw(&login.refresh).await;
    assert_eq!(lost.status(), StatusCode::OK);
    let (successor, _) = refresh_cookie(lost.headers()).unwrap();
    // The client retries with the token it still holds, long after the grace window.
    age_rotation(&app, &login.refresh, 3600).await;
    let retry = app.refresh_raw(&login.refresh).await;
    assert_eq!(retry.status(), StatusCode::OK);
    let (again, _) = refresh_cookie(retry.headers()).expect("the retry gets a refresh token");
    assert_eq!(again, successor, "the same successor, not a second branch");
    let body: api_types::TokenResponse = retry.json().await.unwrap();
    assert_eq!(body.rotation.as_deref(), Some("retry_after_lost_answer"));
    // And it works: the next refresh rotates normally, nobody is logged out.
    let next = app.refresh_raw(&again).await;
    assert_eq!(next.status(), StatusCode::OK);
    assert!(refresh_cookie(next.headers()).is_some());
    assert_eq!(
        kinds(&app, &sid).await,
        [("refresh_retry".into(), "retry_after_lost_answer".into())]
    );
    assert_eq!(
        events::count(&app.state.db, "refresh_token_reuse", &sid)
            .await
            .unwrap(),
        0
    );
}

#[tokio::test]
async fn burst_then_lost_answer_then_replay_after_use_is_theft() {
    let app = spawn_app().await;
    let (_, login) = app.new_user().await;
    let sid = session_of(&login.access);
    // Twenty tabs at once: every answer carries the same, working successor.
    let answers = burst(&app, &login.refresh, 20).await;
    assert!(
        answers.iter().all(|(s, _)| *s == StatusCode::OK),
        "{answers:?}"
    );
    let cookies: BTreeSet<_> = answers
        .into_iter()
        .map(|(_, c)| c.expect("a cookie"))
        .collect();
    assert_eq!(cookies.len(), 1, "one rotation: {cookies:?}");
    let rt1 = cookies.into_iter().next().unwrap();
    // Every burst answer left the browser with a usable token: rt1 rotates.
    let res = app.refresh_raw(&rt1).await;
    assert_eq!(res.status(), StatusCode::OK);
    let (rt2, _) = refresh_cookie(res.headers()).unwrap();
    let logged = kinds(&app, &sid).await;
    assert_eq!(logged.len(), 19, "each duplicate is recorded: {logged:?}");
    assert!(logged
        .iter()
        .all(|(k, c)| k == "refresh_retry" && c == "concurrent_duplicate"));
    // A thief replays the first token after its successor was used and the grace window passed.
    age_rotation(&app, &login.refresh, 3600).await;
    let res = app.refresh_raw(&login.refresh).await;
    let (cleared, _) = refresh_cookie(res.headers()).expect("cookie cleared");
    assert_eq!(cleared, "");
    assert_problem(res, StatusCode::UNAUTHORIZED).await;
    // The whole family is dead, and the event names the replay.
    assert_eq!(
        app.refresh_raw(&rt2).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(app.me_status(&login.access).await, StatusCode::UNAUTHORIZED);
    assert_eq!(
        kinds(&app, &sid).await.last().unwrap(),
        &(
            "refresh_token_reuse".to_owned(),
            "replay_after_successor_used".to_owned()
        )
    );
}

#[tokio::test]
async fn replay_of_the_predecessor_inside_grace_is_flagged_and_gets_no_refresh_token() {
    let app = spawn_app().await;
    let (_, login) = app.new_user().await;
    let sid = session_of(&login.access);
    let (rt1, _) = refresh_cookie(app.refresh_raw(&login.refresh).await.headers()).unwrap();
    let (rt2, _) = refresh_cookie(app.refresh_raw(&rt1).await.headers()).unwrap();
    // rt0 again, seconds later: rt1 was used, so this is a straggler or a replay.
    let res = app.refresh_raw(&login.refresh).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(
        refresh_cookie(res.headers()).is_none(),
        "no token to continue the family"
    );
    assert_eq!(
        kinds(&app, &sid).await,
        [("refresh_grace".into(), "successor_used_within_grace".into())]
    );
    assert_eq!(
        app.refresh_raw(&rt2).await.status(),
        StatusCode::OK,
        "the owner is unaffected"
    );
    // Admins see the grace hit with its reason code.
    cloakroom::ops::create_user(
        &app.state.db,
        &app.state.hasher,
        "watcher",
        PASSWORD,
        true,
        app.state.clock.now(),
    )
    .await
    .unwrap();
    let admin = app.login("watcher").await;
    let events: Vec<api_types::SecurityEvent> = app
        .get_auth("/api/admin/events", &admin.access)
        .await
        .json()
        .await
        .unwrap();
    let hit = events
        .iter()
        .find(|e| e.session_id.as_deref() == Some(sid.as_str()))
        .expect("the grace hit is listed");
    assert_eq!(hit.kind, "refresh_grace");
    assert_eq!(hit.reason.as_deref(), Some("successor_used_within_grace"));
    assert_problem(
        app.get_auth("/api/admin/events", &owner_access(&app, &rt2).await)
            .await,
        StatusCode::FORBIDDEN,
    )
    .await;
}

/// An access token of the (non-admin) owner, from presenting `rt` again (a retry: same successor).
async fn owner_access(app: &TestApp, rt: &str) -> String {
    let res = app.refresh_raw(rt).await;
    res.json::<api_types::TokenResponse>()
        .await
        .unwrap()
        .access_token
}

#[tokio::test]
async fn the_database_holds_only_hashes_of_refresh_tokens() {
    let app = spawn_app().await;
    let (_, login) = app.new_user().await;
    let (rt1, _) = refresh_cookie(app.refresh_raw(&login.refresh).await.headers()).unwrap();
    let stored = fetch_bytes(&app.state.db, "SELECT token_hash FROM refresh_tokens")
        .await
        .unwrap();
    for t in [&login.refresh, &rt1] {
        let h = cloakroom::auth::refresh::hash(t);
        assert!(stored.iter().any(|s| s[..] == h[..]), "hash of {t} stored");
        assert!(
            !stored.iter().any(|s| s[..] == *t.as_bytes()),
            "plaintext stored"
        );
    }
    // The successor key is a server secret: nothing about it is derivable from the tokens.
    let secret = fetch_bytes(
        &app.state.db,
        "SELECT value FROM server_secrets WHERE name = 'refresh_successor'",
    )
    .await
    .unwrap();
    assert_eq!(secret[0].len(), 32);
}
