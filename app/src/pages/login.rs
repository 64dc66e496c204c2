//! Log in, with "remember me". Shows why the user landed here (revoked, expired, logged out in
//! another tab) and returns them where they were going.

use api_types::{LoginRequest, TokenResponse};
use leptos::prelude::*;

use crate::{
    api::{self, human_wait},
    auth::{use_auth, Status},
};

/// Only same-origin paths are followed after login (no open redirect via `?next=`).
///
/// The browser's URL parser is more lenient than "starts with one `/`": it drops tabs and
/// newlines anywhere (`/\t/evil.example` becomes `//evil.example`) and reads `\` as `/` (`/\evil`
/// becomes `//evil`), and either turns a path into another host. So a `next` is accepted only
/// when it cannot be read as anything but a path on this origin: it starts with exactly one `/`
/// and holds no backslash, whitespace or control character at all. It also may not lead back
/// to the login page, dot segments included (`/./login` and `/%2e/login` are `/login` to the
/// browser), where a logged-in user would be left looking at the form. Anything else goes to
/// the notes page.
pub fn safe_next(next: Option<String>) -> String {
    match next {
        Some(n)
            if n.starts_with('/')
                && !n.starts_with("//")
                && !leads_to_login(&n)
                && !n
                    .chars()
                    .any(|c| c == '\\' || c.is_whitespace() || c.is_control()) =>
        {
            n
        }
        _ => "/notes".into(),
    }
}

/// Whether the browser would read `path` as the login page: its path part, with `.` segments
/// (also percent-encoded) dropped and `..` going up, starts with `/login`.
fn leads_to_login(path: &str) -> bool {
    let path = path.split(['?', '#']).next().unwrap_or_default();
    let mut segments: Vec<String> = Vec::new();
    for s in path.split('/').skip(1) {
        match s.to_ascii_lowercase().replace("%2e", ".").as_str() {
            "." => {}
            ".." => {
                segments.pop();
            }
            s => segments.push(s.to_owned()),
        }
    }
    segments.first().is_some_and(|s| s.starts_with("login"))
}

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
            {move || notice().map(|n| view! { <p class="notice" role="status" data-testid="login-notice">{n}</p> })}
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
            <p>"New here? " <a href="/signup">"Create an account"</a></p>
        </section>
    }
}

#[cfg(test)]
mod tests {
    use super::safe_next;

    #[test]
    fn next_is_same_site_only() {
        assert_eq!(safe_next(Some("/sessions".into())), "/sessions");
        assert_eq!(safe_next(Some("//evil.example".into())), "/notes");
        assert_eq!(safe_next(Some("https://evil.example".into())), "/notes");
        assert_eq!(safe_next(Some("/login?next=/x".into())), "/notes");
        for back in [
            "/login",
            "/./login",
            "/%2e/login",
            "/%2E/login?x",
            "/notes/../login",
            "/a/%2e%2e/login#f",
        ] {
            assert_eq!(safe_next(Some(back.into())), "/notes", "{back:?}");
        }
        assert_eq!(safe_next(Some("/notes/./x".into())), "/notes/./x");
        assert_eq!(
            safe_next(Some("/sessions?from=/login".into())),
            "/sessions?from=/login"
        );
        assert_eq!(safe_next(None), "/notes");
        // What the URL parser would turn into another host.
        for evil in [
            "/\\evil.example",
            "/\t/evil.example",
            "/\n/evil.example",
            "/\r//evil",
            "\\\\evil",
            " //evil",
        ] {
            assert_eq!(safe_next(Some(evil.into())), "/notes", "{evil:?}");
        }
        assert_eq!(
            safe_next(Some("/notes?q=a%20b#top".into())),
            "/notes?q=a%20b#top"
        );
    }
}
