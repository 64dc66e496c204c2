//! Passkeys through the real HTTP surface, with webauthn-authenticator-rs's software passkey as
//! the authenticator (code nobody here wrote, on the other side of the ceremony). The test plays
//! the browser: it passes the server's options to the authenticator and the authenticator's
//! answer back, and where it plays an attacker it says so.
//!
//! The software passkey makes no discoverable credentials and puts no user handle in its
//! assertions, so the test does what a browser's platform authenticator does by itself: it
//! names the credential in the sign-in options and adds the account's user handle to the answer
//! (the handle is outside what the authenticator signs, which is why a swapped one must not
//! work: see `a_passkey_of_one_account_cannot_sign_in_as_another`).

use reqwest::StatusCode;
use serde_json::{json, Value};
use webauthn_authenticator_rs::{softpasskey::SoftPasskey, WebauthnAuthenticator};
use webauthn_rs::prelude::{CreationChallengeResponse, RequestChallengeResponse, Url};

use crate::helpers::*;

const REGISTERING: &str = "__Host-cloakroom_webauthn_register";
const SIGNING_IN: &str = "__Host-cloakroom_webauthn_login";

/// A server whose public origin has a domain name (browsers allow no passkeys on an IP).
async fn passkey_app(extra: &[(&str, &str)]) -> TestApp {
    let mut env = vec![("CLOAKROOM_PUBLIC_ORIGIN", "http://localhost:0")];
    env.extend_from_slice(extra);
    spawn_with(&env).await
}

fn origin(app: &TestApp) -> Url {
    Url::parse(&app.state.settings.public_origin).unwrap()
}

fn authenticator() -> WebauthnAuthenticator<SoftPasskey> {
    // `true`: it says the user was verified (a software key has nobody to ask).
    WebauthnAuthenticator::new(SoftPasskey::new(true))
}

/// The ceremony id the answer's `Set-Cookie` names (a registration's or a sign-in's).
fn ceremony_of(res: &reqwest::Response) -> String {
    res.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|c| {
            c.strip_prefix(&format!("{REGISTERING}="))
                .or_else(|| c.strip_prefix(&format!("{SIGNING_IN}=")))
        })
        .map(|c| c.split(';').next().unwrap().to_owned())
        .expect("the answer sets the ceremony cookie")
}

/// A registered passkey, as the test's browser knows it.
struct Registered {
    cred_id: String,
    user_handle: String,
    id: String,
}

/// `POST /api/passkeys/register/start`: the options and this browser's ceremony.
async fn register_start(app: &TestApp, access: &str, body: Value) -> reqwest::Response {
    app.client
        .post(app.url("/api/passkeys/register/start"))
        .bearer_auth(access)
        .json(&body)
        .send()
        .await
        .unwrap()
}

async fn register_finish(
    app: &TestApp,
    access: &str,
    ceremony: &str,
    credential: Value,
) -> reqwest::Response {
    app.client
        .post(app.url("/api/passkeys/register/finish"))
        .bearer_auth(access)
        .header("cookie", format!("{REGISTERING}={ceremony}"))
        .json(&json!({"name": "Laptop", "credential": credential}))
        .send()
        .await
        .unwrap()
}

/// The software passkey's answer to registration `options` for `origin`, as JSON. It cannot keep
/// a resident credential (see the module's comment), so that requirement is taken out first.
fn answer_registration(
    key: &mut WebauthnAuthenticator<SoftPasskey>,
    origin: Url,
    mut options: Value,
) -> Value {
    options["publicKey"]["authenticatorSelection"]["requireResidentKey"] = false.into();
    let options: CreationChallengeResponse = serde_json::from_value(options).unwrap();
    serde_json::to_value(key.do_registration(origin, options).unwrap()).unwrap()
}

