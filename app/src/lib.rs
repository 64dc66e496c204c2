//! Cloakroom's client: routes, navigation, and the guard that keeps protected pages behind a
//! live session.

pub mod api;
pub mod audit;
pub mod auth;
pub mod components;
pub mod json;
pub mod pages;
pub mod prefs;
pub mod router;

use leptos::prelude::*;

use auth::Auth;
use components::{guard::Protected, nav::Nav};
use pages::{
    account::AccountPage, admin::AdminPage, inspector::InspectorPage, login::LoginPage,
    notes::NotesPage, sessions::SessionsPage, signup::SignupPage,
};
use router::Page;

#[component]
pub fn App() -> impl IntoView {
    prefs::apply_theme(prefs::theme());
    // This tab's DPoP key, made now so the on-load refresh already carries a proof.
    leptos::task::spawn_local(async {
        let _ = api::dpop::key().await;
    });
    let auth = Auth::init();
    provide_context(auth);
    let router = router::provide();
    let page = router.page();
    Effect::new(move || document().set_title(page.get().title()));
    view! {
        // Links to the app's own pages are followed in this page (router::follow_link says why
        // the handler is here and not on the window).
        <div class="app" on:click=move |ev| router::follow_link(router, ev)>
        <a class="skip" href="#main">"Skip to content"</a>
        <Nav/>
        <main id="main" tabindex="-1">
            {move || match page.get() {
                Page::Notes => view! { <Protected page=|| NotesPage().into_any()/> }.into_any(),
                Page::Sessions => view! { <Protected page=|| SessionsPage().into_any()/> }.into_any(),
                Page::Account => view! { <Protected page=|| AccountPage().into_any()/> }.into_any(),
                Page::Admin => view! { <Protected page=|| AdminPage().into_any()/> }.into_any(),
                Page::Inspector => view! { <InspectorPage/> }.into_any(),
                Page::Login => view! { <LoginPage/> }.into_any(),
                Page::Signup => view! { <SignupPage/> }.into_any(),
                Page::NotFound => view! { <NotFound/> }.into_any(),
            }}
        </main>
        </div>
    }
}

#[component]
fn NotFound() -> impl IntoView {
    view! {
        <section class="card narrow">
            <h1>"Page not found"</h1>
            <p>"There is nothing at this address. " <a href="/notes">"Go to your notes"</a> "."</p>
        </section>
    }
}
