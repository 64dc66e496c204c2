//! Admin: every user (last login, live sessions, whether failed logins lock the account), the
//! power to end their sessions or unlock them, and the security event log. Shown in the
//! navigation only to admins; the server enforces the role on every call regardless (403
//! otherwise), and a non-admin who opens the address sees a plain "no access" page.

use api_types::{AdminUserInfo, SecurityEvent};
use leptos::prelude::*;

use crate::{
    api::{self, Method},
    auth::{use_auth, Status},
    components::{
        fetch::{Fetch, FetchStatus},
        time::Time,
    },
};

#[component]
pub fn AdminPage() -> impl IntoView {
    let auth = use_auth();
    let is_admin = Memo::new(move |_| auth.is_admin());
    view! {
        <Show when=move || is_admin.get() fallback=|| view! {
            <section class="card narrow" data-testid="no-access">
                <h1>"No access"</h1>
                <p>"This page is for administrators, and your account does not have the admin role. "
                    <a href="/notes">"Go to your notes"</a> "."</p>
            </section>
        }>
            <Users/>
        </Show>
    }
}

#[component]
fn Users() -> impl IntoView {
    let auth = use_auth();
    let me = auth.status.with_untracked(|s| match s {
        Status::LoggedIn(sess) => sess.username(),
        _ => String::new(),
    });
    let users = RwSignal::new(Vec::<AdminUserInfo>::new());
    let fetch = Fetch::default();
    let error = RwSignal::new(None::<String>);
    let load = move || fetch.load(auth, "/api/admin/users", users);
    load();
    // One admin action on a user, then the list again.
    let act = move |path: String| {
        leptos::task::spawn_local(async move {
            match api::send(&auth, Method::Post, &path, &[]).await {
                Ok(()) => {
                    error.set(None);
                    load();
                }
                Err(e) => error.set(Some(e.message)),
            }
        });
    };
    view! {
        <section class="card">
            <h1>"Admin"</h1>
            <p>"Every account, with its live sessions. Ending them stops that user's tokens at once; unlocking forgives the failed logins that lock an account."</p>
            <div class="error" role="alert" aria-live="assertive">{move || error.get()}</div>
            <FetchStatus fetch=fetch/>
            <table class="admin-users" data-testid="admin-users">
                <thead><tr><th scope="col">"User"</th><th scope="col">"Roles"</th><th scope="col">"Created"</th><th scope="col">"Last login"</th><th scope="col">"Live sessions"</th><th scope="col">"Locked until"</th><th scope="col"><span class="sr-only">"Actions"</span></th></tr></thead>
                <tbody>
                    {move || users.get().into_iter().map(|u| {
                        let mine = u.username == me;
                        let (end, unlock) = (format!("/api/admin/users/{}/revoke-sessions", u.id), format!("/api/admin/users/{}/unlock", u.id));
                        let question = if mine {
                            "End every session of your own account? That includes this one: you will be logged out here too.".to_owned()
                        } else {
                            format!("End every session of {}?", u.username)
                        };
                        view! {
                            <tr data-testid="admin-user-row">
                                <td>{u.username}</td>
                                <td>{u.roles.join(", ")}</td>
                                <td><Time at=u.created_at/></td>
                                <td>{u.last_login_at.map(|t| view! { <Time at=t/> })}</td>
                                <td>{u.live_sessions}</td>
                                <td>{u.locked_until.clone().map(|t| view! { <Time at=t/> })}</td>
                                <td class="actions">
                                    {(u.live_sessions > 0).then(|| view! {
                                        <button class="ghost danger" on:click=move |_| {
                                            if window().confirm_with_message(&question).unwrap_or(false) {
                                                act(end.clone());
                                            }
                                        }>{if mine { "End my sessions" } else { "End sessions" }}</button>
                                    })}
                                    {u.locked_until.is_some().then(|| view! {
                                        <button class="ghost" on:click=move |_| act(unlock.clone())>"Unlock"</button>
                                    })}
                                </td>
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
        </section>
        <Events users=users/>
    }
}

/// The security event log, newest first, filtered by user and kind on the server.
#[component]
fn Events(users: RwSignal<Vec<AdminUserInfo>>) -> impl IntoView {
    let auth = use_auth();
    let events = RwSignal::new(Vec::<SecurityEvent>::new());
    let (user, kind) = (RwSignal::new(String::new()), RwSignal::new(String::new()));
    let error = RwSignal::new(None::<String>);
    let load = move || {
        let path = format!(
            "/api/admin/events?user={}&kind={}",
            js_sys::encode_uri_component(&user.get_untracked()),
            js_sys::encode_uri_component(kind.get_untracked().trim())
        );
        leptos::task::spawn_local(async move {
            match api::get_text(&auth, &path)
                .await
                .and_then(|t| api::parse(&t))
            {
                Ok(list) => {
                    error.set(None);
                    events.set(list);
                }
                Err(e) => error.set(Some(e.message)),
            }
        });
    };
    load();
    // An event names its user by id; the table shows the name while the user exists.
    let name_of = move |id: Option<String>| {
        let id = id.unwrap_or_default();
        let name = users.with(|us| us.iter().find(|u| u.id == id).map(|u| u.username.clone()));
        name.unwrap_or(id)
    };
    view! {
        <section class="card">
            <h2>"Security events"</h2>
            <form class="filters" aria-label="Filter events" on:submit=move |ev: leptos::ev::SubmitEvent| {
                ev.prevent_default();
                load();
            }>
                <label for="events-user">"User"</label>
                <select id="events-user" on:change=move |ev| user.set(event_target_value(&ev))>
                    <option value="">"Everyone"</option>
                    {move || users.get().into_iter().map(|u| view! { <option value=u.id>{u.username}</option> }).collect_view()}
                </select>
                <label for="events-kind">"Kind"</label>
                <input id="events-kind" placeholder="e.g. refresh_token_reuse" bind:value=kind/>
                <button type="submit">"Show"</button>
            </form>
            <div class="error" role="alert">{move || error.get()}</div>
            <table class="events" data-testid="admin-events">
                <thead><tr><th scope="col">"When"</th><th scope="col">"Kind"</th><th scope="col">"Reason"</th><th scope="col">"User"</th><th scope="col">"IP"</th></tr></thead>
                <tbody>
                    {move || events.get().into_iter().map(|e| view! {
                        <tr data-testid="admin-event-row">
                            <td><Time at=e.at/></td>
                            <td>{e.kind}</td>
                            <td title=e.detail.unwrap_or_default()>{e.reason}</td>
                            <td>{name_of(e.user_id)}</td>
                            <td>{e.ip}</td>
                        </tr>
                    }).collect_view()}
                </tbody>
            </table>
            {move || events.with(Vec::is_empty).then(|| view! { <p class="empty">"No events match."</p> })}
        </section>
    }
}
