//! `Protected`: shows its children only with a live session; a neutral loading state while the
//! silent refresh runs (never a flash of the login page); otherwise a redirect to the login
//! page that comes back here afterwards.
//!
//! A session that ends while the page is open (expired, revoked, logged out in another tab)
//! does not take the page with it: the page stays, inert behind a dialog that asks for the same
//! account's password again (or offers the team's OpenID provider in a new tab), so a note being
//! typed is still there, in memory only, to be saved after the login. Nothing of it is written
//! to storage.

use api_types::LoginRequest;
use leptos::prelude::*;

use crate::{
    auth::{use_auth, Status},
    components::fetch::Loading,
    pages::login::submit_login,
    router::use_router,
};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Phase {
    Checking,
    In,
    Out,
}

#[component]
pub fn Protected(
    /// The page, built when a session's page is mounted. A plain function pointer rather than
    /// `ChildrenFn`: one copy of the children glue for every page, not one per page (about 200
    /// bytes of the download, measured 2026-12-05).
    page: fn() -> AnyView,
) -> impl IntoView {
    let a = use_auth();
    // A memo over the phase only: a token refresh (a new Session value) must not re-render
    // the page and lose what the user is typing.
    let phase = Memo::new(move |_| {
        a.status.with(|s| match s {
            Status::Checking => Phase::Checking,
            Status::LoggedIn(_) => Phase::In,
            Status::LoggedOut { .. } => Phase::Out,
        })
    });
    // Whose page is mounted: the account of the session it was built for, kept while a session
    // that ended under the page is logged in again. Another account's session builds the page
    // anew, so nobody is shown what the previous account had on screen; a chosen logout (here
    // or in another tab) lets the page go.
    let owner = Memo::new(move |prev: Option<&Option<(String, String)>>| {
        a.status.with(|s| match s {
            Status::LoggedIn(sess) => {
                Some((sess.account_id().unwrap_or_default(), sess.username()))
            }
            Status::LoggedOut { relogin: false, .. } => None,
            _ => prev.cloned().flatten(),
        })
    });
    let router = use_router();
    move || match owner.get() {
        Some((_, name)) => view! {
            <div inert=move || phase.get() == Phase::Out>{page()}</div>
            <Show when=move || phase.get() == Phase::Out>
                <Relogin username=name.clone()/>
            </Show>
        }
        .into_any(),
        None if phase.get() == Phase::Checking => {
            view! { <Loading label="Checking your session…"/> }.into_any()
        }
        None => {
            // With its query: `/notes?q=x` comes back to the same view after login.
            let here = router.address_untracked();
            if router.path_untracked() == "/login" {
                // A logout navigated to the login page before this guard re-rendered: the page
                // is already leaving, and a redirect now would only add `?next=/login`.
                return ().into_any();
            }
            let path = format!("/login?next={}", js_sys::encode_uri_component(&here));
            // After this render, not during it: navigating changes the page being rendered.
            leptos::task::spawn_local(async move { router.navigate(&path, true) });
            ().into_any()
        }
    }
}

/// The in-place login: the same account only (its name is fixed), so what the page holds is
/// never handed to someone else's session; "someone else" goes to the login page, which leaves
/// this page behind.
#[component]
fn Relogin(username: String) -> impl IntoView {
    let a = use_auth();
    let password = RwSignal::new(String::new());
    let error = RwSignal::new(None::<String>);
    let busy = RwSignal::new(false);
    let why = move || a.logged_out_message();
    // An account of the team's OpenID provider has no password here: it signs in there, in a
    // new tab, and this one carries on (a login in one tab logs the others in, `auth::tabs`;
    // the same account keeps this page, another gets it rebuilt). The page is never left.
    let sso = RwSignal::new(None::<String>);
    leptos::task::spawn_local(async move {
        sso.set(crate::pages::login::provider("").await.map(|p| p.name));
    });
    let name = username.clone();
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let body = LoginRequest {
            username: name.clone(),
            password: password.get_untracked(),
            remember: false,
        };
        submit_login(a, body, password, error, busy);
    };
    view! {
        <div class="overlay">
            <section class="card narrow" role="dialog" aria-modal="true" aria-labelledby="relogin-title" data-testid="relogin">
                <h2 id="relogin-title">"Log in again to carry on"</h2>
                <p class="notice" data-testid="login-notice">{why}</p>
                <p>"Nothing on this page is lost: log in as " <strong>{username}</strong> " and save it."</p>
                <form on:submit=submit novalidate>
                    <label for="relogin-password">"Password"</label>
                    <input id="relogin-password" type="password" autocomplete="current-password" autofocus bind:value=password/>
                    <div class="error" role="alert" aria-live="assertive">{move || error.get()}</div>
                    <button type="submit" disabled=move || busy.get()>"Log in"</button>
                </form>
                {move || sso.get().map(|name| view! {
                    <p><a href="/api/auth/oidc/start?next=%2Fnotes" target="_blank">"Sign in with " {name}</a> " in a new tab, then come back: this page carries on."</p>
                })}
                <p><a href="/login">"Log in as someone else"</a> " (this page is left behind)"</p>
            </section>
        </div>
    }
}
