//! `Auth`: the one place the access token lives — a Rust value in this wasm module's memory.
//! It is never written to localStorage, sessionStorage, IndexedDB or a cookie: a page reload
//! forgets it, and the silent refresh (the HttpOnly cookie the server set) brings a new one.
//!
//! Refreshes are single-flight within a tab and serialized across tabs with the Web Locks API,
//! so tabs never race each other into the server's reuse detection; a BroadcastChannel tells
//! other tabs about login, logout and refreshes.

pub mod jwt;
pub mod schedule;
pub mod single_flight;
mod tabs;

use std::future::Future;

use api_types::{ProblemType, TokenResponse, ADMIN_ROLE};
use leptos::prelude::*;

use crate::api::{self, ApiError};
use single_flight::SingleFlight;

/// An authenticated session as this tab knows it.
#[derive(Clone, Debug, PartialEq)]
pub struct Session {
    pub token: String,
    pub decoded: Option<Box<jwt::Decoded>>,
    /// When this tab received the token (ms since epoch, browser clock).
    pub issued_ms: f64,
    pub lifetime_secs: u64,
}

impl Session {
    pub fn username(&self) -> String {
        self.decoded
            .as_ref()
            .and_then(|d| d.claims.preferred_username.clone())
            .unwrap_or_default()
    }
    /// Whether the token grants the admin role. For what to show only: the server checks the
    /// role on every admin call.
    /// The account the token speaks for (its `sub`), if it could be read.
    pub fn account_id(&self) -> Option<String> {
        self.decoded.as_ref().and_then(|d| d.claims.sub.clone())
    }
    pub fn is_admin(&self) -> bool {
        self.decoded
            .as_ref()
            .is_some_and(|d| d.claims.roles.iter().any(|r| r == ADMIN_ROLE))
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum Status {
    /// The silent refresh on page load has not answered yet.
    Checking,
    LoggedIn(Session),
    /// `message` says why, when the user should be told (revoked, expired, logged out elsewhere).
    LoggedOut {
        message: Option<String>,
        /// The session ended under an open page (expired, revoked, refused): the page may stay
        /// behind an in-place login (`components::guard`). False for a logout someone chose
        /// (here or in another tab) or a deleted account: then the page goes.
        relogin: bool,
    },
}

/// Why a refresh ran: shown in the inspector's timeline.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RefreshReason {
    OnLoad,
    Proactive,
    After401,
    /// A request found no token in memory (none yet, or the last refresh failed).
    NoToken,
    TabVisible,
    OtherTabLogin,
}

impl RefreshReason {
    pub fn label(self) -> &'static str {
        match self {
            RefreshReason::OnLoad => "silent, on page load",
            RefreshReason::Proactive => "proactive, before expiry",
            RefreshReason::After401 => "after a 401",
            RefreshReason::NoToken => "a request needed a token and none was in memory",
            RefreshReason::TabVisible => "tab became visible",
            RefreshReason::OtherTabLogin => "another tab logged in",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct RefreshEvent {
    pub at_ms: f64,
    pub what: String,
    pub ok: bool,
}

/// Reactive handle on the auth state; `Copy`, so any component or task can hold it. `App`
/// creates the one the app uses and provides it as context ([`use_auth`]).
#[derive(Clone, Copy)]
pub struct Auth {
    pub status: RwSignal<Status>,
    pub events: RwSignal<Vec<RefreshEvent>>,
}

thread_local! {
    // The refresh in flight in this tab, which every caller joins. A per-document slot rather
    // than a field of `Auth`: `Auth` is plain `Copy` signals, and this is not reactive state,
    // only a handle on a running future that callbacks outside any component must reach.
    static FLIGHT: SingleFlight<Result<String, ApiError>> = SingleFlight::default();
}

/// How many refresh events the inspector's timeline keeps; the oldest go first.
const EVENTS_KEPT: usize = 50;

fn keep_last<T>(v: &mut Vec<T>, item: T) {
    v.push(item);
    if v.len() > EVENTS_KEPT {
        v.remove(0);
    }
}

pub fn now_ms() -> f64 {
    js_sys::Date::now()
}

/// The app's [`Auth`], provided as context at the root. For components, while they are being
/// built; a task or callback that runs later captures the handle by value instead.
pub fn use_auth() -> Auth {
    // Not `expect_context`: its panic message formats the caller's location and the type's
    // name with `Debug`, machinery the client otherwise does without.
    use_context().expect("App provides Auth before rendering anything")
}

impl Auth {
    /// Creates the state, wires the other-tab channel and visibility handling, and starts the
    /// silent refresh that logs a returning user in without showing the login page.
    pub fn init() -> Auth {
        let a = Auth {
            status: RwSignal::new(Status::Checking),
            events: RwSignal::new(Vec::new()),
        };
        tabs::listen(a);
        leptos::task::spawn_local(async move {
            let _ = a.refresh(RefreshReason::OnLoad).await;
        });
        a
    }

    /// The in-memory access token, if logged in.
    pub fn token(&self) -> Option<String> {
        self.status.with_untracked(|s| match s {
            Status::LoggedIn(sess) => Some(sess.token.clone()),
            _ => None,
        })
    }

    /// Why the user is logged out, when they should be told (tracked: for views).
    pub fn logged_out_message(&self) -> Option<String> {
        self.status.with(|s| match s {
            Status::LoggedOut { message, .. } => message.clone(),
            _ => None,
        })
    }

    /// Whether the session holds the admin role (tracked: for memos and views).
    pub fn is_admin(&self) -> bool {
        self.status
            .with(|s| matches!(s, Status::LoggedIn(sess) if sess.is_admin()))
    }

    pub fn record(&self, what: impl Into<String>, ok: bool) {
        let ev = RefreshEvent {
            at_ms: now_ms(),
            what: what.into(),
            ok,
        };
        self.events.update(|v| keep_last(v, ev));
    }

    /// Takes a token answer from login or refresh into memory and schedules its refresh.
    pub fn accept(&self, t: TokenResponse) -> String {
        let session = Session {
            decoded: jwt::decode(&t.access_token).map(Box::new),
            token: t.access_token.clone(),
            issued_ms: now_ms(),
            lifetime_secs: t.expires_in,
        };
        tabs::schedule_refresh(*self, &session);
        self.status.set(Status::LoggedIn(session));
        t.access_token
    }

    /// The account is gone (deleted here): this tab forgets the token, and every other tab,
    /// sharing the now cleared cookie, is told the session ended.
    pub fn account_gone(&self, message: String) {
        self.signed_out(message);
        // A logout to the other tabs, not an ended session: they go to the login page rather
        // than keep their page behind a dialog asking the password of an account that is gone.
        tabs::announce(tabs::Message::Logout);
    }

    /// Forgets the token (and the refresh timer): the session ended under the page.
    pub fn drop_session(&self, message: Option<String>) {
        tabs::cancel_refresh();
        self.status.set(Status::LoggedOut {
            message,
            relogin: true,
        });
    }

    /// Forgets the token because someone chose to end the session (a logout, here or in
    /// another tab, or the account's deletion): no page stays behind for a re-login, since
    /// what it shows is what the user meant to put away.
    pub fn signed_out(&self, message: String) {
        tabs::cancel_refresh();
        self.status.set(Status::LoggedOut {
            message: Some(message),
            relogin: false,
        });
    }

    /// Gets a fresh access token with the refresh cookie. Concurrent calls in this tab share
    /// one request; across tabs, the request runs under a Web Lock. The error is what an API
    /// call that needed the token fails with: a 401 when the server refused the cookie (the
    /// session is over), a network error when there was no usable answer (the session may be
    /// fine: it is kept, and the caller may retry).
    pub async fn refresh(&self, reason: RefreshReason) -> Result<String, ApiError> {
        let me = *self;
        FLIGHT
            .with(|f| f.clone())
            .run(move || async move { tabs::with_refresh_lock(move || me.refresh_now(reason)).await })
            .await
    }

    async fn refresh_now(self, reason: RefreshReason) -> Result<String, ApiError> {
        let e = match api::refresh().await {
            Ok(body) => {
                // The server's word on what the presented cookie was: a plain rotation, or a
                // repeat it answered without treating it as theft (shown in the inspector's
                // timeline).
                let what = match body.rotation.as_deref() {
                    None | Some("rotated") => reason.label().to_owned(),
                    Some(code) => format!("{}: {code}", reason.label()),
                };
                let token = self.accept(body);
                self.record(what, true);
                tabs::announce(tabs::Message::Refreshed);
                return Ok(token);
            }
            Err(e) => e,
        };
        match e.status {
            0 => {
                self.record(format!("{}: network error", reason.label()), false);
                if reason == RefreshReason::OnLoad {
                    self.drop_session(Some(
                        "Could not reach the server. Check your connection and reload.".into(),
                    ));
                }
                Err(e)
            }
            401 | 403 => {
                let was_logged_in = self.token().is_some();
                let ended = format!("Your session has ended: {}", e.message);
                // A first visit with no cookie is not news; anything else the user should read.
                let first_visit =
                    reason == RefreshReason::OnLoad && e.kind == Some(ProblemType::NoRefreshCookie);
                // The timeline keeps the server's words; the user reads the sentence.
                let said = e.detail.as_deref().unwrap_or(&e.message);
                let what = if first_visit {
                    format!("{}: not logged in ({said})", reason.label())
                } else {
                    format!("{}: refused ({said})", reason.label())
                };
                self.record(what, first_visit);
                self.drop_session((!first_visit).then(|| ended.clone()));
                if was_logged_in {
                    // Every tab shares the cookie, so the session is over for all of them.
                    tabs::announce(tabs::Message::Ended);
                }
                Err(ApiError {
                    status: 401,
                    kind: e.kind,
                    message: ended,
                    detail: e.detail,
                    retry_after: None,
                })
            }
            // A success status whose body was not a token answer.
            200..=299 => Err(e),
            status => {
                self.record(format!("{}: server error {status}", reason.label()), false);
                if reason == RefreshReason::OnLoad {
                    self.drop_session(Some(format!(
                        "The server is unavailable ({status}). Try again shortly."
                    )));
                }
                Err(ApiError::network(format!("server answered {status}")))
            }
        }
    }

    /// Logs this browser out: ends the session server-side, forgets the token, tells the
    /// other tabs. Only a 204 from the server means the session is over: on a network error or
    /// any other answer the session lives on, so this tab stays logged in and says so (telling
    /// the user "you have been logged out" then would be a lie about a live session).
    pub async fn logout(&self) -> Result<(), String> {
        match crate::prefs::keeping_theme(api::logout(self.token().as_deref())).await {
            Ok(()) => {
                self.signed_out("You have been logged out.".into());
                tabs::announce(tabs::Message::Logout);
                Ok(())
            }
            Err(e) if e.status == 0 => Err(
                "Logging out failed: the server could not be reached. You are still logged in; try again."
                    .into(),
            ),
            Err(e) => Err(format!(
                "Logging out failed: the server answered {}. You are still logged in here and on the server; try again.",
                e.status
            )),
        }
    }

    /// After a successful login in this tab.
    pub fn logged_in(&self, t: TokenResponse) {
        self.accept(t);
        self.record("login", true);
        tabs::announce(tabs::Message::Login);
    }
}

/// What the API client asks of the session: the token in memory, and a refresh when there is
/// none or the server refused it.
impl api::Credentials for Auth {
    fn token(&self) -> Option<String> {
        Auth::token(self)
    }

    fn refresh(&self, why: api::Need) -> impl Future<Output = Result<String, ApiError>> {
        Auth::refresh(
            self,
            match why {
                api::Need::Missing => RefreshReason::NoToken,
                api::Need::Refused => RefreshReason::After401,
            },
        )
    }

    fn same_holder(&self, a: &str, b: &str) -> bool {
        let sub = |t| jwt::decode(t).and_then(|d| d.claims.sub);
        sub(a) == sub(b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(roles: &[&str]) -> Session {
        let claims = jwt::Claims {
            sub: Some("u1".into()),
            preferred_username: Some("alice".into()),
            exp: None,
            iat: None,
            roles: roles.iter().map(|r| r.to_string()).collect(),
            cnf: None,
        };
        let header = jwt::Header {
            alg: Some("EdDSA".into()),
            kid: None,
            typ: None,
        };
        Session {
            token: "t".into(),
            decoded: Some(Box::new(jwt::Decoded {
                header_json: String::new(),
                claims_json: String::new(),
                header,
                claims,
            })),
            issued_ms: 0.0,
            lifetime_secs: 300,
        }
    }

    #[test]
    fn admin_is_the_shared_role_name_only() {
        assert!(session(&["user", ADMIN_ROLE]).is_admin());
        assert!(!session(&["user"]).is_admin());
        assert!(!session(&["Admin", "administrator"]).is_admin());
        let undecodable = Session {
            decoded: None,
            ..session(&[ADMIN_ROLE])
        };
        assert!(!undecodable.is_admin(), "an unreadable token shows nothing");
    }

    /// What the pages read from the session (the token to send, the name and role to show, the
    /// reason a logout gives) follows the status and nothing else. Signals run on the host;
    /// the rest of `Auth` is the browser's (fetch, timers, BroadcastChannel): Playwright's.
    #[test]
    fn the_session_read_back_follows_the_status() {
        let a = Auth {
            status: RwSignal::new(Status::Checking),
            events: RwSignal::new(Vec::new()),
        };
        assert_eq!(
            (a.token(), a.logged_out_message(), a.is_admin()),
            (None, None, false)
        );
        a.status.set(Status::LoggedIn(session(&[ADMIN_ROLE])));
        assert_eq!(a.token().as_deref(), Some("t"));
        assert_eq!((a.logged_out_message(), a.is_admin()), (None, true));
        a.status.set(Status::LoggedIn(session(&["user"])));
        assert!(!a.is_admin());
        assert_eq!(session(&[]).username(), "alice");
        assert_eq!(session(&[]).account_id().as_deref(), Some("u1"));
        let nameless = Session {
            decoded: None,
            ..session(&[])
        };
        assert_eq!(
            (nameless.username(), nameless.account_id()),
            (String::new(), None)
        );
        a.status.set(Status::LoggedOut {
            message: Some("Your session has ended.".into()),
            relogin: true,
        });
        assert_eq!(a.token(), None);
        assert_eq!(
            a.logged_out_message().as_deref(),
            Some("Your session has ended.")
        );
        assert!(!a.is_admin());
    }

    /// The timeline keeps exactly its last fifty events, dropping the oldest first.
    #[test]
    fn the_timeline_keeps_the_last_fifty_events() {
        let mut v = Vec::new();
        for i in 0..EVENTS_KEPT {
            keep_last(&mut v, i);
        }
        assert_eq!(v.len(), EVENTS_KEPT, "a full timeline has dropped nothing");
        keep_last(&mut v, EVENTS_KEPT);
        assert_eq!(
            (v.len(), v[0], v[EVENTS_KEPT - 1]),
            (EVENTS_KEPT, 1, EVENTS_KEPT)
        );
    }

    /// The timeline's words for each reason: distinct, and each says why in words.
    #[test]
    fn each_refresh_reason_has_its_own_words() {
        use RefreshReason as R;
        let all = [
            R::OnLoad,
            R::Proactive,
            R::After401,
            R::NoToken,
            R::TabVisible,
            R::OtherTabLogin,
        ];
        let labels: std::collections::HashSet<_> = all.iter().map(|r| r.label()).collect();
        assert_eq!(labels.len(), all.len());
        assert_eq!(R::After401.label(), "after a 401");
        assert!(
            labels.iter().all(|l| l.len() > 8 && l.contains(' ')),
            "{labels:?}"
        );
    }
}
