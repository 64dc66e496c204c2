//! Two instances on one PostgreSQL database behave as one service (docs/deploy.md, "Scaling
//! out"). Each test starts two servers on the same database: two in-process instances (each its
//! own state: revoked set, caches, LISTEN connection), or two processes of the real binary when
//! one has to die by `kill -9`. Runs in `make pg` (`.ci/with-postgres`, `--include-ignored`); on a
//! SQLite run there is no shared database to test, and these show as ignored, never as passed
//! (all but the one-instance SQLite `kill -9` test, which runs on every run).

use std::{
    collections::BTreeSet,
    sync::Arc,
    time::{Duration, Instant},
};

use crate::{auth_flow::decode_claims, helpers::*};
use cloakroom::{ops, store::testing::fetch_ints};
use reqwest::StatusCode;
use tempfile::TempDir;

/// Both instances answer as one public origin (the proxy's), so tokens name one issuer.
const ORIGIN: (&str, &str) = ("CLOAKROOM_PUBLIC_ORIGIN", "http://cloakroom.test");

/// These tests are `#[ignore]`d, so a SQLite run lists them as ignored instead of passing them
/// untested; `make pg` runs them with `--include-ignored`. Run without PostgreSQL, they fail.
pub(crate) fn require_postgres() {
    assert!(
        std::env::var_os("CLOAKROOM_TEST_POSTGRES_URL").is_some(),
        "needs PostgreSQL: run under .ci/with-postgres (make pg)"
    );
}

/// Two in-process instances on one fresh database.
async fn two(extra: &[(&str, &str)]) -> (TestApp, TestApp) {
    let dir = Arc::new(TempDir::new().unwrap());
    let mut env = vec![ORIGIN];
    env.extend_from_slice(extra);
    let a = spawn_in(dir.clone(), &env).await;
    let b = spawn_in(dir, &env).await;
    (a, b)
}

#[tokio::test]
#[ignore = "needs PostgreSQL: `make pg` runs it"]
async fn sixty_four_concurrent_refreshes_across_two_instances_rotate_once() {
    require_postgres();
    // A database whose default isolation is SERIALIZABLE (a managed service's policy, say):
    // the server sets READ COMMITTED for itself, which the row re-check depends on.
    let dir = Arc::new(TempDir::new().unwrap());
    let url = postgres_for(&dir).await.unwrap();
    let db = cloakroom::store::Db::connect(&cloakroom::store::Location::parse(&url).unwrap())
        .await
        .unwrap();
    let name = url.rsplit('/').next().unwrap();
    cloakroom::store::testing::execute(
        &db,
        &format!("ALTER DATABASE {name} SET default_transaction_isolation = 'serializable'"),
        &[],
    )
    .await
    .unwrap();
    db.close().await;
    let a = spawn_in(dir.clone(), &[ORIGIN]).await;
    let b = spawn_in(dir, &[ORIGIN]).await;
    let (_, login) = a.new_user().await;
    let sid = decode_claims(&login.access)["sid"]
        .as_str()
        .unwrap()
        .to_owned();
    let a = Arc::new(a);
    let b = Arc::new(b);
    let tasks: Vec<_> = (0..64)
        .map(|i| {
            let app = if i % 2 == 0 { a.clone() } else { b.clone() };
            let rt = login.refresh.clone();
            tokio::spawn(async move {
                let res = app.refresh_raw(&rt).await;
                let status = res.status();
                (status, refresh_cookie(res.headers()).map(|(v, _)| v))
            })
        })
        .collect();
    let mut successors = BTreeSet::new();
    for t in tasks {
        let (status, cookie) = t.await.unwrap();
        assert_eq!(status, StatusCode::OK, "every answer of the burst works");
        successors.insert(cookie.expect("each answer carries the successor"));
    }
    assert_eq!(
        successors.len(),
        1,
        "one successor, whichever instance answered"
    );
    let tokens = fetch_ints(
        &a.state.db,
        &format!("SELECT COUNT(*) FROM refresh_tokens WHERE session_id = '{sid}'"),
    )
    .await
    .unwrap();
    assert_eq!(
        tokens,
        [2],
        "exactly one rotation: the first token and its successor"
    );
    // …and the successor works on both.
    let next = successors.into_iter().next().unwrap();
    assert_eq!(b.refresh_raw(&next).await.status(), StatusCode::OK);
}