/// Adds a passkey to the account of `access` (signed in just now), made by `key`.
async fn register(
    app: &TestApp,
    key: &mut WebauthnAuthenticator<SoftPasskey>,
    access: &str,
) -> Registered {
    let res = register_start(app, access, json!({})).await;
    assert_eq!(res.status(), StatusCode::OK);
    let ceremony = ceremony_of(&res);
    let options: Value = res.json().await.unwrap();
    let user_handle = options["publicKey"]["user"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        options["publicKey"]["authenticatorSelection"]["residentKey"], "required",
        "a discoverable credential is asked for"
    );
    assert_eq!(
        options["publicKey"]["authenticatorSelection"]["userVerification"],
        "required"
    );
    let credential = answer_registration(key, origin(app), options);
    let cred_id = credential["id"].as_str().unwrap().to_owned();
    let res = register_finish(app, access, &ceremony, credential).await;
    assert_eq!(
        res.status(),
        StatusCode::CREATED,
        "{}",
        res.text().await.unwrap()
    );
    let info: Value = res.json().await.unwrap();
    Registered {
        cred_id,
        user_handle,
        id: info["id"].as_str().unwrap().to_owned(),
    }
}

/// `POST /api/auth/passkey/start` from a browser: the options and its ceremony.
async fn login_start(app: &TestApp) -> (Value, String) {
    let res = app
        .client
        .post(app.url("/api/auth/passkey/start"))
        .header("x-requested-with", "cloakroom")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let ceremony = ceremony_of(&res);
    (res.json().await.unwrap(), ceremony)
}

/// The authenticator's answer to sign-in `options` for `origin`, naming `passkey`, with the
/// account's user handle added as a browser's platform authenticator would.
fn assert_with(
    key: &mut WebauthnAuthenticator<SoftPasskey>,
    origin: Url,
    mut options: Value,
    passkey: &Registered,
) -> Value {
    assert_eq!(
        options["publicKey"]["allowCredentials"],
        json!([]),
        "a discoverable sign-in names no credential"
    );
    options["publicKey"]["allowCredentials"] =
        json!([{"type": "public-key", "id": passkey.cred_id}]);
    let options: RequestChallengeResponse = serde_json::from_value(options).unwrap();
    let mut answer = serde_json::to_value(key.do_authentication(origin, options).unwrap()).unwrap();
    answer["response"]["userHandle"] = passkey.user_handle.clone().into();
    answer
}

async fn login_finish(app: &TestApp, ceremony: Option<&str>, answer: &Value) -> reqwest::Response {
    login_finish_with(app, ceremony, answer, None).await
}

async fn login_finish_with(
    app: &TestApp,
    ceremony: Option<&str>,
    answer: &Value,
    dpop: Option<&str>,
) -> reqwest::Response {
    let mut req = app
        .client
        .post(app.url("/api/auth/passkey/finish"))
        .header("x-requested-with", "cloakroom")
        .json(&json!({"credential": answer}));
    if let Some(c) = ceremony {
        req = req.header("cookie", format!("{SIGNING_IN}={c}"));
    }
    if let Some(p) = dpop {
        req = req.header("dpop", p);
    }
    req.send().await.unwrap()
}

/// A whole sign-in with `passkey`; the answer.
async fn sign_in(
    app: &TestApp,
    key: &mut WebauthnAuthenticator<SoftPasskey>,
    passkey: &Registered,
) -> reqwest::Response {
    let (options, ceremony) = login_start(app).await;
    let answer = assert_with(key, origin(app), options, passkey);
    login_finish(app, Some(&ceremony), &answer).await
}

async fn event_kinds(app: &TestApp, user_id: &str) -> Vec<String> {
    cloakroom::store::events::recent(
        &app.state.db,
        cloakroom::store::events::Filter {
            user_id: Some(user_id),
            ..Default::default()
        },
        100,
    )
    .await
    .unwrap()
    .into_iter()
    .map(|e| e.kind)
    .collect()
}

