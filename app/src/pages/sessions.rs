//! The user's devices: where they are logged in, and the power to end any of those sessions.

use api_types::SessionInfo;
use leptos::prelude::*;

use crate::{
    api::{self, Method},
    auth::use_auth,
    components::{
        fetch::{Fetch, FetchStatus},
        time::Time,
    },
};

#[component]
pub fn SessionsPage() -> impl IntoView {
    let auth = use_auth();
    let sessions = RwSignal::new(Vec::<SessionInfo>::new());
    let fetch = Fetch::default();
    let error = RwSignal::new(None::<String>);
    fetch.load(auth, "/api/auth/sessions", sessions);
    let router = crate::router::use_router();
    let everywhere = move |_| {
        if !window()
            .confirm_with_message("Log out on every device, including this one?")
            .unwrap_or(false)
        {
            return;
        }

        leptos::task::spawn_local(async move {
            let logout_all = api::send(&auth, Method::Post, "/api/auth/logout-all", api::CSRF);
            match crate::prefs::keeping_theme(logout_all).await {
                Ok(()) => {
                    auth.signed_out("You logged out on every device.".into());
                    router.navigate("/login", false);
                }
                Err(e) => error.set(Some(e.message)),
            }
        });
    };
    view! {
        <section class="card">
            <h1>"Sessions"</h1>
            <p>"Each row is one login. Ending a session stops its tokens at once, on that device's next request."</p>
            <div class="error" role="alert" aria-live="assertive">{move || error.get()}</div>
            <FetchStatus fetch=fetch/>
            <table class="sessions" data-testid="sessions-table">
                <thead><tr><th scope="col">"Device"</th><th scope="col">"IP"</th><th scope="col">"Signed in"</th><th scope="col">"Last active"</th><th scope="col"><span class="sr-only">"Actions"</span></th></tr></thead>
                <tbody>
                    {move || sessions.get().into_iter().map(|s| view! { <SessionRow s=s sessions=sessions error=error/> }).collect_view()}
                </tbody>
            </table>
            {move || (fetch.ok() && sessions.with(Vec::is_empty)).then(|| view! { <p class="empty">"No live sessions."</p> })}
            <button class="danger" on:click=everywhere data-testid="logout-all">"Log out everywhere"</button>
        </section>
    }
}

#[component]
fn SessionRow(
    s: SessionInfo,
    sessions: RwSignal<Vec<SessionInfo>>,
    error: RwSignal<Option<String>>,
) -> impl IntoView {
    let auth = use_auth();
    let id = s.id.clone();
    let revoke = move |_| {
        let id = id.clone();
        leptos::task::spawn_local(async move {
            match api::send(
                &auth,
                Method::Delete,
                &format!("/api/auth/sessions/{id}"),
                &[],
            )
            .await
            {
                Ok(()) => sessions.update(|v| v.retain(|x| x.id != id)),
                Err(e) => error.set(Some(e.message)),
            }
        });
    };
    let current = s.current;
    view! {
        <tr data-testid="session-row" data-current=current.to_string()>
            // The device in words ("Chrome 156 on Linux"); the full User-Agent on hover.
            <td title=s.user_agent.unwrap_or_default()>{s.device}
                {current.then(|| view! { " " <span class="badge">"this device"</span> })}</td>
            <td class="nowrap">{s.ip.clone().unwrap_or_default()}</td>
            <td><Time at=s.created_at/></td>
            <td><Time at=s.last_used_at/></td>
            <td>{(!current).then(|| view! { <button class="ghost danger" on:click=revoke.clone()>"End session"</button> })}</td>
        </tr>
    }
}
