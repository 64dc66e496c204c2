//! Admin: every user, their live sessions, and the power to end them. Shown in the navigation
//! only to admins; the server enforces the role on every call regardless (403 otherwise).

use api_types::AdminUserInfo;
use leptos::prelude::*;

use crate::{
    api::{self, Method},
    auth::use_auth,
    components::fetch::{Fetch, FetchStatus},
};

#[component]
pub fn AdminPage() -> impl IntoView {
    let auth = use_auth();
    let is_admin = Memo::new(move |_| auth.is_admin());
    let users = RwSignal::new(Vec::<AdminUserInfo>::new());
    let fetch = Fetch::default();
    let error = RwSignal::new(None::<String>);
    let load = move || fetch.load(auth, "/api/admin/users", users);
    load();
    view! {
        <section class="card">
            <h1>"Admin"</h1>
            <Show when=move || is_admin.get() fallback=|| view! { <p>"This page is for administrators."</p> }>
                <p>"Every account, with its live sessions. Ending them stops that user's tokens at once."</p>
            </Show>
            <div class="error" role="alert" aria-live="assertive">{move || error.get()}</div>
            <FetchStatus fetch=fetch/>
            <table data-testid="admin-users">
                <thead><tr><th scope="col">"User"</th><th scope="col">"Roles"</th><th scope="col">"Created"</th><th scope="col">"Live sessions"</th><th scope="col"><span class="sr-only">"Actions"</span></th></tr></thead>
                <tbody>
                    {move || users.get().into_iter().map(|u| view! {
                        <tr data-testid="admin-user-row">
                            <td>{u.username.clone()}</td>
                            <td>{u.roles.join(", ")}</td>
                            <td>{u.created_at.replace('T', " ").replace('Z', " UTC")}</td>
                            <td>{u.live_sessions}</td>
                            <td>{
                                let id = u.id.clone();
                                let name = u.username.clone();
                                (u.live_sessions > 0).then(move || view! {
                                    <button class="ghost danger" on:click=move |_| {
                                        if !window().confirm_with_message(&format!("End every session of {name}?")).unwrap_or(false) {
                                            return;
                                        }
                                        let id = id.clone();
                                        leptos::task::spawn_local(async move {
                                            match api::send(&auth, Method::Post, &format!("/api/admin/users/{id}/revoke-sessions"), &[]).await {
                                                Ok(()) => {
                                                    error.set(None);
                                                    load();
                                                }
                                                Err(e) => error.set(Some(e.message)),
                                            }
                                        });
                                    }>"End sessions"</button>
                                })
                            }</td>
                        </tr>
                    }).collect_view()}
                </tbody>
            </table>
        </section>
    }
}
