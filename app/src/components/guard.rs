//! `Protected`: shows its children only with a live session; a neutral loading state while the
//! silent refresh runs (never a flash of the login page); otherwise a redirect to the login
//! page that comes back here afterwards.

use leptos::prelude::*;

use crate::{
    auth::{use_auth, Status},
    components::fetch::Loading,
    router::use_router,
};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Phase {
    Checking,
    In,
    Out,
}

#[component]
pub fn Protected(children: ChildrenFn) -> impl IntoView {
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
    let router = use_router();
    move || match phase.get() {
        Phase::Checking => view! { <Loading label="Checking your session…"/> }.into_any(),
        Phase::In => children().into_any(),
        Phase::Out => {
            let here = router.path_untracked();
            if here == "/login" {
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