#[tokio::test]
async fn a_passkey_signs_in_with_no_username_into_the_session_a_password_gives() {
    let app = passkey_app(&[]).await;
    let (name, login) = app.new_user().await;
    let mut key = authenticator();
    let passkey = register(&app, &mut key, &login.access).await;

    let res = sign_in(&app, &mut key, &passkey).await;
    assert_eq!(res.status(), StatusCode::OK);
    let (refresh, _) = refresh_cookie(res.headers()).expect("a refresh cookie, as a login sets");
    let cookies: Vec<_> = res.headers().get_all("set-cookie").iter().collect();
    assert!(
        cookies
            .iter()
            .any(|c| c.to_str().unwrap().starts_with("__Host-cloakroom_device=")),
        "a device cookie, as a login sets"
    );
    assert!(
        cookies
            .iter()
            .any(|c| c.to_str().unwrap().starts_with(&format!("{SIGNING_IN}=;"))),
        "the spent ceremony's cookie is removed"
    );
    let tokens: api_types::TokenResponse = res.json().await.unwrap();
    let me: Value = app
        .get_auth("/api/me", &tokens.access_token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["username"], name.to_lowercase());
    // The refresh cookie rotates like any other.
    assert_eq!(app.refresh_raw(&refresh).await.status(), StatusCode::OK);

    let list: Value = app
        .get_auth("/api/passkeys", &login.access)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list[0]["id"], passkey.id.as_str());
    assert_eq!(list[0]["name"], "Laptop");
    assert!(list[0]["last_used_at"].is_string(), "{list}");
    let kinds = event_kinds(&app, me["id"].as_str().unwrap()).await;
    assert!(kinds.contains(&"passkey_added".to_owned()), "{kinds:?}");
    assert!(kinds.contains(&"passkey_used".to_owned()), "{kinds:?}");
}

