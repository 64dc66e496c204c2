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

use std::cell::RefCell;

use api_types::{TokenResponse, CSRF_HEADER, CSRF_HEADER_VALUE};
use leptos::prelude::*;

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
    pub fn expires_ms(&self) -> f64 {
        self.issued_ms + self.lifetime_secs as f64 * 1000.0
    }
    pub fn username(&self) -> String {
        self.decoded
            .as_ref()
            .and_then(|d| d.claims.preferred_username.clone())
            .unwrap_or_default()
    }
    pub fn roles(&self) -> Vec<String> {
        self.decoded
            .as_ref()
            .map(|d| d.claims.roles.clone())
            .unwrap_or_default()
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

/// Why a refresh did not produce a token.
#[derive(Clone, Debug, PartialEq)]
pub enum RefreshError {
    /// The server refused the cookie (none, expired, revoked, reused): the session is over.
    Rejected(String),
    /// No answer (network, 5xx): the session may be fine; keep it and let the caller retry.
    Unavailable(String),
}

impl RefreshError {
    pub fn message(&self) -> &str {
        match self {
            RefreshError::Rejected(m) | RefreshError::Unavailable(m) => m,
        }
    }
}

/// Reactive handle on the auth state; `Copy`, so any component or task can hold it.
#[derive(Clone, Copy)]
pub struct Auth {
    pub status: RwSignal<Status>,
    pub events: RwSignal<Vec<RefreshEvent>>,
}

thread_local! {
    static AUTH: RefCell<Option<Auth>> = const { RefCell::new(None) };
    static FLIGHT: SingleFlight<Result<String, RefreshError>> = SingleFlight::default();
}

pub fn now_ms() -> f64 {
    js_sys::Date::now()
}

/// The app-wide auth handle (created by `Auth::init`).
pub fn auth() -> Auth {
    AUTH.with(|a| {
        a.borrow()
            .expect("Auth::init runs before anything uses auth()")
    })
}

impl Auth {
    /// Creates the state, wires the other-tab channel and visibility handling, and starts the
    /// silent refresh that logs a returning user in without showing the login page.
    pub fn init() -> Auth {
        let a = Auth {
            status: RwSignal::new(Status::Checking),
            events: RwSignal::new(Vec::new()),
        };
        AUTH.with(|s| *s.borrow_mut() = Some(a));
        tabs::listen();
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

    pub fn record(&self, what: impl Into<String>, ok: bool) {
        let ev = RefreshEvent {
            at_ms: now_ms(),
            what: what.into(),
            ok,
        };
        self.events.update(|v| {
            v.push(ev);
            if v.len() > 50 {
                v.remove(0);
            }
        });
    }

    /// Takes a token answer from login or refresh into memory and schedules its refresh.
    pub fn accept(&self, t: TokenResponse) -> String {
        let session = Session {
            decoded: jwt::decode(&t.access_token).map(Box::new),
            token: t.access_token.clone(),
            issued_ms: now_ms(),
            lifetime_secs: t.expires_in,
        };
        tabs::schedule_refresh(&session);
        self.status.set(Status::LoggedIn(session));
        t.access_token
    }

    /// Forgets the token (and the refresh timer).
    pub fn drop_session(&self, message: Option<String>) {
        tabs::cancel_refresh();
        self.status.set(Status::LoggedOut { message });
    }

    /// Gets a fresh access token with the refresh cookie. Concurrent calls in this tab share
    /// one request; across tabs, the request runs under a Web Lock.
    pub async fn refresh(&self, reason: RefreshReason) -> Result<String, RefreshError> {
        let me = *self;
        FLIGHT
            .with(|f| f.clone())
            .run(move || async move { tabs::with_refresh_lock(move || me.refresh_now(reason)).await })
            .await
    }

    async fn refresh_now(self, reason: RefreshReason) -> Result<String, RefreshError> {
        use gloo_net::http::Request;
        let res = Request::post("/api/auth/refresh")
            .header(CSRF_HEADER, CSRF_HEADER_VALUE)
            .send()
            .await;
        let res = match res {
            Ok(r) => r,
            Err(e) => {
                self.record(format!("{}: network error", reason.label()), false);
                if reason == RefreshReason::OnLoad {
                    self.drop_session(Some(
                        "Could not reach the server. Check your connection and reload.".into(),
                    ));
                }
                return Err(RefreshError::Unavailable(e.to_string()));
            }
        };
        if res.ok() {
            let body: TokenResponse = crate::json::from_str(&res.text().await.unwrap_or_default())
                .map_err(|e| RefreshError::Unavailable(format!("unreadable answer: {e}")))?;
            // The server's word on what the presented cookie was: a plain rotation, or a repeat
            // it answered without treating it as theft (shown in the inspector's timeline).
            let what = match body.rotation.as_deref() {
                None | Some("rotated") => reason.label().to_owned(),
                Some(code) => format!("{}: {code}", reason.label()),
            };
            let token = self.accept(body);
            self.record(what, true);
            tabs::announce(tabs::Message::Refreshed);
            return Ok(token);
        }
        let status = res.status();
        let detail = crate::api::problem_detail(res).await;
        if status == 401 || status == 403 {
            let was_logged_in = self.token().is_some();
            // A first visit with no cookie is not news; anything else the user should read.
            let message =
                if reason == RefreshReason::OnLoad && detail.starts_with("no refresh cookie") {
                    None
                } else {
                    Some(format!("Your session has ended: {detail}"))
                };
            self.record(format!("{}: refused ({detail})", reason.label()), false);
            self.drop_session(message);
            if was_logged_in {
                // Every tab shares the cookie, so the session is over for all of them.
                tabs::announce(tabs::Message::Ended);
            }
            Err(RefreshError::Rejected(detail))
        } else {
            self.record(format!("{}: server error {status}", reason.label()), false);
            if reason == RefreshReason::OnLoad {
                self.drop_session(Some(format!(
                    "The server is unavailable ({status}). Try again shortly."
                )));
            }
            Err(RefreshError::Unavailable(format!(
                "server answered {status}"
            )))
        }
    }

    /// Logs this browser out: ends the session server-side, forgets the token, tells the
    /// other tabs. Only a 204 from the server means the session is over: on a network error or
    /// any other answer the session lives on, so this tab stays logged in and says so (telling
    /// the user "you have been logged out" then would be a lie about a live session).
    pub async fn logout(&self) -> Result<(), String> {
        use gloo_net::http::Request;
        let mut req = Request::post("/api/auth/logout").header(CSRF_HEADER, CSRF_HEADER_VALUE);
        if let Some(t) = self.token() {
            req = req.header("Authorization", &format!("Bearer {t}"));
        }
        match req.send().await {
            Ok(r) if r.status() == 204 => {
                self.drop_session(Some("You have been logged out.".into()));
                tabs::announce(tabs::Message::Logout);
                Ok(())
            }
            Ok(r) => Err(format!(
                "Logging out failed: the server answered {}. You are still logged in here and on the server; try again.",
                r.status()
            )),
            Err(_) => Err(
                "Logging out failed: the server could not be reached. You are still logged in; try again."
                    .into(),
            ),
        }
    }

    /// After a successful login in this tab.
    pub fn logged_in(&self, t: TokenResponse) {
        self.accept(t);
        self.record("login", true);
        tabs::announce(tabs::Message::Login);
    }
}
