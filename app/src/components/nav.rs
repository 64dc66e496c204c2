//! The top bar: where you are, who you are, and the way out.

use leptos::prelude::*;
use leptos_router::{components::A, hooks::use_navigate};

use crate::{
    auth::{use_auth, Status},
    prefs::{self, Theme},
};

#[component]
pub fn Nav() -> impl IntoView {
    let a = use_auth();
    let user = Memo::new(move |_| {
        a.status.with(|s| match s {
            Status::LoggedIn(sess) => Some(sess.username()),
            _ => None,
        })
    });
    let is_admin = Memo::new(move |_| a.is_admin());
    let navigate = use_navigate();
    let logout_error = RwSignal::new(None::<String>);
    let logout = move |_| {
        let navigate = navigate.clone();
        logout_error.set(None);
        leptos::task::spawn_local(async move {
            match a.logout().await {
                Ok(()) => navigate("/login", Default::default()),
                Err(e) => logout_error.set(Some(e)),
            }
        });
    };
    let theme = RwSignal::new(prefs::theme());
    let toggle_theme = move |_| {
        let next = if theme.get_untracked() == Theme::Dark {
            Theme::Light
        } else {
            Theme::Dark
        };
        prefs::set_theme(next);
        theme.set(next);
    };
    view! {
        <header class="topbar">
            <nav aria-label="Main">
                <A href="/notes" attr:class="brand">"Cloakroom"</A>
                <Show when=move || user.get().is_some()>
                    <A href="/notes">"Notes"</A>
                    <A href="/sessions">"Sessions"</A>
                </Show>
                <Show when=move || is_admin.get()>
                    <A href="/admin">"Admin"</A>
                </Show>
                <A href="/inspector">"Token inspector"</A>
            </nav>
            <div class="who">
                <button class="ghost" on:click=toggle_theme aria-pressed=move || (theme.get() == Theme::Dark).to_string()>
                    {move || if theme.get() == Theme::Dark { "Light theme" } else { "Dark theme" }}
                </button>
                {move || match user.get() {
                    Some(name) => view! {
                        <span data-testid="current-user">"Signed in as " <strong>{name}</strong></span>
                        <button on:click=logout.clone() data-testid="logout">{move || if logout_error.with(Option::is_some) { "Retry log out" } else { "Log out" }}</button>
                    }.into_any(),
                    None => view! {
                        <A href="/login">"Log in"</A>
                        <A href="/signup">"Sign up"</A>
                    }.into_any(),
                }}
            </div>
            <p class="error" role="alert" data-testid="logout-error">{move || logout_error.get()}</p>
        </header>
    }
}
