//! Browser glue for auth: the proactive refresh timer, tab visibility, the Web Lock that
//! serializes refreshes across tabs, and the BroadcastChannel between tabs.

use std::{cell::RefCell, future::Future, rc::Rc, time::Duration};

use leptos::prelude::*;
use wasm_bindgen::{closure::Closure, JsCast, JsValue};

use super::{schedule, Auth, RefreshReason, Session, Status};

const CHANNEL: &str = "cloakroom-auth";
const LOCK: &str = "cloakroom-refresh";
/// How long a tab waits for another tab's refresh before going ahead without the lock. A tab
/// frozen mid-refresh must not block the others forever; the server's reuse grace window
/// covers the rare overlap this allows.
const LOCK_WAIT_MS: u32 = 10_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Message {
    Login,
    Logout,
    /// A refresh was refused: the shared cookie's session is over.
    Ended,
    Refreshed,
}

impl Message {
    fn as_str(self) -> &'static str {
        match self {
            Message::Login => "login",
            Message::Logout => "logout",
            Message::Ended => "ended",
            Message::Refreshed => "refreshed",
        }
    }
}

thread_local! {
    // The tab's proactive-refresh timer and its end of the channel: browser handles, one per
    // document (as the lock is), set once at start-up or per token and read from callbacks
    // that run outside any component. They are not state anyone renders, so they do not belong
    // in `Auth`'s signals, and a thread-local is the plain home for a per-page JS handle (the
    // wasm module runs on one thread, so this is one slot per tab).
    static TIMER: RefCell<Option<TimeoutHandle>> = const { RefCell::new(None) };
    static CHANNEL_HANDLE: RefCell<Option<web_sys::BroadcastChannel>> = const { RefCell::new(None) };
}

/// Only a notice travels between tabs, never a token: each tab gets its own from the cookie.
pub fn announce(m: Message) {
    CHANNEL_HANDLE.with(|c| {
        if let Some(c) = c.borrow().as_ref() {
            let _ = c.post_message(&JsValue::from_str(m.as_str()));
        }
    });
}

/// Wires `a` to the other tabs' notices and to this tab becoming visible again.
pub fn listen(a: Auth) {
    if let Ok(ch) = web_sys::BroadcastChannel::new(CHANNEL) {
        let on_message = Closure::<dyn Fn(web_sys::MessageEvent)>::new(
            move |ev: web_sys::MessageEvent| match ev.data().as_string().as_deref() {
                Some("logout") => {
                    a.record("another tab logged out", true);
                    a.signed_out("You logged out in another tab.".into());
                }
                Some("ended") if a.token().is_some() => {
                    a.record("another tab's refresh was refused", false);
                    a.drop_session(Some(
                        "Your session has ended (noticed in another tab). Log in again.".into(),
                    ));
                }
                // A login in another tab, or a session that appeared there some other way (a
                // sign-in through the OpenID provider lands as that tab's on-load refresh):
                // this tab, holding none, takes the cookie's session too. A page kept for
                // re-login carries on if it is the same account (`components::guard`).
                Some("login" | "refreshed") if a.token().is_none() => {
                    leptos::task::spawn_local(async move {
                        let _ = a.refresh(RefreshReason::OtherTabLogin).await;
                    });
                }
                Some("refreshed") => a.record("another tab refreshed its token", true),
                _ => {}
            },
        );
        ch.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        on_message.forget();
        CHANNEL_HANDLE.with(|c| *c.borrow_mut() = Some(ch));
    }

    // Timers are throttled (or frozen) in background tabs: re-check on return.
    let on_visible = Closure::<dyn Fn()>::new(move || {
        let visible = document().visibility_state() == web_sys::VisibilityState::Visible;
        if !visible {
            return;
        }
        let session = a.status.with_untracked(|s| match s {
            Status::LoggedIn(sess) => Some(sess.clone()),
            _ => None,
        });
        if let Some(sess) = session {
            if schedule::due_on_wake(sess.issued_ms, sess.lifetime_secs, super::now_ms()) {
                leptos::task::spawn_local(async move {
                    let _ = a.refresh(RefreshReason::TabVisible).await;
                });
            } else {
                schedule_refresh(a, &sess);
            }
        }
    });
    let _ = document()
        .add_event_listener_with_callback("visibilitychange", on_visible.as_ref().unchecked_ref());
    on_visible.forget();
}

/// (Re)arms the timer that refreshes `session`'s token for `a` before it expires.
pub fn schedule_refresh(a: Auth, session: &Session) {
    cancel_refresh();
    let delay =
        schedule::refresh_delay_ms(session.issued_ms, session.lifetime_secs, super::now_ms());
    let handle = set_timeout_with_handle(
        move || {
            leptos::task::spawn_local(async move {
                let _ = a.refresh(RefreshReason::Proactive).await;
            });
        },
        Duration::from_millis(delay as u64),
    );
    if let Ok(h) = handle {
        TIMER.with(|t| *t.borrow_mut() = Some(h));
    }
}

pub fn cancel_refresh() {
    TIMER.with(|t| {
        if let Some(h) = t.borrow_mut().take() {
            h.clear();
        }
    });
}

/// Runs `work` while holding the cross-tab refresh lock (`navigator.locks`). Without the Web
/// Locks API, or if the lock can't be had within `LOCK_WAIT_MS`, runs it anyway.
pub async fn with_refresh_lock<T, F, Fut>(work: F) -> T
where
    T: 'static,
    F: FnOnce() -> Fut + 'static,
    Fut: Future<Output = T> + 'static,
{
    let Some(locks) = lock_manager() else {
        return work().await;
    };
    let out: Rc<RefCell<Option<T>>> = Rc::new(RefCell::new(None));
    let work = Rc::new(RefCell::new(Some(work)));
    let (out2, work2) = (out.clone(), work.clone());
    let callback = Closure::once(move |_lock: JsValue| -> js_sys::Promise {
        wasm_bindgen_futures::future_to_promise(async move {
            let w = work2.borrow_mut().take();
            if let Some(w) = w {
                let v = w().await;
                *out2.borrow_mut() = Some(v);
            }
            Ok(JsValue::UNDEFINED)
        })
    });
    let options = js_sys::Object::new();
    let _ = js_sys::Reflect::set(
        &options,
        &"signal".into(),
        &web_sys::AbortSignal::timeout_with_u32(LOCK_WAIT_MS),
    );
    let request = js_sys::Reflect::get(&locks, &"request".into())
        .ok()
        .and_then(|f| f.dyn_into::<js_sys::Function>().ok());
    if let Some(request) = request {
        if let Ok(p) = request.call3(
            &locks,
            &LOCK.into(),
            &options,
            callback.as_ref().unchecked_ref(),
        ) {
            if let Ok(p) = p.dyn_into::<js_sys::Promise>() {
                // Err here means the wait timed out (AbortError) before we got the lock.
                let _ = wasm_bindgen_futures::JsFuture::from(p).await;
            }
        }
    }
    drop(callback);
    if let Some(v) = out.borrow_mut().take() {
        return v;
    }
    // Timed out waiting for the lock (or the API misbehaved): go ahead unlocked.
    let w = work.borrow_mut().take();
    match w {
        Some(w) => w().await,
        None => unreachable!("work ran but produced no value"),
    }
}

fn lock_manager() -> Option<JsValue> {
    let nav = window().navigator();
    let locks = js_sys::Reflect::get(&nav, &"locks".into()).ok()?;
    (!locks.is_undefined() && !locks.is_null()).then_some(locks)
}
