//! The user's own account: a new password (every other session ends), or the account deleted.

use api_types::{ChangePasswordRequest, DeleteAccountRequest, TokenResponse};
use leptos::prelude::*;

use crate::{
    api::{self, Method},
    auth::use_auth,
};

#[component]
pub fn AccountPage() -> impl IntoView {
    let auth = use_auth();
    let router = crate::router::use_router();
    let current = RwSignal::new(String::new());
    let new = RwSignal::new(String::new());
    let repeat = RwSignal::new(String::new());
    let changed = RwSignal::new(None::<String>);
    let change_error = RwSignal::new(None::<String>);
    let busy = RwSignal::new(false);
    let change = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        changed.set(None);
        let (c, n) = (current.get_untracked(), new.get_untracked());
        let problem = if c.is_empty() {
            Some("Enter your current password.")
        } else if n != repeat.get_untracked() {
            Some("The two new passwords differ.")
        } else {
            None
        };
        change_error.set(problem.map(Into::into));
        if problem.is_some() {
            return;
        }
        busy.set(true);
        leptos::task::spawn_local(async move {
            let body = ChangePasswordRequest {
                current_password: c,
                new_password: n,
            };
            match api::call_with::<TokenResponse>(
                &auth,
                Method::Post,
                "/api/account/password",
                &body,
                api::CSRF,
            )
            .await
            {
                Ok(t) => {
                    auth.accept(t);
                    for s in [current, new, repeat] {
                        s.set(String::new());
                    }
                    changed.set(Some("Password changed.".into()));
                }
                Err(e) => change_error.set(Some(e.message)),
            }
            busy.set(false);
        });
    };

    let password = RwSignal::new(String::new());
    let confirm = RwSignal::new(false);
    // An account of the team's OpenID provider has no password here: it confirms by signing in
    // there again (the server asks the provider to make sure it does), and the server deletes
    // the account on the way back, if it is this one.
    // The same ask tells the page what the provider said when it sent the browser back here
    // (`?sso=linked`, or why not): the server words it.
    let (sso, said) = (RwSignal::new(None::<String>), RwSignal::new(None::<String>));
    let here = router.address_untracked();
    leptos::task::spawn_local(async move {
        if let Some(p) =
            crate::pages::login::provider(here.find('?').map_or("", |i| &here[i..])).await
        {
            sso.set(Some(p.name));
            said.set(p.refusal);
        }
    });
    // Linking this account to the provider's user: the server begins a sign-in there (which
    // asks the person to sign in again) and the browser goes to it; the provider sends it back
    // here.
    let link = move |_| {
        leptos::task::spawn_local(async move {
            match api::call_with::<String>(
                &auth,
                Method::Post,
                "/api/auth/oidc/link",
                &(),
                api::CSRF,
            )
            .await
            {
                Ok(url) => {
                    let _ = window().location().assign(&url);
                }
                Err(e) => said.set(Some(e.message)),
            }
        });
    };
    let me = auth.status.with_untracked(|s| match s {
        crate::auth::Status::LoggedIn(sess) => sess.account_id(),
        _ => None,
    });
    let with_provider = format!(
        "/api/auth/oidc/start?next=%2Fnotes&delete={}",
        js_sys::encode_uri_component(&me.unwrap_or_default())
    );
    let delete_error = RwSignal::new(None::<String>);
    let delete = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        if !confirm.get_untracked() {
            delete_error.set(Some(
                "Tick the box to confirm: this cannot be undone.".into(),
            ));
            return;
        }
        delete_error.set(None);
        busy.set(true);
        leptos::task::spawn_local(async move {
            let body = DeleteAccountRequest {
                password: password.get_untracked(),
                confirm: true,
            };
            match api::send_json(&auth, Method::Post, "/api/account/delete", &body, api::CSRF).await
            {
                Ok(()) => {
                    auth.account_gone("Your account and its notes have been deleted.".into());
                    router.navigate("/login", true);
                }
                Err(e) => delete_error.set(Some(e.message)),
            }
            busy.set(false);
        });
    };
    view! {
        <section class="card narrow">
            <h1>"Account"</h1>
            {move || said.get().map(|m| view! { <p class="notice" role="status" data-testid="account-notice">{m}</p> })}
            {move || sso.get().map(|name| view! {
                <p><button class="ghost" on:click=link>"Link this account to " {name}</button></p>
            })}
            <h2>"Change password"</h2>
            <p>"Every other session of your account ends."</p>
            <form on:submit=change novalidate data-testid="change-password">
                <label for="account-current">"Current password"</label>
                <input id="account-current" type="password" autocomplete="current-password" bind:value=current/>
                <label for="account-new">"New password"</label>
                <input id="account-new" type="password" autocomplete="new-password" bind:value=new/>
                <label for="account-repeat">"Repeat new password"</label>
                <input id="account-repeat" type="password" autocomplete="new-password" bind:value=repeat/>
                <div class="error" role="alert" aria-live="assertive" data-testid="change-error">{move || change_error.get()}</div>
                <p role="status" data-testid="change-done">{move || changed.get()}</p>
                <button type="submit" disabled=move || busy.get()>"Change password"</button>
            </form>
            <h2>"Delete account"</h2>
            <form on:submit=delete novalidate data-testid="delete-account">
                <p>"Deletes your account, your notes and every session. This cannot be undone."</p>
                <label for="account-delete-password">"Password"</label>
                <input id="account-delete-password" type="password" autocomplete="current-password" bind:value=password/>
                <label class="check"><input type="checkbox" bind:checked=confirm/>" I understand that my notes will be deleted for good"</label>
                {move || confirm.get().then(|| sso.get()).flatten().map(|name| view! {
                    <p>"Signed in through " {name.clone()} "? " <a rel="external" href=with_provider.clone()>"Delete my account with " {name}</a></p>
                })}
                <div class="error" role="alert" aria-live="assertive" data-testid="delete-error">{move || delete_error.get()}</div>
                <button type="submit" class="danger" disabled=move || busy.get()>"Delete my account"</button>
            </form>
        </section>
    }
}