#[tokio::test]
#[ignore = "needs PostgreSQL: `make pg` runs it"]
async fn a_logout_on_one_instance_is_refused_on_the_other_at_once() {
    require_postgres();
    // The periodic re-sync is an hour away: only the notification can tell B.
    let (a, b) = two(&[("CLOAKROOM_RESYNC_SECS", "3600")]).await;
    let (_, login) = a.new_user().await;
    assert_eq!(b.me_status(&login.access).await, StatusCode::OK);
    assert_eq!(
        a.logout_raw(&login.refresh).await.status(),
        StatusCode::NO_CONTENT
    );
    let started = Instant::now();
    // Poll until B refuses (bounded); how long it took is printed, not asserted.
    while b.me_status(&login.access).await == StatusCode::OK {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the other instance never learned of the logout"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    eprintln!(
        "logout seen by the other instance after {:?}",
        started.elapsed()
    );
    // An operator's revocation from the CLI (a third process, as far as the servers know).
    let (name, other) = a.new_user().await;
    assert_eq!(b.me_status(&other.access).await, StatusCode::OK);
    ops::revoke_sessions(&a.state.db, &name, a.state.clock.now())
        .await
        .unwrap();
    while a.me_status(&other.access).await == StatusCode::OK
        || b.me_status(&other.access).await == StatusCode::OK
    {
        assert!(started.elapsed() < Duration::from_secs(30), "never seen");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test]
#[ignore = "needs PostgreSQL: `make pg` runs it"]
async fn concurrent_note_writes_on_two_instances_all_land_in_order() {
    require_postgres();
    // Each write takes the next value of the owner's counter under a lock on their row: two
    // instances writing at once queue, neither takes a number twice (a UNIQUE index would
    // refuse the duplicate with a 500).
    let (a, b) = two(&[]).await;
    let (_, login) = a.new_user().await;
    let (a, b) = (Arc::new(a), Arc::new(b));
    let writes: Vec<_> = (0..24)
        .map(|i| {
            let app = if i % 2 == 0 { a.clone() } else { b.clone() };
            let token = login.access.clone();
            tokio::spawn(async move {
                app.client
                    .post(app.url("/api/notes"))
                    .bearer_auth(&token)
                    .json(&serde_json::json!({"title": format!("note {i}"), "body": ""}))
                    .send()
                    .await
                    .unwrap()
                    .status()
            })
        })
        .collect();
    for w in writes {
        assert_eq!(w.await.unwrap(), StatusCode::CREATED);
    }
    let notes: Vec<api_types::Note> = b
        .get_auth("/api/notes", &login.access)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(notes.len(), 24);
    let titles: BTreeSet<_> = notes.iter().map(|n| n.title.clone()).collect();
    assert_eq!(titles.len(), 24);
    // Each write took its own number, none skipped: the 24 numbers are 1 to 24.
    let db = &a.state.db;
    let counts = [
        "SELECT COUNT(DISTINCT touched) FROM notes",
        "SELECT MIN(touched) FROM notes",
        "SELECT MAX(touched) FROM notes",
    ];
    let mut got = Vec::new();
    for sql in counts {
        got.push(fetch_ints(db, sql).await.unwrap()[0]);
    }
    assert_eq!(got, [24, 1, 24]);
    // In order: writes through alternating instances list newest first, exactly as made.
    let oldest_first: Vec<_> = notes.iter().rev().take(3).map(|n| n.id.clone()).collect();
    for (i, id) in oldest_first.iter().enumerate() {
        let app = if i % 2 == 0 { &a } else { &b };
        let res = app
            .client
            .put(app.url(&format!("/api/notes/{id}")))
            .bearer_auth(&login.access)
            .header("if-match", "*")
            .json(&serde_json::json!({"title": format!("edited {i}"), "body": ""}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
    }
    let notes: Vec<api_types::Note> = a
        .get_auth("/api/notes", &login.access)
        .await
        .json()
        .await
        .unwrap();
    let first: Vec<_> = notes.iter().take(3).map(|n| n.title.as_str()).collect();
    assert_eq!(first, ["edited 2", "edited 1", "edited 0"]);
}

#[tokio::test]
#[ignore = "needs PostgreSQL: `make pg` runs it"]
async fn the_guess_limit_is_one_limit_across_instances_and_restarts() {
    require_postgres();
    let limit = [("CLOAKROOM_LOGIN_MAX_FAILURES", "3")];
    let (a, b) = two(&limit).await;
    let name = unique_name();
    assert_eq!(
        a.signup(&name, PASSWORD).await.status(),
        StatusCode::CREATED
    );
    for app in [&a, &b, &a] {
        assert_problem(
            app.login_raw(&name, "wrong password!", false).await,
            StatusCode::UNAUTHORIZED,
        )
        .await;
    }
    // Three failures spread over two instances spend the one budget of three: both lock,
    // even for the right password (otherwise the lock would be an oracle).
    for app in [&a, &b] {
        assert_problem(
            app.login_raw(&name, PASSWORD, false).await,
            StatusCode::TOO_MANY_REQUESTS,
        )
        .await;
    }
    // A third instance started later knows it too.
    let dir = a.stop().await;
    let c = spawn_in(dir, &[ORIGIN, limit[0]]).await;
    assert_problem(
        c.login_raw(&name, PASSWORD, false).await,
        StatusCode::TOO_MANY_REQUESTS,
    )
    .await;
}

#[tokio::test]
#[ignore = "needs PostgreSQL: `make pg` runs it"]
async fn two_instances_starting_together_on_an_empty_database_agree_on_one_key() {
    require_postgres();
    let dir = Arc::new(TempDir::new().unwrap());
    postgres_for(&dir).await.unwrap();
    // No re-sync and no time for a notification: they must agree from the start.
    let env = [ORIGIN, ("CLOAKROOM_RESYNC_SECS", "3600")];
    let (a, b) = tokio::join!(spawn_in(dir.clone(), &env), spawn_in(dir, &env));
    let signers = fetch_ints(
        &a.state.db,
        "SELECT COUNT(*) FROM signing_keys WHERE retired_at IS NULL",
    )
    .await
    .unwrap();
    assert_eq!(signers, [1]);
    let (_, login) = a.new_user().await;
    assert_eq!(b.me_status(&login.access).await, StatusCode::OK);
    let (_, other) = b.new_user().await;
    assert_eq!(a.me_status(&other.access).await, StatusCode::OK);
}

#[tokio::test]
#[ignore = "needs PostgreSQL: `make pg` runs it"]
async fn an_instance_started_later_verifies_tokens_and_key_rotations_reach_all() {
    require_postgres();
    let dir = Arc::new(TempDir::new().unwrap());
    let a = spawn_in(dir.clone(), &[ORIGIN, ("CLOAKROOM_RESYNC_SECS", "3600")]).await;
    let (_, login) = a.new_user().await;
    let b = spawn_in(dir, &[ORIGIN, ("CLOAKROOM_RESYNC_SECS", "3600")]).await;
    assert_eq!(
        b.me_status(&login.access).await,
        StatusCode::OK,
        "A's token on B"
    );
    // Rotate keys (as `cloakroom keys rotate` would): both instances sign with the new key.
    let new = ops::rotate_keys(&a.state.db, a.state.clock.now())
        .await
        .unwrap();
    let started = Instant::now();
    for app in [&a, &b] {
        loop {
            let (_, fresh) = app.new_user().await;
            let kid = jsonwebtoken::decode_header(&fresh.access)
                .unwrap()
                .kid
                .unwrap();
            if kid == new.kid {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "never signed with the new key"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    // The old key still verifies its tokens until they expire.
    assert_eq!(b.me_status(&login.access).await, StatusCode::OK);
}

/// One server process of the real binary on `db_url`, listening on a free loopback port.
struct Process {
    child: std::process::Child,
    addr: String,
}

async fn start_process(db_url: &str, dir: &TempDir) -> Process {
    start_process_on(Some(db_url), dir).await
}

/// As [`start_process`], on `db_url`, or without one on the SQLite database in `dir`.
async fn start_process_on(db_url: Option<&str>, dir: &TempDir) -> Process {
    let port = free_port();
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_cloakroom"));
    if let Some(url) = db_url {
        command.env("CLOAKROOM_DATABASE_URL", url);
    }
    let child = command
        .envs(TEST_SETTINGS)
        .env("CLOAKROOM_DATA_DIR", dir.path())
        .env("CLOAKROOM_PORT", port.to_string())
        .env(ORIGIN.0, ORIGIN.1)
        .env("CLOAKROOM_LOG", "warn")
        // Revocations reach the other instance by LISTEN/NOTIFY alone, so a test sees it work.
        .env("CLOAKROOM_RESYNC_SECS", "3600")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let addr = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let started = Instant::now();
    while client
        .get(format!("{addr}/readyz"))
        .send()
        .await
        .map(|r| r.status() != StatusCode::OK)
        .unwrap_or(true)
    {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "server never got ready"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Process { child, addr }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A browser tab: refreshes through whichever instance it is sent to, and on a lost answer
/// (connection refused or reset) retries with the cookie it still holds, as the client does.
async fn refresh_at(
    client: &reqwest::Client,
    addr: &str,
    rt: &str,
) -> Result<(StatusCode, Option<String>), reqwest::Error> {
    let res = client
        .post(format!("{addr}/api/auth/refresh"))
        .header("cookie", format!("__Host-cloakroom_refresh={rt}"))
        .header("x-requested-with", "cloakroom")
        .send()
        .await?;
    let status = res.status();
    Ok((status, refresh_cookie(res.headers()).map(|(v, _)| v)))
}

#[tokio::test]
#[ignore = "needs PostgreSQL: `make pg` runs it"]
async fn kill_nine_of_one_instance_under_refresh_load_logs_nobody_out() {
    require_postgres();
    let dir = TempDir::new().unwrap();
    let url = postgres_for(&dir).await.unwrap();
    let a = start_process(&url, &dir).await;
    let b = start_process(&url, &dir).await;
    // Users, logged in through A. (A TestApp-less client: these are real processes.)
    let client = reqwest::Client::new();
    let tabs = log_in_tabs(&client, &a.addr, &a.addr, 16).await;
    let (addr_a, addr_b) = (a.addr.clone(), b.addr.clone());
    let a = Arc::new(std::sync::Mutex::new(Some(a)));
    // Each tab refreshes 12 times, alternating instances; the killer waits until the load is
    // under way (some refreshes done), then kills A with SIGKILL mid-flight.
    let done = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let killer = {
        let (a, done) = (a.clone(), done.clone());
        tokio::spawn(async move {
            until("refresh load under way", || {
                done.load(std::sync::atomic::Ordering::Relaxed) >= 40
            })
            .await;
            // A request A is in the middle of at the moment it dies: its body half sent, so
            // A holds it open, waiting for the rest.
            let addr = a.lock().unwrap().as_ref().unwrap().addr.clone();
            let mut open = tokio::net::TcpStream::connect(addr.trim_start_matches("http://"))
                .await
                .unwrap();
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            open.write_all(
                b"POST /api/auth/login HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"username\":",
            )
            .await
            .unwrap();
            let mut p = a.lock().unwrap().take().unwrap();
            // SIGKILL: no graceful shutdown, requests in flight are cut.
            p.child.kill().unwrap();
            p.child.wait().unwrap();
            let mut answer = Vec::new();
            let cut = match open.read_to_end(&mut answer).await {
                Ok(_) => answer.is_empty(),
                Err(_) => true,
            };
            assert!(
                cut,
                "the request in flight was answered, not cut: {answer:?}"
            );
        })
    };
    let runs: Vec<_> = tabs
        .into_iter()
        .map(|mut rt| {
            let (client, addr_a, addr_b, done) =
                (client.clone(), addr_a.clone(), addr_b.clone(), done.clone());
            tokio::spawn(async move {
                let mut lost = 0;
                for i in 0..12 {
                    let first = if i % 2 == 0 { &addr_a } else { &addr_b };
                    let answer = match refresh_at(&client, first, &rt).await {
                        Ok(answer) => answer,
                        // Lost answer (A died): the tab retries on the other instance.
                        Err(_) => {
                            lost += 1;
                            refresh_at(&client, &addr_b, &rt)
                                .await
                                .expect("B keeps serving")
                        }
                    };
                    assert_eq!(answer.0, StatusCode::OK, "refresh {i} of a tab: logged out");
                    rt = answer.1.expect("a rotation or a repeat carries the cookie");
                    done.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
                (rt, lost)
            })
        })
        .collect();
    let mut lost = 0;
    let mut finals = Vec::new();
    for r in runs {
        let (rt, l) = r.await.unwrap();
        lost += l;
        finals.push(rt);
    }
    killer.await.unwrap();
    eprintln!("{lost} refreshes lost their answer when A died and were retried on B");
    assert!(
        lost > 0,
        "no refresh met the dead instance: the test tested nothing"
    );
    // Everyone is still logged in, on the survivor.
    for rt in finals {
        let (status, _) = refresh_at(&client, &addr_b, &rt).await.unwrap();
        assert_eq!(status, StatusCode::OK);
    }
    // Nothing was taken for theft.
    assert_no_session_revoked(&url).await;
}

/// SQLite's group commit (`store::rotation`; docs/security.md, "How rotations are written")
/// answers a rotation only after its batch has committed, so every answered rotation survives
/// a `kill -9`: 16 tabs refresh a single SQLite instance until it is killed under them, and
/// after a restart on the same file each tab's last answered cookie still refreshes (a tab
/// whose answer was lost gets the same successor again), and the one after it too. (One
/// instance, no PostgreSQL: this one runs on every run.)
#[tokio::test]
async fn kill_nine_on_sqlite_loses_no_answered_rotation() {
    let dir = TempDir::new().unwrap();
    let server = start_process_on(None, &dir).await;
    let client = reqwest::Client::new();
    let tabs = log_in_tabs(&client, &server.addr, &server.addr, 16).await;
    let addr = server.addr.clone();
    let server = Arc::new(std::sync::Mutex::new(Some(server)));
    let done = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let killer = {
        let (server, done) = (server.clone(), done.clone());
        tokio::spawn(async move {
            until("refresh load under way", || {
                done.load(std::sync::atomic::Ordering::Relaxed) >= 200
            })
            .await;
            let mut p = server.lock().unwrap().take().unwrap();
            p.child.kill().unwrap();
            p.child.wait().unwrap();
        })
    };
    // Each tab refreshes until the server is gone, keeping the last cookie it was answered.
    let runs: Vec<_> = tabs
        .into_iter()
        .map(|mut rt| {
            let (client, addr, done) = (client.clone(), addr.clone(), done.clone());
            tokio::spawn(async move {
                while let Ok((status, cookie)) = refresh_at(&client, &addr, &rt).await {
                    assert_eq!(
                        status,
                        StatusCode::OK,
                        "a tab was logged out before the kill"
                    );
                    rt = cookie.expect("a rotation carries the cookie");
                    done.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
                rt
            })
        })
        .collect();
    let mut answered = Vec::new();
    for r in runs {
        answered.push(r.await.unwrap());
    }
    killer.await.unwrap();
    let server = start_process_on(None, &dir).await;
    for rt in answered {
        let (status, next) = refresh_at(&client, &server.addr, &rt).await.unwrap();
        assert_eq!(
            status,
            StatusCode::OK,
            "an answered rotation was lost in the kill"
        );
        let (status, _) = refresh_at(&client, &server.addr, &next.unwrap())
            .await
            .unwrap();
        assert_eq!(status, StatusCode::OK, "its successor does not rotate on");
    }
}

/// `n` users, each signed up through the instance at `signup` and logged in ("remember me")
/// through the one at `login`: their refresh cookies, one browser tab each.
async fn log_in_tabs(client: &reqwest::Client, signup: &str, login: &str, n: usize) -> Vec<String> {
    let mut tabs = Vec::new();
    for _ in 0..n {
        let name = unique_name();
        let body = serde_json::json!({"username": name, "password": PASSWORD});
        let res = client
            .post(format!("{signup}/api/auth/signup"))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::CREATED);
        let body = serde_json::json!({"username": name, "password": PASSWORD, "remember": true});
        let res = client
            .post(format!("{login}/api/auth/login"))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        tabs.push(refresh_cookie(res.headers()).unwrap().0);
    }
    tabs
}

/// Nothing was taken for theft: no session of the database at `url` is revoked.
async fn assert_no_session_revoked(url: &str) {
    let db = cloakroom::store::Db::connect(&cloakroom::store::Location::parse(url).unwrap())
        .await
        .unwrap();
    let revoked = fetch_ints(
        &db,
        "SELECT COUNT(*) FROM sessions WHERE revoked_at IS NOT NULL",
    )
    .await
    .unwrap();
    assert_eq!(revoked, [0]);
}

/// `cloakroom db copy` as an operator runs it.
fn db_copy(from: &str, to: &str) -> (bool, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_cloakroom"))
        .args(["db", "copy", "--from", from, "--to", to])
        .env("CLOAKROOM_LOG", "warn")
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

#[tokio::test]
#[ignore = "needs PostgreSQL: `make pg` runs it"]
async fn moving_from_sqlite_to_postgres_logs_nobody_out() {
    require_postgres();
    // Before: one machine on SQLite, a user logged in with a note and a rotated token.
    let dir = Arc::new(TempDir::new().unwrap());
    let sqlite = format!("sqlite://{}", dir.path().join("old.db").display());
    let old = spawn_in(dir.clone(), &[ORIGIN, ("CLOAKROOM_DATABASE_URL", &sqlite)]).await;
    let (_, login) = old.new_user().await;
    let res = old
        .client
        .post(old.url("/api/notes"))
        .bearer_auth(&login.access)
        .json(&serde_json::json!({"title": "moving day", "body": "boxes"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let res = old.refresh_raw(&login.refresh).await;
    let (cookie, _) = refresh_cookie(res.headers()).unwrap();
    let access: api_types::TokenResponse = res.json().await.unwrap();
    // A provider user's account, and a session begun through the provider (its issuer and sid).
    let now = old.state.clock.now();
    let cloakroom::store::oidc::Created::User(sso) =
        cloakroom::store::oidc::create_user(&old.state.db, "sso_user", "https://idp", "sub-1", now)
            .await
            .unwrap()
    else {
        panic!("made")
    };
    let new_session = cloakroom::store::sessions::NewSession {
        user_id: &sso.id,
        password_hash: "",
        persistent: false,
        dpop_bound: true,
        user_agent: None,
        ip: None,
        oidc: Some(cloakroom::store::sessions::OidcOrigin {
            issuer: "https://idp",
            sid: Some("provider-session"),
        }),
    };
    cloakroom::store::sessions::create(
        &old.state.db,
        &new_session,
        "sso_user",
        "",
        &[7u8; 32],
        now,
        old.state.lifetimes(),
    )
    .await
    .unwrap()
    .unwrap();
    old.stop().await;

    // The move.
    let target_dir = TempDir::new().unwrap();
    let pg = postgres_for(&target_dir).await.unwrap();
    let (ok, out) = db_copy(&sqlite, &pg);
    assert!(ok, "{out}");
    assert!(
        out.contains("users: 2")
            && out.contains("refresh_tokens: 3")
            && out.contains("oidc_identities: 1"),
        "{out}"
    );
    // A second copy into the now-used target is refused, and changes nothing.
    let (ok, out) = db_copy(&sqlite, &pg);
    assert!(!ok && out.contains("not empty"), "{out}");

    // After: the server on PostgreSQL. The access token signed before the move verifies, the
    // browser's cookie refreshes, the note is there, and the token rotated before the move is
    // still known as rotated (a replay of it is a repeat, not a fresh login).
    let new = spawn_in(dir, &[ORIGIN, ("CLOAKROOM_DATABASE_URL", &pg)]).await;
    assert_eq!(new.state.db.engine_name(), "postgres");
    assert_eq!(new.me_status(&access.access_token).await, StatusCode::OK);
    let res = new.refresh_raw(&cookie).await;
    assert_eq!(res.status(), StatusCode::OK);
    let access: api_types::TokenResponse = res.json().await.unwrap();
    let notes: Vec<api_types::Note> = new
        .get_auth("/api/notes", &access.access_token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(notes.len(), 1);
    assert_eq!(notes[0].title, "moving day");
    // The provider's user is the same account, and its session still names the provider
    // session a back-channel logout would end.
    let found = cloakroom::store::oidc::find_user(&new.state.db, "https://idp", "sub-1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.id, sso.id);
    let now = new.state.clock.now();
    let ended = cloakroom::store::oidc::revoke_sessions(
        &new.state.db,
        "https://idp",
        Some("provider-session"),
        None,
        now,
        "test",
    )
    .await
    .unwrap();
    assert_eq!(ended.len(), 1);
    // New writes continue the copied numbering (revocation log, events, key order).
    assert_eq!(
        new.logout_raw(&cookie).await.status(),
        StatusCode::NO_CONTENT
    );

    // And back again, into a new SQLite file: the same rows.
    let back = format!("sqlite://{}", target_dir.path().join("back.db").display());
    let (ok, out) = db_copy(&pg, &back);
    assert!(
        ok && out.contains("users: 2") && out.contains("revocations: 2"),
        "{out}"
    );
}

/// A PostgreSQL cluster of one test's own (`.ci/with-postgres` says where the binaries are), so
/// the test can stop and start it without disturbing the tests that share the suite's cluster.
struct OwnCluster {
    dir: TempDir,
    bin: std::path::PathBuf,
    port: u16,
}

impl OwnCluster {
    /// As root, initdb and postgres refuse to run: they run as Debian's `postgres` user.
    fn cmd(&self, tool: &str) -> std::process::Command {
        let root = std::process::Command::new("id")
            .arg("-u")
            .output()
            .map(|o| o.stdout.starts_with(b"0\n"))
            .unwrap_or(false);
        let tool = self.bin.join(tool);
        if root {
            let mut c = std::process::Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(tool);
            c
        } else {
            std::process::Command::new(tool)
        }
    }

    fn data(&self) -> std::path::PathBuf {
        self.dir.path().join("pg")
    }

    fn new() -> Self {
        let bin = std::env::var_os("CLOAKROOM_TEST_PG_BIN")
            .expect("CLOAKROOM_TEST_PG_BIN: run under .ci/with-postgres")
            .into();
        let dir = TempDir::new().unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let c = OwnCluster {
            dir,
            bin,
            port: free_port(),
        };
        std::fs::create_dir(c.data()).unwrap();
        let _ = std::process::Command::new("chown")
            .arg("postgres")
            .arg(c.data())
            .status();
        let ok = c
            .cmd("initdb")
            .arg("-D")
            .arg(c.data())
            .args([
                "--auth=trust",
                "-U",
                "postgres",
                "-E",
                "UTF8",
                "--locale=C.UTF-8",
            ])
            .stdout(std::process::Stdio::null())
            .status()
            .unwrap();
        assert!(ok.success(), "initdb");
        c.ctl("start");
        c
    }

    fn ctl(&self, what: &str) {
        let mut cmd = self.cmd("pg_ctl");
        cmd.arg("-D").arg(self.data()).args(["-w", "-t", "60"]);
        match what {
            "start" => {
                let opts = format!(
                    "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
                    self.port,
                    self.data().display()
                );
                cmd.arg("-l")
                    .arg(self.data().join("log"))
                    .args(["start", "-o", &opts]);
            }
            // `-m fast`: what a restart or failover does to the sessions of every instance.
            _ => {
                cmd.args(["-m", what, "stop"]);
            }
        }
        let ok = cmd.stdout(std::process::Stdio::null()).status().unwrap();
        assert!(ok.success(), "pg_ctl {what}");
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for OwnCluster {
    fn drop(&mut self) {
        let _ = self
            .cmd("pg_ctl")
            .arg("-D")
            .arg(self.data())
            .args(["-m", "immediate", "stop"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status();
    }
}

/// PostgreSQL restarts (`pg_ctl stop -m fast`, then start) while 16 tabs refresh through two
/// instances. Refreshes cut off or made while it is down are answered 503 `database-busy` with
/// `Retry-After`, never 500 and never 401: the tab retries with the cookie it holds and gets a
/// token, nobody is logged out, nothing is taken for theft, and both instances pick up again,
/// LISTEN included (a logout on one reaches the other).
#[tokio::test]
#[ignore = "needs PostgreSQL: `make pg` runs it"]
async fn a_postgres_restart_under_refresh_load_logs_nobody_out_and_answers_no_500() {
    require_postgres();
    let cluster = Arc::new(OwnCluster::new());
    let url = cluster.url();
    let dir = TempDir::new().unwrap();
    let a = start_process(&url, &dir).await;
    let b = start_process(&url, &dir).await;
    let client = reqwest::Client::new();
    let tabs = log_in_tabs(&client, &a.addr, &b.addr, 16).await;
    let done = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let busy = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let restarted = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let restarter = {
        let (cluster, done, restarted) = (cluster.clone(), done.clone(), restarted.clone());
        tokio::spawn(async move {
            until("refresh load under way", || {
                done.load(std::sync::atomic::Ordering::Relaxed) >= 40
            })
            .await;
            tokio::task::spawn_blocking(move || {
                cluster.ctl("fast");
                cluster.ctl("start");
            })
            .await
            .unwrap();
            restarted.store(true, std::sync::atomic::Ordering::Relaxed);
        })
    };
    let runs: Vec<_> = tabs
        .into_iter()
        .map(|mut rt| {
            let (client, addrs) = (client.clone(), [a.addr.clone(), b.addr.clone()]);
            let (done, busy, restarted) = (done.clone(), busy.clone(), restarted.clone());
            tokio::spawn(async move {
                // Refreshes until the restart is over and ten more have gone through.
                let mut after = 0;
                let mut i = 0usize;
                let deadline = Instant::now() + Duration::from_secs(120);
                while after < 10 {
                    assert!(Instant::now() < deadline, "the service never came back");
                    i += 1;
                    let res = client
                        .post(format!("{}/api/auth/refresh", addrs[i % 2]))
                        .header("cookie", format!("__Host-cloakroom_refresh={rt}"))
                        .header("x-requested-with", "cloakroom")
                        .send()
                        .await
                        .expect("the instances stay up");
                    match res.status() {
                        StatusCode::OK => {
                            rt = refresh_cookie(res.headers()).expect("a cookie").0;
                            done.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            if restarted.load(std::sync::atomic::Ordering::Relaxed) {
                                after += 1;
                            }
                        }
                        StatusCode::SERVICE_UNAVAILABLE => {
                            assert!(res.headers().contains_key("retry-after"));
                            assert!(refresh_cookie(res.headers()).is_none());
                            let p: serde_json::Value = res.json().await.unwrap();
                            assert_eq!(p["type"], api_types::ProblemType::DatabaseBusy.uri());
                            busy.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            // The client retries with the cookie it still holds.
                            tokio::task::yield_now().await;
                        }
                        other => panic!(
                            "refresh {i} of a tab answered {other}: {}",
                            res.text().await.unwrap()
                        ),
                    }
                }
                rt
            })
        })
        .collect();
    let mut finals = Vec::new();
    for r in runs {
        finals.push(r.await.unwrap());
    }
    restarter.await.unwrap();
    eprintln!(
        "{} refreshes answered 503 database-busy during the restart and were retried",
        busy.load(std::sync::atomic::Ordering::Relaxed)
    );
    // Everyone refreshes on both instances, and nothing was taken for theft.
    for rt in &finals {
        let (status, next) = refresh_at(&client, &a.addr, rt).await.unwrap();
        assert_eq!(status, StatusCode::OK);
        let (status, _) = refresh_at(&client, &b.addr, &next.unwrap()).await.unwrap();
        assert_eq!(status, StatusCode::OK);
    }
    assert_no_session_revoked(&url).await;
    // LISTEN came back: a logout through A ends the access token on B without B's re-sync.
    let name = unique_name();
    let body = serde_json::json!({"username": name, "password": PASSWORD});
    client
        .post(format!("{}/api/auth/signup", a.addr))
        .json(&body)
        .send()
        .await
        .unwrap();
    let res = client
        .post(format!("{}/api/auth/login", a.addr))
        .json(&body)
        .send()
        .await
        .unwrap();
    let rt = refresh_cookie(res.headers()).unwrap().0;
    let access = res
        .json::<api_types::TokenResponse>()
        .await
        .unwrap()
        .access_token;
    let me_on_b = || {
        client
            .get(format!("{}/api/me", b.addr))
            .bearer_auth(&access)
            .send()
    };
    assert_eq!(me_on_b().await.unwrap().status(), StatusCode::OK);
    let res = client
        .post(format!("{}/api/auth/logout", a.addr))
        .header("cookie", format!("__Host-cloakroom_refresh={rt}"))
        .header("x-requested-with", "cloakroom")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let deadline = Instant::now() + Duration::from_secs(20);
    while me_on_b().await.unwrap().status() == StatusCode::OK {
        assert!(Instant::now() < deadline, "the logout never reached B");
        tokio::task::yield_now().await;
    }
}

/// A password changed through one instance ends the account's sessions on the other at once:
/// the other browser's access token is refused there (LISTEN), and its refresh token too.
#[tokio::test]
#[ignore = "needs PostgreSQL: `make pg` runs it"]
async fn a_password_change_on_one_instance_is_seen_by_the_other() {
    require_postgres();
    let (a, b) = two(&[("CLOAKROOM_RESYNC_SECS", "3600")]).await;
    let (name, here) = a.new_user().await;
    let elsewhere = b.login(&name).await;
    assert_eq!(b.me_status(&elsewhere.access).await, StatusCode::OK);
    let res = a
        .client
        .post(a.url("/api/account/password"))
        .bearer_auth(&here.access)
        .header("x-requested-with", "cloakroom")
        .json(&serde_json::json!({"current_password": PASSWORD, "new_password": "an entirely new passphrase"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let fresh: api_types::TokenResponse = res.json().await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while b.me_status(&elsewhere.access).await == StatusCode::OK {
        assert!(Instant::now() < deadline, "B never learned of the change");
        tokio::task::yield_now().await;
    }
    assert_eq!(
        b.refresh_raw(&elsewhere.refresh).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(b.me_status(&fresh.access_token).await, StatusCode::OK);
}

/// Two admins deleting themselves at once on PostgreSQL, made deterministic: another session
/// (what a second instance's `delete_account` does) locks the admin rows, counts two and
/// deletes one, and holds its transaction open; this server's delete of the other admin must
/// wait for it and then see the last admin, instead of counting the uncommitted two and leaving
/// none.
#[tokio::test]
#[ignore = "needs PostgreSQL: `make pg` runs it"]
async fn the_last_admin_survives_two_deletes_racing_on_postgres() {
    use sqlx::Connection;
    require_postgres();
    let app = spawn_app().await;
    let db = app.state.db.clone();
    let now = app.state.clock.now();
    let mut ids = Vec::new();
    for _ in 0..2 {
        let id = ops::create_user(&db, &app.state.hasher, &unique_name(), PASSWORD, true, now)
            .await
            .unwrap();
        ids.push(id);
    }
    let url = postgres_for(&app.dir).await.unwrap();
    let mut other = sqlx::PgConnection::connect(&url).await.unwrap();
    sqlx::query("BEGIN").execute(&mut other).await.unwrap();
    let admins: Vec<String> = sqlx::query_scalar(
        "SELECT id FROM users WHERE ' ' || roles || ' ' LIKE '% admin %' FOR UPDATE",
    )
    .fetch_all(&mut other)
    .await
    .unwrap();
    assert_eq!(admins.len(), 2);
    sqlx::query("DELETE FROM users WHERE id = $1")
        .bind(&ids[0])
        .execute(&mut other)
        .await
        .unwrap();
    let task = {
        let (db, id) = (db.clone(), ids[1].clone());
        tokio::spawn(async move {
            cloakroom::store::users::delete_account(&db, &id, now, "account deleted")
                .await
                .unwrap()
        })
    };
    // Wait for the event that decides it: the delete is waiting on a lock, or it is done.
    lock_wait_or_done(&url, &task, "the delete", 1).await;
    sqlx::query("COMMIT").execute(&mut other).await.unwrap();
    assert_eq!(
        task.await.unwrap(),
        cloakroom::store::users::Deleted::LastAdmin
    );
    let left = fetch_ints(
        &db,
        "SELECT COUNT(*) FROM users WHERE ' ' || roles || ' ' LIKE '% admin %'",
    )
    .await
    .unwrap();
    assert_eq!(left, [1]);
}

/// A login checking the old password while a password change runs on PostgreSQL, made
/// deterministic: another session (another instance's change) has updated the user's hash and
/// holds its transaction open; this server's session insert for a login that checked the old
/// hash must wait for it and then find the hash changed, instead of reading the old committed
/// hash and making a session the change never revoked.
#[tokio::test]
#[ignore = "needs PostgreSQL: `make pg` runs it"]
async fn a_login_racing_a_password_change_on_postgres_gets_no_session() {
    use sqlx::Connection;
    require_postgres();
    let app = spawn_app().await;
    let db = app.state.db.clone();
    let (name, _) = app.new_user().await;
    let user = cloakroom::store::users::find_by_username(&db, &name)
        .await
        .unwrap()
        .unwrap();
    let url = postgres_for(&app.dir).await.unwrap();
    let mut other = sqlx::PgConnection::connect(&url).await.unwrap();
    sqlx::query("BEGIN").execute(&mut other).await.unwrap();
    sqlx::query("UPDATE users SET password_hash = 'changed elsewhere' WHERE id = $1")
        .bind(&user.id)
        .execute(&mut other)
        .await
        .unwrap();
    let task = session_insert(&app, &user);
    lock_wait_or_done(&url, &task, "the insert", 1).await;
    sqlx::query("COMMIT").execute(&mut other).await.unwrap();
    assert!(
        task.await.unwrap().is_none(),
        "a session was made on the old password"
    );
}

/// An account deleted while a login of it makes its session, on PostgreSQL, made
/// deterministic. The deletion is held inside its revocation of the account's live sessions
/// (another transaction holds the revocation log's lock); the login's session insert runs
/// then. Whichever way it goes, no session of the deleted account may escape the revocation
/// log: one made after the revocation's snapshot and removed by the delete's cascade would
/// never be logged, and its access token would pass on every instance until it expired.
#[tokio::test]
#[ignore = "needs PostgreSQL: `make pg` runs it"]
async fn a_login_racing_its_account_s_deletion_on_postgres_leaves_no_session_unrevoked() {
    use sqlx::Connection;
    require_postgres();
    let app = spawn_app().await;
    let db = app.state.db.clone();
    // A live session: the deletion has one to revoke, and is held in its revocation's trigger.
    let (name, _live) = app.new_user().await;
    let user = cloakroom::store::users::find_by_username(&db, &name)
        .await
        .unwrap()
        .unwrap();
    let url = postgres_for(&app.dir).await.unwrap();
    let mut other = sqlx::PgConnection::connect(&url).await.unwrap();
    sqlx::query("BEGIN").execute(&mut other).await.unwrap();
    sqlx::query("LOCK TABLE revocations IN SHARE ROW EXCLUSIVE MODE")
        .execute(&mut other)
        .await
        .unwrap();
    let now = app.state.clock.now();
    let deletion = {
        let (db, id) = (db.clone(), user.id.clone());
        tokio::spawn(async move {
            cloakroom::store::users::delete_account(&db, &id, now, "account deleted")
                .await
                .unwrap()
        })
    };
    lock_wait_or_done(&url, &deletion, "the deletion", 1).await;
    assert!(!deletion.is_finished(), "the deletion was not held");
    let login = session_insert(&app, &user);
    lock_wait_or_done(&url, &login, "the login's insert", 2).await;
    sqlx::query("COMMIT").execute(&mut other).await.unwrap();
    let cloakroom::store::users::Deleted::Deleted(revoked) = deletion.await.unwrap() else {
        panic!("the account was not deleted")
    };
    if let Some(grant) = login.await.unwrap() {
        assert!(
            revoked.contains(&grant.session_id),
            "session {} was made during the deletion and never revoked (revoked: {revoked:?})",
            grant.session_id
        );
    }
}

/// A login's session insert for `user`, on the password hash it was read with, run as a task
/// (a test holds a lock it may wait for): the session, or none if the insert found the hash
/// changed or the account gone.
fn session_insert(
    app: &TestApp,
    user: &cloakroom::store::users::UserRow,
) -> tokio::task::JoinHandle<Option<cloakroom::store::sessions::SessionGrant>> {
    let (db, user) = (app.state.db.clone(), user.clone());
    let (now, life) = (app.state.clock.now(), app.state.lifetimes());
    tokio::spawn(async move {
        let new = cloakroom::store::sessions::NewSession {
            user_id: &user.id,
            password_hash: &user.password_hash,
            persistent: true,
            dpop_bound: false,
            user_agent: None,
            ip: None,
            oidc: None,
        };
        cloakroom::store::sessions::create(&db, &new, &user.username, "", &[9u8; 32], now, life)
            .await
            .unwrap()
    })
}

/// Returns once `waiters` sessions of the test database wait on a lock, or `task` has
/// finished: the moment a test holding a transaction open may go on. Bounded, so a hang fails
/// the test.
async fn lock_wait_or_done<T>(
    url: &str,
    task: &tokio::task::JoinHandle<T>,
    what: &str,
    waiters: i64,
) {
    use sqlx::Connection;
    let mut watch = sqlx::PgConnection::connect(url).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let waiting: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()",
        )
        .fetch_one(&mut watch)
        .await
        .unwrap();
        if waiting >= waiters || task.is_finished() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{what} neither waited nor finished"
        );
        tokio::task::yield_now().await;
    }
}
