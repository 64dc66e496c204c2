//! The top bar: where you are, who you are, and the way out.

use leptos::prelude::*;

use crate::{
    auth::{use_auth, Status},
    prefs::{self, Theme},
    router::{use_router, Page},
};

/// A link in the top bar, marked `aria-current="page"` while its page is shown (the notes page
/// is also at `/` and `/notes/`).
#[component]
fn Link(
    href: &'static str,
    #[prop(optional)] class: &'static str,
    children: Children,
) -> impl IntoView {
    let router = use_router();
    let current = move || (Page::at(&router.path()) == Page::at(href)).then_some("page");
    view! { <a href=href class=class aria-current=current>{children()}</a> }
}

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
    let router = use_router();
    let logout_error = RwSignal::new(None::<String>);
    let logout = move |_| {
        logout_error.set(None);
        leptos::task::spawn_local(async move {
            match a.logout().await {
                Ok(()) => router.navigate("/login", false),
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
                <Link href="/notes" class="brand">"Cloakroom"</Link>
                <Show when=move || user.get().is_some()>
                    <Link href="/notes">"Notes"</Link>
                    <Link href="/sessions">"Sessions"</Link>
                    <Link href="/account">"Account"</Link>
                </Show>
                <Show when=move || is_admin.get()>
                    <Link href="/admin">"Admin"</Link>
                </Show>
                <Link href="/inspector">"Token inspector"</Link>
                // A page of the server, not of the app: loaded, not routed.
                <a href="/docs/security" rel="external">"Security model"</a>
            </nav>
            <div class="who">
                <button class="ghost" on:click=toggle_theme aria-pressed=move || (theme.get() == Theme::Dark).to_string()>
                    {move || if theme.get() == Theme::Dark { "Light theme" } else { "Dark theme" }}
                </button>
                {move || match user.get() {
                    Some(name) => view! {
                        <span data-testid="current-user">"Signed in as " <strong>{name}</strong></span>
                        <button on:click=logout data-testid="logout">{move || if logout_error.with(Option::is_some) { "Retry log out" } else { "Log out" }}</button>
                    }.into_any(),
                    None => view! {
                        <Link href="/login">"Log in"</Link>
                        <Link href="/signup">"Sign up"</Link>
                    }.into_any(),
                }}
            </div>
            <p class="error" role="alert" data-testid="logout-error">{move || logout_error.get()}</p>
        </header>
    }
}
