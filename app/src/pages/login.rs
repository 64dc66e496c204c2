//! Log in, with "remember me". Shows why the user landed here (revoked, expired, logged out in
//! another tab) and returns them where they were going.

use api_types::{LoginRequest, OidcProvider, TokenResponse};
use leptos::prelude::*;

use api_types::safe_next;

use crate::{
    api::{self, human_wait},
    auth::{use_auth, Status},
};

/// Sends a login and takes the session into memory; the form's error line says what went wrong
/// in words for people. Shared by the login page and the in-place login of a page whose session
/// ended (`components::guard`).
pub fn submit_login(
    a: crate::auth::Auth,
    body: LoginRequest,
    password: RwSignal<String>,
    error: RwSignal<Option<String>>,
    busy: RwSignal<bool>,
) {
    if busy.get_untracked() {
        return;
    }
    if body.username.is_empty() || body.password.is_empty() {
        error.set(Some("Enter your username and password.".into()));
        return;
    }
    busy.set(true);
    error.set(None);
    leptos::task::spawn_local(async move {
        match api::post_public::<_, TokenResponse>("/api/auth/login", &body).await {
            Ok(t) => {
                password.set(String::new());
                a.logged_in(t);
            }
            Err(e) if e.status == 429 => error.set(Some(format!(
                "Too many attempts. Try again in {}.",
                human_wait(e.retry_after.unwrap_or(60))
            ))),
            Err(e) if e.status == 401 => error.set(Some("Wrong username or password.".into())),
            Err(e) => error.set(Some(e.message)),
        }
        busy.set(false);
    });
}

/// The team's OpenID provider, if the server has one (`GET /api/auth/oidc`, with `query`: the
/// login page passes its own on, so the server can word a `?sso=` refusal).
pub async fn provider(query: &str) -> Option<OidcProvider> {
    api::get_public(&format!("/api/auth/oidc{query}"))
        .await
        .and_then(|t| api::parse::<OidcProvider>(&t))
        .ok()
}

#[component]
pub fn LoginPage() -> impl IntoView {
    let a = use_auth();
    let router = crate::router::use_router();
    // Read once, while the address is still this page's: by the time the login has been
    // handled, the address may already be the next page's.
    let next = safe_next(router.query_untracked("next"));
    let username = RwSignal::new(String::new());
    let password = RwSignal::new(String::new());
    let remember = RwSignal::new(false);
    let error = RwSignal::new(None::<String>);
    let busy = RwSignal::new(false);
    let notice = move || a.logged_out_message();
    // The team's OpenID provider, if the server has one: its name for the button, and the
    // server's words for why the last sign-in through it did not happen (`?sso=`).
    // (Two signals of a type the app has already: a signal of a new type costs kilobytes.)
    let (sso, sso_refusal) = (RwSignal::new(None::<String>), RwSignal::new(None::<String>));
    let sso_sign_out = RwSignal::new(None::<String>);
    // This page's query as it is (`?sso=denied&next=…`): the server reads `sso` and no more.
    let here = router.address_untracked();
    leptos::task::spawn_local(async move {
        if let Some(p) = provider(here.find('?').map_or("", |i| &here[i..])).await {
            sso.set(Some(p.name));
            sso_refusal.set(p.refusal);
            sso_sign_out.set(p.sign_out);
        }
    });
    // A top-level navigation to the server, which sends the browser on to the provider; built
    // anew when "remember me" changes (a plain attribute: cheaper to download than a reactive
    // one).
    let sso_next = js_sys::encode_uri_component(&next);
    // Already logged in (e.g. silent refresh succeeded): go on.
    Effect::new(move |_| {
        if matches!(a.status.get(), Status::LoggedIn(_)) {
            router.navigate(&next, true);
        }
    });
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let body = LoginRequest {
            username: username.get_untracked().trim().to_owned(),
            password: password.get_untracked(),
            remember: remember.get_untracked(),
        };
        // The effect above goes on to `next`: the one place that navigates after a login,
        // whichever way the session came.
        submit_login(a, body, password, error, busy);
    };
    view! {
        <section class="card narrow">
            <h1>"Log in"</h1>
            {move || notice().or_else(|| sso_refusal.get()).map(|n| view! { <p class="notice" role="status" data-testid="login-notice">{n}</p> })}
            <form on:submit=submit novalidate>
                <label for="login-username">"Username"</label>
                <input id="login-username" name="username" autocomplete="username" required bind:value=username/>
                <label for="login-password">"Password"</label>
                <input id="login-password" name="password" type="password" autocomplete="current-password" required bind:value=password/>
                <label class="check">
                    <input type="checkbox" bind:checked=remember/>
                    " Remember me on this device"
                </label>
                <p class="hint">"Without it, you are logged out when the browser closes."</p>
                <div class="error" role="alert" aria-live="assertive" data-testid="form-error">{move || error.get()}</div>
                <button type="submit" disabled=move || busy.get()>{move || if busy.get() { "Logging in…" } else { "Log in" }}</button>
            </form>
            {move || sso.get().map(|name| {
                let keep = if remember.get() { "&remember=1" } else { "" };
                let href = format!("/api/auth/oidc/start?next={sso_next}{keep}");
                // Just logged out (or ended): the provider's own session may still be open.
                let out = notice().and(sso_sign_out.get());
                view! {
                    <p><a class="button" rel="external" href=href>"Sign in with " {name.clone()}</a></p>
                    {out.map(|href| view! { <p><a rel="external" href=href>"Also sign out of " {name}</a></p> })}
                }
            })}
            <p>"New here? " <a href="/signup">"Create an account"</a></p>
        </section>
    }
}
