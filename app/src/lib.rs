//! Cloakroom's client: routes, navigation, and the guard that keeps protected pages behind a
//! live session.

pub mod api;
pub mod audit;
pub mod auth;
pub mod components;
pub mod json;
pub mod pages;
pub mod prefs;

use leptos::prelude::*;
use leptos_router::{
    components::{FlatRoutes, Route, Router},
    path,
};

use auth::Auth;
use components::{guard::Protected, nav::Nav};
use pages::{
    admin::AdminPage, inspector::InspectorPage, login::LoginPage, notes::NotesPage,
    sessions::SessionsPage, signup::SignupPage,
};

#[component]
pub fn App() -> impl IntoView {
    prefs::apply_theme(prefs::theme());
    // This tab's DPoP key, made now so the on-load refresh already carries a proof.
    leptos::task::spawn_local(async {
        let _ = api::dpop::key().await;
    });
    let auth = Auth::init();
    provide_context(auth);
    view! {
        <Router>
            <a class="skip" href="#main">"Skip to content"</a>
            <Nav/>
            <main id="main" tabindex="-1">
                <FlatRoutes fallback=|| view! { <NotFound/> }>
                    <Route path=path!("/") view=notes/>
                    <Route path=path!("/notes") view=notes/>
                    <Route path=path!("/sessions") view=|| view! { <Protected><SessionsPage/></Protected> }/>
                    <Route path=path!("/admin") view=|| view! { <Protected><AdminPage/></Protected> }/>
                    <Route path=path!("/inspector") view=InspectorPage/>
                    <Route path=path!("/login") view=LoginPage/>
                    <Route path=path!("/signup") view=SignupPage/>
                </FlatRoutes>
            </main>
        </Router>
    }
}

/// The notes page, at `/` and at `/notes`: one view function for both, so the router holds one
/// copy of it.
fn notes() -> impl IntoView {
    view! { <Protected><NotesPage/></Protected> }
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