#[tokio::test]
async fn an_answer_made_for_another_origin_or_site_is_refused() {
    let app = passkey_app(&[]).await;
    let (_, login) = app.new_user().await;
    let mut key = authenticator();
    let passkey = register(&app, &mut key, &login.access).await;

    // A phishing page at another origin of the same name (another port) relays our challenge.
    let (options, ceremony) = login_start(&app).await;
    let mut elsewhere = origin(&app);
    elsewhere.set_port(Some(1)).unwrap();
    let answer = assert_with(&mut key, elsewhere, options, &passkey);
    let res = login_finish(&app, Some(&ceremony), &answer).await;
    assert_eq!(
        assert_problem(res, StatusCode::UNAUTHORIZED).await["type"],
        "/api/problems/passkey-refused"
    );

    // A site with its own RP ID asks the passkey: what it gets is for that site only.
    let (mut options, ceremony) = login_start(&app).await;
    options["publicKey"]["rpId"] = "evil.example".into();
    let answer = assert_with(
        &mut key,
        Url::parse("https://evil.example").unwrap(),
        options,
        &passkey,
    );
    assert_problem(
        login_finish(&app, Some(&ceremony), &answer).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    // And the right answer still works: nothing above spent more than its own ceremony.
    assert_eq!(
        sign_in(&app, &mut key, &passkey).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_replayed_answer_and_a_spent_or_expired_challenge_are_refused() {
    let app = passkey_app(&[]).await;
    let (_, login) = app.new_user().await;
    let mut key = authenticator();
    let passkey = register(&app, &mut key, &login.access).await;

    let (options, ceremony) = login_start(&app).await;
    let answer = assert_with(&mut key, origin(&app), options.clone(), &passkey);
    assert_eq!(
        login_finish(&app, Some(&ceremony), &answer).await.status(),
        StatusCode::OK
    );
    // The same answer again (a captured request replayed): its ceremony is spent.
    assert_problem(
        login_finish(&app, Some(&ceremony), &answer).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    // A new answer to the same challenge (signed again, so its signature counter is higher and
    // only the challenge's single use stands in the way): refused.
    let again = assert_with(&mut key, origin(&app), options, &passkey);
    assert_problem(
        login_finish(&app, Some(&ceremony), &again).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;

    // A challenge answered after it expired.
    let (options, ceremony) = login_start(&app).await;
    let answer = assert_with(&mut key, origin(&app), options, &passkey);
    app.state
        .clock
        .advance(cloakroom::auth::passkeys::CEREMONY_SECS + 1);
    assert_problem(
        login_finish(&app, Some(&ceremony), &answer).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    // Refused answers spent nothing else: a fresh ceremony works.
    assert_eq!(
        sign_in(&app, &mut key, &passkey).await.status(),
        StatusCode::OK
    );

    // A registration answered after its ceremony expired (signed in again meanwhile, so only
    // the ceremony's age stands in the way).
    let (name, login) = app.new_user().await;
    let res = register_start(&app, &login.access, json!({})).await;
    let ceremony = ceremony_of(&res);
    let options: Value = res.json().await.unwrap();
    let credential = answer_registration(&mut authenticator(), origin(&app), options);
    app.state
        .clock
        .advance(cloakroom::auth::passkeys::CEREMONY_SECS + 1);
    let fresh = app.login(&name).await;
    let res = register_finish(&app, &fresh.access, &ceremony, credential).await;
    let p = assert_problem(res, StatusCode::FORBIDDEN).await;
    assert!(p["detail"].as_str().unwrap().contains("expired"), "{p}");
}

#[tokio::test]
async fn a_challenge_begun_in_one_browser_cannot_be_finished_in_another() {
    let app = passkey_app(&[]).await;
    let (_, login) = app.new_user().await;
    let mut key = authenticator();
    let passkey = register(&app, &mut key, &login.access).await;
    // The attacker's page starts a sign-in and gets the victim to answer its challenge (the
    // options relayed): the answer, sent from a browser without the ceremony's cookie, or with
    // a ceremony of its own, is refused.
    let (options, _victims_ceremony) = login_start(&app).await;
    let answer = assert_with(&mut key, origin(&app), options, &passkey);
    assert_problem(
        login_finish(&app, None, &answer).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    let (_, attackers_ceremony) = login_start(&app).await;
    assert_problem(
        login_finish(&app, Some(&attackers_ceremony), &answer).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;

    // A registration's ceremony is the account's: another account cannot finish it.
    let (_, other) = app.new_user().await;
    let res = register_start(&app, &login.access, json!({})).await;
    let ceremony = ceremony_of(&res);
    let options: Value = res.json().await.unwrap();
    let credential = answer_registration(&mut authenticator(), origin(&app), options);
    let res = register_finish(&app, &other.access, &ceremony, credential).await;
    assert_problem(res, StatusCode::FORBIDDEN).await;
    let list: Value = app
        .get_auth("/api/passkeys", &other.access)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list, json!([]));
}

#[tokio::test]
async fn a_passkey_of_one_account_cannot_sign_in_as_another() {
    let app = passkey_app(&[]).await;
    let (_, alice) = app.new_user().await;
    let (bob_name, bob) = app.new_user().await;
    let mut alices_key = authenticator();
    let alices = register(&app, &mut alices_key, &alice.access).await;
    let bobs = register(&app, &mut authenticator(), &bob.access).await;
    // Alice's passkey answers, with Bob's user handle put in its answer (outside what the
    // authenticator signs): Bob's passkeys do not include Alice's credential.
    let (options, ceremony) = login_start(&app).await;
    let mut answer = assert_with(&mut alices_key, origin(&app), options, &alices);
    answer["response"]["userHandle"] = bobs.user_handle.clone().into();
    let res = login_finish(&app, Some(&ceremony), &answer).await;
    assert_problem(res, StatusCode::UNAUTHORIZED).await;
    let _ = bob_name;
}

#[tokio::test]
async fn a_signature_counter_that_goes_backwards_is_refused_and_recorded() {
    let app = passkey_app(&[]).await;
    let (_, login) = app.new_user().await;
    let mut key = authenticator();
    let passkey = register(&app, &mut key, &login.access).await;
    // Two sign-ins begun (two browsers), answered in turn: the first answer carries the lower
    // counter. The second is sent first; then the first arrives, as an answer of a cloned
    // authenticator whose counter lags would.
    let (first_options, first) = login_start(&app).await;
    let (second_options, second) = login_start(&app).await;
    let earlier = assert_with(&mut key, origin(&app), first_options, &passkey);
    let later = assert_with(&mut key, origin(&app), second_options, &passkey);
    assert_eq!(
        login_finish(&app, Some(&second), &later).await.status(),
        StatusCode::OK
    );
    let res = login_finish(&app, Some(&first), &earlier).await;
    let problem = assert_problem(res, StatusCode::UNAUTHORIZED).await;
    assert!(
        problem["detail"].as_str().unwrap().contains("counter"),
        "{problem}"
    );
    let me: Value = app
        .get_auth("/api/me", &login.access)
        .await
        .json()
        .await
        .unwrap();
    let kinds = event_kinds(&app, me["id"].as_str().unwrap()).await;
    assert!(
        kinds.contains(&"passkey_counter_regressed".to_owned()),
        "{kinds:?}"
    );
    // Which copy is the owner's cannot be told: the passkey is gone, for the higher counter too.
    assert_problem(
        sign_in(&app, &mut key, &passkey).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    let list: Value = app
        .get_auth("/api/passkeys", &login.access)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list, json!([]));
}

#[tokio::test]
async fn a_deleted_passkey_stops_signing_in_at_once_and_renaming_is_the_owners() {
    let app = passkey_app(&[]).await;
    let (_, login) = app.new_user().await;
    let (_, other) = app.new_user().await;
    let mut key = authenticator();
    let passkey = register(&app, &mut key, &login.access).await;
    let path = format!("/api/passkeys/{}", passkey.id);
    // Another account can neither rename nor delete it.
    let res = app
        .client
        .patch(app.url(&path))
        .bearer_auth(&other.access)
        .json(&json!({"name": "mine now"}))
        .send()
        .await
        .unwrap();
    assert_problem(res, StatusCode::NOT_FOUND).await;
    let res = app
        .client
        .delete(app.url(&path))
        .bearer_auth(&other.access)
        .send()
        .await
        .unwrap();
    assert_problem(res, StatusCode::NOT_FOUND).await;
    let res = app
        .client
        .patch(app.url(&path))
        .bearer_auth(&login.access)
        .json(&json!({"name": "  Phone  "}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.json::<Value>().await.unwrap()["name"], "Phone");

    // The owner deletes it while a sign-in with it is under way: that sign-in fails.
    let (options, ceremony) = login_start(&app).await;
    let answer = assert_with(&mut key, origin(&app), options, &passkey);
    let res = app
        .client
        .delete(app.url(&path))
        .bearer_auth(&login.access)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_problem(
        login_finish(&app, Some(&ceremony), &answer).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
}

#[tokio::test]
async fn adding_a_passkey_needs_a_recent_sign_in_or_the_password() {
    let app = passkey_app(&[]).await;
    let (_, login) = app.new_user().await;
    // A session left open (a borrowed, unlocked laptop) an hour later: its token is fresh (a
    // refresh), its sign-in is not.
    app.state.clock.advance(3600);
    let res = app.refresh_raw(&login.refresh).await;
    let access = res
        .json::<api_types::TokenResponse>()
        .await
        .unwrap()
        .access_token;
    let res = register_start(&app, &access, json!({})).await;
    assert_eq!(
        assert_problem(res, StatusCode::FORBIDDEN).await["type"],
        "/api/problems/wrong-password"
    );
    let res = register_start(
        &app,
        &access,
        json!({"current_password": "not the password"}),
    )
    .await;
    assert_problem(res, StatusCode::FORBIDDEN).await;
    let res = register_start(&app, &access, json!({"current_password": PASSWORD})).await;
    assert_eq!(res.status(), StatusCode::OK);
}

#[tokio::test]
async fn passkey_sign_ins_count_against_the_per_address_budget() {
    let app = passkey_app(&[("CLOAKROOM_AUTH_RATE_PER_MINUTE", "4")]).await;
    // Signing up and logging in take two units; each passkey sign-in one more, at its start
    // (its finish takes none: one sign-in, one unit). Two sign-ins fill the budget of four.
    let (_, login) = app.new_user().await;
    let mut key = authenticator();
    let passkey = register(&app, &mut key, &login.access).await;
    for _ in 0..2 {
        assert_eq!(
            sign_in(&app, &mut key, &passkey).await.status(),
            StatusCode::OK
        );
    }
    let res = app
        .client
        .post(app.url("/api/auth/passkey/start"))
        .header("x-requested-with", "cloakroom")
        .send()
        .await
        .unwrap();
    assert_problem(res, StatusCode::TOO_MANY_REQUESTS).await;
}

#[tokio::test]
async fn passkeys_are_off_where_browsers_allow_none() {
    // The default test origin is an IP address.
    let app = spawn_app().await;
    let res = app
        .client
        .post(app.url("/api/auth/passkey/start"))
        .header("x-requested-with", "cloakroom")
        .send()
        .await
        .unwrap();
    let problem = assert_problem(res, StatusCode::NOT_FOUND).await;
    assert!(problem["detail"].as_str().unwrap().contains("domain name"));
}

#[tokio::test]
#[ignore = "needs PostgreSQL: `make pg` runs it"]
async fn a_ceremony_begun_on_one_instance_finishes_on_the_other_and_a_deletion_reaches_both() {
    crate::scale_out::require_postgres();
    // Two instances of one service behind one name (https, as browsers require of a name that
    // is not localhost), on one database.
    let dir = std::sync::Arc::new(tempfile::TempDir::new().unwrap());
    let env = [("CLOAKROOM_PUBLIC_ORIGIN", "https://cloakroom.test")];
    let a = spawn_in(dir.clone(), &env).await;
    let b = spawn_in(dir, &env).await;
    let (_, login) = a.new_user().await;
    let mut key = authenticator();
    // Registration begun on A, finished on B.
    let res = register_start(&a, &login.access, json!({})).await;
    let ceremony = ceremony_of(&res);
    let options: Value = res.json().await.unwrap();
    let user_handle = options["publicKey"]["user"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let credential = answer_registration(&mut key, origin(&a), options);
    let cred_id = credential["id"].as_str().unwrap().to_owned();
    let res = register_finish(&b, &login.access, &ceremony, credential).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let id = res.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let passkey = Registered {
        cred_id,
        user_handle,
        id,
    };
    // A sign-in begun on B, finished on A.
    let (options, ceremony) = login_start(&b).await;
    let answer = assert_with(&mut key, origin(&b), options, &passkey);
    assert_eq!(
        login_finish(&a, Some(&ceremony), &answer).await.status(),
        StatusCode::OK
    );
    // Deleted on A: the next sign-in on B fails.
    let res = a
        .client
        .delete(a.url(&format!("/api/passkeys/{}", passkey.id)))
        .bearer_auth(&login.access)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let res = sign_in(&b, &mut key, &passkey).await;
    assert_problem(res, StatusCode::UNAUTHORIZED).await;
}

#[tokio::test]
async fn a_password_change_removes_every_passkey_so_a_planted_one_dies_with_it() {
    let app = passkey_app(&[]).await;
    let (name, login) = app.new_user().await;
    // Within minutes of the owner's sign-in, whoever holds the session (a script in the page,
    // someone at the keyboard) adds a passkey of their own.
    let mut planted = authenticator();
    let passkey = register(&app, &mut planted, &login.access).await;
    // The owner changes the password to shut everyone out.
    let res = app
        .client
        .post(app.url("/api/account/password"))
        .bearer_auth(&login.access)
        .header("x-requested-with", "cloakroom")
        .json(&json!({"current_password": PASSWORD, "new_password": "a brand new passphrase 42"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let fresh = res
        .json::<api_types::TokenResponse>()
        .await
        .unwrap()
        .access_token;
    assert_problem(
        sign_in(&app, &mut planted, &passkey).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    let list: Value = app
        .get_auth("/api/passkeys", &fresh)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        list,
        json!([]),
        "{name}'s passkeys went with the old password"
    );
}

#[tokio::test]
async fn an_account_has_one_registration_open_and_at_most_twenty_passkeys() {
    let app = passkey_app(&[]).await;
    let (_, login) = app.new_user().await;
    // Two registrations begun: only the later one can be finished.
    let first = register_start(&app, &login.access, json!({})).await;
    let first_ceremony = ceremony_of(&first);
    let options: Value = first.json().await.unwrap();
    let answer = answer_registration(&mut authenticator(), origin(&app), options);
    let mut key = authenticator();
    register(&app, &mut key, &login.access).await;
    let res = register_finish(&app, &login.access, &first_ceremony, answer).await;
    assert_problem(res, StatusCode::FORBIDDEN).await;
    for _ in 1..cloakroom::auth::passkeys::PASSKEYS_MAX {
        register(&app, &mut authenticator(), &login.access).await;
    }
    let res = register_start(&app, &login.access, json!({})).await;
    assert_problem(res, StatusCode::CONFLICT).await;
}

#[tokio::test]
async fn a_passkey_sign_in_binds_its_token_and_a_replayed_proof_spends_nothing() {
    let app = passkey_app(&[]).await;
    let (_, login) = app.new_user().await;
    let mut passkey_key = authenticator();
    let passkey = register(&app, &mut passkey_key, &login.access).await;
    let dpop = crate::dpop::Key::ed();
    let url = format!(
        "{}/api/auth/passkey/finish",
        app.state.settings.public_origin
    );
    let proof = dpop.proof("POST", &url, app.state.clock.now(), None);

    let (options, ceremony) = login_start(&app).await;
    let answer = assert_with(&mut passkey_key, origin(&app), options, &passkey);
    let res = login_finish_with(&app, Some(&ceremony), &answer, Some(&proof)).await;
    assert_eq!(res.status(), StatusCode::OK);
    let tokens: api_types::TokenResponse = res.json().await.unwrap();
    assert_eq!(tokens.token_type, "DPoP");
    // Without its key, the bound token opens nothing.
    assert_eq!(
        app.me_status(&tokens.access_token).await,
        StatusCode::UNAUTHORIZED
    );

    // The same proof on the next sign-in: refused before the ceremony is touched, which the
    // same answer then finishes with a fresh proof.
    let (options, ceremony) = login_start(&app).await;
    let answer = assert_with(&mut passkey_key, origin(&app), options, &passkey);
    let res = login_finish_with(&app, Some(&ceremony), &answer, Some(&proof)).await;
    assert_eq!(
        assert_problem(res, StatusCode::UNAUTHORIZED).await["type"],
        "/api/problems/invalid-dpop-proof"
    );
    let fresh = dpop.proof("POST", &url, app.state.clock.now(), None);
    let res = login_finish_with(&app, Some(&ceremony), &answer, Some(&fresh)).await;
    assert_eq!(res.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_sign_in_begun_in_one_tab_leaves_a_registration_under_way_in_another() {
    // A browser's cookie jar this time (plain-http cookies, so the jar keeps them over http).
    let app = passkey_app(&[("CLOAKROOM_DEV_INSECURE_COOKIES", "true")]).await;
    let (_, login) = app.new_user().await;
    let browser = reqwest::Client::builder()
        .cookie_store(true)
        .build()
        .unwrap();
    // The account page begins a registration…
    let res = browser
        .post(app.url("/api/passkeys/register/start"))
        .bearer_auth(&login.access)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    let options: Value = res.json().await.unwrap();
    // …the login page, in another tab of the same browser, begins a sign-in…
    let res = browser
        .post(app.url("/api/auth/passkey/start"))
        .header("x-requested-with", "cloakroom")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    // …and the registration still finishes: the two ceremonies have cookies of their own.
    let answer = answer_registration(&mut authenticator(), origin(&app), options);
    let res = browser
        .post(app.url("/api/passkeys/register/finish"))
        .bearer_auth(&login.access)
        .json(&json!({"name": "Laptop", "credential": answer}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.status(),
        StatusCode::CREATED,
        "{}",
        res.text().await.unwrap()
    );
}
